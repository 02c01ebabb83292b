"""The model layout of perturbation forwards: measured, applied for the call only, restored exactly."""

from __future__ import annotations

import pytest
import torch
from captum.attr import Occlusion as CaptumOcclusion
from torch import nn

from fer_explain.explain import Occlusion, SlidingOcclusion
from fer_explain.explain.memory_format import (
    clear_memory_formats,
    fastest_memory_format,
    forward_format,
    model_layout,
    resolve_memory_format,
)
from fer_explain.explain.regions import RegionAblation


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 7)).eval()


def test_forward_format_converts_in_place_and_restores() -> None:
    net = _net()
    weight = net[3].weight  # 8 -> 8 channels: the two layouts differ (a 1-channel weight is both)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with forward_format(net, "channels_last"):
        assert model_layout(net) == "channels_last"
        assert net[3].weight is weight  # same Parameter: optimisers and hooks stay valid
        assert not weight.is_contiguous() and weight.is_contiguous(memory_format=torch.channels_last)
    assert model_layout(net) == "contiguous" and weight.is_contiguous()
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_forward_format_restores_on_exception_and_leaves_nhwc_models_alone() -> None:
    net = _net()
    with pytest.raises(RuntimeError, match="boom"), forward_format(net, "channels_last"):
        raise RuntimeError("boom")
    assert net[3].weight.is_contiguous()
    net = net.to(memory_format=torch.channels_last)
    with forward_format(net, "channels_last"):
        pass
    assert model_layout(net) == "channels_last"  # the caller's own layout is not undone


def test_unknown_format_is_named() -> None:
    with pytest.raises(ValueError, match="'nhwc'"):
        resolve_memory_format(_net(), torch.zeros(1, 1, 8, 8), "nhwc")
    with pytest.raises(ValueError, match="memory_format"), forward_format(_net(), "nhwc"):
        pass


def test_fastest_memory_format_is_measured_once_and_cached() -> None:
    clear_memory_formats()
    net, x = _net(), torch.randn(4, 1, 16, 16)
    calls = []
    handle = net.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        first = fastest_memory_format(net, x, images=8)
        n = len(calls)
        assert first in ("contiguous", "channels_last") and n > 0
        assert fastest_memory_format(net, x, images=8) == first and len(calls) == n  # cached: no more forwards
    finally:
        handle.remove()
    assert model_layout(net) == "contiguous"
    assert fastest_memory_format(nn.Sequential(nn.Flatten(), nn.Linear(64, 7)), torch.randn(2, 1, 8, 8)) == \
        "contiguous"  # nothing to reorder: not timed


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_occlusion_in_either_layout_equals_captum(layout: str) -> None:
    net, x = _net(), torch.randn(3, 1, 24, 24)
    target = torch.tensor([0, 3, 6])
    ref = CaptumOcclusion(lambda i: net(i).softmax(1)).attribute(
        x, sliding_window_shapes=(1, 4, 4), strides=(1, 2, 2), baselines=-1.0, target=target,
        perturbations_per_eval=7)[:, 0]
    for explainer in (SlidingOcclusion(net, 4, 2, -1.0, memory_format=layout),
                      Occlusion(net, 4, 2, -1.0, memory_format=layout)):
        exp = explainer.attribute(x, target)
        assert exp.params["memory_format"] == layout
        assert torch.allclose(exp.maps, ref, atol=1e-6)
        assert model_layout(net) == "contiguous" and net[3].weight.is_contiguous()


def test_measured_layout_is_reported_and_region_masking_takes_it() -> None:
    net, x = _net(), torch.randn(2, 1, 16, 16)
    fm = (torch.arange(16)[None, :] // 8).expand(16, 16)[None].repeat(2, 1, 1)
    auto = RegionAblation(net, fm, baseline=-1.0).attribute(x, 1)
    assert auto.params["memory_format"] == fastest_memory_format(net, x)
    nhwc = RegionAblation(net, fm, baseline=-1.0, memory_format="channels_last").attribute(x, 1)
    assert torch.allclose(auto.extras["drops"], nhwc.extras["drops"], atol=1e-6)
    assert model_layout(net) == "contiguous"
