"""Known-answer leaderboard, part one: the synthetic variants, the cached models and the run that fills the table.

Its one job: for each (model, variant) pair, render faces whose label-carrying pixels are known, train
the model once (cached on disk as a checkpoint, so a rerun only scores), and hand the correctly
classified non-neutral test faces to :func:`fer_explain.analysis.known_answer_scores.score_model`,
writing every scored row to ``leaderboard.csv`` as soon as it exists (a killed run loses nothing
already computed; a rerun skips the rows it finds).

Variants (:data:`VARIANTS`), all rendered by :func:`fer_explain.data.synthetic.generate` at 48 px grey:

* ``mouth_only``: ``evidence_regions=("mouth",)``, basic7: only the mouth carries the label (the
  other regions show decoy action units drawn the same way for every class);
* ``upper_face``: ``evidence_regions=("eyes",)`` on the 5-class space anger, fear, happiness (AU6),
  sadness, surprise -- disgust and neutral have no upper-face action unit and would collide
  (:func:`~fer_explain.data.synthetic.colliding_classes` is empty for this space: checked at import);
* ``multi_au``: the default set (every region carries its prototype's action units), basic7, with
  each face's own evidence mask.

Models (:data:`MODELS`): ``deep_emotion``, ``vgg_fer`` (width 0.25) and ``se_resnet18`` (width 0.25,
the 3x3/2 ``fer`` stem), the CAM-able one (GAP + linear head), with SE blocks, so CAM and SE-map rows
exist. Each trains on 10,800 faces (1,200 more validate) with Adam (3e-3, batch 64) and a cosine schedule
for its own number of epochs (40 / 13 / 18), about the same cost: 16-18 minutes of one free CPU thread
each (:attr:`KnownAnswerSettings.train_minutes` caps the wall-clock time at 20). On 3,600 faces two
models missed the 93 % bar on mouth-only faces (Deep-Emotion 90.9 %, underfitting after 60 epochs;
SE-ResNet-18 88.6 %, overfitting) and VGG-FER just cleared it (93.1 %, overfitting); on 10,800
Deep-Emotion reached 94.9 % in 40 epochs, 17.6 CPU-minutes. The VGG-FER and SE-ResNet-18 epochs are
set from their measured cost per face. DenseNet-BC (4 layers per block, 48 px) is there too (``densenet_bc``), CAM-able but about seven times slower to train on one
CPU thread; it is meant for a run with a GPU.

Usage::

    from fer_explain.analysis.known_answer import KnownAnswerSettings, known_answer_leaderboard
    table = known_answer_leaderboard("runs/known_answer")                        # full scale: hours on one thread
    table = known_answer_leaderboard("/tmp/ka", settings=KnownAnswerSettings.quick(), models=["deep_emotion"])
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset, TensorDataset
from torchvision.transforms import v2

from fer_explain.analysis.known_answer_scores import (
    COLUMNS,
    LEADERBOARD_COLUMNS,
    ScoreSettings,
    partition,
    score_model,
    to_input,
)
from fer_explain.data.errors import UserError
from fer_explain.data.synthetic import (
    RENDERER_VERSION,
    SyntheticBatch,
    SyntheticFaceConfig,
    colliding_classes,
    generate,
)
from fer_explain.explain.occlusion import black_baseline
from fer_explain.labels import BASIC7, LabelSpace

__all__ = [
    "CHECKPOINT_DIR",
    "LEADERBOARD_COLUMNS",
    "LEADERBOARD_FILE",
    "MODELS",
    "UPPER_FACE_CLASSES",
    "VARIANTS",
    "KnownAnswerError",
    "KnownAnswerSettings",
    "ModelSpec",
    "TrainedModel",
    "Variant",
    "known_answer_leaderboard",
    "load_or_train",
    "render_variant",
    "to_input",
]

LEADERBOARD_FILE = "leaderboard.csv"
"""The table :func:`known_answer_leaderboard` writes in its output folder."""

ERASE_MIN_SIDE: int = 4
"""Smallest side of :attr:`KnownAnswerSettings.erase`'s black squares at 48 px (scaled with the face): the
smaller occlusion window."""

ERASE_MAX_SIDE: int = 16
"""Default largest side of those squares at 48 px (:attr:`KnownAnswerSettings.erase_max`): up to a mouth-sized
patch. Models trained with it keep the cache keys and row labels they had before the side was a setting."""

MODELS_FILE = "models.json"
"""Each trained model's record (accuracy, sizes, times) written beside it."""

