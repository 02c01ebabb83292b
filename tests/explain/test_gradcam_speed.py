"""Grad-CAM in one forward pass: the same maps as captum's LayerGradCam, and one pass only."""

from __future__ import annotations

import pytest
import torch
from captum.attr import LayerGradCam

from fer_explain.explain import GradCAM, GradCAMPlusPlus
from fer_explain.explain.base import explaining
from fer_explain.models import list_models


@pytest.mark.parametrize("name", list_models())
def test_gradcam_equals_captum_layer_gradcam(tiny, name: str) -> None:
    model, make_x = tiny(name)
    x = make_x(3)
    ours = GradCAM(model).attribute(x)
    with torch.no_grad():
        pred = model(x).argmax(1)
    torch.testing.assert_close(ours.targets, pred)
    torch.testing.assert_close(ours.probs, model(x).detach().float().softmax(1))
    for relu in (True, False):
        exp = GradCAM(model, relu=relu).attribute(x, target=[1, 0, 2])
        ref = LayerGradCam(model, model.get_submodule(exp.layer)).attribute(
            x.clone().requires_grad_(True), target=torch.tensor([1, 0, 2]), relu_attributions=relu)[:, 0]
        torch.testing.assert_close(exp.raw, ref.detach(), atol=1e-5, rtol=1e-5)
    assert (ours.maps.flatten(1).std(1) > 0).all()


def test_one_forward_pass_and_base_path_agree(tiny) -> None:
    model, make_x = tiny("se_resnet18")
    x = make_x(4)
    calls = []
    handle = model.register_forward_pre_hook(lambda m, i: calls.append(1))
    try:
        for cls in (GradCAM, GradCAMPlusPlus):
            calls.clear()
            exp = cls(model).attribute(x, labels=[0, 1, 2, 3])
            assert len(calls) == 1, cls.__name__
            # the base class's two-pass route (_compute) gives the same map
            explainer = cls(model)
            with explaining(model) as handles:
                explainer._handles = handles
                _, raw, _ = explainer._compute(x, exp.targets)
                explainer._handles = None
            torch.testing.assert_close(raw, exp.raw, atol=1e-6, rtol=1e-5)
            torch.testing.assert_close(exp.labels, torch.tensor([0, 1, 2, 3]))
    finally:
        handle.remove()
