"""Checkpoints: safetensors weights + JSON metadata, written atomically, loaded without unpickling.

A checkpoint named ``ckpt/fer_vgg`` is the pair of files

``ckpt/fer_vgg.safetensors``
    the model's ``state_dict`` (parameters and buffers);
``ckpt/fer_vgg.json``
    everything needed to use the weights: the architecture name and its arguments
    (``model.config``, so ``create_model(**meta["arch_args"])`` rebuilds it), the label order, the
    input size / channels / mean / std, the training recipe, the manifest's content hash, the
    metrics history, library versions, the training time, free-form notes, and the SHA-256 of the
    weights file (a weights file and a JSON file from different saves are detected on load).

Any of ``ckpt/fer_vgg``, ``ckpt/fer_vgg.safetensors`` or ``ckpt/fer_vgg.json`` names it.

Training state for an exact resume lives beside it in ``<name>.resume.safetensors`` (model and
best-epoch weights, optimizer tensors, RNG states, the epoch's sample order) and
``<name>.resume.json`` (optimizer/scheduler scalars and structure, early-stopping state, numpy and
Python RNG states, the position in the epoch, the history); see :func:`save_resume_state`.

Every file is written to a temporary file in the destination folder and moved into place with
:func:`os.replace`, so a reader never sees a half-written file and an interrupted save leaves the
previous checkpoint intact. Loading reads safetensors and JSON only: pickle-based files (``.pt``,
``.pth``, ``.ckpt``, ``.bin``, ``.pkl``) are refused with an explanation, never ``torch.load``-ed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from fer_explain._atomic import atomic_path, atomic_write_bytes
from fer_explain.data.errors import UserError
from fer_explain.labels import LabelSpace, get_label_space

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "atomic_write_bytes",
    "checkpoint_paths",
    "checkpoint_stem",
    "flatten_optimizer_state",
    "library_versions",
    "load_checkpoint",
    "load_resume_state",
    "read_metadata",
    "resume_paths",
    "save_checkpoint",
    "save_resume_state",
    "state_dict_mismatch",
    "to_jsonable",
    "unflatten_optimizer_state",
]

CHECKPOINT_FORMAT = "fer_explain.checkpoint"
RESUME_FORMAT = "fer_explain.resume"
FORMAT_VERSION = 1
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle", ".tar")
_OWN_SUFFIXES = (".safetensors", ".json")


class CheckpointError(UserError, ValueError):
    """A checkpoint is missing, malformed, pickle-based, or not what the caller expected."""


# --- paths and atomic writes ----------------------------------------------------------------------


def checkpoint_stem(path: str | os.PathLike[str]) -> Path:
    """The checkpoint's name without any of its suffixes.

    ``ckpt/de``, ``ckpt/de.safetensors``, ``ckpt/de.json``, ``ckpt/de.resume.safetensors`` and
    ``ckpt/de.resume.json`` all give ``Path("ckpt/de")``; other paths are returned unchanged. Use
    it to name files beside a checkpoint (e.g. ``f"{checkpoint_stem(path)}.run0"``).
    """
    p = Path(path)
    name = p.name
    for suffix in (".resume.safetensors", ".resume.json", *_OWN_SUFFIXES):
        if name.endswith(suffix):
            return p.with_name(name[: -len(suffix)])
    return p


def checkpoint_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(weights, metadata)`` file paths of the checkpoint named by ``path``."""
    _refuse_pickle(Path(path))
    stem = checkpoint_stem(path)
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def resume_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(tensors, json)`` file paths of the resume state beside the checkpoint named by ``path``."""
    stem = checkpoint_stem(path)
    return stem.with_name(stem.name + ".resume.safetensors"), stem.with_name(stem.name + ".resume.json")


def _atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> str:
    """Save tensors with safetensors atomically; return the file's SHA-256."""
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
        digest = file_sha256(tmp)
    return digest


