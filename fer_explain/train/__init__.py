"""Training: the papers' recipes, the fit/evaluate engine, checkpoints with exact resume, transfer, DDP.

::

    from fer_explain.train import fit, evaluate, get_recipe, save_checkpoint, load_checkpoint
    result = fit(model, train_ds, val_ds, recipe=get_recipe("seed004", epochs=30), checkpoint_path="ckpt/de")
    model, meta = load_checkpoint("ckpt/de", expected_arch="deep_emotion")
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
from fer_explain.train.engine import (
    HISTORY_COLUMNS,
    EvalResult,
    FitResult,
    RepeatedFitResult,
    build_optimizer,
    build_scheduler,
    evaluate,
    evaluate_checkpoint,
    fc_l2_penalty,
    fit,
    fit_repeated,
    prepare_transfer,
    train_from_manifest,
    training_loss,
)
from fer_explain.train.recipes import RECIPES, Recipe, get_recipe, list_recipes

__all__ = [
    "HISTORY_COLUMNS",
    "RECIPES",
    "CheckpointError",
    "checkpoints_dir",
    "list_shipped",
    "shipped_checkpoint",
    "EvalResult",
    "FitResult",
    "Recipe",
    "RepeatedFitResult",
    "build_optimizer",
    "build_scheduler",
    "checkpoint_paths",
    "evaluate",
    "evaluate_checkpoint",
    "fc_l2_penalty",
    "fit",
    "fit_repeated",
    "get_recipe",
    "list_recipes",
    "load_checkpoint",
    "prepare_transfer",
    "read_metadata",
    "save_checkpoint",
    "train_from_manifest",
    "training_loss",
]
