"""Coarse-to-fine occlusion: exact where it refines, counted forwards, clear argument errors, hook hygiene."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from fer_explain.explain import (
    CoarseToFineOcclusion,
    SlidingOcclusion,
    black_baseline,
    list_explainers,
    make_explainer,
)
from fer_explain.explain.occlusion_coarse import (
    DEFAULT_TOP_FRACTION,
    ForwardCounter,
    lattice_interpolation,
    lattice_positions,
)


def _fine_window_means(pixel_map: torch.Tensor, starts: list[int], window: int) -> torch.Tensor:
    """(N, H, W) -> (N, P) mean over each fine window, row-major (starts are in the image)."""
    return torch.stack([pixel_map[:, r:r + window, q:q + window].mean(dim=(1, 2)) for r in starts for q in starts], 1)


def test_fraction_one_is_exact_sliding_occlusion(tiny) -> None:
    model, make_x = tiny("vgg_fer", in_chans=1, input_size=48)  # the shipped checkpoint's input
    x, black = make_x(3), black_baseline(model)
    exact = SlidingOcclusion(model, 8, 4, black, chunk=31).attribute(x)  # explicit: no calibration
    full = CoarseToFineOcclusion(model, 8, 4, black, top_fraction=1.0, images_per_forward=50).attribute(x)
    torch.testing.assert_close(full.maps, exact.maps, atol=1e-6, rtol=0)
    torch.testing.assert_close(full.raw, exact.raw, atol=1e-6, rtol=0)
    assert full.extras["refined"].all() and "coarse_map" not in full.extras  # no coarse sweep at 1.0
    explainer = CoarseToFineOcclusion(model, 8, 4, black, top_fraction=1.0, images_per_forward=50)
    assert explainer.attribute(x).extras["forwards"] == explainer.last_forwards == 3 * (1 + 121)
    assert torch.equal(full.targets, exact.targets)


def test_fraction_below_one_counts_its_forwards_and_is_exact_where_it_refines(tiny) -> None:
    model, make_x = tiny("vgg_fer", in_chans=1, input_size=48)  # the shipped checkpoint's input
    x, black = make_x(4), black_baseline(model)
    exact = SlidingOcclusion(model, 8, 4, black, chunk=31).attribute(x)  # explicit: no calibration
    explainer = CoarseToFineOcclusion(model, 8, 4, black, coarse_window=16, coarse_stride=8, top_fraction=0.1,
                                      images_per_forward=64)
    outside = ForwardCounter()
    handle = model.register_forward_pre_hook(outside)
    try:
        exp = explainer.attribute(x)
    finally:
        handle.remove()
    k = math.ceil(0.1 * 121)  # 13 fine windows per face
    assert exp.extras["forwards"] == explainer.last_forwards == outside.images == 4 * (1 + 25 + k)
    assert exp.extras["forward_calls"] == outside.calls == 1 + 2 + 1  # unoccluded; coarse 2 x 50; fine 1 x 52
    refined = exp.extras["refined"]  # no 16 px window equals an 8 px one: only the drill-down is exact
    assert refined.shape == (4, 11, 11) and refined.flatten(1).sum(1).tolist() == [k] * 4
    torch.testing.assert_close(exp.raw[refined], exact.raw[refined], atol=1e-6, rtol=0)
    assert not torch.allclose(exp.raw[~refined], exact.raw[~refined], atol=1e-6)  # the rest is estimated
    # the refined windows are the top k by the coarse map's mean over each fine window
    score = _fine_window_means(exp.extras["coarse_map"], list(range(0, 41, 4)), 8)
    assert torch.equal(refined.flatten(1), torch.zeros_like(refined.flatten(1)).scatter(
        1, torch.sort(score, dim=1, descending=True, stable=True).indices[:, :k], True))
    # unrefined windows: the coarse score times the face's non-negative least-squares factor
    scale = exp.extras["scale"]
    assert (scale >= 0).all()
    torch.testing.assert_close(exp.raw.flatten(1)[~refined.flatten(1)], (score * scale[:, None])[~refined.flatten(1)])
    coarse = SlidingOcclusion(model, 16, 8, black, chunk=25).attribute(x)
    torch.testing.assert_close(exp.extras["coarse_map"], coarse.maps, atol=1e-6, rtol=0)
    assert exp.maps.shape == (4, 48, 48) and torch.isfinite(exp.maps).all()


def test_grid_sweep_reuses_the_fine_windows_it_occludes(tiny) -> None:
    """The grid sweep's default is the fine window at twice the stride: those 36 windows are exact fine
    values, the drill-down adds k more, and every other window is filled from its neighbours."""
    model, make_x = tiny("vgg_fer", in_chans=1, input_size=48)
    x, black = make_x(4), black_baseline(model)
    exact = SlidingOcclusion(model, 8, 4, black, chunk=31).attribute(x)
    explainer = CoarseToFineOcclusion(model, 8, 4, black, sweep="grid", top_fraction=0.02, images_per_forward=64)
    assert (explainer.coarse_window, explainer.coarse_stride) == (8, 8)
    exp = explainer.attribute(x)
    k = math.ceil(0.02 * 121)  # 3 drilled-down windows per face
    assert exp.extras["forwards"] == 4 * (1 + 36 + k)  # 40 per face against SlidingOcclusion's 1 + 121
    refined = exp.extras["refined"]
    twins = torch.zeros(11, 11, dtype=torch.bool)
    twins[::2, ::2] = True  # starts 0, 8, ..., 40: the coarse windows
    assert refined[:, twins].all() and refined.flatten(1).sum(1).tolist() == [36 + k] * 4
    torch.testing.assert_close(exp.raw[refined], exact.raw[refined], atol=1e-6, rtol=0)
    torch.testing.assert_close(exp.extras["coarse_raw"], exact.raw[:, ::2, ::2], atol=1e-6, rtol=0)
    # the drill-down takes the top k of the windows the sweep did not occlude, by the coarse map's window mean
    score = _fine_window_means(exp.extras["coarse_map"], list(range(0, 41, 4)), 8).masked_fill(
        twins.flatten()[None], -math.inf)
    drilled = refined.flatten(1) & ~twins.flatten()[None]
    top = torch.sort(score, dim=1, descending=True, stable=True).indices[:, :k]
    assert torch.equal(drilled, torch.zeros_like(drilled).scatter(1, top, True))
    # a window between two coarse ones is their mean (times the face's scale): a linear fill
    scale = exp.extras["scale"]
    between = exp.raw[:, 0, 1][~refined[:, 0, 1]]
    ref = (scale[:, None] * (exact.raw[:, 0, 0:1] + exact.raw[:, 0, 2:3]) / 2)[:, 0][~refined[:, 0, 1]]
    torch.testing.assert_close(between, ref, atol=1e-6, rtol=1e-5)


def test_registry_defaults() -> None:
    from fer_explain.models import create_model

    assert "occlusion_coarse" in list_explainers()
    model = create_model("vgg_fer", width=0.125, in_chans=1, input_size=48)
    black = torch.full((1, 1, 1), -1.0)
    occ = make_explainer("occlusion_coarse", model, input_size=48, black=black)
    assert isinstance(occ, CoarseToFineOcclusion) and torch.equal(occ.baseline, black)
    assert (occ.window, occ.stride, occ.sweep, occ.top_fraction) == (8, 4, "lattice", 0.0)
    grid = make_explainer("occlusion_coarse", model, input_size=48, black=black, sweep="grid")
    assert (grid.coarse_window, grid.coarse_stride, grid.top_fraction) == (8, 8, DEFAULT_TOP_FRACTION)
    wide = make_explainer("Occlusion (coarse to fine)", model, input_size=64, black=black, top_fraction=0.5)
    assert (wide.window, wide.stride, wide.coarse_window, wide.coarse_stride, wide.top_fraction) == (10, 5, 10, 10, 0.5)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"top_fraction": -0.1}, r"top_fraction must be in \[0, 1\], got -0.1"),
    ({"top_fraction": 1.5}, r"top_fraction must be in \[0, 1\], got 1.5"),
    ({"sweep": "hex"}, r"sweep must be one of \['lattice', 'grid'\], got 'hex'"),
    ({"top_fraction": -0.2}, "top_fraction"),
    ({"top_fraction": float("nan")}, "top_fraction"),
    ({"coarse_stride": 4}, r"coarse_stride \(4\) must be larger than the fine stride \(4\)"),
    ({"coarse_window": 4}, r"coarse_window \(4\) must be at least the fine window \(8\)"),
    ({"coarse_window": 0}, "coarse_window must be an integer >= 1"),
    ({"coarse_stride": 0}, "coarse_stride must be an integer >= 1"),
    ({"images_per_forward": 0}, "images_per_forward must be an integer >= 1"),
])
def test_bad_arguments_are_named(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CoarseToFineOcclusion(nn.Linear(2, 2), 8, 4, **kwargs)


class _Tiny(nn.Module):
    """conv -> BN -> ReLU -> dropout -> GAP -> linear on 8x8 faces; fails on forward call ``fail_at``."""

    def __init__(self, fail_at: int | None = None) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5))
        self.head = nn.Linear(4, 3)
        self.fail_at, self.calls = fail_at, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise RuntimeError("forward failed on purpose")
        return self.head(self.body(x).mean(dim=(2, 3)))


def _hooks(model: nn.Module) -> int:
    return sum(len(getattr(m, a)) for m in model.modules() for a in ("_forward_hooks", "_forward_pre_hooks"))


@pytest.mark.parametrize("fail_at", [None, 1, 2, 3])  # ok; first pass; coarse sweep; fine sweep
def test_training_mode_restored_and_no_hooks_left(fail_at: int | None) -> None:
    model = _Tiny(fail_at).train()
    model.body[1].eval()  # a mixed mode that must survive exactly
    modes = {n: m.training for n, m in model.named_modules()}
    explainer = CoarseToFineOcclusion(model, 2, 1, 0.0, sweep="grid", top_fraction=0.25, images_per_forward=1000,
                                      memory_format="contiguous")  # no layout timing: the calls are the method's
    x = torch.randn(2, 1, 8, 8)
    if fail_at is None:
        exp = explainer.attribute(x)
        # coarse sweep: the 2 px window at stride 2 (4 x 4 positions); drill-down: 13 of the 49 fine windows
        assert exp.maps.shape == (2, 8, 8) and exp.extras["forwards"] == 2 * (1 + 16 + math.ceil(0.25 * 49))
    else:
        with pytest.raises(RuntimeError, match="on purpose"):
            explainer.attribute(x)
        assert model.calls == fail_at
    assert _hooks(model) == 0
    assert {n: m.training for n, m in model.named_modules()} == modes
    assert all(p.requires_grad and p.grad is None for p in model.parameters())


@pytest.mark.parametrize("size,window,stride,cwindow,cstride", [(48, 8, 4, 8, 8), (48, 8, 4, 16, 8), (50, 8, 4, 8, 8),
                                                               (47, 6, 3, 6, 6), (50, 4, 2, 4, 4), (46, 6, 2, 6, 4)])
def test_twins_from_window_starts_equal_the_windows_with_the_same_pixels(size, window, stride, cwindow, cstride) -> None:
    from fer_explain.explain.occlusion_coarse import _twins, _window_masks

    fine, rows, cols = _window_masks(size, size, window, stride, torch.device("cpu"))
    coarse, crows, ccols = _window_masks(size, size, cwindow, cstride, torch.device("cpu"))
    same = (fine.flatten(1)[:, None, :] == coarse.flatten(1)[None]).all(dim=2)  # the pixel-by-pixel definition
    expected = torch.where(same.any(dim=1), same.float().argmax(dim=1), torch.full((len(fine),), -1))
    twin = _twins(rows, cols, crows, ccols, cwindow == window, torch.device("cpu"))
    assert torch.equal(twin, expected)
    assert (twin >= 0).any() == (cwindow == window)


def test_lattice_positions_reach_every_border() -> None:
    lat = lattice_positions(11, 11)
    assert len(lat) == 39  # 3 rows of 6 and 3 rows of 7: 1 + 39 images per face, 3.05x fewer than 1 + 121
    rows = sorted({p // 11 for p in lat})
    assert rows == [0, 2, 4, 6, 8, 10]
    assert [p % 11 for p in lat if p // 11 == 2] == [0, 1, 3, 5, 7, 9, 10]
    assert {0, 10, 110, 120} <= set(lat)  # the corners: no position lies outside the lattice's hull
    assert lattice_positions(2, 5) == list(range(10))  # too small to interpolate: every window exact
    positions, weights = lattice_interpolation(11, 11)
    torch.testing.assert_close(weights.sum(1), torch.ones(121))
    assert (weights >= 0).all()
    assert torch.equal(weights[positions], torch.eye(len(positions)))  # lattice windows are their own values
    # a window between two lattice windows of one row is their mean
    assert weights[1, positions.index(0)] == pytest.approx(0.5) and weights[1, positions.index(2)] == pytest.approx(0.5)


def test_lattice_sweep_is_exact_on_the_lattice_and_interpolates_logits(tiny) -> None:
    model, make_x = tiny("vgg_fer", in_chans=1, input_size=48)
    x, black = make_x(3), black_baseline(model)
    exact = SlidingOcclusion(model, 8, 4, black, chunk=31).attribute(x)
    explainer = CoarseToFineOcclusion(model, 8, 4, black, images_per_forward=40)
    exp = explainer.attribute(x)
    assert exp.extras["forwards"] == explainer.last_forwards == 3 * (1 + 39)
    assert exp.params["sweep"] == "lattice" and "coarse_map" not in exp.extras
    refined = exp.extras["refined"].flatten(1)
    positions, weights = lattice_interpolation(11, 11)
    assert refined.sum(1).tolist() == [39] * 3 and refined[:, positions].all()
    torch.testing.assert_close(exp.raw.flatten(1)[refined], exact.raw.flatten(1)[refined], atol=1e-6, rtol=0)
    # the others: softmax of the interpolated logits of the lattice windows, as a drop from p0
    with torch.no_grad():
        p0 = model(x).softmax(1).gather(1, exp.targets[:, None])
        rows = list(range(0, 41, 4))
        occluded = []
        for p in positions:
            r, q = rows[p // 11], rows[p % 11]
            xo = x.clone()
            xo[:, :, r:r + 8, q:q + 8] = black
            occluded.append(model(xo))
        logits = torch.stack(occluded, 1)  # (N, L, K)
    est = p0 - torch.einsum("pl,nlk->npk", weights, logits).softmax(2).gather(
        2, exp.targets[:, None, None].expand(-1, 121, 1))[..., 0]
    torch.testing.assert_close(exp.raw.flatten(1)[~refined], est[~refined], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(exp.raw.flatten(1)[~refined], exact.raw.flatten(1)[~refined], atol=1e-6)
    # a drill-down on top: k more exact windows, chosen among the interpolated ones by their estimate
    drilled = CoarseToFineOcclusion(model, 8, 4, black, top_fraction=0.05, images_per_forward=40).attribute(x)
    k = math.ceil(0.05 * 121)
    assert drilled.extras["forwards"] == 3 * (1 + 39 + k)
    more = drilled.extras["refined"].flatten(1) & ~refined
    assert more.sum(1).tolist() == [k] * 3
    top = torch.sort(est.masked_fill(refined, -math.inf), dim=1, descending=True, stable=True).indices[:, :k]
    assert torch.equal(more, torch.zeros_like(more).scatter(1, top, True))
    torch.testing.assert_close(drilled.raw.flatten(1)[more], exact.raw.flatten(1)[more], atol=1e-6, rtol=0)