def _write_json(path: Path, obj: Any) -> None:
    try:
        text = json.dumps(obj, indent=2, sort_keys=False, allow_nan=True)
    except TypeError as exc:
        raise CheckpointError(f"{path}: metadata is not JSON-serialisable: {exc}") from None
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def file_sha256(path: Path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks (what a checkpoint's JSON records of its weights)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _refuse_pickle(path: Path) -> None:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{path}: refusing to load a pickle-based checkpoint ({path.suffix}); fer_explain never "
            "unpickles files (unpickling can run arbitrary code). A fer_explain checkpoint is a pair "
            "<name>.safetensors + <name>.json written by save_checkpoint; re-save trusted weights with "
            "save_checkpoint(path, model) after loading them yourself."
        )


def _tensors_for_saving(state: Mapping[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
    """CPU, contiguous tensors that share no storage (safetensors refuses tied tensors)."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            raise CheckpointError(f"state entry {prefix + k!r} is a {type(v).__name__}, not a tensor")
        t = v.detach().to("cpu").contiguous()
        ptr = t.untyped_storage().data_ptr()
        if t.numel() and ptr in seen:
            t = t.clone()
            ptr = t.untyped_storage().data_ptr()
        if t.numel():
            seen.add(ptr)
        out[prefix + k] = t
    return out


# --- metadata -------------------------------------------------------------------------------------


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries a checkpoint depends on."""
    import numpy
    import safetensors

    import fer_explain

    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "safetensors": safetensors.__version__,
        "fer_explain": getattr(fer_explain, "__version__", "unknown"),
    }
    try:
        import torchvision

        versions["torchvision"] = torchvision.__version__
    except ImportError:  # pragma: no cover - torchvision is a dependency
        versions["torchvision"] = "not installed"
    return versions


def _classes_of(classes: LabelSpace | Sequence[str] | str | None) -> tuple[str, ...] | None:
    if classes is None:
        return None
    return get_label_space(classes).classes


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    *,
    classes: LabelSpace | Sequence[str] | str | None = None,
    recipe: Any = None,
    manifest_hash: str | None = None,
    history: Any = None,
    training_seconds: float | None = None,
    notes: str = "",
    extra: Mapping[str, Any] | None = None,
    input: Mapping[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Save ``model`` as ``<path>.safetensors`` + ``<path>.json`` (both atomically).

    Args:
        path: the checkpoint's name (with or without ``.safetensors`` / ``.json``).
        model: any module; its ``config`` (fer_explain models) is stored so the checkpoint can
            rebuild it, and its ``input_spec`` gives size / channels / mean / std. A module
            without ``config`` can still be saved, but must be passed to :func:`load_checkpoint`.
        classes: the label order of the model's outputs (a LabelSpace, its name, or class names).
            Defaults to ``model.label_space`` when present, else basic7/basic8 for 7/8 outputs.
        recipe: a :class:`~fer_explain.train.recipes.Recipe` (stored with ``to_dict``) or a dict.
        manifest_hash: the training manifest's ``content_hash()``.
        history: per-epoch metrics (a DataFrame or a list of dicts).
        training_seconds: wall-clock training time.
        notes: free text (e.g. "width-reduced variant").
        extra: more JSON-serialisable metadata, stored under ``"extra"``.
        input: entries that replace the ``input`` block taken from ``model.input_spec`` (``size``,
            ``channels``, ``mean``, ``std``) when training used another size or normalisation.

    Returns:
        ``(weights_path, metadata_path)``.
    """
    weights_path, meta_path = checkpoint_paths(path)
    # a DDP/compiled wrapper stores its weights under "module." / "_orig_mod.": save the inner model
    inner = getattr(model, "module", model)
    inner = getattr(inner, "_orig_mod", inner)
    tensors = _tensors_for_saving(inner.state_dict())
    digest = _atomic_save_tensors(weights_path, tensors, metadata={"format": CHECKPOINT_FORMAT})

    if classes is None:
        space = getattr(inner, "label_space", None)
        if space is not None:
            classes = space
        else:
            n_out = getattr(getattr(inner, "classifier", None), "out_features", None)
            classes = {7: "basic7", 8: "basic8"}.get(n_out) if n_out is not None else None
    class_names = _classes_of(classes)
    config = dict(getattr(inner, "config", {}) or {})
    spec = getattr(inner, "input_spec", None)
    if recipe is not None and hasattr(recipe, "to_dict"):
        recipe = recipe.to_dict()
    if history is not None and hasattr(history, "to_dict"):
        history = history.to_dict(orient="records")
    if history is not None:
        history = _finite_or_none(history)  # NaN (no validation set) -> null: strict JSON readers accept it
    input_block = (
        {"size": spec.size, "channels": spec.channels, "mean": list(spec.mean), "std": list(spec.std)}
        if spec is not None
        else None
    )
    if input is not None:
        input_block = {**(input_block or {}), **dict(input)}
    meta = {
        "format": CHECKPOINT_FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": config.get("name"),
        "arch_args": config or None,
        "classes": list(class_names) if class_names is not None else None,
        "label_space": get_label_space(class_names).name if class_names is not None else None,
        "input": input_block,
        "recipe": recipe,
        "manifest_hash": manifest_hash,
        "history": history,
        "training_seconds": training_seconds,
        "notes": notes,
        "versions": library_versions(),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "weights_file": weights_path.name,
        "weights_sha256": digest,
        "num_tensors": len(tensors),
        "num_parameters": int(sum(p.numel() for p in inner.parameters())),
        "extra": dict(extra) if extra else {},
    }
    _write_json(meta_path, meta)
    return weights_path, meta_path


def _finite_or_none(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    return obj


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON metadata of the checkpoint named by ``path`` (nothing else is read)."""
    _, meta_path = checkpoint_paths(path)
    if not meta_path.is_file():
        raise FileNotFoundError(f"checkpoint metadata {meta_path} not found (a checkpoint is <name>.safetensors + <name>.json)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{meta_path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{meta_path}: not a fer_explain checkpoint (format != {CHECKPOINT_FORMAT!r})")
    return meta


def load_checkpoint(
    path: str | os.PathLike[str],
    expected_arch: str | None = None,
    expected_classes: LabelSpace | Sequence[str] | str | None = None,
    *,
    model: nn.Module | None = None,
    device: str | torch.device = "cpu",
    verify: bool = True,
) -> tuple[nn.Module, dict[str, Any]]:
    """Load a checkpoint written by :func:`save_checkpoint` -> ``(model, meta)``.

    The model is rebuilt with ``fer_explain.models.create_model(**meta["arch_args"])`` (or the
    given ``model`` is filled), its weights read with ``safetensors`` (never unpickled), and it is
    returned in eval mode on ``device``.

    Args:
        path: the checkpoint's name, or either of its two files.
        expected_arch: raise :class:`CheckpointError` naming both when the checkpoint holds
            another architecture.
        expected_classes: raise naming both label orders when the checkpoint's differs.
        model: a module to load the weights into instead of building one (needed for modules
            that are not registered fer_explain models).
        device: where to put the model.
        verify: check the weights file's SHA-256 against the metadata.

    Raises:
        FileNotFoundError: one of the two files is missing.
        CheckpointError: a pickle-based file; metadata that is not a fer_explain checkpoint; an
            unexpected architecture or label order; a weights file from another save; a JSON file
            naming an unknown architecture (the message lists the valid ones) or arguments that
            architecture does not accept; weights that do not fit the model (missing / unexpected
            keys and shape mismatches summarised, naming the weights and JSON files).
    """
    _refuse_pickle(Path(path))
    weights_path, meta_path = checkpoint_paths(path)
    if not weights_path.is_file() or not meta_path.is_file():
        missing = [str(p) for p in (weights_path, meta_path) if not p.is_file()]
        raise FileNotFoundError(f"checkpoint {checkpoint_stem(path)}: missing {', '.join(missing)} (need both files)")
    meta = read_metadata(path)
    arch = meta.get("architecture")
    if expected_arch is not None and arch != expected_arch:
        raise CheckpointError(
            f"checkpoint {meta_path} holds architecture {arch!r} but {expected_arch!r} was expected"
        )
    if expected_classes is not None:
        want = _classes_of(expected_classes)
        have = tuple(meta.get("classes") or ())
        if have != want:
            raise CheckpointError(
                f"checkpoint {meta_path} predicts classes {list(have)} but {list(want or ())} were expected "
                "(a different label space or order)"
            )
    if verify and meta.get("weights_sha256"):
        digest = file_sha256(weights_path)
        if digest != meta["weights_sha256"]:
            raise CheckpointError(
                f"{weights_path}: SHA-256 {digest[:12]}... does not match {meta_path} "
                f"({meta['weights_sha256'][:12]}...): the two files come from different saves"
            )
    built_from = ""
    if model is None:
        model = _build_model(meta, meta_path)
        built_from = (f" built from {meta_path} (architecture {meta['arch_args'].get('name')!r}; the JSON's "
                      "architecture arguments and the weights disagree)")
    state = load_file(str(weights_path), device="cpu")
    mismatch = state_dict_mismatch(model, state)
    if mismatch is not None:
        raise CheckpointError(f"{weights_path}: the weights do not fit the model{built_from}: {mismatch}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{weights_path}: the weights do not fit the model{built_from}: {exc}") from None
    model.to(device)
    model.eval()
    return model, meta


def _build_model(meta: Mapping[str, Any], meta_path: Path) -> nn.Module:
    """``create_model(**meta["arch_args"])``, with a :class:`CheckpointError` naming the JSON file on failure."""
    args = meta.get("arch_args")
    if not args:
        raise CheckpointError(
            f"checkpoint {meta_path} has no architecture arguments (it was saved from a module without "
            "`config`); pass model= to load the weights into"
        )
    from fer_explain.models import create_model, list_models

    name = args.get("name")
    if meta.get("architecture") is not None and meta["architecture"] != name:
        raise CheckpointError(
            f"{meta_path}: \"architecture\" is {meta['architecture']!r} but \"arch_args\" name {name!r}"
        )
    if name not in list_models():
        raise CheckpointError(
            f"{meta_path}: unknown architecture {name!r}; valid architectures: {', '.join(list_models())}"
        )
    try:
        return create_model(**args)
    except (TypeError, ValueError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise CheckpointError(
            f"{meta_path}: architecture {name!r} does not accept the arguments {dict(args)}: {message}"
        ) from None


def state_dict_mismatch(model: nn.Module, state: Mapping[str, torch.Tensor], limit: int = 5) -> str | None:
    """How ``state`` fails to fit ``model.state_dict()``, summarised; ``None`` when every key and shape matches.

    The summary counts the missing keys (in the model, not in ``state``), the unexpected keys (in
    ``state``, not in the model) and the tensors whose shapes differ, naming up to ``limit`` of each,
    e.g. ``"2 shape mismatches (classifier.weight: weights [7, 64] vs model [7, 128], ...)"``.
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: weights {list(state[k].shape)} vs model {list(expected[k].shape)}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]

    def some(items: list[str]) -> str:
        return ", ".join(items[:limit]) + (", ..." if len(items) > limit else "")

    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key{'s' * (len(missing) != 1)} ({some(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key{'s' * (len(unexpected) != 1)} ({some(unexpected)})")
    if shapes:
        parts.append(f"{len(shapes)} shape mismatch{'es' * (len(shapes) != 1)} ({some(shapes)})")
    return "; ".join(parts) if parts else None


# --- resume state ---------------------------------------------------------------------------------


def flatten_optimizer_state(state_dict: Mapping[str, Any], prefix: str = "optimizer.") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer ``state_dict`` into tensors (for safetensors) and a JSON structure.

    Every tensor in ``state`` becomes ``<prefix>state.<param_id>.<key>``; scalars and the
    ``param_groups`` go into the JSON structure, which records where each tensor went.
    """
    tensors: dict[str, torch.Tensor] = {}
    structure: dict[str, Any] = {"state": {}, "param_groups": to_jsonable(state_dict["param_groups"], "param_groups")}
    for pid, entries in state_dict["state"].items():
        slot: dict[str, Any] = {}
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                name = f"{prefix}state.{pid}.{key}"
                tensors[name] = value.detach().to("cpu").contiguous().clone()
                slot[key] = {"tensor": name}
            else:
                slot[key] = {"value": to_jsonable(value, f"optimizer state {pid}.{key}")}
        structure["state"][str(pid)] = slot
    return tensors, structure


def unflatten_optimizer_state(tensors: Mapping[str, torch.Tensor], structure: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten_optimizer_state`."""
    state: dict[int, dict[str, Any]] = {}
    for pid, slot in structure["state"].items():
        entry: dict[str, Any] = {}
        for key, ref in slot.items():
            entry[key] = tensors[ref["tensor"]] if "tensor" in ref else ref["value"]
        state[int(pid)] = entry
    groups = []
    for g in structure["param_groups"]:
        g = dict(g)
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    return {"state": state, "param_groups": groups}


def to_jsonable(obj: Any, what: str) -> Any:
    """``obj`` as JSON-ready data: mappings with string keys, tuples as lists, one-element tensors as numbers.

    Used for optimizer and scheduler ``state_dict`` entries in the resume state. ``what`` names the
    value in the :class:`CheckpointError` raised for anything JSON cannot hold.
    """
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v, what) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, what) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    raise CheckpointError(f"{what}: cannot store a {type(obj).__name__} in JSON")


def save_resume_state(path: str | os.PathLike[str], tensors: Mapping[str, torch.Tensor], state: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write the resume state beside the checkpoint named by ``path`` (both files atomically).

    ``tensors`` go to ``<name>.resume.safetensors``; ``state`` (JSON-serialisable) to
    ``<name>.resume.json`` with the tensor file's SHA-256, so a torn pair is detected on load.
    """
    tensor_path, json_path = resume_paths(path)
    digest = _atomic_save_tensors(tensor_path, _tensors_for_saving(dict(tensors)), metadata={"format": RESUME_FORMAT})
    payload = {"format": RESUME_FORMAT, "format_version": FORMAT_VERSION, "tensors_sha256": digest, **state}
    _write_json(json_path, payload)
    return tensor_path, json_path


def load_resume_state(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """Read the resume state beside the checkpoint named by ``path``; ``None`` when there is none."""
    tensor_path, json_path = resume_paths(path)
    if not json_path.is_file() or not tensor_path.is_file():
        return None
    try:
        state = json.loads(json_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{json_path}: not valid JSON ({exc})") from None
    if state.get("format") != RESUME_FORMAT:
        raise CheckpointError(f"{json_path}: not a fer_explain resume state")
    digest = file_sha256(tensor_path)
    if digest != state.get("tensors_sha256"):
        raise CheckpointError(f"{tensor_path} does not match {json_path} (SHA-256 differs): a torn save")
    return load_file(str(tensor_path), device="cpu"), state


# --- the checkpoints shipped in the repository --------------------------------------------------------

SHIPPED_ENV = "FER_EXPLAIN_CHECKPOINTS"


def checkpoints_dir() -> Path:
    """Folder of the shipped checkpoints: ``$FER_EXPLAIN_CHECKPOINTS``, else the repository's ``checkpoints/``."""
    env = os.environ.get(SHIPPED_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "checkpoints"


def list_shipped() -> list[str]:
    """Names of the shipped checkpoints, e.g. ``["fer2013/deep_emotion", "synthetic/densenet_bc", ...]``."""
    root = checkpoints_dir()
    if not root.is_dir():
        return []
    names = []
    for path in sorted(root.rglob("*.safetensors")):
        if path.name.endswith(".resume.safetensors"):
            continue
        names.append(path.relative_to(root).with_suffix("").as_posix())
    return names


def shipped_checkpoint(name: str) -> Path:
    """Path (without suffix) of a shipped checkpoint such as ``"synthetic/deep_emotion"``; clear error if absent."""
    path = checkpoints_dir() / name
    if not path.with_suffix(".safetensors").is_file():
        raise FileNotFoundError(
            f"no shipped checkpoint {name!r} under {checkpoints_dir()}; available: {list_shipped() or 'none'}"
        )
    return path


def record_evaluation(path: str | os.PathLike[str], evaluation: Mapping[str, Any]) -> dict[str, Any]:
    """Append one evaluation record (accuracy, split, manifest hash, command...) to a checkpoint's JSON.

    Only the metadata file is rewritten (atomically); the weights and their hash are untouched.
    Returns the updated metadata.
    """
    meta = read_metadata(path)
    record = _finite_or_none(dict(evaluation))
    meta.setdefault("evaluations", []).append(record)
    _write_json(checkpoint_paths(path)[1], meta)
    return meta
