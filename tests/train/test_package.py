"""fer_explain.train's public names: every one importable, and nothing dropped by the split of the old engine."""

from __future__ import annotations

from fer_explain import train


def test_the_package_exports_its_public_names() -> None:
    assert set(train.__all__) == {
        "HISTORY_COLUMNS", "EvalResult", "FitResult", "RepeatedFitResult", "build_optimizer", "build_scheduler",
        "evaluate", "evaluate_checkpoint", "fc_l2_penalty", "fit", "fit_repeated", "prepare_transfer",
        "train_from_manifest", "training_loss",
        "RECIPES", "CheckpointError", "CheckpointInput", "Recipe", "checkpoint_paths", "checkpoints_dir",
        "get_recipe", "list_recipes", "list_shipped", "load_checkpoint", "read_metadata", "save_checkpoint",
        "shipped_checkpoint",
    }
    for name in set(train.__all__) - {"HISTORY_COLUMNS", "RECIPES"}:
        assert getattr(train, name).__module__.startswith("fer_explain.train."), name
