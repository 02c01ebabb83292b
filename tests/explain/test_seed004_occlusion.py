"""Seed 004's occlusion preset: black image pixels, the true label as the target, known-answer flips."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fer_explain.explain.occlusion import (
    Seed004Occlusion,
    SlidingOcclusion,
    black_baseline,
    seed004_occlusion,
)
from fer_explain.explain.registry import occlusion_window
from fer_explain.models.base import InputSpec
from fer_explain.train.inputs import CheckpointInput

torch.set_num_threads(1)


class TopLeftBrightness(nn.Module):
    """Two classes: class 0's logit is 5 x the mean of the top-left 8x8 patch, class 1's is 0."""

    input_spec = InputSpec(size=16, channels=1, mean=(0.5,), std=(0.5,))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = 5.0 * x[:, :, :8, :8].mean(dim=(1, 2, 3))
        return torch.stack([a, torch.zeros_like(a)], dim=1)


def test_preset_values() -> None:
    model = TopLeftBrightness()
    occ = seed004_occlusion(model)
    assert isinstance(occ, Seed004Occlusion) and isinstance(occ, SlidingOcclusion)
    assert (occ.window, occ.stride) == (8, 4) == occlusion_window(48)  # the registry's at 48 px
    # black image pixels in the normalised input: (0 - 0.5) / 0.5 = -1, the checkpoint input's black too
    torch.testing.assert_close(torch.as_tensor(occ.baseline), black_baseline(model))
    torch.testing.assert_close(torch.as_tensor(occ.baseline), CheckpointInput.from_model(model).black())
    assert float(torch.as_tensor(occ.baseline).flatten()[0]) == -1.0
    assert (seed004_occlusion(model, 4, 2).window, seed004_occlusion(model, 4, 2).stride) == (4, 2)
    assert seed004_occlusion(nn.Identity(), baseline=0.0).baseline == 0.0
    with pytest.raises(TypeError, match="input_spec"):
        seed004_occlusion(nn.Identity())


def test_true_label_flips_known_answer() -> None:
    model = TopLeftBrightness()
    x = torch.ones(2, 1, 16, 16)  # bright everywhere: both predicted class 0
    labels = torch.tensor([0, 1])  # the second face's true label is 1: predicted wrongly already
    exp = seed004_occlusion(model, 8, 8).attribute(x, labels=labels)
    assert exp.method == "seed004_occlusion" and exp.targets.tolist() == [0, 1]
    flip = exp.extras["flip"]
    assert flip.shape == (2, 2, 2)
    # face 0: only the top-left black patch makes the prediction wrong (class 1 instead of 0)
    assert flip[0].tolist() == [[True, False], [False, False]]
    assert exp.extras["importance"][0, :8, :8].all() and not exp.extras["importance"][0, 8:].any()
    # face 1: wrong wherever the patch leaves the prediction at 0; right only under the top-left patch
    assert flip[1].tolist() == [[False, True], [True, True]]
    # the plain explainer's default target (the prediction) gives another answer for face 1
    pred = SlidingOcclusion(model, 8, 8, baseline=black_baseline(model)).attribute(x)
    assert pred.extras["flip"][1].tolist() == [[True, False], [False, False]]


def test_labels_are_required_and_are_the_target() -> None:
    model = TopLeftBrightness()
    occ = seed004_occlusion(model, 8, 8)
    x = torch.ones(2, 1, 16, 16)
    with pytest.raises(ValueError, match="true label"):
        occ.attribute(x)
    with pytest.raises(ValueError, match="target must be the labels"):
        occ.attribute(x, target=[1, 1], labels=[0, 1])
    same = occ.attribute(x, target=[0, 1], labels=[0, 1])
    assert same.targets.tolist() == [0, 1] and same.labels.tolist() == [0, 1]
