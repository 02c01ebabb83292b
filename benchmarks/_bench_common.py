"""Shared pieces of the explainer benchmarks (``bench_explain.py``, ``explain_split.py``).

The shipped checkpoints are loaded with the project's loader (:func:`fer_explain.train.load_checkpoint`,
:class:`~fer_explain.train.inputs.CheckpointInput`), so every model runs at its shipped size, channels and
normalisation; faces come from the checkpoint's own data (the default synthetic set's test split, or
FER2013 PublicTest from a manifest) in the checkpoint's evaluation view.

Timing: :func:`timed_rounds` interleaves the variants it compares (round 1: A, B, C; round 2: A, B, C...)
and keeps each one's best time, so a burst of load from another process hurts all of them alike rather
than the one that happened to run during it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from fer_explain.data.manifest import Manifest
from fer_explain.explain.memory_format import MEMORY_FORMATS, forward_format
from fer_explain.train import CheckpointInput, load_checkpoint, shipped_checkpoint

__all__ = ["CHECKPOINTS", "FER2013_MANIFEST", "Shipped", "best_forward_throughput", "fmt_ratio", "load_shipped",
           "loadavg", "passfail", "timed_rounds"]

#: Every shipped checkpoint the Speed section of issue 14 names, in table order.
CHECKPOINTS: tuple[str, ...] = ("synthetic/deep_emotion", "synthetic/vgg_fer", "synthetic/se_resnet18",
                                "synthetic/resemotenet", "synthetic/densenet_bc", "fer2013/deep_emotion",
                                "fer2013/vgg_fer")
#: The FER2013 manifest with landmarks and a ``split`` column (PublicTest = ``publictest``).
FER2013_MANIFEST = "/tmp/m/fer2013_lm.csv"
FER2013_TEST_SPLIT = "publictest"


@dataclass
class Shipped:
    """A shipped checkpoint loaded for benchmarking.

    Attributes:
        name: ``"synthetic/vgg_fer"``...
        path: the checkpoint stem.
        model: the network, eval mode.
        meta: its JSON metadata.
        inp: its input (size, channels, normalisation, view).
        faces: the manifest rows the faces come from (``None`` when random inputs were used).
        x: ``(N, C, S, S)`` normalised faces in the evaluation view.
        labels: ``(N,)`` true labels as class indices of the checkpoint.
    """

    name: str
    path: Path
    model: nn.Module
    meta: dict
    inp: CheckpointInput
    faces: Manifest | None
    x: Tensor
    labels: Tensor

    @property
    def short(self) -> str:
        """``"syn/vgg_fer w0.25 64px"``: the table's row name."""
        args = self.meta.get("arch_args", {})
        extra = (f" w{args['width']}" if "width" in args else "") + (
            f" L{args['layers_per_block']}" if "layers_per_block" in args else "")
        return f"{self.name.replace('synthetic', 'syn').replace('fer2013', 'fer')}{extra} {self.inp.size}px"


def _split_faces(name: str, fer2013_manifest: str) -> Manifest | None:
    """The test faces of a checkpoint's data set: the synthetic test split or FER2013 PublicTest."""
    if name.startswith("synthetic/"):
        from fer_explain.data.synthetic import default_synthetic_manifest

        m = default_synthetic_manifest()
        return m.replace(m.df[m.df["split"] == "test"])
    if Path(fer2013_manifest).is_file():
        m = Manifest.load(fer2013_manifest)
        return m.replace(m.df[m.df["split"] == FER2013_TEST_SPLIT])
    return None


def load_shipped(name: str, n_faces: int, fer2013_manifest: str = FER2013_MANIFEST, seed: int = 0) -> Shipped:
    """Load the shipped checkpoint ``name`` and ``n_faces`` faces of its test data (spread over the split,
    a fixed choice per ``seed``); random normalised inputs when the data are not on this machine."""
    path = shipped_checkpoint(name)
    model, meta = load_checkpoint(path)
    model.eval()
    inp = CheckpointInput.from_checkpoint({**meta, "path": str(path)}, model)
    classes = [str(c) for c in meta.get("classes", [])]
    split = _split_faces(name, fer2013_manifest)
    if split is None or len(split) == 0:
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n_faces, inp.channels, inp.size, inp.size, generator=g)
        labels = torch.randint(0, len(classes) or 7, (n_faces,), generator=g)
        return Shipped(name, path, model, meta, inp, None, x, labels)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(split), size=min(n_faces, len(split)), replace=False))
    faces = split.replace(split.df.iloc[rows])
    ds = inp.dataset(faces, cache_dir=False)
    x = torch.stack([ds[i][0] for i in range(len(faces))])
    labels = torch.tensor([classes.index(str(c)) for c in faces.df["label"]], dtype=torch.long)
    return Shipped(name, path, model, meta, inp, faces, x, labels)


def timed_rounds(variants: Mapping[str, Callable[[], object]], repeat: int,
                 once: frozenset[str] = frozenset()) -> dict[str, float]:
    """Best wall-clock seconds of each variant over ``repeat`` interleaved rounds (names in ``once`` run in
    the first round only: slow reference points)."""
    best = {k: math.inf for k in variants}
    for r in range(max(1, repeat)):
        for k, fn in variants.items():
            if r and k in once:
                continue
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def best_forward_throughput(model: nn.Module, x: Tensor, sizes: tuple[int, ...] = (32, 64, 128, 256, 512, 1024),
                            repeat: int = 2) -> tuple[float, int]:
    """Peak images per second of plain no-grad forward passes of ``model`` over batch ``sizes`` (copies of
    ``x``'s samples) in either memory layout (NCHW as loaded, or NHWC: the explainers run the faster,
    :mod:`fer_explain.explain.memory_format`), best of ``repeat`` per size and layout -> ``(images/s, the size
    that reached it)``."""
    best, at = 0.0, sizes[0]
    with torch.no_grad():
        for layout in MEMORY_FORMATS:
            with forward_format(model, layout):
                model(x[:2])
                for size in sizes:
                    batch = x[torch.arange(size) % len(x)]
                    for _ in range(repeat):
                        t0 = time.perf_counter()
                        model(batch)
                        rate = size / (time.perf_counter() - t0)
                        if rate > best:
                            best, at = rate, size
    return best, at


def loadavg() -> str:
    """The 1/5/15-minute load average as text."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def passfail(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def fmt_ratio(value: float, target: float, below: bool = True) -> str:
    """``"1.03 PASS"``: ``value`` against ``target`` (``below``: value <= target passes, else >=)."""
    ok = value <= target if below else value >= target
    return f"{value:.2f} {passfail(ok)}"
