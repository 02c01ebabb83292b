"""Our explainers against reference implementations (pytorch-grad-cam, torchcam, captum)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import FeatureAblation
from captum.attr import Occlusion as CaptumOcclusion

from fer_explain.explain import CAM, GradCAM, GradCAMPlusPlus, Occlusion, RegionAblation, SlidingOcclusion
from fer_explain.explain.regions import region_importance
from fer_explain.models import list_models

pgc = pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

try:  # pytorch-grad-cam resizes with cv2
    import cv2  # noqa: F401

    HAVE_CV2 = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_CV2 = False


def reference_order(raw: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """Process our layer-resolution map as pytorch-grad-cam does: ReLU, min-max, resize, ReLU, min-max."""
    cam = raw.clamp_min(0)
    flat = cam.flatten(1)
    cam = (cam - flat.min(1).values[:, None, None])
    cam = cam / (1e-7 + cam.flatten(1).max(1).values[:, None, None])
    up = torch.nn.functional.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    up = up.clamp_min(0)
    up = up - up.flatten(1).min(1).values[:, None, None]
    up = up / (1e-7 + up.flatten(1).max(1).values[:, None, None])
    return up.numpy()


def _reference_cam(cls, model, layer_name, x, targets):
    layer = model.get_submodule(layer_name)
    with cls(model=model, target_layers=[layer]) as cam:
        out = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in targets])
    return out


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("ours_cls,ref_name", [(GradCAM, "GradCAM"), (GradCAMPlusPlus, "GradCAMPlusPlus")])
def test_gradcam_matches_pytorch_grad_cam(tiny, name: str, ours_cls, ref_name: str) -> None:
    model, make_x = tiny(name)
    x = make_x(3)
    ours = ours_cls(model).attribute(x)
    assert ours.layer == model.gradcam_layer_name()
    assert ours.raw is not None and ours.maps.shape == (3, *x.shape[-2:])
    # not a trivial comparison: the maps vary over the image
    assert (ours.maps.flatten(1).std(1) > 0).all(), "Grad-CAM maps are constant"
    ref = _reference_cam(getattr(pgc, ref_name), model, ours.layer, x, ours.targets)
    if HAVE_CV2:
        np.testing.assert_allclose(reference_order(ours.raw, tuple(x.shape[-2:])), ref, atol=1e-5, rtol=0)
    else:  # pragma: no cover
        pytest.skip("cv2 missing: pytorch-grad-cam cannot resize")


def test_gradcam_maps_are_bilinear_upsampling_of_raw(tiny) -> None:
    model, make_x = tiny("deep_emotion")
    x = make_x(2)
    exp = GradCAM(model).attribute(x)
    up = torch.nn.functional.interpolate(exp.raw[:, None], size=(48, 48), mode="bilinear",
                                         align_corners=False)
    torch.testing.assert_close(exp.maps, up[:, 0])
    signed = GradCAM(model, relu=False, interpolate="nearest").attribute(x)
    assert signed.params == {"relu": False, "interpolate": "nearest"}
    torch.testing.assert_close(signed.raw.clamp_min(0), exp.raw)


CAM_ABLE = [("se_resnet18", {}), ("densenet_bc", {}), ("vgg_fer", {"head": "gap"})]


@pytest.mark.parametrize("name,kwargs", CAM_ABLE)
def test_cam_matches_torchcam(tiny, name: str, kwargs: dict) -> None:
    torchcam_methods = pytest.importorskip("torchcam.methods")
    model, make_x = tiny(name, **kwargs)
    x = make_x(3)
    ours = CAM(model).attribute(x)
    assert ours.layer == model.cam_layer_name()
    extractor = torchcam_methods.CAM(model, target_layer=ours.layer, fc_layer="classifier",
                                     input_shape=tuple(x.shape[1:]))
    try:
        with torch.no_grad():
            scores = model(x)
        ref = extractor(class_idx=ours.targets.tolist(), scores=scores, normalized=False)[0]
    finally:
        extractor.remove_hooks()
    torch.testing.assert_close(ours.raw, ref, atol=1e-5, rtol=1e-5)
    assert (ours.raw.flatten(1).std(1) > 0).all()
    torch.testing.assert_close(CAM(model, relu=True).attribute(x).raw, ref.clamp_min(0), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("window,stride", [(8, 4), (10, 4), (12, 12)])
def test_occlusion_matches_captum(tiny, window: int, stride: int) -> None:
    model, make_x = tiny("deep_emotion")
    x = make_x(2)
    target = torch.tensor([1, 3])

    def prob(inp: torch.Tensor) -> torch.Tensor:
        return model(inp).softmax(dim=1)

    with torch.no_grad():
        ref = CaptumOcclusion(prob).attribute(x, sliding_window_shapes=(1, window, window),
                                              strides=(1, stride, stride), baselines=0.5, target=target)[:, 0]
    ours = SlidingOcclusion(model, window, stride, baseline=0.5, chunk=7).attribute(x, target)
    torch.testing.assert_close(ours.maps, ref, atol=1e-6, rtol=1e-5)
    wrapped = Occlusion(model, window, stride, baseline=0.5).attribute(x, target)
    torch.testing.assert_close(wrapped.maps, ref, atol=1e-6, rtol=1e-5)
    # per-position drops and flips are consistent with the probabilities
    p0 = ours.target_probs
    torch.testing.assert_close(ours.raw, p0[:, None, None] - ours.extras["occluded_probs"])
    assert ours.extras["flip"].shape == ours.raw.shape
    assert ours.extras["importance"].dtype == torch.bool


def test_region_masking_matches_feature_ablation(tiny) -> None:
    model, make_x = tiny("deep_emotion")
    x = make_x(3)
    fm = torch.zeros(3, 1, 48, 48, dtype=torch.long)
    fm[:, :, 10:20, 8:40] = 1   # "eyes"
    fm[:, :, 30:42, 14:34] = 2  # "mouth"
    fm[1, :, 30:42, 14:34] = 4  # another id on one sample
    names = {0: "background", 1: "eyes", 2: "mouth", 4: "nose"}

    def prob(inp: torch.Tensor) -> torch.Tensor:
        return model(inp).softmax(dim=1)

    target = torch.tensor([0, 2, 5])
    with torch.no_grad():
        ref = FeatureAblation(prob).attribute(x, baselines=0.0, target=target, feature_mask=fm)[:, 0]
    exp = RegionAblation(model, fm).attribute(x, target)
    torch.testing.assert_close(exp.maps, ref, atol=1e-6, rtol=1e-5)
    ri = region_importance(model, x, fm, names, target=target)
    assert ri.regions == ["background", "eyes", "mouth", "nose"]
    assert not ri.present[1, 2] and ri.present[1, 3] and not ri.present[0, 3]
    torch.testing.assert_close(ri.drops[0, 2], ref[0, 35, 20])
    # keep-alone: p(x) - p(only region kept) computed directly
    keep = region_importance(model, x, fm, names, target=target, mode="keep")
    only_mouth = torch.where(fm == 2, x, torch.zeros_like(x))
    with torch.no_grad():
        p_keep = prob(only_mouth)[0, 0]
        p0 = prob(x)[0, 0]
    torch.testing.assert_close(keep.drops[0, 2], p0 - p_keep, atol=1e-6, rtol=1e-5)