HEATMAP_FILE = "leaderboard.png"
"""The method x variant heatmap written beside it."""

CHECKPOINT_DIR = "checkpoints"
"""Subfolder of the output folder holding ``<variant>/<model>.safetensors`` + ``.json``."""

UPPER_FACE_CLASSES: LabelSpace = LabelSpace("upper_face5", ("anger", "fear", "happiness", "sadness", "surprise"))
"""The 5-class space whose upper-face prototypes all differ (happiness by AU6)."""


class KnownAnswerError(UserError, ValueError):
    """A bad argument of :func:`known_answer_leaderboard` (``argument`` names it: ``models``, ``variants``, ``out_dir``...)."""

    def __init__(self, message: str, argument: str) -> None:
        super().__init__(message)
        self.argument = argument


# --------------------------------------------------------------------------- variants and models
@dataclass(frozen=True)
class Variant:
    """A synthetic face set with known evidence: its label space and the regions that carry the label."""

    name: str
    classes: LabelSpace
    evidence_regions: tuple[str, ...] | None
    description: str

    def config(self, n: int, seed: int, size: int = 48) -> SyntheticFaceConfig:
        """The generator's config for ``n`` grey faces of side ``size`` (default nuisance)."""
        return SyntheticFaceConfig(n=n, size=size, channels=1, seed=seed, classes=self.classes,
                                   evidence_regions=self.evidence_regions)

    @property
    def neutral(self) -> int | None:
        """Index of ``neutral`` in the label space (None when the space has none)."""
        return self.classes.classes.index("neutral") if "neutral" in self.classes else None


VARIANTS: Mapping[str, Variant] = {
    "mouth_only": Variant("mouth_only", BASIC7, ("mouth",), "only the mouth carries the label (7 classes)"),
    "upper_face": Variant("upper_face", UPPER_FACE_CLASSES, ("eyes",),
                          "only brows and eyes carry the label (anger, fear, happiness, sadness, surprise)"),
    "multi_au": Variant("multi_au", BASIC7, None, "every prototype action unit carries the label (7 classes)"),
}
"""The known-answer variants by name."""

for _v in VARIANTS.values():  # a variant whose classes collide has no known answer
    if _v.evidence_regions is not None and colliding_classes(_v.classes.classes, _v.evidence_regions):
        raise RuntimeError(f"variant {_v.name}: classes {colliding_classes(_v.classes.classes, _v.evidence_regions)} "
                           "collide on its evidence regions")


@dataclass(frozen=True)
class ModelSpec:
    """A model of the leaderboard: registry name and arguments (``num_classes``/``in_chans`` are added)."""

    name: str
    arch: str
    args: Mapping[str, Any] = field(default_factory=dict)
    epochs: int = 30
    """Training epochs at full scale (12,000 faces rendered), chosen so that every model costs 16-18 minutes
    of one CPU thread (under the 20-minute budget)."""

    def build(self, num_classes: int) -> nn.Module:
        from fer_explain.models import create_model

        return create_model(self.arch, num_classes=num_classes, in_chans=1, **dict(self.args))


