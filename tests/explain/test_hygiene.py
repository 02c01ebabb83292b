"""Hook hygiene, state restoration and error messages, for every explainer."""

from __future__ import annotations

import gc
from collections.abc import Callable

import pytest
import torch
from torch import nn

from fer_explain.explain import (
    CAM,
    Explainer,
    GradCAM,
    GradCAMPlusPlus,
    IntegratedGradients,
    Occlusion,
    RegionAblation,
    Saliency,
    SEMapExplainer,
    SlidingOcclusion,
)
from fer_explain.models.layers import SqueezeExcite


class Tiny(nn.Module):
    """conv -> BN -> ReLU -> SE -> dropout -> GAP -> linear; ``fail=True`` makes the head raise."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.se = SqueezeExcite(4, reduction=2)
        self.drop = nn.Dropout(0.5)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4, 3)
        self.fail = False

    def se_blocks(self) -> list[tuple[str, SqueezeExcite]]:
        return [("se", self.se)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(self.se(self.body(x)))
        if self.fail:
            raise RuntimeError("forward failed on purpose")
        return self.classifier(self.pool(h).flatten(1))


#: Region ids 0..3: four horizontal bands of an 8x8 input.
QUARTERS = torch.arange(64).view(1, 8, 8).div(16, rounding_mode="floor").expand(2, -1, -1)

FACTORIES: dict[str, Callable[[nn.Module], Explainer]] = {
    "cam": lambda m: CAM(m, layer="se", fc=m.classifier),
    "gradcam": lambda m: GradCAM(m, layer="se"),
    "gradcam++": lambda m: GradCAMPlusPlus(m, layer="body.2"),
    "se_map": lambda m: SEMapExplainer(m, "se"),
    "occlusion": lambda m: Occlusion(m, window=4, stride=2),
    "sliding_occlusion": lambda m: SlidingOcclusion(m, window=4, stride=2),
    "regions": lambda m: RegionAblation(m, QUARTERS),
    "ig": lambda m: IntegratedGradients(m, n_steps=4),
    "saliency": lambda m: Saliency(m),
}


def hook_count(model: nn.Module) -> int:
    total = 0
    for m in model.modules():
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            total += len(getattr(m, attr, {}))
    return total


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    pytest.skip("no /proc/self/status")  # pragma: no cover


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_state_restored_after_call(name: str) -> None:
    model = Tiny().train()
    model.body[1].eval()  # a mixed mode that must survive exactly
    model.classifier.weight.requires_grad_(False)
    modes = {n: m.training for n, m in model.named_modules()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    bn_stats = model.body[1].running_mean.clone(), model.body[1].num_batches_tracked.clone()
    x = torch.randn(2, 1, 8, 8)
    exp = FACTORIES[name](model).attribute(x)
    assert exp.maps.shape == (2, 8, 8) and torch.isfinite(exp.maps).all()
    assert hook_count(model) == 0
    assert {n: m.training for n, m in model.named_modules()} == modes
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    assert all(p.grad is None for p in model.parameters())
    torch.testing.assert_close(model.body[1].running_mean, bn_stats[0])
    assert model.body[1].num_batches_tracked == bn_stats[1]


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_failing_forward_leaves_no_hook(name: str) -> None:
    model = Tiny().train()
    explainer = FACTORIES[name](model)
    model.fail = True
    with pytest.raises(RuntimeError, match="on purpose"):
        explainer.attribute(torch.randn(2, 1, 8, 8))
    assert hook_count(model) == 0
    assert all(m.training for m in model.modules())
    assert all(p.requires_grad and p.grad is None for p in model.parameters())


def test_failing_forward_after_first_pass_leaves_no_hook() -> None:
    """The forward raises only inside the explainer's own passes (hooks registered by then)."""

    class FailSecond(Tiny):
        calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            FailSecond.calls += 1
            self.fail = FailSecond.calls > 1
            return super().forward(x)

    class FailHooked(Tiny):
        # Grad-CAM and Grad-CAM++ take a single forward pass, with their hook in place: fail in that one

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.fail = hook_count(self) > 0
            return super().forward(x)

    for name in ("cam", "gradcam", "gradcam++", "se_map", "occlusion"):
        model = FailHooked() if name in ("gradcam", "gradcam++") else FailSecond()
        FailSecond.calls = 0
        with pytest.raises(RuntimeError, match="on purpose"):
            FACTORIES[name](model).attribute(torch.randn(2, 1, 8, 8))
        assert hook_count(model) == 0, name


@pytest.mark.parametrize("name", ["gradcam", "gradcam++", "cam", "se_map"])
def test_thousand_calls_leave_no_hooks_and_little_memory(name: str) -> None:
    model = Tiny().train()
    explainer = FACTORIES[name](model)
    x = torch.randn(2, 1, 8, 8)
    for _ in range(50):  # warm-up
        explainer.attribute(x)
    gc.collect()
    before = rss_mb()
    for _ in range(1000):
        explainer.attribute(x)
    gc.collect()
    grown = rss_mb() - before
    assert hook_count(model) == 0
    assert all(p.grad is None for p in model.parameters())
    assert grown < 50, f"resident memory grew by {grown:.1f} MB over 1000 calls"


def test_bad_layer_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"no layer 'bdy\.2'.*body\.2"):
        GradCAM(Tiny(), layer="bdy.2")
    with pytest.raises(ValueError, match="some valid names"):
        GradCAM(Tiny(), layer="zzzzzzzz")


def test_target_out_of_range() -> None:
    explainer = GradCAM(Tiny(), layer="se")
    with pytest.raises(ValueError, match=r"target 3 .*C=3"):
        explainer.attribute(torch.randn(2, 1, 8, 8), target=3)
    with pytest.raises(ValueError, match=r"target -1 .*C=3"):
        explainer.attribute(torch.randn(2, 1, 8, 8), target=torch.tensor([0, -1]))
    with pytest.raises(ValueError, match="2 samples"):
        explainer.attribute(torch.randn(2, 1, 8, 8), target=[0, 1, 2])


def test_cam_on_non_cam_able_model() -> None:
    from fer_explain.models import create_model

    with pytest.raises(TypeError, match="not CAM-able"):
        CAM(create_model("deep_emotion"))
    with pytest.raises(TypeError, match="not CAM-able"):
        CAM(create_model("vgg_fer", width=0.125, head="flatten"), layer="body.block5")


def test_targets_default_to_prediction_and_int_broadcasts() -> None:
    model = Tiny().eval()
    x = torch.randn(4, 1, 8, 8)
    exp = GradCAM(model, layer="se").attribute(x)
    torch.testing.assert_close(exp.targets, model(x).argmax(1))
    exp2 = GradCAM(model, layer="se").attribute(x, target=2)
    assert exp2.targets.tolist() == [2, 2, 2, 2]
