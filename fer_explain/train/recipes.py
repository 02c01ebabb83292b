"""The seed papers' training recipes as dataclasses.

A :class:`Recipe` holds every knob :func:`fer_explain.train.loop.fit` reads. Recipes are looked up
by name and any field can be overridden::

    >>> from fer_explain.train.recipes import get_recipe, list_recipes
    >>> list_recipes()
    ['quick', 'seed001', 'seed002', 'seed003_code', 'seed003_paper', 'seed004']
    >>> r = get_recipe("seed004", fc_l2=1e-4, epochs=10)
    >>> r.optimizer, r.lr, r.sources["lr"], r.sources["epochs"]
    ('adam', 0.005, 'paper', 'override')

Every recipe records, per field, where its value comes from in ``sources``:

``"paper"``
    stated in the seed paper's training section (see ``/work/shared/papers/README.md``);
``"code"``
    taken from the authors' published code (seed 003's repository);
``"assumption"``
    not stated anywhere we could read: a documented choice of ours;
``"default"``
    the dataclass default, which the paper does not contradict (e.g. no label smoothing);
``"override"``
    set by the caller of :func:`get_recipe`.

``notes`` says, in words, what each assumption is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = [
    "MONITORS",
    "NORMALIZATIONS",
    "OPTIMIZERS",
    "RECIPES",
    "SCHEDULERS",
    "Recipe",
    "get_recipe",
    "list_recipes",
    "recipe_table",
]

OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "adamw")
SCHEDULERS: tuple[str | None, ...] = (None, "plateau", "step", "cosine")
MONITORS: tuple[str, ...] = ("val_acc", "val_loss")
NORMALIZATIONS: tuple[str, ...] = ("model", "dataset", "none")

_META_FIELDS = ("name", "sources", "notes")


@dataclass(frozen=True)
class Recipe:
    """Everything the training engine needs to know about how to train.

    Attributes:
        name: recipe name (``"seed004"``, ...).
        optimizer: ``"sgd"``, ``"adam"`` or ``"adamw"``.
        lr: initial learning rate.
        momentum: SGD momentum (ignored by Adam).
        weight_decay: the optimizer's L2 weight decay on every trainable parameter.
        batch_size: *global* batch size (under DDP each of ``W`` ranks takes ``batch_size / W``).
        epochs: maximum number of epochs.
        shuffle: reshuffle the training set every epoch (ignored when ``oversample``).
        scheduler: ``None``, ``"plateau"`` (ReduceLROnPlateau on ``monitor``, stepped every epoch),
            ``"step"`` (StepLR) or ``"cosine"`` (CosineAnnealingLR, ``T_max`` defaults to ``epochs``).
        scheduler_params: keyword arguments of the scheduler (``factor``, ``patience``,
            ``step_size``, ``gamma``, ``T_max``, ``eta_min``...). For ``"plateau"`` the mode
            defaults to ``"max"`` when ``monitor`` is an accuracy and ``"min"`` for a loss.
        class_weighted_loss: weight the cross-entropy by inverse class frequency
            (:func:`fer_explain.data.dataset.class_weights`, scheme ``"inverse"``).
        fc_l2: ``lambda`` of the extra loss term ``lambda * sum ||W||^2`` over the weight matrices
            (not biases) of the modules named in ``fc_l2_modules`` (seed 004, Eq. 1).
        fc_l2_modules: dotted module names the ``fc_l2`` term covers; ``None`` means the model's
            ``classifier`` (or its last ``nn.Linear`` when it has no ``classifier``).
        init_std: when set, :func:`fer_explain.train.pipeline.train_from_manifest` re-initialises
            the new model with ``N(0, init_std^2)`` (:func:`fer_explain.models.init_gaussian_`).
        oversample: draw training rows with replacement with weights ``1 / count(class)``.
        transform: name of the augmentation pipeline (:func:`fer_explain.data.transforms.get_transform`);
            evaluation uses the same name with ``train=False``.
        transform_options: keyword options of that pipeline (e.g. ``{"five_crop": True}``).
        normalization: ``"model"`` (the model's ``input_spec`` mean/std), ``"dataset"`` (per-channel
            mean/std of the training set) or ``"none"``; used by ``train_from_manifest``.
        early_stopping_patience: stop after this many epochs without improvement of ``monitor``
            (``None``: never).
        monitor: ``"val_acc"`` or ``"val_loss"``: the metric for early stopping, ``keep_best`` and
            the plateau scheduler (the training metric stands in when there is no validation set).
        keep_best: restore the weights of the best epoch (by ``monitor``) at the end.
        runs: number of independent runs for :func:`fer_explain.train.repeated.fit_repeated` (and
            :func:`~fer_explain.train.pipeline.train_from_manifest`), the best one kept.
        seed: base random seed (run ``i`` of ``fit_repeated`` uses ``seed + i``).
        label_smoothing: cross-entropy label smoothing.
        time_budget_minutes: stop (as finished, best epoch kept per ``keep_best``) before an epoch
            that would end past this many minutes of training plus validation (``None``: no budget).
        sources: per field, ``"paper"``, ``"code"``, ``"assumption"``, ``"default"`` or ``"override"``.
        notes: free text explaining the assumptions.
    """

    name: str = "custom"
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = 32
    epochs: int = 10
    shuffle: bool = True
    scheduler: str | None = None
    scheduler_params: dict[str, Any] = field(default_factory=dict)
    class_weighted_loss: bool = False
    fc_l2: float = 0.0
    fc_l2_modules: tuple[str, ...] | None = None
    init_std: float | None = None
    oversample: bool = False
    transform: str = "none"
    transform_options: dict[str, Any] = field(default_factory=dict)
    normalization: str = "model"
    early_stopping_patience: int | None = None
    monitor: str = "val_acc"
    keep_best: bool = False
    runs: int = 1
    seed: int = 0
    label_smoothing: float = 0.0
    time_budget_minutes: float | None = None
    sources: dict[str, str] = field(default_factory=dict)
    notes: str = ""

    def __post_init__(self) -> None:
        def bad(name: str, value: Any, valid: Any) -> ValueError:
            return ValueError(f"recipe {self.name!r}: {name}={value!r} is not valid; valid: {valid}")

        if self.optimizer not in OPTIMIZERS:
            raise bad("optimizer", self.optimizer, OPTIMIZERS)
        if self.scheduler not in SCHEDULERS:
            raise bad("scheduler", self.scheduler, SCHEDULERS)
        if self.monitor not in MONITORS:
            raise bad("monitor", self.monitor, MONITORS)
        if self.normalization not in NORMALIZATIONS:
            raise bad("normalization", self.normalization, NORMALIZATIONS)
        if not self.lr > 0:
            raise bad("lr", self.lr, "a positive number")
        for name in ("batch_size", "epochs", "runs"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad(name, value, "a positive int")
        for name in ("momentum", "weight_decay", "fc_l2", "label_smoothing"):
            if not getattr(self, name) >= 0:
                raise bad(name, getattr(self, name), "a number >= 0")
        if self.init_std is not None and not self.init_std > 0:
            raise bad("init_std", self.init_std, "None or a positive number")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise bad("early_stopping_patience", self.early_stopping_patience, "None or an int >= 1")
        if self.fc_l2_modules is not None:
            object.__setattr__(self, "fc_l2_modules", tuple(self.fc_l2_modules))
        unknown = sorted(set(self.sources) - {f.name for f in fields(self)})
        if unknown:
            raise ValueError(f"recipe {self.name!r}: sources names unknown fields {unknown}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (what checkpoints store)."""
        d = asdict(self)
        if d["fc_l2_modules"] is not None:
            d["fc_l2_modules"] = list(d["fc_l2_modules"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        """Inverse of :meth:`to_dict`; unknown keys raise ``TypeError`` naming them."""
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise TypeError(f"unknown recipe field(s) {unknown}; valid: {[f.name for f in fields(cls)]}")
        return cls(**d)

    def source(self, field_name: str) -> str:
        """Where a field's value comes from (``"default"`` when the recipe does not say)."""
        if field_name not in {f.name for f in fields(self)}:
            raise KeyError(f"unknown recipe field {field_name!r}; valid: {[f.name for f in fields(self)]}")
        return self.sources.get(field_name, "default")


def _recipe(name: str, notes: str, **values: tuple[Any, str]) -> Recipe:
    """Build a recipe from ``field=(value, source)`` pairs."""
    return Recipe(
        name=name,
        notes=notes,
        sources={k: src for k, (_, src) in values.items()},
        **{k: v for k, (v, _) in values.items()},
    )


RECIPES: dict[str, Recipe] = {
    "seed001": _recipe(
        "seed001",
        "Huang et al. 2023 (SE-ResNet-18 on AffectNet / RAF-DB). Paper: SGD, cross-entropy, lr 0.01, "
        "momentum 0.9, batch 100, 20 epochs; 256x256 inputs, tone changes, rotation +-30 deg, five "
        "224x224 crops (four corners + centre) for training, a centre crop for validation. Assumed: "
        "no LR schedule, no weight decay, the last epoch is kept (the paper mentions no selection).",
        optimizer=("sgd", "paper"),
        lr=(0.01, "paper"),
        momentum=(0.9, "paper"),
        weight_decay=(0.0, "assumption"),
        batch_size=(100, "paper"),
        epochs=(20, "paper"),
        scheduler=(None, "assumption"),
        transform=("seed001", "paper"),
        transform_options=({"five_crop": True}, "paper"),
        normalization=("model", "assumption"),
        keep_best=(False, "assumption"),
        monitor=("val_acc", "assumption"),
    ),
    "seed003_paper": _recipe(
        "seed003_paper",
        "Roy et al. 2024 (ResEmoteNet), as the paper states it: SGD lr 1e-3, batch 16, 80 epochs, "
        "class-weighted cross-entropy, random horizontal flip, LR x0.1 when performance plateaus. "
        "Assumed: 'performance' is validation accuracy, plateau patience 5 epochs, no momentum or "
        "weight decay (not stated), the best-validation epoch is kept.",
        optimizer=("sgd", "paper"),
        lr=(1e-3, "paper"),
        momentum=(0.0, "assumption"),
        weight_decay=(0.0, "assumption"),
        batch_size=(16, "paper"),
        epochs=(80, "paper"),
        scheduler=("plateau", "paper"),
        scheduler_params=({"factor": 0.1, "patience": 5}, "assumption"),
        class_weighted_loss=(True, "paper"),
        transform=("seed003", "paper"),
        monitor=("val_acc", "assumption"),
        keep_best=(True, "assumption"),
    ),
    "seed003_code": _recipe(
        "seed003_code",
        "ResEmoteNet as the authors' training script runs it: SGD lr 1e-3, momentum 0.9, weight "
        "decay 1e-4, batch 16, up to 80 epochs, early stopping after 15 epochs without "
        "improvement, no class weights, no LR scheduler. Assumed: early stopping watches "
        "validation accuracy and the best epoch's weights are kept.",
        optimizer=("sgd", "code"),
        lr=(1e-3, "code"),
        momentum=(0.9, "code"),
        weight_decay=(1e-4, "code"),
        batch_size=(16, "code"),
        epochs=(80, "code"),
        scheduler=(None, "code"),
        class_weighted_loss=(False, "code"),
        transform=("seed003", "code"),
        early_stopping_patience=(15, "code"),
        monitor=("val_acc", "assumption"),
        keep_best=(True, "assumption"),
    ),
    "seed004": _recipe(
        "seed004",
        "Minaee et al. 2021 (Deep-Emotion). Paper: Adam lr 0.005, L2 weight decay 0.001, loss = "
        "cross-entropy + lambda * ||w_fc||^2 over 'the last two fully-connected layers' (lambda "
        "tuned on the validation set), Gaussian init N(0, 0.05^2), oversampling of rare classes, "
        "flips + small rotations + small distortions, 300 epochs, the highest-validation-accuracy "
        "model kept. Assumed: lambda = 1e-3 (tune it: the paper gives no value), batch 64, no LR "
        "schedule. fc_l2_modules names Deep-Emotion's two FC layers (fc1, classifier); override it "
        "(e.g. fc_l2_modules=None for the classifier alone) for other architectures.",
        optimizer=("adam", "paper"),
        lr=(0.005, "paper"),
        weight_decay=(0.001, "paper"),
        batch_size=(64, "assumption"),
        epochs=(300, "paper"),
        scheduler=(None, "assumption"),
        fc_l2=(1e-3, "assumption"),
        fc_l2_modules=(("fc1", "classifier"), "paper"),
        init_std=(0.05, "paper"),
        oversample=(True, "paper"),
        transform=("seed004", "paper"),
        monitor=("val_acc", "paper"),
        keep_best=(True, "paper"),
    ),
    "seed002": _recipe(
        "seed002",
        "Face-region contribution study (IJAC 2020). Paper: Adam, cross-entropy, lr 0.05 at first "
        "and smaller when accuracy drops, at most 100 epochs with early stopping, random square "
        "crop + horizontal flip, per-channel normalisation to equal mean and variance, centre "
        "crop at test time, region crops padded to squares, five runs keeping the best. Assumed: "
        "LR x0.1 after 3 epochs without a validation-accuracy gain, early-stopping patience 10, "
        "batch 64, per-channel statistics of the training set. The paper picks the best run on "
        "the test set; fit_repeated picks it on the validation set it is given.",
        optimizer=("adam", "paper"),
        lr=(0.05, "paper"),
        batch_size=(64, "assumption"),
        epochs=(100, "paper"),
        scheduler=("plateau", "paper"),
        scheduler_params=({"mode": "max", "factor": 0.1, "patience": 3}, "assumption"),
        transform=("seed002", "paper"),
        normalization=("dataset", "paper"),
        early_stopping_patience=(10, "assumption"),
        monitor=("val_acc", "paper"),
        keep_best=(True, "assumption"),
        runs=(5, "paper"),
    ),
    "quick": _recipe(
        "quick",
        "A CPU-friendly default for tests and notebooks: Adam 1e-3, batch 32, 3 epochs, no "
        "augmentation, the best-validation epoch kept. Not from any paper.",
        optimizer=("adam", "assumption"),
        lr=(1e-3, "assumption"),
        batch_size=(32, "assumption"),
        epochs=(3, "assumption"),
        transform=("none", "assumption"),
        monitor=("val_acc", "assumption"),
        keep_best=(True, "assumption"),
    ),
}
"""The named recipes; use :func:`get_recipe` to get one (with overrides)."""


def list_recipes() -> list[str]:
    """The recipe names, sorted."""
    return sorted(RECIPES)


def get_recipe(name: str | Recipe, **overrides: Any) -> Recipe:
    """A named recipe (or a given :class:`Recipe`) with fields overridden.

    Overridden fields are marked ``"override"`` in ``sources``. An unknown recipe name raises
    ``KeyError`` and an unknown field ``TypeError``; both list the valid values.
    """
    if isinstance(name, Recipe):
        base = name
    else:
        try:
            base = RECIPES[name]
        except KeyError:
            raise KeyError(f"unknown recipe {name!r}; valid: {list_recipes()}") from None
    if not overrides:
        return base
    valid = [f.name for f in fields(Recipe) if f.name not in _META_FIELDS]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise TypeError(f"unknown recipe field(s) {unknown}; valid: {valid}")
    sources = dict(base.sources)
    sources.update({k: "override" for k in overrides})
    return dataclasses.replace(base, sources=sources, **overrides)


def recipe_table(recipe: str | Recipe) -> Any:
    """A recipe (or its name) as a pandas table: one row per field (index ``field``) with its ``value``
    (``repr``) and ``source`` (``paper``, ``code``, ``assumption``, ``default``, ``override``)."""
    import pandas as pd

    r = get_recipe(recipe)
    rows = [{"field": f.name, "value": repr(getattr(r, f.name)), "source": r.source(f.name)}
            for f in fields(r) if f.name not in _META_FIELDS]
    return pd.DataFrame(rows).set_index("field")