MODELS: Mapping[str, ModelSpec] = {
    "deep_emotion": ModelSpec("deep_emotion", "deep_emotion", {}, epochs=40),
    "vgg_fer": ModelSpec("vgg_fer", "vgg_fer", {"width": 0.25, "input_size": 48}, epochs=13),
    "se_resnet18": ModelSpec("se_resnet18", "se_resnet18", {"width": 0.25, "input_size": 48, "stem": "fer"},
                             epochs=18),
    "densenet_bc": ModelSpec("densenet_bc", "densenet_bc", {"layers_per_block": 4, "input_size": 48}, epochs=30),
}
"""Models by leaderboard name; the default run uses :data:`DEFAULT_MODELS`."""

DEFAULT_MODELS: tuple[str, ...] = ("deep_emotion", "vgg_fer", "se_resnet18")
DEFAULT_VARIANTS: tuple[str, ...] = tuple(VARIANTS)


@dataclass(frozen=True)
class KnownAnswerSettings:
    """Every number of a known-answer run. The defaults are the full scale (one CPU thread).

    Attributes:
        n_train: faces rendered for training (``val_fraction`` of them validate; seed ``seed``).
        n_test: test faces (seed ``seed + 1000``); explained are the first ``n_explain`` correctly
            classified non-neutral ones.
        size: face side in pixels.
        epochs: training epochs of every model; None (the default) takes each model's own
            :attr:`ModelSpec.epochs` (40 Deep-Emotion, 13 VGG-FER, 18 SE-ResNet-18: about the same cost).
        lr, batch_size: Adam with a cosine schedule over the epochs, the best validation epoch kept.
        train_minutes: the training time budget of one model (``fit`` stops before an epoch that
            would end past it).
        n_explain: faces explained per (model, variant).
        faces: ``"correct"`` explains correctly classified non-neutral test faces only (the known
            answer is about a model that got the face right), ``"all"`` every non-neutral one.
        n_randomization: of those, faces explained again on the weight-randomised model.
        evidence_dilate: pixels the evidence masks are dilated by.
        occlusion_windows: occlusion window sides (stride = window // 2); the first is the registry's.
        perturbation_steps: steps of the deletion and insertion curves.
        n_boot: bootstrap resamples of the 95 % intervals.
        chunk: faces per explainer call.
        seed: seed of rendering, training, randomisation and bootstrap.
        erase: share of training faces that get one black square (random erasing, sides from
            :data:`ERASE_MIN_SIDE` to :attr:`erase_max` at 48 px, drawn anew each epoch); 0, the default,
            trains on the faces as they are. A model that has seen black patches is not pushed off its
            training distribution by occlusion's black windows or region masking's black regions, so their
            drops measure evidence rather than surprise. Rows of such a model are labelled
            ``<model>+erase<p>``; give it its own output folder (the checkpoints of one folder are one
            setting's).
        erase_max: largest side of those squares at 48 px (:data:`ERASE_MAX_SIDE`, 16: up to a mouth-sized
            patch, which can hide the only evidence; 8: the occlusion windows' sizes). Rows are labelled
            ``+erase<p>max<side>`` when it is not :data:`ERASE_MAX_SIDE`.
        erase_regions: share of training faces with one region of region masking's partition blacked out
            (outside face, eyes, nose, mouth or rest of face, drawn uniformly among those present; independent
            of :attr:`erase`): region masking's black regions are then no stranger to the model than a square
            is. Rows are labelled ``+regions<p>``.
        erase_keep: the erased squares and regions spare the face's evidence pixels (its evidence mask dilated
            by :attr:`evidence_dilate`, the mask the maps are scored against): the model learns that black
            patches away from the evidence say nothing about the label, and never sees the evidence itself
            blacked out, so no label is hidden (plain erasing hides the only evidence of some faces and costs
            accuracy). Rows are labelled ``+keep``.
    """

    n_train: int = 12000
    n_test: int = 800
    size: int = 48
    epochs: int | None = None
    lr: float = 3e-3
    batch_size: int = 64
    val_fraction: float = 0.1
    train_minutes: float = 20.0
    n_explain: int = 500
    faces: str = "correct"
    n_randomization: int = 100
    evidence_dilate: int = 2
    occlusion_windows: tuple[int, ...] = (8, 4)
    perturbation_steps: int = 10
    n_boot: int = 1000
    chunk: int = 50
    seed: int = 0
    erase: float = 0.0
    erase_max: int = ERASE_MAX_SIDE
    erase_regions: float = 0.0
    erase_keep: bool = False

    def __post_init__(self) -> None:
        if self.epochs is not None and int(self.epochs) < 1:
            raise KnownAnswerError(f"epochs must be >= 1, got {self.epochs}", "epochs")
        for name in ("n_train", "n_test", "batch_size", "n_explain", "n_randomization", "perturbation_steps",
                     "n_boot", "chunk"):
            if int(getattr(self, name)) < 1:
                raise KnownAnswerError(f"{name} must be >= 1, got {getattr(self, name)}", name)
        if not 0 < self.val_fraction < 1:
            raise KnownAnswerError(f"val_fraction must lie in (0, 1), got {self.val_fraction}", "val_fraction")
        if self.train_minutes <= 0 or self.lr <= 0:
            raise KnownAnswerError("train_minutes and lr must be > 0", "train_minutes")
        if not self.occlusion_windows or any(int(w) < 2 for w in self.occlusion_windows):
            raise KnownAnswerError(f"occlusion_windows must be sides >= 2, got {self.occlusion_windows}",
                                   "occlusion_windows")
        for name in ("erase", "erase_regions"):
            if not 0.0 <= getattr(self, name) <= 1.0:  # NaN fails too
                raise KnownAnswerError(f"{name} must lie in [0, 1], got {getattr(self, name)}", name)
        if self.erase_keep and not (self.erase or self.erase_regions):
            raise KnownAnswerError("erase_keep spares the evidence from erasing: it needs erase or erase_regions > 0",
                                   "erase_keep")
        if not ERASE_MIN_SIDE <= int(self.erase_max) <= self.size:
            raise KnownAnswerError(f"erase_max must lie in [{ERASE_MIN_SIDE}, {self.size}], got {self.erase_max}",
                                   "erase_max")
        if self.faces not in ("correct", "all"):
            raise KnownAnswerError(f"faces must be 'correct' or 'all', got {self.faces!r}", "faces")
        object.__setattr__(self, "occlusion_windows", tuple(int(w) for w in self.occlusion_windows))

    @classmethod
    def quick(cls, **changes: Any) -> KnownAnswerSettings:
        """Seconds-scale settings for tests and smoke runs (models barely learn; numbers mean nothing)."""
        base = {"n_train": 140, "n_test": 70, "epochs": 1, "n_explain": 8, "faces": "all", "n_randomization": 4,
                "occlusion_windows": (16, 12), "perturbation_steps": 4, "n_boot": 50, "chunk": 8}
        return cls(**{**base, **changes})

    def replace(self, **changes: Any) -> KnownAnswerSettings:
        return dataclasses.replace(self, **changes)

    def scoring(self) -> ScoreSettings:
        """The scoring part, for :func:`~fer_explain.analysis.known_answer_scores.score_model`."""
        return ScoreSettings(**{f.name: getattr(self, f.name) for f in dataclasses.fields(ScoreSettings)})

    def epochs_of(self, model: str) -> int:
        """The epochs ``model`` trains for: :attr:`epochs`, else the model's own."""
        return int(self.epochs) if self.epochs is not None else MODELS[model].epochs

    def training_key(self, model: str) -> dict[str, Any]:
        """What a cached model depends on (compared on reuse; the time budget is not part of it: a model
        it stopped early shows fewer ``epochs_run`` in ``models.json``)."""
        key = {"n_train": self.n_train, "size": self.size, "epochs": self.epochs_of(model), "lr": self.lr,
               "batch_size": self.batch_size, "val_fraction": self.val_fraction, "seed": self.seed,
               "renderer": RENDERER_VERSION}
        if self.erase:  # absent otherwise: the keys of models trained before erasing existed
            key = {**key, "erase": self.erase}
            if self.erase_max != ERASE_MAX_SIDE:
                key["erase_max"] = self.erase_max
        key = {**key, "erase_regions": self.erase_regions} if self.erase_regions else key
        return {**key, "erase_keep": True} if self.erase_keep else key

    def label(self, model: str) -> str:
        """The ``model`` column of this setting's rows: the name, ``+erase<p>`` when :attr:`erase` is on
        (``+erase<p>max<side>`` when :attr:`erase_max` is not :data:`ERASE_MAX_SIDE`), then ``+regions<p>`` when
        :attr:`erase_regions` is on, then ``+keep`` with :attr:`erase_keep`."""
        if self.erase:
            model += f"+erase{self.erase:g}" + (f"max{self.erase_max}" if self.erase_max != ERASE_MAX_SIDE else "")
        model += f"+regions{self.erase_regions:g}" if self.erase_regions else ""
        return model + ("+keep" if self.erase_keep else "")


