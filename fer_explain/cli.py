"""The ``fer-explain`` command line: thin wrappers over the package's public API.

Every subcommand has ``--help``. Heavy imports happen inside each command so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def _parse_options(pairs: Sequence[str]) -> dict[str, object]:
    """``["classes=8", "aligned=False"]`` -> ``{"classes": 8, "aligned": False}`` (Python literals or strings)."""
    out: dict[str, object] = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"--opt expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            out[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key.strip()] = value
    return out


# --- manifest ------------------------------------------------------------------------------------


def _cmd_manifest(args: argparse.Namespace) -> int:
    from fer_explain.data.sources import build_manifest, describe_layout

    if args.list or args.dataset is None:
        print(describe_layout())
        return 0
    if args.root is None:
        print(describe_layout(args.dataset))
        raise SystemExit(f"fer-explain manifest {args.dataset}: ROOT (the dataset folder above) is required")
    manifest = build_manifest(args.dataset, args.root, **_parse_options(args.opt))
    if args.carve_val:
        from fer_explain.data.splits import carve_validation

        n = float(args.carve_val)
        manifest = carve_validation(manifest, int(n) if n >= 1 else n, seed=args.seed, from_split="train")
    out = Path(args.out) if args.out else Path("data_manifests") / args.dataset
    path = manifest.save(out, parquet=args.parquet)
    print(repr(manifest))
    print(manifest.class_distribution().to_string())
    print(f"wrote {path} (+ .json sidecar{', .parquet' if args.parquet else ''})")
    return 0


def _cmd_check_manifest(args: argparse.Namespace) -> int:
    from fer_explain.data.check import check_manifest, write_cleaned
    from fer_explain.data.manifest import Manifest

    manifest = Manifest.load(args.manifest, root=args.root, verify_hash=not args.ignore_hash)
    report = check_manifest(manifest, check_files=not args.no_files, progress=not args.quiet)
    print(report.summary())
    if args.clean:
        if report.table_problems:
            print("not writing a cleaned manifest: the problems above are not tied to rows", file=sys.stderr)
            return 1
        cleaned, dropped = write_cleaned(report, args.clean)
        print(f"wrote cleaned manifest {cleaned} ({len(manifest) - len(report.dropped())} rows) "
              f"and dropped rows {dropped} ({len(report.dropped())} rows)")
    return 0 if report.ok else 1


def _cmd_synth(args: argparse.Namespace) -> int:
    from fer_explain.data.synthetic import write_synthetic

    extra: dict[str, object] = {}
    if args.contempt:
        extra["classes"] = "basic8"
    if args.nuisance:
        extra["nuisance"] = args.nuisance
    if args.evidence_regions:
        extra["evidence_regions"] = tuple(args.evidence_regions.split(","))
    extra.update(_parse_options(args.opt))
    manifest = write_synthetic(n=args.n, size=args.size, channels=args.channels, seed=args.seed, out=args.out,
                               progress=not args.quiet, **extra)
    print(repr(manifest))
    print(manifest.class_distribution().to_string())
    print(f"wrote {Path(args.out) / 'manifest.csv'}")
    return 0


def _cmd_landmarks(args: argparse.Namespace) -> int:
    from fer_explain.data.manifest import Manifest
    from fer_explain.faces.landmarks import extract_landmarks

    manifest = Manifest.load(args.manifest, root=args.root)
    result, summary = extract_landmarks(
        manifest, upsample=args.upsample, fallback=not args.no_fallback, workers=args.workers,
        progress=not args.quiet, overwrite=args.overwrite, errors="skip" if args.skip_missing else "raise",
    )
    print(summary.to_string())
    out = args.out or args.manifest
    path = result.save(out)
    print(f"wrote {path}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from fer_explain.train.engine import train_from_manifest

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    overrides = _parse_options(args.set)
    result = train_from_manifest(
        args.manifest, args.model, args.recipe, args.out, size=args.size, channels=args.channels,
        train_split=args.train_split, val_split=args.val_split or None,
        model_args=_parse_options(args.model_arg), init_from=args.init_from, trainable=args.trainable,
        device=args.device, num_workers=args.workers, resume=args.resume, notes=args.notes,
        checkpoint_every_steps=args.checkpoint_every, command=_command_line(), **overrides,
    )
    print(result.history.to_string(index=False))
    print(f"best epoch {result.best_epoch}; wrote {args.out}.safetensors + {args.out}.json")
    return 0


def _command_line() -> str:
    import shlex

    return " ".join(["fer-explain", *(shlex.quote(a) for a in sys.argv[1:])])


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from fer_explain.analysis.evaluation import evaluation_table
    from fer_explain.data.manifest import Manifest
    from fer_explain.train.checkpoint import record_evaluation
    from fer_explain.train.engine import evaluate_checkpoint

    res = evaluate_checkpoint(args.checkpoint, args.manifest, split=args.split, device=args.device)
    manifest = Manifest.load(args.manifest)
    table = evaluation_table(res.labels, res.preds, manifest.label_space.classes)
    print(table.to_string())
    print(f"accuracy {res.accuracy:.4f} on {len(res.labels)} faces (split {args.split})")
    if args.record:
        record_evaluation(args.checkpoint, {
            "manifest": manifest.name, "manifest_hash": manifest.content_hash(), "split": args.split,
            "n": len(res.labels), "accuracy": float(res.accuracy),
            "per_class_accuracy": {c: float(v) for c, v in zip(manifest.label_space.classes, res.per_class_accuracy)},
            "command": _command_line(),
        })
        print(f"recorded in {args.checkpoint}.json")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out)
        print(f"wrote {args.out}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from fer_explain.analysis.report import write_report

    paths = write_report(
        args.checkpoint, args.manifest, args.out, split=args.split, max_samples=args.max_samples,
        methods=tuple(args.methods.split(",")), device=args.device, progress=not args.quiet,
    )
    for name, path in paths.items():
        print(f"{name:24s} {path}")
    print(f"wrote {len(paths)} files to {args.out}")
    return 0


def _cmd_notebooks(args: argparse.Namespace) -> int:
    from fer_explain.run_notebooks import run_series

    paths = run_series(args.out, notebooks=args.only or None, timeout=args.timeout,
                       parameters=_parse_options(args.param) or None)
    print(f"executed {len(paths)} notebooks; results in {Path(args.out).resolve()}")
    return 0


# --- parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fer-explain",
        description="Train facial emotion recognition models and find out why they predict what they predict.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands: dict[str, Callable[[argparse.Namespace], int]] = {}

    p = sub.add_parser(
        "manifest",
        help="build a manifest from a dataset's on-disk layout",
        description="Build a manifest (CSV + JSON sidecar) from a dataset folder in its original layout. "
        "Run with --list to see every supported layout.",
    )
    p.add_argument("dataset", nargs="?", help="dataset adapter name (see --list)")
    p.add_argument("root", nargs="?", help="the dataset's folder")
    p.add_argument("--out", help="output path without suffix (default data_manifests/<dataset>)")
    p.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="adapter option, e.g. --opt classes=8 (repeatable)")
    p.add_argument("--parquet", action="store_true", help="also write a Parquet copy")
    p.add_argument("--list", action="store_true", help="list the supported datasets and their layouts")
    p.add_argument("--carve-val", metavar="N", help="move N training rows (or a fraction < 1) to a stratified "
                   "'val' split, e.g. 3500 for FER2013 as in seed 004")
    p.add_argument("--seed", type=int, default=0, help="seed of --carve-val (default 0)")
    commands["manifest"] = _cmd_manifest

    p = sub.add_parser(
        "check-manifest",
        help="report every problem of a manifest in one pass",
        description="Check a manifest's table and (by default) every image it references; report all problems. "
        "With --clean, write a cleaned manifest and the list of dropped rows. Exit status 1 when problems exist.",
    )
    p.add_argument("manifest", help="manifest CSV (or Parquet) path")
    p.add_argument("--root", help="override the root folder recorded in the manifest")
    p.add_argument("--no-files", action="store_true", help="check only the table, not the images")
    p.add_argument("--clean", metavar="OUT", help="write the cleaned manifest to OUT and dropped rows beside it")
    p.add_argument("--ignore-hash", action="store_true", help="accept a table edited after it was saved")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    commands["check-manifest"] = _cmd_check_manifest

    p = sub.add_parser(
        "synth",
        help="render synthetic FACS faces (exact landmarks, evidence masks) and their manifest",
        description="Render procedural faces whose expressions are built from FACS action units, with the exact 68 "
        "landmarks and a ground-truth evidence mask per face; writes PNGs and a manifest. The same seed gives the "
        "same images byte for byte.",
    )
    p.add_argument("--n", type=int, default=2100, help="number of faces (default 2100, balanced over classes)")
    p.add_argument("--size", type=int, default=48, help="image side in pixels (48 .. 224; default 48)")
    p.add_argument("--channels", type=int, default=1, choices=(1, 3), help="1 grey (default) or 3 RGB")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--contempt", action="store_true", help="8 classes (with contempt) instead of 7")
    p.add_argument("--nuisance", choices=("none", "default", "hard"), help="nuisance preset")
    p.add_argument("--evidence-regions", metavar="R1,R2", help="label carried only by these regions, e.g. mouth")
    p.add_argument("--opt", action="append", default=[], metavar="FIELD=VALUE",
                   help="any other SyntheticFaceConfig field, e.g. --opt label_noise=0.1")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    commands["synth"] = _cmd_synth

    p = sub.add_parser(
        "landmarks",
        help="add dlib 68-point landmarks to a manifest (computed once, stored in the manifest)",
        description="Detect faces and predict 68 landmarks for every row that has none; landmarks given by the "
        "dataset or the synthetic generator are kept. Faces the HOG detector misses (small registered crops such as "
        "FER2013) fall back to the whole-image box unless --no-fallback. Prints how many faces took each path.",
    )
    p.add_argument("manifest", help="manifest CSV path")
    p.add_argument("--out", help="where to save the manifest with landmarks (default: overwrite the input)")
    p.add_argument("--root", help="override the root folder recorded in the manifest")
    p.add_argument("--upsample", type=int, default=1, help="detector upsampling steps (default 1; 48x48 faces need 1)")
    p.add_argument("--workers", type=int, default=0, help="worker processes (default 0: in this process)")
    p.add_argument("--no-fallback", action="store_true", help="no whole-image fallback when no face is detected")
    p.add_argument("--skip-missing", action="store_true",
                   help="with --no-fallback, leave faces without a detection empty instead of stopping")
    p.add_argument("--overwrite", action="store_true", help="recompute landmarks that are already present")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    commands["landmarks"] = _cmd_landmarks

    p = sub.add_parser(
        "train",
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
    commands["train"] = _cmd_train

    p = sub.add_parser(
        "evaluate",
        help="evaluate a checkpoint on a manifest split (cross-dataset through the label-space mapping)",
        description="Accuracy, per-class accuracy and support of a checkpoint on one split of a manifest. When the "
        "manifest's label space lacks a class of the model (e.g. no 'neutral'), that output's probability is set "
        "to zero.",
    )
    p.add_argument("checkpoint", help="checkpoint path (with or without .safetensors)")
    p.add_argument("manifest", help="manifest CSV path")
    p.add_argument("--split", default="test", help="split to score (default test)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", help="write the per-class table as CSV")
    p.add_argument("--record", action="store_true",
                   help="append this evaluation (accuracy, per-class accuracy, command) to the checkpoint's JSON")
    commands["evaluate"] = _cmd_evaluate

    p = sub.add_parser(
        "report",
        help="write every table and figure for a checkpoint on a manifest split into a folder",
        description="Evaluation table, raw and normalised confusion matrices, predictions, t-SNE, training curves, "
        "region x emotion attribution (when the manifest has landmarks), explanation grids, the occlusion figure and "
        "SE maps (for models with SE blocks), as CSV and PNG files plus summary.json.",
    )
    p.add_argument("checkpoint", help="checkpoint path (with or without .safetensors)")
    p.add_argument("manifest", help="manifest CSV path")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--split", default="test")
    p.add_argument("--max-samples", type=int, default=2000, help="cap on evaluated faces (default 2000)")
    p.add_argument("--methods", default="gradcam,occlusion",
                   help="comma-separated explainers: gradcam, gradcam++, occlusion, saliency, integrated_gradients, "
                   "cam, se_map")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    commands["report"] = _cmd_report

    p = sub.add_parser(
        "notebooks",
        help="execute the notebook series headless and write the executed notebooks and figures",
        description="Run notebooks/00_quickstart ... 08_explorer in order, each in its own kernel, on the embedded "
        "synthetic default (set FER_EXPLAIN_FER2013_DIR etc. for real data; see notebooks/README.md). Writes the "
        "executed notebooks and their figures to --out.",
    )
    p.add_argument("--out", default="results", help="results folder (default results/)")
    p.add_argument("--only", action="append", default=[], metavar="NOTEBOOK",
                   help="run only this notebook (repeatable), e.g. --only 05_explainers")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a parameters-cell variable in every notebook, e.g. --param EPOCHS=30")
    p.add_argument("--timeout", type=int, default=600, help="seconds one cell may run (default 600)")
    commands["notebooks"] = _cmd_notebooks

    parser.set_defaults(_commands=commands)
    return parser


def _version() -> str:
    from fer_explain import __version__

    return f"fer-explain {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    return int(args._commands[args.command](args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
