"""The one result type (:class:`Explanation`) and the base of every explainer (:class:`Explainer`).

Every explainer in :mod:`fer_explain.explain` is a subclass of :class:`Explainer` that overrides a
single hook, :meth:`Explainer._compute`, and is called the same way::

    exp = GradCAM(model).attribute(x)            # target=None -> the predicted class
    exp = Occlusion(model, window=8).attribute(x, target=labels)
    exp.maps          # (N, H, W) float, input resolution, on the CPU
    exp.normalized()  # per-sample min-max to [0, 1]

:meth:`Explainer.attribute` is stateless and hygienic: while it runs the model is put in eval mode
(BatchNorm uses its running statistics and they are not updated, dropout is off) and every
parameter has ``requires_grad=False`` (attributions are taken with respect to the input or a
layer, never the weights, so no ``.grad`` is ever written); afterwards each module's own
``training`` flag and each parameter's ``requires_grad`` flag are restored exactly, and every hook
the explainer registered is removed, also when the forward pass raises.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from fer_explain.explain.memory_format import forward_format, resolve_memory_format

__all__ = [
    "Explainer",
    "Explanation",
    "auto_batch",
    "explaining",
    "forward_bytes_per_sample",
    "resolve_layer",
    "upsample",
    "validate_targets",
]


# --------------------------------------------------------------------------- result type
@dataclass
class Explanation:
    """Attribution maps for a batch of inputs, whatever method made them.

    Attributes:
        maps: ``(N, H, W)`` float tensor at input resolution, on the CPU.
        raw: the map at the resolution the method works at (e.g. the Grad-CAM layer,
            ``(N, h, w)``) or ``None`` when that is the input resolution.
        targets: ``(N,)`` long tensor, the class explained for each sample.
        probs: ``(N, C)`` softmax output of the model on the unperturbed inputs.
        method: name of the method (``"gradcam"``, ``"occlusion"``, ...).
        params: the options the method ran with (JSON-friendly values).
        layer: dotted name of the layer the method used, if any.
        labels: optional ``(N,)`` true labels.
        extras: method-specific additional outputs (e.g. occlusion's flip map), each with the
            batch as its first dimension where it is per-sample.
    """

    maps: Tensor
    raw: Tensor | None
    targets: Tensor
    probs: Tensor
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    layer: str | None = None
    labels: Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.maps.dim() != 3:
            raise ValueError(f"maps must be (N, H, W), got shape {tuple(self.maps.shape)}")
        n = self.maps.shape[0]
        for name in ("targets", "probs", "raw", "labels"):
            value = getattr(self, name)
            if value is not None and value.shape[0] != n:
                raise ValueError(f"{name} has {value.shape[0]} samples but maps has {n}")

    def __len__(self) -> int:
        return int(self.maps.shape[0])

    def __getitem__(self, idx: int | slice | Sequence[int] | Tensor | np.ndarray) -> Explanation:
        """Subset of the samples (an int keeps the batch dimension)."""
        if isinstance(idx, int):
            idx = [idx]
        if isinstance(idx, np.ndarray):
            idx = torch.from_numpy(idx)
        if isinstance(idx, (list, tuple)):
            idx = torch.as_tensor(idx, dtype=torch.long)
        if isinstance(idx, Tensor) and idx.dtype == torch.bool and idx.shape[0] != len(self):
            raise IndexError(f"boolean index has {idx.shape[0]} entries for {len(self)} samples")

        def take(v: Any) -> Any:
            if isinstance(v, Tensor) and v.dim() > 0 and v.shape[0] == len(self):
                return v[idx]
            return v

        return replace(
            self,
            maps=self.maps[idx],
            raw=None if self.raw is None else self.raw[idx],
            targets=self.targets[idx],
            probs=self.probs[idx],
            labels=None if self.labels is None else self.labels[idx],
            extras={k: take(v) for k, v in self.extras.items()},
            params=dict(self.params),
        )

    @property
    def predictions(self) -> Tensor:
        """``(N,)`` predicted classes (argmax of :attr:`probs`)."""
        return self.probs.argmax(dim=1)

    @property
    def target_probs(self) -> Tensor:
        """``(N,)`` probability of each sample's target class."""
        return self.probs.gather(1, self.targets[:, None])[:, 0]

    def normalized(self, eps: float = 1e-12) -> Tensor:
        """Per-sample min-max normalised maps in ``[0, 1]`` (a constant map becomes all zeros)."""
        flat = self.maps.flatten(1)
        lo = flat.min(dim=1, keepdim=True).values
        hi = flat.max(dim=1, keepdim=True).values
        return ((flat - lo) / (hi - lo).clamp_min(eps)).view_as(self.maps)

    def to_numpy(self) -> np.ndarray:
        """:attr:`maps` as a float32 numpy array ``(N, H, W)``."""
        return self.maps.detach().cpu().float().numpy()


# --------------------------------------------------------------------------- helpers
def resolve_layer(model: nn.Module, name: str) -> nn.Module:
    """``model.get_submodule(name)`` with an error that lists close and a few valid names."""
    names = [n for n, _ in model.named_modules() if n]
    if name not in names:
        close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
        sample = close or names[-8:]
        raise ValueError(
            f"{type(model).__name__} has no layer {name!r}; "
            f"{'close matches' if close else 'some valid names'}: {', '.join(sample)} "
            f"({len(names)} layers, see model.named_modules())"
        )
    return model.get_submodule(name)


def validate_targets(target: int | Sequence[int] | Tensor | None, n: int, num_classes: int,
                     default: Tensor) -> Tensor:
    """Targets as a ``(n,)`` long tensor on ``default``'s device.

    ``None`` -> ``default`` (the predicted classes); an int is broadcast to the batch; a sequence
    or tensor must have ``n`` entries. Any value outside ``[0, num_classes)`` raises ``ValueError``.
    """
    if target is None:
        return default.long()
    t = torch.as_tensor(target, dtype=torch.long, device=default.device)
    if t.dim() == 0:
        t = t.expand(n).clone()
    t = t.flatten()
    if t.numel() != n:
        raise ValueError(f"target has {t.numel()} entries but the batch has {n} samples")
    bad = t[(t < 0) | (t >= num_classes)]
    if bad.numel():
        raise ValueError(f"target {bad[0].item()} is out of range for a model with C={num_classes} classes "
                         f"(valid: 0..{num_classes - 1})")
    return t


def upsample(maps: Tensor, size: tuple[int, ...], mode: str = "bilinear") -> Tensor:
    """Resize ``(N, h, w)`` maps to ``size`` (``align_corners=False`` for the linear modes)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    kwargs: dict[str, Any] = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    return F.interpolate(maps[:, None], size=size, mode=mode, **kwargs)[:, 0]


@contextlib.contextmanager
def explaining(model: nn.Module) -> Iterator[list[RemovableHandle]]:
    """Run explanation code on ``model`` hygienically.

    Inside the block the model is in eval mode and its parameters do not require gradients.
    Yields a list: append the handle of every hook you register and it is removed on exit.
    On exit (also on an exception) hooks are removed and every module's ``training`` flag and
    every parameter's ``requires_grad`` flag are restored exactly.
    """
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    handles: list[RemovableHandle] = []
    try:
        model.eval()
        for p, _ in flags:
            p.requires_grad_(False)
        yield handles
    finally:
        for h in handles:
            h.remove()
        handles.clear()
        for m, mode in modes:
            m.training = mode
        for p, flag in flags:
            p.requires_grad_(flag)


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter (or buffer); CPU when it has neither."""
    for t in model.parameters():
        return t.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def forward_bytes_per_sample(model: nn.Module, x1: Tensor) -> int:
    """Upper bound on the activation memory of one sample's forward pass.

    Runs ``model`` on one sample under ``no_grad`` with temporary forward hooks that add up the
    bytes of every leaf module's output. (Under ``no_grad`` the peak is lower, so this is a
    conservative estimate.) Hooks are removed even if the forward raises.
    """
    total = [int(x1[:1].numel() * x1.element_size())]

    def hook(_m: nn.Module, _i: Any, out: Any) -> None:
        if isinstance(out, Tensor):
            total[0] += out.numel() * out.element_size()

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model(x1[:1])
    finally:
        for h in handles:
            h.remove()
    return max(1, total[0])


def auto_batch(model: nn.Module, x: Tensor, n_items: int, memory_budget_mb: float,
               max_samples: int = 4096) -> int:
    """How many of ``n_items`` perturbations of the whole batch ``x`` fit in one forward pass.

    ``floor(budget / (len(x) * bytes_per_sample))`` clipped to ``[1, n_items]``, with at most
    ``max_samples`` samples per forward.
    """
    per_sample = forward_bytes_per_sample(model, x[:1])
    fit = int(memory_budget_mb * 2**20 // (per_sample * len(x)))
    fit = min(fit, max(1, max_samples // len(x)))
    return int(max(1, min(n_items, fit)))


# --------------------------------------------------------------------------- base class
class Explainer:
    """Base class of all explainers: one stateless :meth:`attribute` call per batch.

    Subclasses set :attr:`method` and override :meth:`_compute` (and :meth:`_params` to report
    their options). Inside :meth:`_compute` the model is already in eval mode with frozen
    parameters; hooks must be registered through :meth:`_hook` (or removed by the library that
    registered them, as captum does) so that they are removed when the call ends.

    Perturbation explainers (occlusion, region masking: many no-grad forwards and nothing else) set
    :attr:`perturbs` and take a ``memory_format`` argument: the whole call then runs with the model in that
    layout (``None``: the faster one, measured once per model by
    :func:`~fer_explain.explain.memory_format.fastest_memory_format`), restored afterwards, and
    ``params["memory_format"]`` says which it was.

    Args:
        model: the network; any ``nn.Module`` mapping ``(N, C, H, W)`` to logits ``(N, K)``.
    """

    method: ClassVar[str] = ""
    perturbs: ClassVar[bool] = False

    def __init__(self, model: nn.Module) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        self.model = model
        self._handles: list[RemovableHandle] | None = None
        self.memory_format: str | None = None
        self._used_memory_format: str | None = None

    # -------------------------------------------------------------- public
    def attribute(self, x: Tensor, target: int | Sequence[int] | Tensor | None = None,
                  labels: Tensor | Sequence[int] | None = None) -> Explanation:
        """Explain the model's output for the batch ``x``.

        Args:
            x: ``(N, C, H, W)`` model input (already normalised); moved to the model's device.
            target: class to explain: ``None`` -> the predicted class, an int for every sample,
                or one class per sample.
            labels: optional true labels, stored on the result for downstream tables.

        Returns:
            an :class:`Explanation` with maps on the CPU.

        Raises:
            ValueError: a target outside ``[0, C)`` (the message names it and ``C``).
        """
        if not isinstance(x, Tensor) or x.dim() != 4:
            raise ValueError(f"x must be an (N, C, H, W) tensor, got {getattr(x, 'shape', type(x))}")
        x = x.detach().to(model_device(self.model))
        with explaining(self.model) as handles:
            self._handles = handles
            try:
                fmt = resolve_memory_format(self.model, x, self.memory_format) if self.perturbs else None
                self._used_memory_format = fmt
                with forward_format(self.model, fmt):
                    probs, targets, maps, raw, extras = self._explain(x, target)
            finally:
                self._handles = None
        lab = None if labels is None else torch.as_tensor(labels, dtype=torch.long).flatten().cpu()
        return Explanation(
            maps=maps.detach().float().cpu(),
            raw=None if raw is None else raw.detach().float().cpu(),
            targets=targets.cpu(),
            probs=probs.detach().cpu(),
            method=self.method,
            params=self._params() | ({"memory_format": self._used_memory_format} if self.perturbs else {}),
            layer=self._layer_name(),
            labels=lab,
            extras=extras,
        )

    __call__ = attribute

    # -------------------------------------------------------------- hooks for subclasses
    def _explain(self, x: Tensor, target: int | Sequence[int] | Tensor | None,
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor | None, dict[str, Any]]:
        """``(probs, targets, maps, raw, extras)`` inside :meth:`attribute`'s hygiene: one no-grad forward for
        the probabilities and targets, then :meth:`_compute`. Explainers that need the forward pass itself
        (Grad-CAM's single pass) override this instead."""
        with torch.no_grad():
            logits = self.model(x)
        probs = logits.float().softmax(dim=1)
        targets = validate_targets(target, x.shape[0], probs.shape[1], probs.argmax(dim=1))
        maps, raw, extras = self._compute(x, targets)
        return probs, targets, maps, raw, extras

    def _compute(self, x: Tensor, targets: Tensor) -> tuple[Tensor, Tensor | None, dict[str, Any]]:
        """Return ``(maps (N, H, W), raw (N, h, w) or None, extras)`` for validated ``targets``."""
        raise NotImplementedError

    def _params(self) -> dict[str, Any]:
        return {}

    def _layer_name(self) -> str | None:
        return None

    def _hook(self, module: nn.Module, fn: Callable[..., Any], kind: str = "forward") -> RemovableHandle:
        """Register a hook that is removed at the latest when the current :meth:`attribute` call ends."""
        if self._handles is None:
            raise RuntimeError("hooks can only be registered inside attribute()")
        if kind == "forward":
            handle = module.register_forward_hook(fn)
        elif kind == "forward_pre":
            handle = module.register_forward_pre_hook(fn)
        else:
            raise ValueError(f"kind must be 'forward' or 'forward_pre', got {kind!r}")
        self._handles.append(handle)
        return handle

    def _layer_activations(self, x: Tensor, layer: nn.Module, targets: Tensor | None = None,
                           ) -> tuple[Tensor, Tensor | None]:
        """Output of ``layer`` for ``x`` and, when ``targets`` is given, the gradient of the summed
        target logits with respect to it (computed with ``torch.autograd.grad``: nothing is
        accumulated in any ``.grad``)."""
        store: list[Tensor] = []

        def hook(_m: nn.Module, _i: Any, out: Any) -> None:
            if not isinstance(out, Tensor):
                raise TypeError(f"layer output must be a tensor, got {type(out).__name__}")
            store.append(out)

        handle = self._hook(layer, hook)
        try:
            if targets is None:
                with torch.no_grad():
                    self.model(x)
                return store[-1], None
            with torch.enable_grad():
                x_in = x.clone().requires_grad_(True)
                logits = self.model(x_in)
                act = store[-1]
                score = logits.gather(1, targets[:, None]).sum()
                (grad,) = torch.autograd.grad(score, act)
            return act.detach(), grad.detach()
        finally:
            handle.remove()