# --------------------------------------------------------------------------- data
def render_variant(variant: str | Variant, settings: KnownAnswerSettings,
                   progress: bool = False) -> tuple[SyntheticBatch, SyntheticBatch]:
    """``(train, test)`` faces of a variant: training seed ``settings.seed``, test seed ``seed + 1000``."""
    v = VARIANTS[variant] if isinstance(variant, str) else variant
    train = generate(v.config(settings.n_train, settings.seed, settings.size), progress=progress)
    test = generate(v.config(settings.n_test, settings.seed + 1000, settings.size), progress=progress)
    return train, test


# --------------------------------------------------------------------------- training and cache
@dataclass
class TrainedModel:
    """A trained (or cached) model and its record: ``info`` holds ``test_accuracy``, ``train_seconds`` (wall
    clock) and ``train_cpu_seconds`` (the process's CPU time: on a shared machine the cost of one free thread),
    ``epochs_run``, ``best_epoch``, ``parameters``, ``weights_bytes``, ``n_train``/``n_val``/``n_test``,
    ``cached`` (True when loaded, not trained, by this call) and ``path``."""

    model: nn.Module
    info: dict[str, Any]


class ErasedFaces(Dataset):
    """Training faces ``(x, y)`` (normalised tensors) where a share ``p`` get one black square per access
    (torchvision's ``RandomErasing``, square, sides :data:`ERASE_MIN_SIDE` to ``max_side`` at 48 px, filled
    with the model's black ``value``) and, independently, a share ``p_region`` one region of ``regions``
    (``(N, 1, H, W)`` integer ids per pixel) blacked out, drawn uniformly among the face's ids. With ``keep``
    (``(N, 1, H, W)`` bool) the pixels it marks are never blacked out (the evidence shows through)."""

    def __init__(self, x: Tensor, y: Tensor, p: float, value: float, max_side: int = ERASE_MAX_SIDE,
                 regions: Tensor | None = None, p_region: float = 0.0, keep: Tensor | None = None) -> None:
        side = x.shape[-1]
        lo, hi = (s * side / 48 for s in (ERASE_MIN_SIDE, max_side))
        if p_region and (regions is None or regions.shape[0] != x.shape[0] or regions.shape[-2:] != x.shape[-2:]):
            raise ValueError(f"p_region needs regions of shape (N, 1, H, W) matching x {tuple(x.shape)}")
        if keep is not None and (keep.shape[0] != x.shape[0] or keep.shape[-2:] != x.shape[-2:]):
            raise ValueError(f"keep must be (N, 1, H, W) matching x {tuple(x.shape)}, got {tuple(keep.shape)}")
        self.x, self.y, self.value, self.regions, self.p_region = x, y, value, regions, float(p_region)
        self.keep = keep
        self.erase = v2.RandomErasing(p=p, scale=((lo / side) ** 2, (hi / side) ** 2), ratio=(1.0, 1.0),
                                      value=value)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        xi = self.erase(self.x[i])
        if self.p_region and float(torch.rand(())) < self.p_region:
            ids = self.regions[i].unique()  # type: ignore[index]
            pick = ids[torch.randint(len(ids), ())]
            xi = torch.where(self.regions[i] == pick, torch.full_like(xi, self.value), xi)  # type: ignore[index]
        if self.keep is not None:
            xi = torch.where(self.keep[i], self.x[i], xi)
        return xi, self.y[i]


