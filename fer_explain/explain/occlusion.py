"""Occlusion: captum's sliding-window ``Occlusion`` and the seed-004 "region of importance" map.

Both slide a ``window x window`` patch filled with ``baseline`` over the input with ``stride``
(window positions ``0, s, 2s, ...`` up to the last one that still overlaps the image, where the
patch is cut at the border -- captum's convention) and score the *softmax probability* of the
target class.

* :class:`Occlusion` runs captum's ``Occlusion`` on ``forward_func = softmax(model(x))[target]``
  and picks ``perturbations_per_eval`` by a measured calibration (below), within a memory budget.
* :class:`SlidingOcclusion` is the seed-004 experiment (Minaee et al. 2021, Sec. 4.4): it builds
  all occluded copies for a chunk of positions at once and records, per position, the drop
  in target probability and whether the occluded prediction differs from the target
  ("region of importance"). Its pixel map (mean drop over the windows covering a pixel) equals
  captum's ``Occlusion`` attribution.

Batching. How many occluded copies go through the model at once decides the speed: one copy per
forward pays the per-call overhead 121 times, thousands of copies per forward spill the CPU caches.
:func:`calibrated_batch` times forward passes of growing size (8, 16, 32, ... images; two passes each, the
faster counts; the best candidates timed once more; two seconds at most) and keeps the size with the best
throughput (the largest within 3 % of it: an occlusion forward also builds its perturbed copies and, in
captum, does per-call bookkeeping, so among sizes the model runs equally fast the largest pays that
per-call work least often); the timings are cached in-process per (model class and
parameter count, input shape, dtype, device, thread count), so only the first call on a model pays for
them. ``perturbations_per_eval`` (``chunk``) is that many images
divided by the batch, capped by ``memory_budget_mb`` (:func:`~fer_explain.explain.base.auto_batch`)
and balanced so the last forward is not a small remainder (:func:`balanced_chunk`). Batching changes
no value beyond float rounding (the per-window probabilities are the same; a batch of another size
may round differently in the last bit), so pass an explicit ``perturbations_per_eval`` / ``chunk``
when maps must be bit-reproducible across processes.

``baseline`` is in the model's input space (inputs are normalised): ``0.0`` is the mean grey of
the normalisation; to write black pixels as seed 004 does on raw images pass
:func:`black_baseline` (model).

:func:`seed004_occlusion` is the paper's setting as a preset (:class:`Seed004Occlusion`): black
patches and the true label as the target, so a flip means "the prediction became wrong".
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from typing import Any

import torch
from captum.attr import Occlusion as CaptumOcclusion
from torch import Tensor, nn
from tqdm.auto import tqdm

from fer_explain.explain.base import Explainer, auto_batch, model_device, validate_targets
from fer_explain.explain.memory_format import model_key, model_layout, time_forward

__all__ = [
    "Occlusion",
    "Seed004Occlusion",
    "SlidingOcclusion",
    "balanced_chunk",
    "black_baseline",
    "calibrated_batch",
    "clear_calibration",
    "occlusion_batching",
    "seed004_occlusion",
    "window_starts",
]

#: Forward sizes (images) tried by :func:`calibrated_batch`, smallest first.
CALIBRATION_SIZES: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
_CALIBRATED: dict[tuple[Any, ...], int] = {}
_TIMINGS: dict[tuple[Any, ...], dict[int, float]] = {}


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Start offsets of the sliding window along one side (captum's ``Occlusion`` convention)."""
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got window={window}, stride={stride}")
    if window > size:
        raise ValueError(f"window {window} is larger than the input side {size}")
    if stride > window and window != size:
        raise ValueError(f"stride {stride} larger than window {window} would leave pixels never occluded")
    return [i * stride for i in range(math.ceil((size - window) / stride) + 1)]


def black_baseline(model: nn.Module) -> float | Tensor:
    """Input-space value of a black pixel, ``(0 - mean) / std`` per channel, shape ``(C, 1, 1)``."""
    spec = getattr(model, "input_spec", None)
    if spec is None:
        raise TypeError(f"{type(model).__name__} has no input_spec; pass the baseline value yourself")
    mean = torch.tensor(spec.mean)
    std = torch.tensor(spec.std)
    return (-mean / std)[:, None, None]


def _prob_forward(model: nn.Module):
    def forward(inp: Tensor) -> Tensor:
        return model(inp).float().softmax(dim=1)

    return forward


