"""Forward shapes, Grad-CAM layers, CAM-ability and the features/classifier split for every model."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn

from fer_explain.models import MIN_CAM_MAP, FERModel, create_model, list_models

#: Options giving a small, fast variant of each model (same topology and map sizes).
SMALL_KWARGS: dict[str, dict[str, Any]] = {
    "se_resnet18": {"width": 0.125},
    "resemotenet": {"width": 0.0625},
    "vgg_fer": {"width": 0.125},
    "densenet_bc": {"growth_rate": 4, "layers_per_block": 3},
    "deep_emotion": {},
}

#: (name, Grad-CAM layer, map side) at the native input size.
GRADCAM_AT_NATIVE = [
    ("se_resnet18", "layer4", 7),
    ("resemotenet", "cnn.conv3", 16),
    ("deep_emotion", "body.relu3", 9),
    ("vgg_fer", "body.block5", 4),
    ("densenet_bc", "body.final", 16),
]


def small_model(name: str, **kwargs: Any) -> FERModel:
    return create_model(name, **{**SMALL_KWARGS.get(name, {}), **kwargs}).eval()


def native_input(model: FERModel, n: int = 2, size: int | None = None) -> Tensor:
    spec = model.input_spec
    side = spec.size if size is None else size
    return torch.randn(n, spec.channels, side, side)


def run_with_hook(model: nn.Module, layer: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    captured: list[Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        logits = model(x)
    finally:
        handle.remove()
    return logits, captured[-1]


def assert_real_forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Beyond shapes: in eval mode each row's logits depend on its own face only and on its pixels,
    and a gradient flows back to the input pixels (what every gradient explainer needs)."""
    model.eval()
    x = x.clone()
    x[1] = torch.rand_like(x[1]) * 2 - 1  # two different faces
    with torch.no_grad():
        logits = model(x)
        alone = torch.cat([model(x[i:i + 1]) for i in range(len(x))])
    assert torch.isfinite(logits).all()
    torch.testing.assert_close(logits, alone, atol=1e-4, rtol=1e-4)  # no leakage across the batch
    assert not torch.allclose(logits[0], logits[1])  # the output depends on the face
    xg = x.clone().requires_grad_(True)
    model(xg)[:, 0].sum().backward()
    model.zero_grad()
    assert xg.grad is not None and (xg.grad[0].abs().sum() > 0) and (xg.grad[1].abs().sum() > 0)
    return logits


@pytest.mark.parametrize("name", list_models())
def test_forward_shapes_at_native_size(name: str) -> None:
    model = small_model(name, num_classes=5)
    x = native_input(model)
    with torch.no_grad():
        logits = model(x)
        feats = model.features(x)
    assert logits.shape == (2, 5)
    assert feats.shape == (2, model.feature_dim)
    assert isinstance(model.classifier, nn.Linear)
    assert model.classifier.out_features == model.num_classes == 5
    assert_real_forward(model, x)


@pytest.mark.parametrize("name", list_models())
def test_logits_are_classifier_of_features(name: str) -> None:
    model = small_model(name)
    x = native_input(model)
    with torch.no_grad():
        assert torch.allclose(model(x), model.classifier(model.features(x)), atol=1e-5)


@pytest.mark.parametrize(("name", "layer_name", "side"), GRADCAM_AT_NATIVE)
def test_gradcam_layer_pinned_at_native_size(name: str, layer_name: str, side: int) -> None:
    model = small_model(name)
    assert model.gradcam_layer_name() == layer_name
    layer = model.gradcam_layer()
    assert layer is model.get_submodule(layer_name)
    with torch.no_grad():
        _, fmap = run_with_hook(model, layer, native_input(model))
    assert fmap.shape[-2:] == (side, side)
    assert side >= MIN_CAM_MAP
    assert model.feature_map_size(layer_name) == (side, side)


@pytest.mark.parametrize("name", list_models())
def test_gradcam_backward_through_layer(name: str) -> None:
    """Grad-CAM needs activations and gradients at the layer; no in-place op may break the hooks."""
    model = small_model(name)
    layer = model.gradcam_layer()
    acts: list[Tensor] = []
    grads: list[Tensor] = []
    h1 = layer.register_forward_hook(lambda _m, _i, out: acts.append(out))
    h2 = layer.register_full_backward_hook(lambda _m, _gi, go: grads.append(go[0]))
    try:
        x = native_input(model, n=1).requires_grad_(True)
        logits = model(x)
        logits[0, logits.argmax()].backward()
    finally:
        h1.remove()
        h2.remove()
    assert grads and grads[0].shape == acts[0].shape
    assert min(acts[0].shape[-2:]) >= MIN_CAM_MAP


