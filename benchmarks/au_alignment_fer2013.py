"""Action-unit alignment of the shipped FER2013 checkpoints on FER2013 PublicTest: the README's table.

    python benchmarks/au_alignment_fer2013.py MANIFEST [--split publictest] [--max-faces 400] [--out /tmp/au_real]
        [--checkpoints fer2013/vgg_fer,fer2013/se_resnet18,fer2013/deep_emotion]

For each checkpoint it runs what ``fer-explain au-alignment CHECKPOINT MANIFEST --split S --max-faces N --out
OUT/<name>`` runs (:func:`fer_explain.analysis.au_alignment.au_alignment`: every explainer of the registry
the model can run, dlib landmarks with the whole-image fallback, the same class-stratified draw of faces for
every checkpoint), on one CPU thread, and prints the wall time, the landmark sources and the overall rows
(``emotion == "all"``: faces with detected landmarks; ``all_fallback`` beside them). The overall rows of all
checkpoints are also written to ``OUT/overall.csv``, and the population scores (Gaya-Morey et al.'s global-map
protocol) to ``OUT/population_mean.csv`` (mean over the six emotions). All methods on all 3,589 faces take
about 100 minutes per model for vgg_fer on a shared 2-core machine, hence ``--max-faces``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from fer_explain.analysis.au_alignment import au_alignment
from fer_explain.train import shipped_checkpoint

CHECKPOINTS = "fer2013/vgg_fer,fer2013/se_resnet18,fer2013/deep_emotion"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifest")
    ap.add_argument("--split", default="publictest")
    ap.add_argument("--max-faces", type=int, default=400)
    ap.add_argument("--out", default="/tmp/au_real")
    ap.add_argument("--checkpoints", default=CHECKPOINTS)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    overall, population = [], []
    for name in args.checkpoints.split(","):
        start = time.perf_counter()
        run = au_alignment(shipped_checkpoint(name), args.manifest, out / name.replace("/", "_"), split=args.split,
                           max_faces=args.max_faces, seed=args.seed)
        minutes = (time.perf_counter() - start) / 60
        sources = {k: int(v) for k, v in run.landmarks["rows"].items() if v}
        print(f"\n{name}: {run.n_faces} faces in {minutes:.1f} min; landmarks {sources} "
              f"(detected {run.detected_share:.1%}); methods {run.methods}")
        rows = run.table[run.table["emotion"].isin(["all", "all_fallback"])].assign(checkpoint=name)
        overall.append(rows)
        print(rows[rows["emotion"] == "all"].drop(columns=["checkpoint", "emotion"])
              .to_string(index=False, float_format="%.3f"))
        pop = run.population.groupby(["method", "threshold"], sort=False)[["iou", "f1", "pointing_game"]].mean()
        population.append(pop.reset_index().assign(checkpoint=name))
    pd.concat(overall).to_csv(out / "overall.csv", index=False)
    pd.concat(population).to_csv(out / "population_mean.csv", index=False)
    print(f"\nwrote {out / 'overall.csv'} and {out / 'population_mean.csv'}")


if __name__ == "__main__":
    main()
