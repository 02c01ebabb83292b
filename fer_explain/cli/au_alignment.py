"""``fer-explain au-alignment``: score a checkpoint's explanations against the FACS action-unit codebook.

A thin wrapper over :func:`fer_explain.analysis.au_alignment.au_alignment`; its argument errors come back
naming the flag (``argument --methods: ...``) and exit with status 2.
"""

from __future__ import annotations

import argparse
from typing import Any

from fer_explain.cli.common import images_per_forward, positive_int
from fer_explain.cli.errors import UsageError

NAME = "au-alignment"

FLAGS: dict[str, str] = {
    "methods": "--methods", "split": "--split", "max_faces": "--max-faces", "out_dir": "--out",
    "batch_size": "--batch-size", "images_per_forward": "--images-per-forward", "manifest": "MANIFEST",
}
"""au_alignment's (and explain_dataset's) parameter -> the flag that sets it (for the error messages)."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME,
        help="score explanations against the FACS action-unit areas of the true and predicted emotion",
        description="Explain the faces of a split with a checkpoint (its evaluation view, the registry's explainers "
        "and defaults; landmarks from the manifest or dlib) and score each map against the codebook mask of the "
        "true and of the predicted class (the union of the face areas of the emotion's prototype action units): "
        "IoU and F1 of the map's top 15 %% pixels and of its Otsu threshold, and the pointing game, beside "
        "uniform-random, centred-Gaussian and ideal reference maps. Writes au_alignment.csv (per method, emotion, "
        "target and threshold), au_alignment_faces.csv, au_alignment_population.csv and au_alignment.png "
        "(aligned population maps beside the codebook masks). Rerun with the same arguments to resume.",
    )
    p.add_argument("checkpoint", help="checkpoint path (with or without .safetensors)")
    p.add_argument("manifest", help="manifest CSV path")
    p.add_argument("--out", required=True, help="output folder (a rerun with the same arguments resumes in it)")
    p.add_argument("--split", default="test", help="split to score (default test)")
    p.add_argument("--methods", help="comma-separated explainers of the registry (default: every one the model "
                   "can run)")
    p.add_argument("--max-faces", type=positive_int, help="score a class-stratified draw of this many faces "
                   "(default: every face of the split)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draw, the random reference and tie-breaking")
    p.add_argument("--upsample", type=int, default=1, choices=(0, 1, 2),
                   help="dlib's upsampling for faces without landmarks (default 1)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="faces per explainer call (default 32)")
    p.add_argument("--images-per-forward", type=images_per_forward, default=128,
                   help="occluded images per forward pass (default 128), or 'auto'")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    from fer_explain.analysis.au_alignment import TABLE_FILE, au_alignment
    from fer_explain.analysis.dataset_explain import ExplainArgumentError

    try:
        result = au_alignment(
            args.checkpoint, args.manifest, args.out, split=args.split, methods=args.methods,
            max_faces=args.max_faces, seed=args.seed, upsample=args.upsample, batch_size=args.batch_size,
            images_per_forward=args.images_per_forward, device=args.device, progress=not args.quiet,
        )
    except ExplainArgumentError as exc:
        raise UsageError(f"argument {FLAGS.get(exc.argument, exc.argument)}: {exc}") from exc
    lm = result.landmarks["rows"]
    sources = ", ".join(f"{int(v)} {k}" for k, v in lm.items() if v)
    dlib = int(lm.get("detected", 0)) + int(lm.get("fallback", 0))
    note = (f" (detected share {result.detected_share:.1%}; the {int(lm.get('fallback', 0))} fallback faces are "
            "the 'all_fallback' rows)") if dlib else ""
    print(f"scored {result.n_faces} faces of split {args.split!r} with {', '.join(result.methods)}; landmarks: "
          f"{sources}{note}")
    overall = result.table[(result.table["emotion"] == "all") & (result.table["target"] == "true")]
    if len(overall):
        print(overall.drop(columns=["emotion", "target"]).to_string(index=False, float_format="%.3f"))
    print(f"wrote {args.out}: {TABLE_FILE}, au_alignment_faces.csv, au_alignment_population.csv, au_alignment.png")
    return 0
