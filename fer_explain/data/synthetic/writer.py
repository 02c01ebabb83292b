"""Writing a synthetic set to disk (PNG images, evidence masks, a manifest) and the cached default set."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from fer_explain.data.manifest import Manifest, format_landmarks, make_manifest
from fer_explain.data.synthetic.aus import AU_NUMBERS
from fer_explain.data.synthetic.config import SyntheticFaceConfig
from fer_explain.data.synthetic.generate import BATCH, generate
from fer_explain.data.synthetic.version import RENDERER_VERSION

SPLIT_FRACTIONS: tuple[tuple[str, float], ...] = (("train", 0.70), ("val", 0.15), ("test", 0.15))
MANIFEST_NAME = "manifest"
COMPLETE_MARKER = "synthetic_complete.json"
CACHE_ENV = "FER_EXPLAIN_CACHE"


def stratified_splits(labels: np.ndarray, seed: int) -> np.ndarray:
    """A seeded stratified train/val/test (70/15/15) assignment: within each class, a random
    permutation is cut at 70% and 85% (rounded)."""
    labels = np.asarray(labels)
    out = np.empty(len(labels), dtype=object)
    rng = np.random.default_rng([int(seed), 2])
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        n_train = round(SPLIT_FRACTIONS[0][1] * len(idx))
        n_val = round(SPLIT_FRACTIONS[1][1] * len(idx))
        out[idx[:n_train]] = "train"
        out[idx[n_train:n_train + n_val]] = "val"
        out[idx[n_train + n_val:]] = "test"
    return out.astype(str)


def _name(i: int, n: int) -> str:
    return f"{i:0{max(6, len(str(max(n - 1, 0))))}d}.png"


def write_synthetic(
    config: SyntheticFaceConfig | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    *,
    n: int | None = None,
    size: int | None = None,
    channels: int | None = None,
    seed: int | None = None,
    out: str | os.PathLike[str] | None = None,
    **overrides: object,
) -> Manifest:
    """Render a synthetic set into ``out_dir`` and return its manifest.

    Writes ``images/000000.png`` ..., ``evidence/000000.png`` ... (0/255 masks), ``manifest.csv`` +
    ``manifest.json`` (the Manifest, root = ``out_dir``) and ``synthetic_config.json``. The keyword
    arguments map one to one onto ``fer-explain synth --n --size --channels --seed --out DIR``; any
    other :class:`SyntheticFaceConfig` field may be passed as a keyword too (``nuisance="hard"``).

    Manifest columns: dataset ("synthetic"), image, label, split (seeded stratified 70/15/15),
    subject (identity id), landmarks (68 points, pixel coordinates), landmark_source ("synthetic"),
    evidence (path of the mask PNG), ``au_1`` ... ``au_26`` (intensities shown), ``au_12_r`` ...
    (per side), ``unilateral``, ``true_label`` and ``index`` (the face's index in the config).
    """
    cfg = config or SyntheticFaceConfig()
    changes = {k: v for k, v in (("n", n), ("size", size), ("channels", channels), ("seed", seed))
               if v is not None}
    changes.update(overrides)
    if changes:
        cfg = cfg.replace(**changes)
    if out_dir is not None and out is not None and Path(out_dir) != Path(out):
        raise ValueError(f"give the output folder once: out_dir={out_dir!r} and out={out!r} differ")
    target = out_dir if out_dir is not None else out
    if target is None:
        raise ValueError("write_synthetic needs an output folder (out_dir= / --out DIR)")
    root = Path(target)
    if cfg.n < 1:
        raise ValueError("write_synthetic needs n >= 1 faces")
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "evidence").mkdir(parents=True, exist_ok=True)
    cls = cfg.label_space.classes
    rows: list[dict[str, object]] = []
    bar = tqdm(total=cfg.n, desc=f"writing synthetic faces to {root}", unit="face", disable=not progress)
    for start in range(0, cfg.n, BATCH * 4):
        b = generate(cfg, start, min(start + BATCH * 4, cfg.n))
        aus = b.aus
        for j in range(len(b)):
            i = int(b.indices[j])
            name = _name(i, cfg.n)
            Image.fromarray(b.images[j]).save(root / "images" / name, compress_level=1)
            Image.fromarray(b.evidence[j].astype(np.uint8) * 255).save(root / "evidence" / name, compress_level=1)
            row: dict[str, object] = {
                "dataset": "synthetic", "image": f"images/{name}", "label": cls[b.labels[j]], "split": "",
                "subject": f"synth{cfg.seed}-id{int(b.identity['identity'].iat[j])}",
                "landmarks": format_landmarks(b.landmarks[j]), "landmark_source": "synthetic",
                "evidence": f"evidence/{name}",
            }
            for col in [f"au_{a}" for a in AU_NUMBERS] + ["au_12_r", "au_12_l", "au_14_r", "au_14_l"]:
                row[col] = round(float(aus[col].iat[j]), 4)
            row["unilateral"] = aus["unilateral"].iat[j]
            row["true_label"] = cls[b.true_labels[j]]
            row["index"] = i
            rows.append(row)
        bar.update(len(b))
    bar.close()
    splits = stratified_splits(np.array([r["label"] for r in rows]), cfg.seed)
    for r, s in zip(rows, splits):
        r["split"] = s
    m = make_manifest(rows, root=root, label_space=cfg.label_space, name=f"synthetic-{cfg.key()}")
    m.save(root / MANIFEST_NAME)
    meta = {"config": cfg.to_dict(), "renderer_version": RENDERER_VERSION, "key": cfg.key(), "n": cfg.n}
    (root / "synthetic_config.json").write_text(json.dumps(meta, indent=2) + "\n")
    return m


def synthetic_cache_dir(config: SyntheticFaceConfig, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Cache folder of a config: ``<cache_dir>/<key>``, else ``$FER_EXPLAIN_CACHE/synthetic/<key>``,
    else ``~/.cache/fer_explain/synthetic/<key>`` (key = hash of the config and renderer version)."""
    if cache_dir is not None:
        return Path(cache_dir) / config.key()
    env = os.environ.get(CACHE_ENV)
    base = Path(env) if env else Path.home() / ".cache" / "fer_explain"
    return base / "synthetic" / config.key()


def _complete(folder: Path, cfg: SyntheticFaceConfig) -> bool:
    marker = folder / COMPLETE_MARKER
    if not marker.is_file() or not (folder / f"{MANIFEST_NAME}.csv").is_file():
        return False
    try:
        meta = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    if meta.get("key") != cfg.key() or meta.get("n") != cfg.n:
        return False
    return all((folder / d / _name(i, cfg.n)).is_file() for d in ("images", "evidence") for i in range(cfg.n))


def default_synthetic_manifest(
    cache_dir: str | os.PathLike[str] | None = None, progress: bool = False, **overrides: object
) -> Manifest:
    """The default synthetic set (2,100 faces, 48x48 grey, 300 per class), written once and cached.

    Any :class:`SyntheticFaceConfig` field can be overridden (``n=700``, ``size=100, channels=3``...);
    each config has its own cache folder (see :func:`synthetic_cache_dir`). A missing or incomplete
    folder is regenerated deterministically.

    Safe for concurrent callers (processes or threads): a reader never sees half a set. The set is
    rendered into a temporary sibling folder that is renamed into place only once complete, and
    builders take an exclusive lock (``.<key>.lock`` beside the folder) so that callers arriving while
    a set is being built wait for it and then reuse it instead of rendering it again. A complete
    folder is never deleted or replaced.
    """
    cfg = SyntheticFaceConfig(**overrides)  # type: ignore[arg-type]
    folder = synthetic_cache_dir(cfg, cache_dir)
    if not _complete(folder, cfg):
        folder.parent.mkdir(parents=True, exist_ok=True)
        with _build_lock(folder) as exclusive:
            if not _complete(folder, cfg):  # not finished by another caller while we waited
                if exclusive:  # builders hold the lock: leftovers are from interrupted runs
                    for leftover in folder.parent.glob(f".{folder.name}.*.*"):
                        if leftover.is_dir():
                            shutil.rmtree(leftover, ignore_errors=True)
                _build_atomically(cfg, folder, progress)
    return Manifest.load(folder / MANIFEST_NAME)


@contextlib.contextmanager
def _build_lock(folder: Path) -> Iterator[bool]:
    """Hold an exclusive lock on ``.<folder name>.lock`` beside ``folder``; yields whether it is held.

    Without ``fcntl`` (Windows) nothing is locked (yields False): the atomic rename alone still keeps
    readers from seeing half a set, concurrent callers just may render it more than once. The lock
    file is left in place: removing it could let two callers lock two different files.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield False
        return
    with open(folder.parent / f".{folder.name}.lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _build_atomically(cfg: SyntheticFaceConfig, folder: Path, progress: bool) -> None:
    """Render ``cfg`` into a temporary sibling of ``folder`` and rename it into place.

    An incomplete ``folder`` left by an interrupted run is first renamed aside (then deleted). If a
    complete ``folder`` appears meanwhile (a caller without the lock), ours is discarded.
    """
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp.", dir=folder.parent))
    stale: Path | None = None
    try:
        write_synthetic(cfg, tmp, progress=progress)
        (tmp / COMPLETE_MARKER).write_text(json.dumps({"key": cfg.key(), "n": cfg.n}) + "\n")
        if _complete(folder, cfg):
            return
        if folder.exists():
            stale = Path(tempfile.mkdtemp(prefix=f".{folder.name}.stale.", dir=folder.parent))
            os.replace(folder, stale / folder.name)
        try:
            os.replace(tmp, folder)
        except OSError:
            if not _complete(folder, cfg):  # another caller put a set in place: use it if complete
                raise
    finally:
        for leftover in (tmp, stale):
            if leftover is not None and leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)