@pytest.mark.parametrize(
    ("in_chans", "size", "layer_name", "side"),
    [(1, 48, "layer2", 6), (3, 100, "layer4", 4), (1, 64, "layer3", 4), (3, 224, "layer4", 7)],
)
def test_se_resnet18_alternate_inputs(in_chans: int, size: int, layer_name: str, side: int) -> None:
    model = small_model("se_resnet18", in_chans=in_chans, input_size=size)
    x = torch.randn(1 if size == 224 else 2, in_chans, size, size)
    assert model.gradcam_layer_name() == layer_name
    with torch.no_grad():
        logits, fmap = run_with_hook(model, model.gradcam_layer(), x)
    assert logits.shape == (x.shape[0], 7)
    assert fmap.shape[-2:] == (side, side)
    # the pinned layer depends on the size asked for, not on the stored native size
    assert model.gradcam_layer_name(224) == "layer4"
    assert model.gradcam_layer_name(48) == "layer2"


def test_se_resnet18_full_width_on_meta_device() -> None:
    with torch.device("meta"):
        model = create_model("se_resnet18", num_classes=7)
        for in_chans, size in [(3, 224), (3, 100)]:
            model_c = model if in_chans == 3 else create_model("se_resnet18", in_chans=in_chans)
            assert model_c(torch.empty(2, in_chans, size, size)).shape == (2, 7)
        grey = create_model("se_resnet18", in_chans=1)
        assert grey(torch.empty(2, 1, 48, 48)).shape == (2, 7)
    assert model.gradcam_layer_name(48) == "layer2"


def test_resemotenet_full_width_on_meta_device() -> None:
    with torch.device("meta"):
        model = create_model("resemotenet")
        assert model(torch.empty(2, 3, 64, 64)).shape == (2, 7)
    assert model.feature_map_size("res.res3") == (1, 1)  # why the last map is no Grad-CAM layer
    assert model.gradcam_layer_name() == "cnn.conv3"


@pytest.mark.parametrize("ablation", ["C1", "C2", "C3", "C4", "C5", "C6"])
def test_resemotenet_ablations_run(ablation: str) -> None:
    model = small_model("resemotenet", ablation=ablation)
    base = small_model("resemotenet")
    with torch.no_grad():
        assert model(native_input(model)).shape == (2, 7)
    assert_real_forward(model, native_input(model))
    # C1 is the full model (Table IV); every other configuration removes or changes part of it
    same = [tuple(p.shape) for p in model.parameters()] == [tuple(p.shape) for p in base.parameters()]
    assert same == (ablation == "C1")
    assert min(model.feature_map_size(model.gradcam_layer_name())) >= MIN_CAM_MAP


def test_vgg_and_densenet_other_sizes() -> None:
    vgg = small_model("vgg_fer")
    dense = small_model("densenet_bc")
    with torch.no_grad():
        assert vgg(torch.randn(2, 1, 96, 96)).shape == (2, 7)
        assert dense(torch.randn(2, 1, 48, 48)).shape == (2, 7)
    assert_real_forward(vgg, torch.randn(2, 1, 96, 96))
    assert_real_forward(dense, torch.randn(2, 1, 48, 48))
    assert vgg.gradcam_layer_name(32) == "body.block4"  # block5 is 2x2 at 32x32


@pytest.mark.parametrize(
    ("name", "kwargs", "cam_layer"),
    [("se_resnet18", {}, "layer4"), ("densenet_bc", {}, "body.final"), ("vgg_fer", {"head": "gap"}, "body.block5")],
)
def test_cam_able_models_are_gap_plus_linear(name: str, kwargs: dict, cam_layer: str) -> None:
    model = small_model(name, **kwargs)
    assert model.cam_able
    assert model.cam_layer_name() == cam_layer
    x = native_input(model)
    with torch.no_grad():
        logits, fmap = run_with_hook(model, model.cam_layer(), x)
        gap = fmap.mean(dim=(2, 3))
        assert torch.allclose(model.features(x), gap, atol=1e-5)
        assert torch.allclose(logits, model.classifier(gap), atol=1e-5)
        # CAM identity: the class score is the spatial mean of the class activation map (+ bias)
        w = model.classifier.weight
        cam = torch.einsum("kc,nchw->nkhw", w, fmap)
        assert torch.allclose(cam.mean(dim=(2, 3)) + model.classifier.bias, logits, atol=1e-4)
    assert min(fmap.shape[-2:]) >= MIN_CAM_MAP


@pytest.mark.parametrize(("name", "kwargs"), [("resemotenet", {}), ("deep_emotion", {}), ("vgg_fer", {})])
def test_non_cam_able_models_raise(name: str, kwargs: dict) -> None:
    model = small_model(name, **kwargs)
    assert not model.cam_able
    with pytest.raises(TypeError, match="not CAM-able"):
        model.cam_layer_name()


def test_too_small_input_is_a_clear_error() -> None:
    model = small_model("vgg_fer")
    with pytest.raises(ValueError):
        model.gradcam_layer_name(8)
    de = small_model("deep_emotion")
    with pytest.raises(ValueError):
        de.gradcam_layer_name(64)


def test_map_size_probe_leaves_model_and_hooks_alone() -> None:
    model = small_model("se_resnet18").train()
    calls: list[int] = []
    handle = model.layer4.register_forward_hook(lambda *_: calls.append(1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        model.gradcam_layer_name(100)
    finally:
        handle.remove()
    assert calls == []
    assert model.training
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
