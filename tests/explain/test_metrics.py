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
