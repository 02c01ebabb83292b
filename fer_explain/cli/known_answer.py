"""``fer-explain known-answer``: the known-answer leaderboard of every explainer on synthetic faces.

A thin wrapper over :func:`fer_explain.analysis.known_answer.known_answer_leaderboard`; its argument errors come
back naming the flag (``argument --models: ...``) and exit with status 2.
"""

from __future__ import annotations

import argparse
from typing import Any

from fer_explain.cli.common import positive_int
from fer_explain.cli.errors import UsageError

NAME = "known-answer"

FLAGS: dict[str, str] = {
    "models": "--models", "variants": "--variants", "out_dir": "--out", "n_train": "--n-train", "n_test": "--n-test",
    "epochs": "--epochs", "n_explain": "--n-explain", "n_randomization": "--n-randomization",
    "occlusion_windows": "--occlusion-windows", "train_minutes": "--train-minutes", "faces": "--faces",
}
"""known_answer's (and KnownAnswerSettings') parameter -> the flag that sets it (for the error messages)."""


def _windows(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated window sides such as 8,4, got {text!r}") from None
    if not values or any(w < 2 for w in values):
        raise argparse.ArgumentTypeError(f"expected window sides >= 2 such as 8,4, got {text!r}")
    return values


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME,
        help="score every explainer against synthetic faces whose evidence is known (leaderboard.csv)",
        description="Render synthetic faces whose label-carrying pixels are known (mouth-only, upper-face on 5 "
        "classes, multi-AU), train each model on each variant once (cached in OUT/checkpoints, so a rerun only "
        "scores), explain correctly classified non-neutral test faces with every explainer of the registry "
        "(Grad-CAM at two layers, occlusion at two windows, region masking, ...) beside random, centred-Gaussian "
        "and ideal reference maps, and score them: pointing game, relevance mass, rank accuracy, deletion and "
        "insertion AUC, Spearman to the weight-randomised model, each with a 95 %% bootstrap interval. Writes "
        "OUT/leaderboard.csv (rows appended as they finish: rerun the same command to resume), "
        "OUT/leaderboard.png and OUT/models.json. The defaults are the full scale: hours on one CPU thread.",
    )
    p.add_argument("--out", required=True, help="output folder (a rerun resumes in it)")
    p.add_argument("--models", help="comma-separated models (default deep_emotion,vgg_fer,se_resnet18; also "
                   "densenet_bc)")
    p.add_argument("--variants", help="comma-separated variants (default mouth_only,upper_face,multi_au)")
    p.add_argument("--quick", action="store_true",
                   help="tiny settings for a smoke test (seconds; the models do not learn, the numbers mean nothing)")
    p.add_argument("--n-train", type=positive_int, help="training faces per variant (default 4000, 10 %% validate)")
    p.add_argument("--n-test", type=positive_int, help="test faces per variant (default 800)")
    p.add_argument("--epochs", type=positive_int, help="training epochs of every model (default: each model's own, 60 deep_emotion, "
                   "30 vgg_fer, 36 se_resnet18; cosine schedule)")
    p.add_argument("--train-minutes", type=float, help="training time budget per model in wall-clock minutes (default 20; a "
                   "model it stops early shows fewer epochs_run in models.json)")
    p.add_argument("--n-explain", type=positive_int, help="faces explained per model and variant (default 500)")
    p.add_argument("--faces", choices=("correct", "all"),
                   help="explain correctly classified non-neutral faces (default) or all non-neutral ones")
    p.add_argument("--n-randomization", type=positive_int,
                   help="faces also explained on the weight-randomised model (default 100)")
    p.add_argument("--occlusion-windows", type=_windows, help="occlusion window sides, stride = side // 2 "
                   "(default 8,4: the registry's side // 6 and a smaller one)")
    p.add_argument("--seed", type=int, help="seed of rendering, training and bootstrap (default 0)")
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    p.add_argument("--no-heatmap", action="store_true", help="do not draw leaderboard.png")
    p.add_argument("--quiet", action="store_true", help="no progress bars or log lines")
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    from fer_explain.analysis.known_answer import (
        LEADERBOARD_FILE,
        KnownAnswerError,
        KnownAnswerSettings,
        known_answer_leaderboard,
    )

    changes = {k: getattr(args, k) for k in ("n_train", "n_test", "epochs", "train_minutes", "n_explain", "faces",
                                             "n_randomization", "occlusion_windows", "seed")
               if getattr(args, k) is not None}
    try:
        settings = KnownAnswerSettings.quick(**changes) if args.quick else KnownAnswerSettings(**changes)
        table = known_answer_leaderboard(args.out, models=args.models, variants=args.variants, settings=settings,
                             threads=args.threads, progress=not args.quiet, heatmap=not args.no_heatmap,
                             log=(lambda _line: None) if args.quiet else print)
    except KnownAnswerError as exc:
        raise UsageError(f"argument {FLAGS.get(exc.argument, exc.argument)}: {exc}") from exc
    shown = ["model", "variant", "method", "model_accuracy", "pointing_game", "relevance_mass", "rank_accuracy",
             "deletion_auc", "insertion_auc", "randomization_spearman", "n"]
    if len(table):
        print(table[shown].to_string(index=False, float_format="%.3f"))
    print(f"wrote {args.out}/{LEADERBOARD_FILE} ({len(table)} rows)")
    return 0
