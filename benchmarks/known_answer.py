"""Known-answer leaderboard at full scale on one CPU thread: prints the table and the acceptance checks.

A thin script over :func:`fer_explain.analysis.known_answer.known_answer_leaderboard` (the same run as
``fer-explain known-answer --out DIR``). On synthetic faces whose label-carrying pixels are known
(mouth-only on 7 classes, upper-face on anger/fear/happiness/sadness/surprise, and the multi-AU set),
each model (Deep-Emotion, VGG-FER width 0.25, SE-ResNet-18 width 0.25 with the ``fer`` stem, which is
CAM-able and has SE blocks) is trained once per variant (cached in ``OUT/checkpoints``) and every
explainer of the registry is scored on up to 500 correctly classified non-neutral test faces against
the evidence masks dilated by 2 px, beside random, centred-Gaussian and ideal reference maps. See
:mod:`fer_explain.analysis.known_answer_scores` for the methods and metrics.

Acceptance (:func:`~fer_explain.analysis.known_answer_report.acceptance_checks`; exit status 0 when all pass):

* every model reaches >= 93 % test accuracy on mouth-only and upper-face;
* every occlusion row (both windows) and region masking reach pointing game >= 0.9 on both;
* the random map's pointing game lies inside the binomial 95 % interval around the masks' mean area share;
* the ideal map scores 1.0 (pointing game, relevance mass, rank accuracy).

The run is resumable: rows are appended to ``OUT/leaderboard.csv`` as each (model, variant) finishes, and
a rerun loads the cached checkpoints and skips what is in the CSV. Full scale (the defaults)::

    python benchmarks/known_answer.py --out runs/known_answer

Cost of one CPU thread (CPU time measured on the mouth-only variant on the shared 2-core machine, where the
wall-clock time was about twice as long): on 10,800 training faces (the default ``n_train`` 12,000 less the
validation tenth) Deep-Emotion trains 40 epochs in 17.6 min to 94.9 % test accuracy; VGG-FER (13 epochs)
and SE-ResNet-18 (18 epochs) are set to the same cost from their measured cost per face on 3,600 faces
(VGG-FER 30 epochs 13.9 min, SE-ResNet-18 36 epochs 11.2 min). Scoring takes about 10 min per variant for
Deep-Emotion and roughly twice that for the two others (occlusion with window 4 is half of it), so about
5 hours of one free thread for the whole table. On 3,600
training faces two of the three models missed the 93 % bar: VGG-FER 0.931, Deep-Emotion 0.909 (train 0.93,
still underfitting), SE-ResNet-18 0.886 (train 1.00: overfitting); anger (AU23 alone) and neutral were the
confused classes. ``--models``/``--variants`` run a part; ``--quick`` is a smoke test
whose numbers mean nothing. The older GPU-only design (DenseNet-BC 3 x 16 at 64 px, Grad-CAM and occlusion
only) is gone; ``--models densenet_bc`` adds a DenseNet-BC (4 layers per block, 48 px) row, about seven
times slower to train on one thread.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning OpenMP threads slow a shared machine down

import pandas as pd

from fer_explain.analysis.known_answer import (
    DEFAULT_MODELS,
    DEFAULT_VARIANTS,
    KnownAnswerSettings,
    known_answer_leaderboard,
)
from fer_explain.analysis.known_answer_report import acceptance_checks, recommendations, record_leaderboard

HEATMAP_DOC = "docs/known_answer_leaderboard.png"
"""Where ``--record`` copies the heatmap (the README shows it)."""


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/known_answer", help="output folder (resumes in it)")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--variants", default=",".join(DEFAULT_VARIANTS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n-train", type=int, default=None, help="training faces per variant (default 12000)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs of every model (default: per model)")
    ap.add_argument("--erase", type=float, default=None,
                    help="share of training faces given one black square (default 0; rows labelled <model>+erase<p>; "
                         "use another --out)")
    ap.add_argument("--erase-max", type=int, default=None,
                    help="largest side of those squares at 48 px (default 16; rows labelled <model>+erase<p>max<side>)")
    ap.add_argument("--erase-regions", type=float, default=None,
                    help="share of training faces with one region of region masking's partition blacked out "
                         "(default 0; rows labelled ...+regions<p>)")
    ap.add_argument("--erase-keep", action="store_true",
                    help="the erased squares and regions spare the evidence pixels (rows labelled ...+keep)")
    ap.add_argument("--quick", action="store_true", help="tiny smoke-test settings (numbers mean nothing)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    ap.add_argument("--record-as", metavar="NAME", default=None,
                    help="write the table as the recorded result NAME instead (a side experiment: the heatmap is not "
                         "copied); --also adds the rows of other run folders of the same setting")
    ap.add_argument("--also", nargs="*", default=[], metavar="DIR",
                    help="with --record-as: more --out folders of this setting (runs split over processes)")
    ap.add_argument("--record", action="store_true",
                    help="write the table as the recorded result known_answer_leaderboard (notebook 05, README) "
                         f"and its heatmap to {HEATMAP_DOC}")
    args = ap.parse_args(argv)
    given = (("n_train", args.n_train), ("epochs", args.epochs), ("erase", args.erase),
             ("erase_max", args.erase_max), ("erase_regions", args.erase_regions))
    changes = {k: v for k, v in given if v is not None} | ({"erase_keep": True} if args.erase_keep else {})
    settings = KnownAnswerSettings.quick(**changes) if args.quick else KnownAnswerSettings(**changes)
    table = known_answer_leaderboard(args.out, models=args.models, variants=args.variants, settings=settings,
                                     threads=args.threads, progress=not args.quiet)
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        for metric in ("pointing_game", "relevance_mass", "rank_accuracy", "deletion_auc", "insertion_auc",
                       "randomization_spearman"):
            grid = table.pivot_table(index="method", columns=["model", "variant"], values=metric, sort=False)
            print(f"\n{metric}\n{grid.round(3).to_string()}")
        accuracy = table.drop_duplicates(["model", "variant"]).pivot(index="model", columns="variant",
                                                                     values="model_accuracy")
        print(f"\ntest accuracy\n{accuracy.round(4).to_string()}")
        print(f"\nrecommended (highest pointing game, relevance mass breaking ties)\n"
              f"{recommendations(table).round(3).to_string(index=False)}")
    checks = acceptance_checks(table)
    print("\nacceptance")
    for _, c in checks.iterrows():
        print(f"{'PASS' if c['passed'] else 'FAIL'}  {c['check']:34s} {c['model']:13s} {c['variant']:11s} "
              f"{c['value']:.4f}  {c['required']}")
    passed = bool(len(checks)) and bool(checks["passed"].all())
    if args.record_as:
        flags = " ".join(sys.argv[1:] if argv is None else argv)
        path = record_leaderboard([args.out, *args.also], settings, f"python benchmarks/known_answer.py {flags}",
                                  name=args.record_as)
        print(f"recorded {path}")
    if args.record:
        import shutil

        from fer_explain.analysis.known_answer import HEATMAP_FILE

        command = "python benchmarks/known_answer.py --out OUT --record" + (" --quick" if args.quick else "")
        print(f"recorded {record_leaderboard(args.out, settings, command)}")
        shutil.copyfile(os.path.join(args.out, HEATMAP_FILE), HEATMAP_DOC)
        print(f"copied the heatmap to {HEATMAP_DOC}")
    print(f"{'PASS' if passed else 'FAIL'}  overall ({int(checks['passed'].sum())}/{len(checks)} checks)")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
