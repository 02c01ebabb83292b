"""Scoring maps against masks: binarising (top 15 %, Otsu), IoU / F1 / pointing game and the reference maps,
on hand-made maps whose answers are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fer_explain.explain import mask_scores as S
from fer_explain.explain.base import Explanation
from fer_explain.explain.metrics import pointing_game


def _ramp() -> torch.Tensor:
    return torch.arange(20, dtype=torch.float32).view(1, 4, 5)  # 0 .. 19, the bottom row highest


def _bottom_row() -> torch.Tensor:
    m = torch.zeros(1, 4, 5, dtype=torch.bool)
    m[0, 3] = True  # pixels 15 .. 19
    return m


def test_top_fraction_iou_f1_by_hand() -> None:
    sel = S.top_fraction(_ramp(), 0.15)  # round(0.15 * 20) = 3 pixels: 17, 18, 19
    assert sel.shape == (1, 4, 5) and sel.flatten().nonzero().flatten().tolist() == [17, 18, 19]
    assert S.mask_iou(sel, _bottom_row()).item() == pytest.approx(3 / 5)
    assert S.mask_f1(sel, _bottom_row()).item() == pytest.approx(2 * 3 / (3 + 5))
    shifted = torch.roll(_bottom_row(), shifts=-1, dims=1)  # the row above: 10 .. 14, no overlap
    assert S.mask_iou(sel, shifted).item() == 0 and S.mask_f1(sel, shifted).item() == 0
    assert S.top_fraction(_ramp(), 0.5).sum() == 10 and S.top_fraction(_ramp(), 0.01).sum() == 1


def test_ties_are_broken_at_random_but_reproducibly() -> None:
    flat = torch.zeros(3, 10, 10)
    a, b = S.top_fraction(flat, 0.15, seed=0), S.top_fraction(flat, 0.15, seed=0)
    assert torch.equal(a, b) and (a.flatten(1).sum(1) == 15).all()
    assert not torch.equal(a, S.top_fraction(flat, 0.15, seed=1))
    # a ReLU'd map with 5 positive pixels: those 5 first, then 10 of the zeros
    relu = torch.zeros(1, 10, 10)
    relu[0, 9, 5:] = torch.tensor([1.0, 2, 3, 4, 5])
    sel = S.top_fraction(relu, 0.15)
    assert sel[0, 9, 5:].all() and sel.sum() == 15
    with pytest.raises(ValueError, match="fraction must lie in"):
        S.top_fraction(flat, 0)


def test_otsu_by_hand_and_against_skimage() -> None:
    two = torch.zeros(1, 4, 5)
    two[0, :2, :4] = 1.0  # 8 ones, 12 zeros: Otsu splits them
    assert torch.equal(S.otsu_binarize(two), two.bool())
    assert S.otsu_threshold(two).item() == pytest.approx(1 / 512)  # the first bin's centre
    assert not S.otsu_binarize(torch.full((1, 4, 5), 3.0)).any()  # a constant map keeps nothing
    filters = pytest.importorskip("skimage.filters")
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(6, 24, 24)) ** 3
    expect = [filters.threshold_otsu(m) for m in maps]
    assert S.otsu_threshold(maps).numpy() == pytest.approx(expect, abs=1e-12)


def test_empty_masks_give_nan_and_shapes_are_checked() -> None:
    sel = S.top_fraction(_ramp(), 0.15)
    empty = torch.zeros(1, 4, 5, dtype=torch.bool)
    assert math.isnan(S.mask_iou(sel, empty).item()) and math.isnan(S.mask_f1(sel, empty).item())
    assert math.isnan(S.pointing_hits(_ramp(), empty).item())
    with pytest.raises(ValueError, match="masks have shape"):
        S.mask_iou(sel, torch.zeros(1, 5, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="NaN/inf"):
        S.top_fraction(torch.full((1, 2, 2), float("nan")))


def test_pointing_game_matches_the_explanation_metric() -> None:
    maps = torch.rand(8, 6, 6, generator=torch.Generator().manual_seed(3))
    masks = torch.zeros(8, 6, 6, dtype=torch.bool)
    masks[:, :3] = True
    masks[7] = False
    exp = Explanation(maps=maps, raw=None, targets=torch.zeros(8, dtype=torch.long), probs=torch.zeros(8, 2),
                      method="maps")
    ours, theirs = S.pointing_hits(maps, masks), pointing_game(exp, masks)
    assert torch.equal(ours[:7].float(), theirs[:7]) and math.isnan(ours[7].item())
    assert S.pointing_hits(_ramp(), _bottom_row()).item() == 1.0  # the maximum, 19, is in the bottom row


def test_reference_maps() -> None:
    mask = torch.zeros(1, 10, 10, dtype=torch.bool)
    mask[0, 2:6, 2:6] = True  # 16 pixels; top 15 % of 100 = 15 pixels
    ideal = S.ideal_maps(mask)
    top = S.top_fraction(ideal, 0.15)
    assert S.mask_iou(top, mask).item() == pytest.approx(15 / 16)
    assert S.mask_f1(top, mask).item() == pytest.approx(30 / 31)
    assert S.mask_iou(S.otsu_binarize(ideal), mask).item() == 1.0 and S.pointing_hits(ideal, mask).item() == 1.0
    rnd = S.random_maps(4, (10, 12), seed=5)
    assert rnd.shape == (4, 10, 12) and torch.equal(rnd, S.random_maps(4, (10, 12), seed=5))
    assert 0 <= rnd.min() and rnd.max() < 1 and not torch.equal(rnd[0], rnd[1])
    blob = S.gaussian_maps(2, 9, sigma=0.25)
    assert blob.shape == (2, 9, 9) and blob[0, 4, 4] == blob.max() == 1.0
    assert blob[0, 4, 0] == pytest.approx(math.exp(-0.5 * (4 / 2.25) ** 2))  # 4 px from the centre, sigma 2.25
    centre = torch.zeros(2, 9, 9, dtype=torch.bool)
    centre[:, 3:6, 3:6] = True
    assert (S.pointing_hits(blob, centre) == 1).all()
    # a random map's top 15 % covers about 15 % of a large mask: IoU ~ 0.15 |M| / (|M| + 0.15 (HW - |M|))
    big = torch.zeros(64, 40, 40, dtype=torch.bool)
    big[:, :20] = True
    iou = S.mask_iou(S.top_fraction(S.random_maps(64, 40, seed=1), 0.15), big).mean().item()
    assert iou == pytest.approx(120 / 920, abs=0.01)