def _baseline_tensor(baseline: float | Tensor, x: Tensor) -> Tensor:
    """``baseline`` (a float, ``(C, 1, 1)``, ``(C, H, W)`` or ``(N, C, H, W)``) broadcast to ``x``."""
    return torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(x)


def _calibration_key(model: nn.Module, x: Tensor) -> tuple[Any, ...]:
    return (*model_key(model, x), model_layout(model))


def clear_calibration() -> None:
    """Forget every :func:`calibrated_batch` measurement of this process."""
    _CALIBRATED.clear()
    _TIMINGS.clear()


def calibrated_batch(model: nn.Module, x: Tensor, max_images: int = CALIBRATION_SIZES[-1], *,
                     budget_s: float = 2.0, tolerance: float = 0.03) -> int:
    """Images per forward pass of ``model`` with the best measured throughput (within ``tolerance``).

    Sweep: at each size of :data:`CALIBRATION_SIZES` up to ``max_images``, smallest first, on copies of
    ``x``'s samples, two forward passes (the first at a new size pays one-off costs: kernel selection,
    allocation), the faster counts. The sweep stops, after at least two sizes, before a size whose passes
    would take the time spent past ``budget_s`` seconds (at the best rate so far; 3 x ``budget_s`` while a
    doubling still gains over 20 % per image: the per-call overhead dominates), or when two sizes in a
    row are more than 10 % slower per image than the best (larger batches only spill caches from there).
    Refinement: the (at most four) best sizes within 15 % of the best are timed once more, and each keeps
    its best time (a burst of load from another process during the sweep does
    not decide the answer). Returns the largest size within ``tolerance`` of the best time per image (the
    per-call work of an occlusion pass around the model's forward -- building the perturbed copies,
    captum's bookkeeping -- is not in these timings and favours fewer, larger calls; the sizes above
    the best that are measured at all are within 10 % of it, and ``max_images`` holds the memory cap).

    Timings are cached per (model class and parameter count, input shape, dtype, device, threads), the
    answer per ``max_images`` too; a later call with another cap reuses the sizes measured so far.
    Call inside :func:`~fer_explain.explain.base.explaining` (eval mode); gradients are off here.
    """
    max_images = max(1, int(max_images))
    base_key = _calibration_key(model, x)
    key = (*base_key, max_images)
    if key in _CALIBRATED:
        return _CALIBRATED[key]
    sizes = [s for s in CALIBRATION_SIZES if s <= max_images] or [max_images]
    timings = _TIMINGS.setdefault(base_key, {})  # size -> best seconds per image
    device = model_device(model)
    x = x.detach().to(device)

    def batch_of(size: int) -> Tensor:
        return x[torch.arange(size, device=device) % len(x)]

    spent, worse = 0.0, 0
    with torch.no_grad():
        model(x[:1].expand(min(sizes[0], 4), *x.shape[1:]).contiguous())  # warm-up (kernels, allocator)
        for i, size in enumerate(sizes):
            if size not in timings:
                known = [timings[s] for s in sizes[:i] if s in timings]
                # still gaining over 20 % per doubling (per-call overhead dominates): up to 3x the budget
                limit = 3 * budget_s if len(known) >= 2 and known[-1] < 0.8 * known[-2] else budget_s
                if len(known) >= 2 and spent + 2 * size * min(known) > limit:
                    break  # this size's two passes would overrun the budget
                t0 = time.perf_counter()
                dt = time_forward(model, batch_of(size), 2)
                spent += time.perf_counter() - t0
                timings[size] = dt / size
            fastest = min(timings[s] for s in sizes if s in timings)
            worse = worse + 1 if timings[size] > 1.10 * fastest else 0
            if worse >= 2:
                break
        measured = [s for s in sizes if s in timings]
        fastest = min(timings[s] for s in measured)
        for size in sorted((s for s in measured if timings[s] <= 1.15 * fastest), key=timings.__getitem__)[:4]:
            timings[size] = min(timings[size], time_forward(model, batch_of(size), 1) / size)
    fastest = min(timings[s] for s in measured)
    choice = max(s for s in measured if timings[s] <= (1 + tolerance) * fastest)
    _CALIBRATED[key] = choice
    return choice


