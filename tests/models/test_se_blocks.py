"""Squeeze-and-Excitation blocks: discovery and capture of the excitation weights s_c."""

from __future__ import annotations

import pytest
import torch

from fer_explain.models import SqueezeExcite, create_model, record_se_weights


def test_se_resnet18_has_eight_named_blocks() -> None:
    model = create_model("se_resnet18", width=0.125, in_chans=1, input_size=48)
    names = [n for n, _ in model.se_blocks()]
    assert names == [f"layer{i}.{j}.se" for i in range(1, 5) for j in range(2)]
    assert all(isinstance(m, SqueezeExcite) for _, m in model.se_blocks())


def test_resemotenet_has_one_block_unless_removed() -> None:
    with torch.device("meta"):
        full = create_model("resemotenet")
        no_se = create_model("resemotenet", use_se=False)
    assert [(n, m.channels) for n, m in full.se_blocks()] == [("se", 256)]
    assert no_se.se_blocks() == []


@pytest.mark.parametrize("name", ["deep_emotion", "vgg_fer", "densenet_bc"])
def test_models_without_se(name: str) -> None:
    with torch.device("meta"):
        assert create_model(name).se_blocks() == []


@pytest.mark.parametrize(
    ("name", "kwargs", "size", "chans"),
    [("se_resnet18", {"width": 0.125, "in_chans": 1, "input_size": 48}, 48, 1),
     ("resemotenet", {"width": 0.0625}, 64, 3)],
)
def test_captured_excitation_weights(name: str, kwargs: dict, size: int, chans: int) -> None:
    model = create_model(name, **kwargs).eval()
    x = torch.randn(3, chans, size, size)
    with record_se_weights(model) as weights, torch.no_grad():
        model(x)
    blocks = dict(model.se_blocks())
    assert set(weights) == set(blocks)
    for block_name, s in weights.items():
        assert s.shape == (3, blocks[block_name].channels)
        assert not s.requires_grad
        assert s.min() >= 0 and s.max() <= 1
    # hooks are gone after the context
    assert all(len(b.excitation._forward_hooks) == 0 for b in blocks.values())


def test_se_output_is_input_scaled_by_weights() -> None:
    se = SqueezeExcite(32, reduction=16)
    x = torch.randn(2, 32, 5, 5)
    s = se.weights(x)
    assert s.shape == (2, 32)
    assert torch.allclose(se(x), x * s[:, :, None, None])
    assert se.excitation.fc1.bias is None
    assert SqueezeExcite(32, bias=True).excitation.fc1.bias is not None


def test_excitation_hook_sees_the_weight_vector() -> None:
    model = create_model("resemotenet", width=0.0625).eval()
    seen = []
    handle = model.se.excitation.register_forward_hook(lambda _m, _i, out: seen.append(out))
    with torch.no_grad():
        model(torch.randn(2, 3, 64, 64))
    handle.remove()
    assert seen[0].shape == (2, model.se.channels)


def test_fer_stem_keeps_48px_faces_at_24px_in_the_first_stage() -> None:
    """stem='fer': one 3x3/2 convolution and no max-pool, so layer1 (and its SE gate) sees 24x24 at 48 px."""
    import torch

    from fer_explain.models import create_model

    fer = create_model("se_resnet18", in_chans=1, width=0.25, input_size=48, stem="fer")
    imagenet = create_model("se_resnet18", in_chans=1, width=0.25, input_size=48)
    sizes = {}
    hooks = [m.register_forward_hook(lambda _m, _i, out, n=n: sizes.__setitem__(n, tuple(out.shape[-2:])))
             for n, m in fer.named_modules() if n in ("layer1", "layer2", "layer3", "layer4")]
    try:
        fer.eval()(torch.zeros(1, 1, 48, 48))
    finally:
        for h in hooks:
            h.remove()
    assert sizes == {"layer1": (24, 24), "layer2": (12, 12), "layer3": (6, 6), "layer4": (3, 3)}
    assert fer.conv1.kernel_size == (3, 3) and isinstance(fer.maxpool, torch.nn.Identity)
    assert fer.config["stem"] == "fer" and "stem" not in imagenet.config  # old checkpoints' configs unchanged
    rebuilt = create_model(**fer.config)
    assert rebuilt.conv1.kernel_size == (3, 3)
    with pytest.raises(ValueError, match="stem must be one of"):
        create_model("se_resnet18", stem="cifar")