def checkpoint_path(out_dir: str | os.PathLike[str], model: str, variant: str) -> Path:
    """``<out>/checkpoints/<variant>/<model>`` (the stem of the ``.safetensors`` + ``.json`` pair)."""
    return Path(out_dir) / CHECKPOINT_DIR / variant / model


def _cached(path: Path, key: Mapping[str, Any]) -> TrainedModel | None:
    from fer_explain.train.checkpoint import CheckpointError, checkpoint_paths, load_checkpoint, read_metadata

    weights, meta_path = checkpoint_paths(path)
    if not (weights.is_file() and meta_path.is_file()):
        return None
    try:
        meta = read_metadata(path)
    except CheckpointError:
        return None
    record = dict((meta.get("extra") or {}).get("known_answer") or {})
    if record.get("key") != json.loads(json.dumps(dict(key))):
        return None
    model, _ = load_checkpoint(path)
    info = {k: v for k, v in record.items() if k != "key"}
    return TrainedModel(model, {**info, "cached": True, "path": str(path)})


def load_or_train(model_name: str, variant: str, out_dir: str | os.PathLike[str],
                  settings: KnownAnswerSettings, data: tuple[SyntheticBatch, SyntheticBatch] | None = None,
                  progress: bool = False, log: Callable[[str], None] = print) -> TrainedModel:
    """The model ``model_name`` trained on ``variant``: loaded from its checkpoint when one with the same
    settings exists, else trained with :func:`fer_explain.train.fit` (Adam, cosine schedule, best
    validation epoch kept), tested and saved with :func:`~fer_explain.train.save_checkpoint`.

    ``data`` is the variant's ``(train, test)`` faces (rendered when None).
    """
    from fer_explain.train import evaluate, fit, get_recipe, save_checkpoint

    spec, v = MODELS[model_name], VARIANTS[variant]
    path = checkpoint_path(out_dir, model_name, variant)
    key = {"model": model_name, "arch": spec.arch, "args": dict(spec.args), "variant": variant,
           **settings.training_key(model_name)}
    cached = _cached(path, key)
    if cached is not None:
        log(f"{model_name} on {variant}: cached ({path}), test accuracy {cached.info['test_accuracy']:.4f}")
        return cached
    train, test = data if data is not None else render_variant(v, settings)
    torch.manual_seed(settings.seed)
    model = spec.build(len(v.classes))
    x, y = to_input(train.images, model), torch.from_numpy(train.labels).long()
    n_val = max(len(v.classes), round(len(train) * settings.val_fraction))
    epochs = settings.epochs_of(model_name)
    recipe = get_recipe("quick", epochs=epochs, lr=settings.lr, batch_size=settings.batch_size,
                        scheduler="cosine", seed=settings.seed, time_budget_minutes=settings.train_minutes)
    log(f"{model_name} on {variant}: training on {len(train) - n_val} faces ({n_val} validation"
        f"{f'; {settings.erase:.0%} get a black square of <= {settings.erase_max} px' if settings.erase else ''}"
        f"{f'; {settings.erase_regions:.0%} a black region' if settings.erase_regions else ''}"
        f"{'; the evidence spared' if settings.erase_keep else ''}), "
        f"{epochs} epochs, budget {settings.train_minutes:g} min")
    t0, cpu0 = time.perf_counter(), time.process_time()
    train_ds: Dataset = TensorDataset(x[n_val:], y[n_val:])
    if settings.erase or settings.erase_regions:
        regions = partition(train.landmarks[n_val:], settings.size) if settings.erase_regions else None
        keep = (torch.from_numpy(train.evidence_dilated(settings.evidence_dilate)[n_val:])[:, None].bool()
                if settings.erase_keep else None)
        train_ds = ErasedFaces(x[n_val:], y[n_val:], settings.erase, float(black_baseline(model).flatten()[0]),
                               settings.erase_max, regions, settings.erase_regions, keep)
    result = fit(model, train_ds, TensorDataset(x[:n_val], y[:n_val]), recipe=recipe,
                 progress=progress, classes=v.classes.classes)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
    model = result.model.eval()
    ev = evaluate(model, TensorDataset(to_input(test.images, model), torch.from_numpy(test.labels).long()),
                  label_space=v.classes.classes)
    info = {"test_accuracy": float(ev.accuracy),
            "per_class_accuracy": {c: (None if math.isnan(a) else float(a))
                                   for c, a in zip(v.classes.classes, ev.per_class_accuracy)},
            "train_seconds": float(seconds), "train_cpu_seconds": float(cpu_seconds),
            "epochs_run": len(result.history), "best_epoch": result.best_epoch,
            "parameters": int(sum(p.numel() for p in model.parameters())), "n_train": len(train) - n_val,
            "n_val": n_val, "n_test": len(test)}
    weights, _ = save_checkpoint(path, model, classes=v.classes.classes, recipe=recipe, history=result.history,
                                 training_seconds=seconds, notes=f"known-answer {variant}: {v.description}",
                                 extra={"known_answer": {**info, "key": key}})
    info["weights_bytes"] = weights.stat().st_size
    log(f"{model_name} on {variant}: {info['parameters']:,} parameters, {info['epochs_run']} epochs in "
        f"{seconds / 60:.1f} min ({cpu_seconds / 60:.1f} CPU min), test accuracy {info['test_accuracy']:.4f}")
    return TrainedModel(model, {**info, "cached": False, "path": str(path)})


