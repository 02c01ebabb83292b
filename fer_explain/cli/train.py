"""``fer-explain train``: train a registered model on a manifest with a named recipe and save a checkpoint."""

from __future__ import annotations

import argparse
from typing import Any

from fer_explain.cli.common import command_line, parse_options, require_splits
from fer_explain.cli.errors import UsageError

NAME = "train"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME,
        help="train a registered model on a manifest with a paper's recipe and save a checkpoint",
        description="Train a model (see fer_explain.models.list_models) with a named recipe (seed001, seed002, "
        "seed003_paper, seed003_code, seed004, quick); any recipe field can be overridden with --set. "
        "With --init-from it fine-tunes a checkpoint (transfer learning). Runs under torchrun for several GPUs.",
    )
    p.add_argument("manifest", help="manifest CSV path")
    p.add_argument("--model", required=True, help="registered model name, e.g. deep_emotion")
    p.add_argument("--recipe", default="quick", help="recipe name (default quick)")
    p.add_argument("--out", required=True, help="checkpoint path without suffix (writes .safetensors + .json)")
    p.add_argument("--size", type=int, help="input size (default: the model's native size)")
    p.add_argument("--channels", type=int, help="input channels (default: the model's)")
    p.add_argument("--train-split", default="train")
    p.add_argument("--val-split", default="val", help="validation split ('' for none)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a recipe field, e.g. --set epochs=5 --set time_budget_minutes=45")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="model constructor argument, e.g. --model-arg width=0.25")
    p.add_argument("--init-from", help="start from this checkpoint (transfer learning)")
    p.add_argument("--trainable", default="all", help="with --init-from: 'all' or 'head'")
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--threads", type=int, help="torch CPU threads (1 avoids oversubscription on a busy machine)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its resume state")
    p.add_argument("--checkpoint-every", type=int, metavar="STEPS", help="save resume state every STEPS steps")
    p.add_argument("--notes", default="", help="free text stored in the checkpoint's metadata")
    p.set_defaults(handler=run)
    return p


def check_model_and_recipe(model: str | None, recipe: str, overrides: dict[str, Any]) -> None:
    """Raise a :class:`UsageError` naming ``--model``, ``--recipe`` or ``--set`` before any work is done."""
    from fer_explain.models import list_models
    from fer_explain.train.recipes import get_recipe, list_recipes

    if model is not None and model not in list_models():
        raise UsageError(f"argument --model: unknown model {model!r}; valid: {list_models()}")
    if recipe not in list_recipes():
        raise UsageError(f"argument --recipe: unknown recipe {recipe!r}; valid: {list_recipes()}")
    try:  # the named recipe exists, so an error here comes from the --set fields or values
        get_recipe(recipe, **overrides)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"argument --set: {exc}") from exc


def run(args: argparse.Namespace) -> int:
    from fer_explain.data.manifest import Manifest

    overrides = parse_options(args.set, flag="--set")
    model_args = parse_options(args.model_arg, flag="--model-arg")
    check_model_and_recipe(None if args.init_from else args.model, args.recipe, overrides)
    manifest = Manifest.load(args.manifest)
    require_splits(manifest, {"--train-split": args.train_split, "--val-split": args.val_split}, args.manifest,
                   hints={"--val-split": "Pass --val-split '' to train without validation."})

    from fer_explain.train.pipeline import train_from_manifest

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    result = train_from_manifest(
        args.manifest, args.model, args.recipe, args.out, size=args.size, channels=args.channels,
        train_split=args.train_split, val_split=args.val_split or None,
        model_args=model_args, init_from=args.init_from, trainable=args.trainable,
        device=args.device, num_workers=args.workers, resume=args.resume, notes=args.notes,
        checkpoint_every_steps=args.checkpoint_every, command=command_line(args), **overrides,
    )
    print(result.history.to_string(index=False))
    print(f"best epoch {result.best_epoch}; wrote {args.out}.safetensors + {args.out}.json")
    return 0