def balanced_chunk(n_items: int, max_chunk: int) -> int:
    """The chunk size that splits ``n_items`` into as few chunks of at most ``max_chunk`` as possible, evenly
    (121 positions at most 32 per forward: 4 forwards of 31, 31, 31, 28 instead of 32, 32, 32, 25)."""
    max_chunk = max(1, min(int(max_chunk), int(n_items)))
    return max(1, math.ceil(n_items / math.ceil(n_items / max_chunk)))


def occlusion_batching(model: nn.Module, x: Tensor, n_positions: int, memory_budget_mb: float) -> int:
    """Occluded copies of the batch ``x`` per forward pass: :func:`calibrated_batch` images divided by
    ``len(x)``, within the memory budget, balanced over ``n_positions`` (see the module docstring)."""
    fit = auto_batch(model, x, n_positions, memory_budget_mb)  # positions that fit in the budget
    # no size above the memory cap or the whole job (len(x) * n_positions images) is worth measuring
    cap = min(auto_batch(model, x[:1], CALIBRATION_SIZES[-1], memory_budget_mb), len(x) * n_positions)
    images = calibrated_batch(model, x, max_images=max(CALIBRATION_SIZES[0], cap))
    return balanced_chunk(n_positions, min(fit, max(1, images // len(x))))


class Occlusion(Explainer):
    """captum ``Occlusion`` on the target's softmax probability, with batched perturbations.

    Args:
        model: the network.
        window: side of the square patch (pixels).
        stride: step between patch positions.
        baseline: value written into the patch (input space; a float or a broadcastable tensor).
        perturbations_per_eval: occluded copies of the batch per forward; ``None`` chooses it by
            :func:`occlusion_batching` (measured once per model, within ``memory_budget_mb``).
        memory_budget_mb: activation memory allowed for one forward pass.
        show_progress: captum's progress bar.
        memory_format: the model's layout during the call, ``"contiguous"`` or ``"channels_last"``;
            ``None`` measures the faster (:mod:`fer_explain.explain.memory_format`; pass it for
            bit-reproducible maps).

    ``maps`` is the attribution of the first channel (captum occludes all channels together,
    so the channels carry the same values).
    """

    method = "occlusion"
    perturbs = True

    def __init__(self, model: nn.Module, window: int = 8, stride: int = 4, baseline: float | Tensor = 0.0, *,
                 perturbations_per_eval: int | None = None, memory_budget_mb: float = 512.0,
                 show_progress: bool = False, memory_format: str | None = None) -> None:
        super().__init__(model)
        self.memory_format = memory_format
        self.window = int(window)
        self.stride = int(stride)
        self.baseline = baseline
        self.perturbations_per_eval = perturbations_per_eval
        self.memory_budget_mb = float(memory_budget_mb)
        self.show_progress = show_progress
        self._used_ppe: int | None = None

    def _explain(self, x: Tensor, target: int | Sequence[int] | Tensor | None,
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor | None, dict[str, Any]]:
        """With the target given, captum's own first (unperturbed) forward pass gives the probabilities:
        no pass of our own (with ``target=None`` the prediction must be known first: the base class's)."""
        if target is None:
            return super()._explain(x, target)
        n = x.shape[0]
        targets = validate_targets(target, n, sys.maxsize, torch.zeros(n, dtype=torch.long, device=x.device))
        first: list[Tensor] = []

        def forward(inp: Tensor) -> Tensor:
            probs = self.model(inp).float().softmax(dim=1)
            if not first:  # captum's unperturbed pass comes first: check the classes before it indexes them
                validate_targets(targets, n, probs.shape[1], targets)
                first.append(probs)
            return probs

        maps, raw, extras = self._compute(x, targets, forward)
        return first[0], targets, maps, raw, extras

    def _compute(self, x: Tensor, targets: Tensor, forward: Any = None) -> tuple[Tensor, None, dict[str, Any]]:
        c, h, w = x.shape[1:]
        n_pos = len(window_starts(h, self.window, self.stride)) * len(
            window_starts(w, self.window, self.stride))
        ppe = self.perturbations_per_eval or occlusion_batching(self.model, x, n_pos, self.memory_budget_mb)
        self._used_ppe = ppe
        occ = CaptumOcclusion(forward or _prob_forward(self.model))
        base = (self.baseline if isinstance(self.baseline, (int, float))
                else _baseline_tensor(self.baseline, x))
        with torch.no_grad():
            attr = occ.attribute(x, sliding_window_shapes=(c, self.window, self.window),
                                 strides=(c, self.stride, self.stride), baselines=base, target=targets,
                                 perturbations_per_eval=ppe, show_progress=self.show_progress)
        return attr[:, 0], None, {}

    def _params(self) -> dict[str, Any]:
        return {"window": self.window, "stride": self.stride,
                "baseline": self.baseline if isinstance(self.baseline, (int, float)) else "tensor",
                "perturbations_per_eval": self._used_ppe}


class SlidingOcclusion(Explainer):
    """Seed-004 occlusion map: probability drop and prediction flips per patch position.

    Args:
        model: the network.
        window: patch side ``N``.
        stride: step ``s``.
        baseline: patch value in input space (``0.0``; see :func:`black_baseline`).
        chunk: number of positions evaluated per forward pass (each forward sees
            ``chunk * len(x)`` images); ``None`` chooses it by :func:`occlusion_batching` (measured
            once per model, within ``memory_budget_mb``).
        memory_budget_mb: activation memory allowed for one forward pass.
        progress: show a tqdm bar over the chunks.
        memory_format: the model's layout during the call (``None``: the faster, measured; see
            :class:`Occlusion`).

    Result: ``maps`` is the mean drop in target probability over the windows covering each
    pixel (= captum ``Occlusion``); ``raw`` the ``(N, nH, nW)`` drop per position; ``extras``:

    * ``"flip"``: ``(N, nH, nW)`` bool, occluded prediction ``!= target`` (with the default
      target -- the prediction -- this is "the prediction changes"; pass the true labels as
      target for the paper's "wrong prediction");
    * ``"flip_map"``: ``(N, H, W)`` fraction of covering windows that flip;
    * ``"importance"``: ``(N, H, W)`` bool, covered by at least one flipping window
      (the region of importance);
    * ``"occluded_probs"``: ``(N, nH, nW)`` target probability with the patch in place;
    * ``"rows"``, ``"cols"``: window start offsets.
    """

    method = "sliding_occlusion"
    perturbs = True

    def __init__(self, model: nn.Module, window: int = 8, stride: int = 4, baseline: float | Tensor = 0.0, *,
                 chunk: int | None = None, memory_budget_mb: float = 512.0, progress: bool = False,
                 memory_format: str | None = None) -> None:
        super().__init__(model)
        self.memory_format = memory_format
        self.window = int(window)
        self.stride = int(stride)
        self.baseline = baseline
        self.chunk = chunk
        self.memory_budget_mb = float(memory_budget_mb)
        self.progress = progress
        self._used_chunk: int | None = None

    def _explain(self, x: Tensor, target: int | Sequence[int] | Tensor | None,
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor | None, dict[str, Any]]:
        """The base class's one unperturbed pass also gives the target probabilities the drops start from."""
        with torch.no_grad():
            probs = self.model(x).float().softmax(dim=1)
        targets = validate_targets(target, x.shape[0], probs.shape[1], probs.argmax(dim=1))
        maps, raw, extras = self._sweep(x, targets, probs.gather(1, targets[:, None])[:, 0])
        return probs, targets, maps, raw, extras

    def _compute(self, x: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, dict[str, Any]]:
        with torch.no_grad():
            p0 = self.model(x).float().softmax(dim=1).gather(1, targets[:, None])[:, 0]
        return self._sweep(x, targets, p0)

    def _sweep(self, x: Tensor, targets: Tensor, p0: Tensor) -> tuple[Tensor, Tensor, dict[str, Any]]:
        """Maps, per-position drops and extras from the unperturbed target probabilities ``p0``."""
        n, _, h, w = x.shape
        rows = window_starts(h, self.window, self.stride)
        cols = window_starts(w, self.window, self.stride)
        positions = [(r, q) for r in rows for q in cols]
        chunk = self.chunk or occlusion_batching(self.model, x, len(positions), self.memory_budget_mb)
        self._used_chunk = chunk
        base = _baseline_tensor(self.baseline, x)
        # Window masks (P, 1, H, W), built once: 1 inside the (border-clipped) patch.
        masks = torch.zeros(len(positions), 1, h, w, dtype=torch.bool, device=x.device)
        for i, (r, q) in enumerate(positions):
            masks[i, :, r:r + self.window, q:q + self.window] = True
        with torch.no_grad():
            occ_p = torch.empty(len(positions), n, device=x.device)
            occ_pred = torch.empty(len(positions), n, dtype=torch.long, device=x.device)
            starts = range(0, len(positions), chunk)
            for s in tqdm(starts, desc="occlusion", disable=not self.progress, leave=False):
                m = masks[s:s + chunk]  # (P, 1, H, W)
                batch = torch.where(m[:, None], base[None], x[None])  # (P, N, C, H, W)
                probs = self.model(batch.flatten(0, 1)).float().softmax(dim=1).view(m.shape[0], n, -1)
                occ_p[s:s + chunk] = probs.gather(2, targets[None, :, None].expand(m.shape[0], -1, 1))[..., 0]
                occ_pred[s:s + chunk] = probs.argmax(dim=2)
        drop = (p0[None] - occ_p).T  # (N, P)
        flip = (occ_pred != targets[None]).T
        mflat = masks[:, 0].flatten(1).float()  # (P, HW)
        cover = mflat.sum(0).clamp_min(1)
        pixel_drop = (drop @ mflat / cover).view(n, h, w)
        flip_map = (flip.float() @ mflat / cover).view(n, h, w)
        shape = (n, len(rows), len(cols))
        extras = {"flip": flip.reshape(shape).cpu(), "flip_map": flip_map.cpu(),
                  "importance": (flip_map > 0).cpu(),
                  "occluded_probs": occ_p.T.reshape(shape).cpu(), "rows": rows, "cols": cols}
        return pixel_drop, drop.reshape(shape), extras

    def _params(self) -> dict[str, Any]:
        return {"window": self.window, "stride": self.stride,
                "baseline": self.baseline if isinstance(self.baseline, (int, float)) else "tensor",
                "chunk": self._used_chunk}


# --------------------------------------------------------------------------- seed 004's preset
class Seed004Occlusion(SlidingOcclusion):
    """:class:`SlidingOcclusion` that always explains the **true label** (seed 004, Sec. 4.4: "If
    occluding that region makes the model provide a wrong prediction in terms of facial expression
    label that region is considered a potential region of importance").

    :meth:`attribute` needs ``labels`` (the true classes); they become the target, so
    ``extras["flip"]`` marks the patch positions whose occluded prediction is not the true label and
    ``extras["importance"]`` the pixels they cover. An explicit ``target`` other than the labels is
    refused. Build it with :func:`seed004_occlusion`.
    """

    method = "seed004_occlusion"

    def attribute(self, x: Tensor, target: Any = None, labels: Any = None) -> Any:
        if labels is None:
            raise ValueError("seed 004's occlusion scores the true label: pass labels= (the true classes)")
        lab = torch.as_tensor(labels, dtype=torch.long).flatten()
        if target is not None and not torch.equal(torch.as_tensor(target, dtype=torch.long).flatten().cpu(),
                                                  lab.cpu()):
            raise ValueError("seed 004's occlusion explains the true label: target must be the labels (or None)")
        return super().attribute(x, target=lab, labels=lab)


def seed004_occlusion(model: nn.Module, window: int = 8, stride: int = 4, *,
                      baseline: float | Tensor | None = None, **kwargs: Any) -> Seed004Occlusion:
    """Seed 004's occlusion (Minaee et al. 2021, Sec. 4.4) as a preset.

    Every value and where it comes from:

    * patch value: **black image pixels** -- paper: "we zero out a square region of size N x N inside
      the image". Inputs are normalised, so the patch is :func:`black_baseline` (model), ``(0 - mean)
      / std``; for a checkpoint pass ``baseline=CheckpointInput.black()`` (its recorded mean/std).
    * target: **the true label** -- paper: a region matters when occluding it "makes the model provide
      a wrong prediction in terms of facial expression label" (see :class:`Seed004Occlusion`).
    * ``window`` ``N`` = 8 and ``stride`` ``s`` = 4 -- assumed: the paper names them but gives no
      values; 8 is a sixth of Deep-Emotion's 48 px input (at 48 px the same as the explainer
      registry's occlusion window), the stride half of it.
    * sliding from the top-left corner over every position -- paper: "We start from the top-left corner
      of an image ... shifting them with a stride of s".

    ``kwargs`` go to :class:`SlidingOcclusion` (``chunk``, ``memory_budget_mb``, ``progress``).
    """
    if baseline is None:
        baseline = black_baseline(model)
    return Seed004Occlusion(model, window=int(window), stride=int(stride), baseline=baseline, **kwargs)