# --------------------------------------------------------------------------- the run
def _names(given: Sequence[str] | str | None, valid: Mapping[str, Any], default: Sequence[str],
           argument: str) -> list[str]:
    if given is None:
        return list(default)
    names = [s.strip() for s in given.split(",")] if isinstance(given, str) else [str(s).strip() for s in given]
    names = [n for n in names if n]
    bad = [n for n in names if n not in valid]
    if bad or not names:
        raise KnownAnswerError(f"unknown {argument} {bad or names}; valid: {', '.join(valid)}", argument)
    return list(dict.fromkeys(names))


def _done_rows(csv_path: Path) -> pd.DataFrame:
    if not csv_path.is_file() or csv_path.stat().st_size == 0:
        return pd.DataFrame(columns=list(LEADERBOARD_COLUMNS))
    try:
        table = pd.read_csv(csv_path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise KnownAnswerError(f"{csv_path} is not a leaderboard CSV ({exc}); move it away or pick another --out",
                               "out_dir") from None
    missing = [c for c in LEADERBOARD_COLUMNS if c not in table.columns]
    if missing:
        raise KnownAnswerError(f"{csv_path} lacks the leaderboard columns {missing}; move it away or pick another "
                               "--out", "out_dir")
    return table


def _append(csv_path: Path, rows: Sequence[Mapping[str, Any]], columns: list[str]) -> None:
    """Append rows (header written once); flushed and synced so a killed run keeps them."""
    frame = pd.DataFrame(list(rows)).reindex(columns=columns)
    new = not csv_path.is_file() or csv_path.stat().st_size == 0
    with open(csv_path, "a", encoding="utf-8", newline="") as fh:
        frame.to_csv(fh, header=new, index=False, float_format="%.6g")
        fh.flush()
        os.fsync(fh.fileno())


def _run(out: Path, model_names: Sequence[str], variant_names: Sequence[str], settings: KnownAnswerSettings,
         progress: bool, log: Callable[[str], None]) -> None:
    """Train and score what ``out/leaderboard.csv`` lacks, appending each row as soon as it is scored."""
    csv_path = out / LEADERBOARD_FILE
    done = _done_rows(csv_path)
    have: dict[tuple[str, str], set[str]] = {}
    for m, v, method in zip(done["model"].astype(str), done["variant"].astype(str), done["method"].astype(str)):
        have.setdefault((m, v), set()).add(method)
    models_path = out / MODELS_FILE
    records: dict[str, Any] = json.loads(models_path.read_text()) if models_path.is_file() else {}
    for variant in variant_names:
        # the reference rows come last: a (model, variant) with its "ideal" row is complete
        todo = [m for m in model_names if "ideal" not in have.get((settings.label(m), variant), set())]
        if not todo:
            log(f"{variant}: every model already scored in {csv_path}")
            continue
        data = render_variant(variant, settings, progress=progress)
        for name in todo:
            trained = load_or_train(name, variant, out, settings, data=data, progress=progress, log=log)
            label = settings.label(name)
            records[f"{label}/{variant}"] = {k: v for k, v in trained.info.items() if k != "cached"}
            models_path.write_text(json.dumps(records, indent=2))
            t0 = time.perf_counter()
            rows = score_model(trained.model, data[1], settings.scoring(), variant=variant,
                               neutral=VARIANTS[variant].neutral, model_name=label,
                               model_accuracy=trained.info["test_accuracy"], skip=have.get((label, variant), set()),
                               on_row=lambda row: _append(csv_path, [row], list(COLUMNS)), progress=progress,
                               log=log)
            log(f"{label} on {variant}: {len(rows)} rows scored in {(time.perf_counter() - t0) / 60:.1f} min")


def known_answer_leaderboard(
    out_dir: str | os.PathLike[str],
    models: Sequence[str] | str | None = None,
    variants: Sequence[str] | str | None = None,
    settings: KnownAnswerSettings | None = None,
    *,
    threads: int | None = 1,
    progress: bool = True,
    heatmap: bool = True,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Train (or load) every model on every variant, score every explainer, write the leaderboard.

    Args:
        out_dir: output folder: ``leaderboard.csv``, ``leaderboard.png``, ``models.json`` (sizes, times,
            accuracies) and ``checkpoints/<variant>/<model>.*``. A rerun reuses the checkpoints and skips
            every (model, variant) whose rows are already in the CSV.
        models: names of :data:`MODELS` (default :data:`DEFAULT_MODELS`), a list or comma-separated.
        variants: names of :data:`VARIANTS` (default all three).
        settings: the run's numbers (default: full scale, :class:`KnownAnswerSettings`).
        threads: ``torch.set_num_threads`` for the run (None leaves it).
        progress: tqdm bars.
        heatmap: also draw ``leaderboard.png`` (pointing game, method x variant, one panel per model).
        log: where progress lines go.

    Returns:
        the whole leaderboard (also what ``leaderboard.csv`` holds).

    Raises:
        KnownAnswerError: unknown model or variant names, an output path that is a file, or a
            ``leaderboard.csv`` there that is not one.
    """
    settings = settings or KnownAnswerSettings()
    model_names = _names(models, MODELS, DEFAULT_MODELS, "models")
    variant_names = _names(variants, VARIANTS, DEFAULT_VARIANTS, "variants")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise KnownAnswerError(f"{out} exists and is not a folder", "out_dir")
    out.mkdir(parents=True, exist_ok=True)
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        _run(out, model_names, variant_names, settings, progress, log)
    finally:
        torch.set_num_threads(previous_threads)
    csv_path = out / LEADERBOARD_FILE
    table = pd.read_csv(csv_path) if csv_path.is_file() else pd.DataFrame(columns=list(COLUMNS))
    if heatmap and len(table):
        from fer_explain.viz.leaderboard import plot_leaderboard_heatmap

        fig = plot_leaderboard_heatmap(table)
        fig.savefig(out / HEATMAP_FILE, dpi=120, bbox_inches="tight")
        import matplotlib.pyplot as plt

        plt.close(fig)
    return table
