"""The pointing game a *perfect* model would give occlusion on the known-answer faces: a ceiling set by geometry.

    python benchmarks/known_answer_occlusion_ceiling.py [--variants mouth_only,upper_face] [--n-test 800]

For the test faces of each known-answer variant (``KnownAnswerSettings``' rendering, non-neutral faces), take the
model whose occlusion drop is exactly the evidence a window hides (the number of raw evidence pixels under it, a
linear evidence model, so it uses nothing but the evidence), build occlusion's pixel map from those drops at each
of the leaderboard's windows (stride = window // 2; a pixel gets the mean over the windows covering it, as
``SlidingOcclusion`` does) and score it as the leaderboard does: a hit when the map's maximum (``argmax``, the
first of tied maxima) lies on the evidence dilated by ``evidence_dilate`` px; also with tied maxima counted at their
expected value. Where this ceiling is below 0.9, no model can give that window a pointing game of 0.9: the window's
map peaks between thin evidence strokes (an open mouth's lips), off the mask. Prints one line per variant and window.
"""

from __future__ import annotations

import argparse

import torch

from fer_explain.analysis.known_answer import KnownAnswerSettings, render_variant
from fer_explain.analysis.known_answer_scores import occlusion_ceiling


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="mouth_only,upper_face")
    ap.add_argument("--n-test", type=int, default=None, help="test faces rendered (default: the leaderboard's)")
    args = ap.parse_args()
    settings = KnownAnswerSettings() if args.n_test is None else KnownAnswerSettings(n_test=args.n_test)
    for variant in args.variants.split(","):
        _, test = render_variant(variant, settings)
        evidence = torch.from_numpy(test.evidence).float()
        dilated = torch.from_numpy(test.evidence_dilated(settings.evidence_dilate)).bool()
        has = evidence.flatten(1).sum(1) > 0
        for window in settings.occlusion_windows:
            hit, expected = occlusion_ceiling(evidence[has], dilated[has], window)
            print(f"{variant:11s} occlusion window {window:2d}: ceiling {hit:.3f} (tied maxima at their expected value "
                  f"{expected:.3f}) on {int(has.sum())} non-neutral test faces")


if __name__ == "__main__":
    main()
