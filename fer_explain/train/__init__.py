"""Training: the papers' recipes, the fit/evaluate engine, checkpoints with exact resume, transfer, DDP.

::

    from fer_explain.train import fit, evaluate, get_recipe, save_checkpoint, load_checkpoint
    result = fit(model, train_ds, val_ds, recipe=get_recipe("seed004", epochs=30), checkpoint_path="ckpt/de")
    model, meta = load_checkpoint("ckpt/de", expected_arch="deep_emotion")

One module per concern: :mod:`~fer_explain.train.recipes` (the papers' recipes),
:mod:`~fer_explain.train.loop` (``fit`` / ``evaluate``), :mod:`~fer_explain.train.optim` (optimizer,
scheduler, loss), :mod:`~fer_explain.train.checkpoint` (safetensors + JSON files),
:mod:`~fer_explain.train.resume` (exact resume), :mod:`~fer_explain.train.distributed` (torchrun /
DDP), :mod:`~fer_explain.train.repeated` (best of N runs), :mod:`~fer_explain.train.transfer`
(fine-tuning), :mod:`~fer_explain.train.pipeline` (manifest -> checkpoint, the CLI's train /
evaluate), :mod:`~fer_explain.train.inputs` (a checkpoint's input and evaluation view: the one place
every evaluate / explain / report / explorer path takes its tensors from).
"""

from fer_explain.train.checkpoint import (
    CheckpointError,
    checkpoint_paths,
    checkpoints_dir,
    list_shipped,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
    shipped_checkpoint,
)
from fer_explain.train.inputs import CheckpointInput
from fer_explain.train.loop import HISTORY_COLUMNS, EvalResult, FitResult, evaluate, fit
from fer_explain.train.optim import build_optimizer, build_scheduler, fc_l2_penalty, training_loss
from fer_explain.train.pipeline import evaluate_checkpoint, train_from_manifest
from fer_explain.train.recipes import RECIPES, Recipe, get_recipe, list_recipes
from fer_explain.train.repeated import RepeatedFitResult, fit_repeated
from fer_explain.train.transfer import prepare_transfer

__all__ = [
    "HISTORY_COLUMNS",
    "RECIPES",
    "CheckpointError",
    "CheckpointInput",
    "EvalResult",
    "FitResult",
    "Recipe",
    "RepeatedFitResult",
    "build_optimizer",
    "build_scheduler",
    "checkpoint_paths",
    "checkpoints_dir",
    "evaluate",
    "evaluate_checkpoint",
    "fc_l2_penalty",
    "fit",
    "fit_repeated",
    "get_recipe",
    "list_recipes",
    "list_shipped",
    "load_checkpoint",
    "prepare_transfer",
    "read_metadata",
    "save_checkpoint",
    "shipped_checkpoint",
    "train_from_manifest",
    "training_loss",
]
