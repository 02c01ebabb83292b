"""Occlusion without redundant forward passes: the same maps as captum, one unperturbed pass per call."""

from __future__ import annotations

import pytest
import torch
from captum.attr import Occlusion as CaptumOcclusion

from fer_explain.explain import Occlusion, SlidingOcclusion
from fer_explain.explain.base import explaining
from fer_explain.explain.memory_format import forward_format


def _captum(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, window: int, stride: int,
            baseline: float) -> torch.Tensor:
    def prob(inp: torch.Tensor) -> torch.Tensor:
        return model(inp).softmax(dim=1)

    with torch.no_grad():
        return CaptumOcclusion(prob).attribute(x, sliding_window_shapes=(1, window, window),
                                               strides=(1, stride, stride), baselines=baseline, target=target)[:, 0]


@pytest.mark.parametrize("name", ["deep_emotion", "se_resnet18"])
def test_sliding_occlusion_one_unperturbed_pass_same_maps(tiny, counted_batches, name: str) -> None:
    model, make_x = tiny(name)
    x = make_x(3)
    target = torch.tensor([1, 3, 0])
    with counted_batches(model) as calls:
        exp = SlidingOcclusion(model, 8, 4, baseline=-1.0, chunk=11, memory_format="channels_last").attribute(x, target)
    # one unperturbed pass (3 images), then 121 positions in 11 forwards of 11 x 3 images
    assert calls == [3] + [33] * 11
    torch.testing.assert_close(exp.maps, _captum(model, x, target, 8, 4, -1.0), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(exp.probs, model(x).detach().float().softmax(1))
    # the base class's route (_compute, which recomputes p0) gives bit-identical maps and drops (in the layout
    # attribute ran the model in)
    explainer = SlidingOcclusion(model, 8, 4, baseline=-1.0, chunk=11, memory_format="channels_last")
    with explaining(model) as handles, forward_format(model, exp.params["memory_format"]):
        explainer._handles = handles
        maps, raw, extras = explainer._compute(x.clone(), exp.targets)
        explainer._handles = None
    assert torch.equal(maps, exp.maps) and torch.equal(raw, exp.raw)
    assert torch.equal(extras["flip"], exp.extras["flip"])


def test_occlusion_wrapper_with_a_target_uses_captums_unperturbed_pass(tiny, counted_batches) -> None:
    model, make_x = tiny("deep_emotion")
    x = make_x(3)
    target = torch.tensor([2, 0, 5])
    with counted_batches(model) as calls:
        exp = Occlusion(model, 8, 4, baseline=-1.0, perturbations_per_eval=11,
                        memory_format="channels_last").attribute(x, target)
    assert calls == [3] + [33] * 11  # captum's unperturbed pass only; no pass of our own
    ref = _captum(model, x, target, 8, 4, -1.0)
    torch.testing.assert_close(exp.maps, ref, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(exp.probs, model(x).detach().float().softmax(1))
    assert torch.equal(exp.targets, target)
    # an int target is broadcast; without a target the prediction is explained (base class's pass first)
    assert torch.equal(Occlusion(model, 8, 4, perturbations_per_eval=11).attribute(x, 4).targets,
                       torch.full((3,), 4))
    pred = Occlusion(model, 8, 4, baseline=-1.0, perturbations_per_eval=11).attribute(x)
    torch.testing.assert_close(pred.maps, _captum(model, x, pred.targets, 8, 4, -1.0), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("bad", [7, [0, 1], [0, 1, -1]])
def test_occlusion_wrapper_refuses_bad_targets_before_occluding(tiny, counted_batches, bad) -> None:
    model, make_x = tiny("deep_emotion")
    x = make_x(3)
    with counted_batches(model) as calls, pytest.raises(ValueError, match="target"):
        Occlusion(model, 8, 4, perturbations_per_eval=11).attribute(x, bad)
    assert len(calls) <= 1  # at most the unperturbed pass ran
