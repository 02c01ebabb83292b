"""The memory layout a model's perturbation forwards run in: measured once per model, applied and undone.

Occlusion and region masking are nothing but many no-grad forward passes of perturbed copies, so their
speed is the model's forward throughput. On this project's CPUs the convolutions run 1.2-1.9x faster with
the weights and activations in ``torch.channels_last`` (NHWC) than in the default NCHW layout (oneDNN's
native one; ``benchmarks/bench_explain.py`` prints both), and on GPUs cuDNN often prefers it too -- but
not for every model and device, so the layout is **measured**, like the batch size
(:func:`~fer_explain.explain.occlusion.calibrated_batch`):

* :func:`fastest_memory_format` times a few forward passes of the model in both layouts and returns the
  faster name, ``"channels_last"`` or ``"contiguous"`` (cached per model class and parameter count, input
  shape, dtype, device and thread count: only the first call on a model pays);
* :func:`forward_format` is a context manager that converts the model's 4-D parameters and buffers in
  place (same ``Parameter`` objects, so optimisers, hooks and references stay valid) and converts them
  back on exit, also on an exception. Values never change: a layout is a copy of the same numbers.

The layout changes float rounding only (the convolution kernels sum in another order: probability
differences of about 1e-6 on the shipped checkpoints, checked against captum in the tests), so pass an
explicit ``memory_format`` wherever results must be bit-reproducible across processes --
``fer-explain explain`` measures it once and records it with the run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import torch
from torch import Tensor, nn

__all__ = ["MEMORY_FORMATS", "MemoryFormat", "clear_memory_formats", "fastest_memory_format", "forward_format",
           "model_key", "model_layout", "resolve_memory_format", "time_forward"]

MemoryFormat = Literal["contiguous", "channels_last"]
#: The layouts measured, by name (the names ``explain.json`` records).
MEMORY_FORMATS: dict[str, torch.memory_format] = {"contiguous": torch.contiguous_format,
                                                  "channels_last": torch.channels_last}
_MEASURED: dict[tuple[Any, ...], str] = {}


def clear_memory_formats() -> None:
    """Forget every :func:`fastest_memory_format` measurement of this process."""
    _MEASURED.clear()


def _four_d(model: nn.Module) -> list[Tensor]:
    return [t for t in (*model.parameters(), *model.buffers()) if t.dim() == 4]


def _canonical(t: Tensor, memory_format: str) -> tuple[int, ...]:
    """The strides a fresh 4-D tensor of ``t``'s shape has in the layout named ``memory_format`` (what
    ``torch.empty(..., memory_format=...)`` gives, computed without allocating). A 1-channel NHWC weight has
    strides of its own, ``(HW, 1, W, 1)``, which decide the convolution's layout, although ``is_contiguous()``
    holds for both."""
    _, c, h, w = (max(1, s) for s in t.shape)
    return (c * h * w, h * w, w, 1) if memory_format == "contiguous" else (h * w * c, 1, w * c, c)


def _is_channels_last(model: nn.Module) -> bool:
    """Every 4-D parameter and buffer with strides in NHWC order, and at least one."""
    four = _four_d(model)
    return bool(four) and all(t.stride() == _canonical(t, "channels_last") for t in four)


def _check(memory_format: str | None) -> None:
    if memory_format is not None and memory_format not in MEMORY_FORMATS:
        raise ValueError(f"memory_format must be one of {sorted(MEMORY_FORMATS)} or None, got {memory_format!r}")


def _restride(t: Tensor, memory_format: torch.memory_format) -> None:
    with torch.no_grad():
        t.data = torch.empty_like(t.data, memory_format=memory_format).copy_(t.data)


@contextmanager
def forward_format(model: nn.Module, memory_format: str | None) -> Iterator[None]:
    """Run the block with ``model``'s 4-D parameters and buffers in ``memory_format`` (a name of
    :data:`MEMORY_FORMATS`; ``None`` or ``"contiguous"``: leave the model as it is), restored on exit.

    A model the caller already keeps in ``channels_last`` is left alone. Restoring gives the tensors that
    were in NCHW order on entry their NCHW strides back; the ``Parameter`` objects are the same throughout.

    Raises:
        ValueError: an unknown ``memory_format`` name.
    """
    _check(memory_format)
    if memory_format != "channels_last" or _is_channels_last(model):
        yield
        return
    converted = [t for t in _four_d(model) if t.stride() == _canonical(t, "contiguous")]
    try:
        for t in converted:
            _restride(t, torch.channels_last)
        yield
    finally:
        for t in converted:
            _restride(t, torch.contiguous_format)


def model_key(model: nn.Module, x: Tensor) -> tuple[Any, ...]:
    """What a cached forward measurement of ``model`` on inputs like ``x`` depends on: the model class and
    parameter count, the input shape (beyond the batch) and dtype, the device and the thread count (this
    module's layout choice and the occlusion batch calibration both key on it)."""
    device = next((t.device for t in (*model.parameters(), *model.buffers())), torch.device("cpu"))
    return (type(model).__module__, type(model).__qualname__, sum(p.numel() for p in model.parameters()),
            tuple(x.shape[1:]), x.dtype, str(device), torch.get_num_threads())


def time_forward(model: nn.Module, batch: Tensor, runs: int) -> float:
    """Best of ``runs`` timed no-grad forward passes of ``batch`` (seconds; CUDA synchronised around each).
    The one forward timer of the explainers' calibrations (this module's and the batch size's)."""
    best = math.inf
    for _ in range(runs):
        if batch.device.type == "cuda":
            torch.cuda.synchronize(batch.device)
        t0 = time.perf_counter()
        with torch.no_grad():
            model(batch)
        if batch.device.type == "cuda":
            torch.cuda.synchronize(batch.device)
        best = min(best, time.perf_counter() - t0)
    return best


def fastest_memory_format(model: nn.Module, x: Tensor, images: int = 64, *, runs: int = 3,
                          margin: float = 0.03) -> str:
    """``"channels_last"`` when no-grad forward passes of ``images`` copies of ``x``'s samples run more than
    ``margin`` faster in NHWC than as the model is, else ``"contiguous"`` (ties keep the model's layout).

    The two layouts are timed in turns, ``runs`` passes each after one warm-up pass each, the best of each
    counts. Models without 4-D weights (nothing to reorder) and non-4-D inputs are ``"contiguous"``
    without timing. Cached per (model class and parameter count, input shape, dtype, device, threads).
    Call inside :func:`~fer_explain.explain.base.explaining` (eval mode)."""
    if x.dim() != 4 or not _four_d(model) or _is_channels_last(model):
        return "contiguous"
    key = (*model_key(model, x), int(images))
    if key in _MEASURED:
        return _MEASURED[key]
    x = x.detach()
    batch = x[torch.arange(max(1, int(images)), device=x.device) % len(x)].contiguous()
    times = dict.fromkeys(MEMORY_FORMATS, math.inf)
    with torch.no_grad():
        for name in MEMORY_FORMATS:  # warm-up: kernel selection, allocation
            with forward_format(model, name):
                model(batch)
        for _ in range(runs):
            for name in MEMORY_FORMATS:
                with forward_format(model, name):
                    times[name] = min(times[name], time_forward(model, batch, 1))
    choice = "channels_last" if times["channels_last"] < (1 - margin) * times["contiguous"] else "contiguous"
    _MEASURED[key] = choice
    return choice


def resolve_memory_format(model: nn.Module, x: Tensor, memory_format: str | None) -> str:
    """``memory_format`` checked, or measured (:func:`fastest_memory_format`) when ``None``."""
    _check(memory_format)
    return fastest_memory_format(model, x) if memory_format is None else memory_format


def model_layout(model: nn.Module) -> str:
    """The name of the layout ``model`` is in now: ``"channels_last"`` or ``"contiguous"``."""
    return "channels_last" if _is_channels_last(model) else "contiguous"
