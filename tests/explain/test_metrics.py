"""Explanation metrics on hand-made maps with known answers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from fer_explain.explain import Explanation, GradCAM
from fer_explain.explain import metrics as M


def make_exp(maps: torch.Tensor, targets: list[int] | None = None,
             labels: list[int] | None = None) -> Explanation:
    n = maps.shape[0]
    t = torch.tensor(targets if targets is not None else [0] * n)
    return Explanation(maps=maps.float(), raw=None, targets=t, probs=torch.full((n, 3), 1 / 3), method="test",
                       labels=None if labels is None else torch.tensor(labels))


def box_mask(n: int = 2, size: int = 16) -> torch.Tensor:
    m = torch.zeros(n, size, size, dtype=torch.bool)
    m[:, 4:8, 6:12] = True
    return m


def test_map_equal_to_mask_is_perfect() -> None:
    mask = box_mask()
    exp = make_exp(mask.float())
    assert M.pointing_game(exp, mask).tolist() == [1.0, 1.0]
    assert M.relevance_mass_accuracy(exp, mask).tolist() == [1.0, 1.0]
    assert M.relevance_rank_accuracy(exp, mask).tolist() == [1.0, 1.0]
    mass = M.region_mass(exp, {"box": mask, "rest": ~mask})
    assert mass["box"].tolist() == [1.0, 1.0] and mass["rest"].tolist() == [0.0, 0.0]


def test_permuted_map_scores_lower() -> None:
    g = torch.Generator().manual_seed(0)
    mask = box_mask(4)
    good = mask.float() + 0.01 * torch.rand(4, 16, 16, generator=g)
    perm = good.flatten(1)[:, torch.randperm(256, generator=g)].view(4, 16, 16)
    for metric in (M.relevance_mass_accuracy, M.relevance_rank_accuracy):
        assert metric(make_exp(perm), mask).mean() < metric(make_exp(good), mask).mean() - 0.3
    assert M.pointing_game(make_exp(good), mask).mean() == 1.0


def test_empty_masks_are_excluded() -> None:
    mask = box_mask(2)
    mask[1] = False
    exp = make_exp(torch.rand(2, 16, 16))
    for metric in (M.pointing_game, M.relevance_mass_accuracy, M.relevance_rank_accuracy):
        r = metric(exp, mask)
        assert not math.isnan(r[0]) and math.isnan(r[1])
    with pytest.raises(ValueError, match="shape"):
        M.pointing_game(exp, mask[:, :8])


def test_region_mass_table_and_asymmetry() -> None:
    maps = torch.zeros(4, 8, 8)
    maps[:2, :, :4] = 1.0        # class 0: all mass on the left half
    maps[2:, :, :2] = 1.0        # class 1: 2 columns left ...
    maps[2:, :, 6:] = 1.0        # ... and 2 columns right
    left = torch.zeros(4, 8, 8, dtype=torch.bool)
    left[:, :, :4] = True
    masks = {"left_half": left, "right_half": ~left}
    exp = make_exp(maps, targets=[0, 0, 1, 1])
    table = M.region_mass_table(exp, masks, class_names=["anger", "disgust", "fear"])
    assert list(table.index) == ["anger", "disgust"]
    assert table.loc["anger", "left_half"] == 1.0 and table.loc["disgust", "left_half"] == 0.5
    asym = M.asymmetry(exp, masks)
    assert asym["half"].tolist() == [1.0, 1.0, 0.0, 0.0]


def test_gini_known_values() -> None:
    n = 100
    onehot = torch.zeros(1, 10, 10)
    onehot[0, 3, 4] = 5.0
    uniform = torch.ones(1, 10, 10)
    g = M.sparsity(make_exp(torch.cat([onehot, uniform])))
    assert g[0].item() == pytest.approx((n - 1) / n, abs=1e-6)
    assert g[1].item() == pytest.approx(0.0, abs=1e-6)
    assert math.isnan(M.sparsity(make_exp(torch.zeros(1, 4, 4)))[0])
    table = M.sparsity_table(make_exp(torch.cat([onehot, uniform]), targets=[0, 1]), ["a", "b", "c"])
    assert table.loc["a", "mean"] == pytest.approx(0.99, abs=1e-6)


def test_spearman_agreement() -> None:
    a = torch.rand(3, 8, 8)
    assert torch.allclose(M.agreement(make_exp(a), make_exp(a * 2 + 1)), torch.ones(3))
    assert torch.allclose(M.agreement(make_exp(a), make_exp(-a)), -torch.ones(3))
    assert math.isnan(M.spearman(a[:1], torch.zeros(1, 8, 8))[0])


class MouthModel(nn.Module):
    """Class 0's logit is the mean intensity of a fixed 'mouth' box: the perfect map is known."""

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask.float())
        self.scale = nn.Parameter(torch.tensor(8.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = (x[:, 0] * self.mask).sum((1, 2)) / self.mask.sum() * self.scale
        return torch.stack([s, torch.zeros_like(s), torch.zeros_like(s)], dim=1)


def test_deletion_of_perfect_map_drops_faster_than_reversed() -> None:
    mask = box_mask(1)[0]
    model = MouthModel(mask)
    x = torch.ones(3, 1, 16, 16)
    perfect = make_exp(mask.float().expand(3, -1, -1) + 0.01 * torch.rand(3, 16, 16))
    reversed_ = make_exp(-perfect.maps)
    d_good = M.deletion_curve(model, x, perfect, n_steps=16)
    d_bad = M.deletion_curve(model, x, reversed_, n_steps=16)
    assert d_good.probs.shape == (3, 17) and d_good.fractions[0] == 0 and d_good.fractions[-1] == 1
    torch.testing.assert_close(d_good.probs[:, 0], d_bad.probs[:, 0])
    assert (d_good.auc < d_bad.auc - 0.2).all()
    i_good = M.insertion_curve(model, x, perfect, n_steps=16, baseline="zero")
    i_bad = M.insertion_curve(model, x, reversed_, n_steps=16, baseline="zero")
    assert (i_good.auc > i_bad.auc + 0.2).all()
    blur = M.deletion_curve(model, torch.rand(3, 1, 16, 16), perfect, n_steps=4, baseline="blur",
                            batch_size=5)
    assert blur.probs.shape == (3, 5) and torch.isfinite(blur.probs).all()


def test_cascading_randomization_reports_layers_top_down() -> None:
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("conv1", nn.Conv2d(1, 6, 3, padding=1))
    model.add_module("relu1", nn.ReLU())
    model.add_module("conv2", nn.Conv2d(6, 6, 3, padding=1))
    model.add_module("relu2", nn.ReLU())
    model.add_module("pool", nn.AdaptiveAvgPool2d(1))
    model.add_module("flat", nn.Flatten())
    model.add_module("classifier", nn.Linear(6, 3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(4, 1, 12, 12)
    df = M.cascading_randomization(lambda m: GradCAM(m, layer="conv2", relu=False), model, x)
    assert df["layer"].tolist() == ["classifier", "conv2", "conv1"]
    assert df["step"].tolist() == [1, 2, 3]
    assert df["spearman_mean"].between(-1, 1).all()
    assert df["spearman_mean"].iloc[-1] < 0.9
    for k, v in model.state_dict().items():  # the trained model is untouched
        torch.testing.assert_close(v, before[k])
    with pytest.raises(ValueError, match="unknown layers"):
        M.cascading_randomization(lambda m: GradCAM(m, layer="conv2"), model, x, layers=["nope"])


# --------------------------------------------------------------------------- known-answer helpers
def test_rank_accuracy_expected_ties_counts_plateaus_fairly() -> None:
    # 1 x 4 x 4 map: two pixels at 2.0 (one inside the mask), a plateau of 1.0 elsewhere
    maps = torch.ones(1, 4, 4)
    maps[0, 0, 0] = maps[0, 3, 3] = 2.0
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, 0, :] = True  # 4 pixels: (0, 0) at 2.0 and three plateau pixels
    exp = make_exp(maps)
    # k = 4: the two 2.0 pixels (1 inside) + 2 of the 14 plateau pixels, 3 of which are inside
    expected = (1 + 2 * 3 / 14) / 4
    assert M.relevance_rank_accuracy(exp, mask, ties="expected").item() == pytest.approx(expected)
    assert M.relevance_rank_accuracy(exp, mask).item() in (0.25, 0.5, 0.75)  # topk's own tie order
    with pytest.raises(ValueError, match="ties must be"):
        M.relevance_rank_accuracy(exp, mask, ties="random")


def test_region_pointing_game_scores_regions_not_pixels() -> None:
    # 3 faces, 2 x 4 images; region ids: 0 on the left half, 1 on the right half
    fm = torch.zeros(3, 2, 4, dtype=torch.long)
    fm[:, :, 2:] = 1
    masks = torch.zeros(3, 2, 4, dtype=torch.bool)
    masks[0, :, 3] = True             # evidence on the right
    masks[1, 0, 0:2] = True
    masks[1, 0, 2] = True             # 2 left pixels, 1 right: most on the left
    drops = torch.tensor([[0.1, 0.5], [0.5, 0.1], [0.2, 0.2]])
    present = torch.ones(3, 2, dtype=torch.bool)
    hits = M.region_pointing_game(drops, present, [0, 1], fm, masks)
    assert hits[0].item() == 1.0 and hits[1].item() == 1.0 and math.isnan(hits[2].item())  # face 2: no evidence
    # a tie for the largest drop counts half when one of the two tied regions holds the evidence
    masks[2, :, 0] = True
    assert M.region_pointing_game(drops, present, [0, 1], fm, masks)[2].item() == 0.5
    # the largest drop in the wrong region is a miss; an absent region never wins
    assert M.region_pointing_game(torch.tensor([[0.9, 0.1]]), torch.tensor([[True, True]]), [0, 1], fm[:1],
                                  masks[:1]).item() == 0.0
    assert M.region_pointing_game(torch.tensor([[0.9, 0.1]]), torch.tensor([[False, True]]), [0, 1], fm[:1],
                                  masks[:1]).item() == 1.0
    # saturated drops that differ by float noise tie; a real gap still ranks
    near = torch.tensor([[0.98, 0.98 + 2e-6]])
    assert M.region_pointing_game(near, torch.ones(1, 2, dtype=torch.bool), [0, 1], fm[1:2], masks[1:2]).item() == 0.5
    assert M.region_pointing_game(near, torch.ones(1, 2, dtype=torch.bool), [0, 1], fm[1:2], masks[1:2],
                                  tie_tol=0.0).item() == 0.0
    assert M.region_pointing_game(torch.tensor([[0.98, 0.97]]), torch.ones(1, 2, dtype=torch.bool), [0, 1], fm[1:2],
                                  masks[1:2]).item() == 1.0
    with pytest.raises(ValueError, match="shapes disagree"):
        M.region_pointing_game(drops, present, [0, 1, 2], fm, masks)
    with pytest.raises(ValueError, match="tie_tol"):
        M.region_pointing_game(drops, present, [0, 1], fm, masks, tie_tol=-1.0)


def test_bootstrap_interval() -> None:
    assert M.bootstrap_interval([0.5, 0.5, float("nan")]) == (0.5, 0.5, 0.5)
    assert all(math.isnan(v) for v in M.bootstrap_interval([float("nan")]))
    values = torch.cat([torch.ones(60), torch.zeros(40)])
    mean, lo, hi = M.bootstrap_interval(values, n_boot=2000, seed=1)
    assert mean == pytest.approx(0.6)
    assert 0.48 < lo < 0.55 and 0.65 < hi < 0.72  # +- 1.96 * sqrt(0.24 / 100) = 0.096
    assert M.bootstrap_interval(values, seed=3) == M.bootstrap_interval(values, seed=3)
    with pytest.raises(ValueError, match="n_boot"):
        M.bootstrap_interval(values, n_boot=0)


def test_binomial_interval() -> None:
    lo, hi = M.binomial_interval(0.5, 100)
    assert lo == pytest.approx(0.40) and hi == pytest.approx(0.60)
    assert M.binomial_interval(0.0, 10) == (0.0, 0.0)
    with pytest.raises(ValueError):
        M.binomial_interval(1.5, 10)


def test_randomize_weights_copies_and_resets() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()
    before = [p.clone() for p in model.parameters()]
    state = torch.random.get_rng_state()
    rand = M.randomize_weights(model, seed=0)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's generator is untouched
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the model too
    assert all(not torch.equal(a, b) for a, b in zip(model.parameters(), rand.parameters()))
    again = M.randomize_weights(model, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(rand.parameters(), again.parameters()))
    only_top = M.randomize_weights(model, layers=["2"], seed=0)
    assert torch.equal(only_top[0].weight, model[0].weight) and not torch.equal(only_top[2].weight, model[2].weight)
    with pytest.raises(ValueError, match="unknown layers"):
        M.randomize_weights(model, layers=["nope"])
