"""A labelled gallery of synthetic faces: every class (rows) for several identities (columns).

``python -m fer_explain.data.synthetic.gallery docs/synthetic_gallery.png`` regenerates the gallery
committed in the docs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fer_explain.data.synthetic.aus import PROTOTYPES, UNILATERAL, prototype_vector
from fer_explain.data.synthetic.config import SyntheticFaceConfig
from fer_explain.data.synthetic.generate import render_faces
from fer_explain.data.synthetic.params import sample_params
from fer_explain.labels import get_label_space

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def gallery_faces(
    classes: str = "basic8", identities: int = 6, size: int = 100, channels: int = 3, seed: int = 2,
    intensity: float = 0.9, nuisance: str = "none", evidence: bool = False,
) -> tuple[list[str], np.ndarray]:
    """Images (rows = classes, columns = identities) as a (C, I, H, W[, 3]) uint8 array.

    Each identity keeps its pose and lighting across classes; only the AUs change (every AU of the
    prototype at ``intensity``; contempt alternates sides). With ``evidence`` the evidence masks are
    returned instead of the images.
    """
    names = list(get_label_space(classes).classes)
    cfg = SyntheticFaceConfig(n=identities, size=size, channels=channels, seed=seed, nuisance=nuisance)
    base = [sample_params(cfg, j) for j in range(identities)]
    rows = []
    for name in names:
        params = []
        for j, p in enumerate(base):
            v = np.array(prototype_vector(name, intensity, "r" if j % 2 else "l"), dtype=np.float32)
            side = ("right" if j % 2 else "left") if name in UNILATERAL else "none"
            params.append(p.replace(au_label=v, au_other=np.zeros_like(v), label=name, true_label=name,
                                    unilateral=side))
        out = render_faces(params)
        rows.append(np.stack([s.evidence if evidence else s.image for s in out]))
    return names, np.stack(rows)


def gallery_figure(classes: str = "basic8", identities: int = 6, size: int = 100, channels: int = 3,
                   seed: int = 2) -> Figure:
    """A matplotlib Figure: one row per class (labelled with its AUs), one column per identity."""
    from matplotlib.figure import Figure

    names, imgs = gallery_faces(classes, identities, size, channels, seed)
    fig = Figure(figsize=(1.0 * identities + 1.7, 1.0 * len(names) + 0.5), dpi=100)
    axes = fig.subplots(len(names), identities, squeeze=False,
                        gridspec_kw={"wspace": 0.03, "hspace": 0.06, "left": 0.215, "right": 0.99,
                                     "top": 0.95, "bottom": 0.01})
    for r, name in enumerate(names):
        au_list = [str(a) for a in PROTOTYPES[name]]
        aus = "+".join(au_list[:4]) + ("\n+" + "+".join(au_list[4:]) if len(au_list) > 4 else "") or "none"
        side = " (one side)" if name in UNILATERAL else ""
        for c in range(identities):
            ax = axes[r][c]
            img = imgs[r, c]
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        axes[r][0].set_ylabel(f"{name}\nAU {aus}{side}", rotation=0, ha="right", va="center", fontsize=8.5,
                              labelpad=6)
    fig.suptitle(f"fer_explain synthetic faces ({size}x{size} {'RGB' if channels == 3 else 'grey'}, "
                 "AU intensity 0.9, no nuisance)", fontsize=9)
    return fig


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Write the synthetic face gallery PNG.")
    ap.add_argument("out", type=Path, nargs="?", default=Path("docs/synthetic_gallery.png"))
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--identities", type=int, default=6)
    ap.add_argument("--seed", type=int, default=2)
    args = ap.parse_args(argv)
    fig = gallery_figure("basic8", args.identities, args.size, args.channels, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, pil_kwargs={"optimize": True})
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
