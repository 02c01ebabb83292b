"""Occlusion's batching: a short measured calibration, cached per model, within the memory budget."""

from __future__ import annotations

import time

import torch
from torch import nn

from fer_explain.explain import Occlusion, SlidingOcclusion
from fer_explain.explain.memory_format import forward_format
from fer_explain.explain.occlusion import (
    balanced_chunk,
    calibrated_batch,
    clear_calibration,
    occlusion_batching,
)


class Timed(nn.Module):
    """A 'model' whose forward sleeps ``overhead + per_image * n`` seconds (plus a penalty above ``knee``)."""

    def __init__(self, overhead: float, per_image: float, knee: int = 10**9, penalty: float = 0.0) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.overhead, self.per_image, self.knee, self.penalty = overhead, per_image, knee, penalty
        self.calls: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        self.calls.append(n)
        time.sleep(self.overhead + n * (self.per_image + (self.penalty if n > self.knee else 0.0)))
        return self.fc(x.flatten(1)[:, :4])


def test_balanced_chunk() -> None:
    assert balanced_chunk(121, 32) == 31  # 4 forwards of 31, 31, 31, 28 instead of 32, 32, 32, 25
    assert balanced_chunk(36, 36) == 36 and balanced_chunk(36, 100) == 36
    assert balanced_chunk(121, 1) == 1 and balanced_chunk(121, 0) == 1
    assert balanced_chunk(10, 4) == 4  # 4, 4, 2: three forwards either way


def test_calibration_finds_the_knee_and_is_cached() -> None:
    clear_calibration()
    x = torch.randn(8, 1, 2, 2)
    # 20 ms per call, 1 ms per image up to 64 images, 3 ms above: per image 2.25, 1.63, 1.31, 3.16 ms
    # at 16, 32, 64, 128 images: 64 is the fastest
    model = Timed(overhead=0.02, per_image=0.001, knee=64, penalty=0.002)
    assert calibrated_batch(model, x, max_images=128, budget_s=5.0) == 64
    assert max(model.calls) <= 128
    model.calls.clear()
    assert calibrated_batch(model, x, max_images=128) == 64 and model.calls == []  # cached: no forward
    assert calibrated_batch(model, x, max_images=32, budget_s=5.0) <= 32  # another cap, measured again


def test_calibration_takes_the_largest_of_equally_fast_sizes() -> None:
    clear_calibration()
    # 1 ms per image at every size up to 64, 3 ms above: 16, 32 and 64 tie; an occlusion pass adds per-call
    # work (building the perturbed copies) that the largest of them pays least often
    model = Timed(overhead=0.0, per_image=0.001, knee=64, penalty=0.002)
    assert calibrated_batch(model, torch.randn(4, 1, 2, 2), max_images=256, budget_s=5.0) == 64


def test_calibration_stops_at_its_time_budget() -> None:
    clear_calibration()
    model = Timed(overhead=0.0, per_image=0.0005)
    t0 = time.perf_counter()
    calibrated_batch(model, torch.randn(4, 1, 2, 2), budget_s=0.05)
    assert time.perf_counter() - t0 < 2.0 and max(model.calls) < 4096


def test_occlusion_uses_the_calibration_within_the_memory_budget(tiny) -> None:
    model, make_x = tiny("deep_emotion")
    x = make_x(4)
    clear_calibration()
    auto = SlidingOcclusion(model, 8, 8).attribute(x)
    chunk = auto.params["chunk"]
    with forward_format(model, auto.params["memory_format"]):  # calibrated in the layout the call ran in
        assert chunk == occlusion_batching(model, x, 36, 512.0) and 1 <= chunk <= 36
    assert Occlusion(model, 8, 8).attribute(x).params["perturbations_per_eval"] == chunk  # same cached answer
    tight = SlidingOcclusion(model, 8, 8, memory_budget_mb=0.001).attribute(x)
    assert tight.params["chunk"] == 1
    torch.testing.assert_close(auto.maps, tight.maps, atol=1e-6, rtol=1e-5)


def test_calibration_keeps_the_fastest_size_not_a_slower_smaller_one() -> None:
    clear_calibration()
    # 5 ms per call + 0.1 ms per image: 0.120 ms per image at 256, 0.110 at 512 (256 is 9 % slower: a
    # smaller size "within 10 %" would cost 9 % of the occlusion's time)
    model = Timed(overhead=0.005, per_image=0.0001)
    assert calibrated_batch(model, torch.randn(4, 1, 2, 2), max_images=512, budget_s=5.0) == 512
    # the timings are reused under another cap: no size is measured twice by the sweep
    model.calls.clear()
    assert calibrated_batch(model, torch.randn(4, 1, 2, 2), max_images=256, budget_s=5.0) == 256
    assert all(n <= 256 for n in model.calls) and model.calls.count(16) == 0
