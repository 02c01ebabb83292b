"""dlib face detection and 68-point (iBUG 300-W) landmarks, one image or a whole manifest.

Points follow dlib's convention: ``(x, y)`` in pixel-index coordinates, so the point ``(j, i)`` is
the centre of the pixel in row ``i`` and column ``j``. Index ``k`` (0-based) is the iBUG point
``k + 1``: jaw 1-17, right brow 18-22, left brow 23-27, nose bridge 28-31, nostrils 32-36, right eye
37-42, left eye 43-48, outer lips 49-60, inner lips 61-68 ("right" is the subject's right, which is
the image's left).

Where the points come from is recorded per sample (the manifest column ``landmark_source``):

``detected``   dlib's HOG detector found a face and the shape predictor ran on its box
``fallback``   no face was found, the shape predictor ran on a fixed box (by default the whole image).
               FER2013, RAF-DB aligned and CK+48 are already registered face crops, so this is a
               sensible guess there; measured on 300 real FER2013 48x48 faces, the HOG detector finds
               0% with ``upsample=0`` and 68% with ``upsample=1``, and on the faces it does find the
               whole-image fallback lands on average 1.5 px from the detected points (median 0.6 px).
``dataset``    given by the dataset (AffectNet) and used as they are
``synthetic``  exact, from the synthetic face generator

Face boxes: :func:`extract_landmarks` with ``boxes=True`` (``fer-explain landmarks --boxes``) stores each
detected face's :func:`face_box`, dlib's box moved up to where FER2013 frames faces
(:data:`FER2013_BOX_SHIFT`); ``FaceDataset`` crops it grown by its ``crop_margin``, whose default 0.1
(:data:`FER2013_CROP_MARGIN`) completes FER2013's framing.

The predictor file ``shape_predictor_68_face_landmarks.dat`` comes from the ``face_recognition_models``
package; it is found without importing that package (its ``__init__`` needs ``pkg_resources``), or
from the environment variable ``FER_EXPLAIN_DLIB_PREDICTOR``. Detector and predictor are loaded once
per process, on first use.
"""

from __future__ import annotations

import importlib.util
import math
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fer_explain.data.errors import UserError
from fer_explain.data.io import load_image
from fer_explain.data.manifest import BOX_COLUMNS, LANDMARK_SOURCES, N_LANDMARKS, Manifest, format_landmarks

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
PREDICTOR_ENV = "FER_EXPLAIN_DLIB_PREDICTOR"

FLIP_PERMUTATION_68: tuple[int, ...] = (
    *range(16, -1, -1),                      # jaw 0..16 -> 16..0
    *range(26, 21, -1),                      # brows 17..21 <-> 26..22
    *range(21, 16, -1),
    27, 28, 29, 30,                          # nose bridge (on the mid-line)
    35, 34, 33, 32, 31,                      # nostrils
    45, 44, 43, 42, 47, 46,                  # right eye <-> left eye
    39, 38, 37, 36, 41, 40,
    54, 53, 52, 51, 50, 49, 48,              # outer lips, top
    59, 58, 57, 56, 55,                      # outer lips, bottom
    64, 63, 62, 61, 60,                      # inner lips, top
    67, 66, 65,                              # inner lips, bottom
)
"""0-based index map for a horizontal flip: ``flipped[k] = original[FLIP_PERMUTATION_68[k]]``."""


class NoFaceError(UserError, RuntimeError):
    """No face was detected in an image and the fallback was disabled; the message names the image."""


class PredictorNotFoundError(FileNotFoundError):
    """dlib's 68-point shape predictor file could not be found."""


@dataclass(frozen=True)
class LandmarkResult:
    """68 landmarks of one face: ``points`` (68, 2) float32 (x, y), how they were obtained, and the
    face box ``(x, y, w, h)`` the shape predictor ran on (the detected box or the fallback box).
    The box a face is cropped with is :func:`face_box` of it."""

    points: np.ndarray
    source: str
    box: tuple[int, int, int, int]


# --- FER2013's framing of a detected face --------------------------------------------------------------
FER2013_BOX_SHIFT: float = 0.07
"""How far (a fraction of its height) :func:`face_box` moves dlib's detected box up, so that it sits on the
face where FER2013's 48 px frame does. Measured on 740 FER2013 training faces pasted, upscaled 3-4x,
into 192-256 px noise photos (``upsample=1``; 1,000 tried): in the 48 px frame dlib's box lies 0.105
(left) and 0.109 (right) of its width inside the frame, and 0.174 (top) and 0.042 (bottom) of its
height, i.e. it sits low by (0.174 - 0.042) / 2 = 0.066 of its height."""

FER2013_CROP_MARGIN: float = 0.1
"""The margin (per side, a fraction of the box's width/height) that grows :func:`face_box` into FER2013's
frame: the measured 0.105-0.109 left/right and, after the shift, (0.174 + 0.042) / 2 = 0.108 top/bottom.
It is ``FaceDataset``'s default ``crop_margin`` (:mod:`fer_explain.data.dataset` holds its own 0.1:
``data`` cannot import ``faces``) and :func:`fer_explain.faces.crop_face`'s default ``margin``."""


def face_box(detection: LandmarkResult) -> tuple[float, float, float, float]:
    """The box ``(x, y, w, h)`` a face is cropped with: for a ``detected`` face dlib's box moved up by
    :data:`FER2013_BOX_SHIFT` of its height (grown by :data:`FER2013_CROP_MARGIN` per side it frames the
    face as FER2013 does); any other box (the fallback) as it is. What ``extract_landmarks(boxes=True)``
    stores and what :func:`fer_explain.faces.crop_detection` crops."""
    x, y, w, h = (float(v) for v in detection.box)
    if detection.source == "detected":
        y -= FER2013_BOX_SHIFT * h
    return x, y, w, h


# --- validation and small helpers --------------------------------------------------------------------
def check_landmarks(landmarks: Any, batched: bool | None = None, name: str = "landmarks") -> np.ndarray:
    """Return landmarks as a float array, checking the shape (68, 2) or, batched, (N, 68, 2).

    ``batched=None`` accepts either. Torch tensors are accepted (moved to the CPU). A wrong shape
    raises a ``ValueError`` that states the expected shape.
    """
    if hasattr(landmarks, "detach"):
        landmarks = landmarks.detach().cpu().numpy()
    arr = np.asarray(landmarks, dtype=np.float64)
    single_ok = arr.shape == (N_LANDMARKS, 2)
    batch_ok = arr.ndim == 3 and arr.shape[1:] == (N_LANDMARKS, 2)
    if batched is None and not (single_ok or batch_ok):
        raise ValueError(f"{name} must have shape (68, 2) or (N, 68, 2), got {arr.shape}")
    if batched is True and not batch_ok:
        raise ValueError(f"{name} must have shape (N, 68, 2), got {arr.shape}")
    if batched is False and not single_ok:
        raise ValueError(f"{name} must have shape (68, 2), got {arr.shape}")
    return arr


def to_crop_coordinates(points: np.ndarray, origin: tuple[float, float], crop_size: tuple[float, float],
                        size: int) -> np.ndarray:
    """Map ``(..., 2)`` image points into a crop whose top-left pixel is ``origin = (x0, y0)`` and whose
    extent is ``crop_size = (width, height)``, resized to ``size`` x ``size`` (float64).

    Pixel-centre convention of the resize: ``x' = (x - x0 + 0.5) * size / width - 0.5``.
    """
    pts = np.asarray(points, dtype=np.float64)
    out = np.empty_like(pts)
    out[..., 0] = (pts[..., 0] - origin[0] + 0.5) * size / crop_size[0] - 0.5
    out[..., 1] = (pts[..., 1] - origin[1] + 0.5) * size / crop_size[1] - 0.5
    return out


def dataset_landmarks(manifest: Manifest, size: int, crop_margin: float = 0.1) -> np.ndarray:
    """The manifest's landmarks mapped into the faces a ``FaceDataset(manifest, size, crop_margin=...)``
    returns, ``(N, 68, 2)`` float32 (NaN for rows without landmarks).

    Landmarks are stored in the original image's pixel coordinates. ``FaceDataset`` crops a row's
    face box (enlarged by ``crop_margin``; see :func:`fer_explain.data.dataset.crop_box`) when it
    has one and resizes the result to ``size x size`` without keeping the aspect. Pixel-centre
    convention: ``x' = (x - x0 + 0.5) * size / width - 0.5``. Rows without a box need the image
    size: read from the file header (PIL, no decoding) or, for pixel-CSV rows, by decoding the row.
    """
    from PIL import Image

    from fer_explain.data.dataset import crop_bounds

    lm = manifest.landmarks().astype(np.float64)
    boxes = manifest.boxes()
    df = manifest.df
    out = np.full_like(lm, np.nan)
    has_pr = "pixel_row" in df
    for i in range(len(manifest)):
        if not np.isfinite(lm[i]).all():
            continue
        box = boxes[i]
        if np.isfinite(box).all():
            x0, y0, x1, y1 = crop_bounds(box, crop_margin)
            ox, oy, cw, ch = x0, y0, x1 - x0, y1 - y0
        else:
            pr = df["pixel_row"].iat[i] if has_pr else None
            image = str(df["image"].iat[i])
            if pr is not None and not (isinstance(pr, float) and math.isnan(pr)) and not pd.isna(pr):
                img = load_image(manifest.root, image, int(pr))
                ch, cw = img.shape[:2]
            else:
                with Image.open(Path(manifest.root) / image) as im:
                    cw, ch = im.size
            ox = oy = 0
        out[i] = to_crop_coordinates(lm[i], (ox, oy), (cw, ch), size)
    return out.astype(np.float32)


def flip_landmarks(landmarks: np.ndarray, width: int) -> np.ndarray:
    """Landmarks of the horizontally flipped image (``x -> width - 1 - x``, left/right points swapped)."""
    arr = check_landmarks(landmarks)
    out = arr[..., list(FLIP_PERMUTATION_68), :].astype(np.float32)
    out[..., 0] = width - 1 - out[..., 0]
    return out


# --- dlib models -------------------------------------------------------------------------------------
def predictor_path() -> Path:
    """Path of ``shape_predictor_68_face_landmarks.dat`` (env ``FER_EXPLAIN_DLIB_PREDICTOR`` first,
    then the ``models/`` folder of the installed ``face_recognition_models`` package)."""
    env = os.environ.get(PREDICTOR_ENV)
    if env:
        p = Path(env)
        if not p.is_file():
            raise PredictorNotFoundError(f"{PREDICTOR_ENV}={env}: file not found")
        return p
    tried: list[str] = []
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is not None:
        folders = list(spec.submodule_search_locations or [])
        if spec.origin:
            folders.append(str(Path(spec.origin).parent))
        for folder in folders:
            cand = Path(folder) / "models" / PREDICTOR_FILE
            tried.append(str(cand))
            if cand.is_file():
                return cand
    where = f" (looked at {', '.join(tried)})" if tried else " (package face_recognition_models is not installed)"
    raise PredictorNotFoundError(
        f"dlib's {PREDICTOR_FILE} was not found{where}; install it with "
        f"`pip install face_recognition_models`, or point {PREDICTOR_ENV} at the file"
    )


@lru_cache(maxsize=1)
def _detector() -> Any:
    import dlib

    return dlib.get_frontal_face_detector()


@lru_cache(maxsize=4)
def _predictor(path: str) -> Any:
    import dlib

    return dlib.shape_predictor(path)


@lru_cache(maxsize=1)
def load_models() -> tuple[Any, Any]:
    """The dlib HOG face detector and 68-point shape predictor, loaded on the first call in a process."""
    return _detector(), _predictor(str(predictor_path()))


# --- one image ---------------------------------------------------------------------------------------
def _as_dlib_image(image: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise TypeError(f"{name}: image must be uint8, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise ValueError(f"{name}: image must be grey (H, W) or RGB (H, W, 3), got shape {arr.shape}")
    if min(arr.shape[:2]) < 2:
        raise ValueError(f"{name}: image of shape {arr.shape} is too small")
    return np.ascontiguousarray(arr)


def _fallback_rect(h: int, w: int, fallback_box: Sequence[float] | None) -> tuple[int, int, int, int]:
    """(left, top, right, bottom), inclusive, of the fallback box."""
    if fallback_box is None:
        return 0, 0, w - 1, h - 1
    if len(fallback_box) != 4:
        raise ValueError(f"fallback_box must be 4 fractions (x0, y0, x1, y1), got {fallback_box!r}")
    x0, y0, x1, y1 = (float(v) for v in fallback_box)
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise ValueError(f"fallback_box fractions must satisfy 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, got {fallback_box!r}")
    return round(x0 * (w - 1)), round(y0 * (h - 1)), round(x1 * (w - 1)), round(y1 * (h - 1))


def detect_landmarks(
    image: np.ndarray,
    upsample: int = 1,
    fallback: bool = True,
    *,
    fallback_box: Sequence[float] | None = None,
    name: str = "image",
) -> LandmarkResult:
    """Detect the largest face in a uint8 grey ``(H, W)`` or RGB ``(H, W, 3)`` image and predict its
    68 landmarks.

    Args:
        image: the image (uint8).
        upsample: how many times dlib upsamples the image before detecting (1 or 2 finds small faces,
            such as FER2013's 48x48, at a cost in time).
        fallback: when no face is detected, run the shape predictor on ``fallback_box`` instead
            (source ``"fallback"``); when False, raise :class:`NoFaceError`.
        fallback_box: ``(x0, y0, x1, y1)`` fractions of the image; None = the whole image.
        name: how the image is named in error messages (a file name, a manifest row).
    """
    import dlib

    if int(upsample) < 0:
        raise ValueError(f"upsample must be >= 0, got {upsample}")
    img = _as_dlib_image(image, name)
    detector, predictor = load_models()
    dets = list(detector(img, int(upsample)))
    if dets:
        rect = max(dets, key=lambda r: (r.width() * r.height(), -r.top(), -r.left()))
        source = "detected"
    elif fallback:
        h, w = img.shape[:2]
        rect = dlib.rectangle(*_fallback_rect(h, w, fallback_box))
        source = "fallback"
    else:
        raise NoFaceError(f"{name}: no face detected (image {img.shape[1]}x{img.shape[0]}, upsample={upsample}); "
                          "use fallback=True to predict landmarks on the whole image")
    shape = predictor(img, rect)
    pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], dtype=np.float32)
    if pts.shape != (N_LANDMARKS, 2):  # pragma: no cover - only with a non-68-point predictor file
        raise RuntimeError(f"shape predictor returned {pts.shape[0]} points, expected {N_LANDMARKS}")
    box = (int(rect.left()), int(rect.top()), int(rect.width()), int(rect.height()))
    return LandmarkResult(points=pts, source=source, box=box)


# --- a whole manifest --------------------------------------------------------------------------------
_Task = tuple[int, str, "int | None"]
# row, landmarks text, source, error, face_box of a detected face or None
_Outcome = tuple[int, "str | None", "str | None", "str | None", "tuple[float, float, float, float] | None"]


@dataclass(frozen=True)
class _Settings:
    root: str
    upsample: int
    fallback: bool
    fallback_box: tuple[float, ...] | None


_WORKER_SETTINGS: _Settings | None = None


def _init_worker(settings: _Settings) -> None:
    global _WORKER_SETTINGS
    _WORKER_SETTINGS = settings
    load_models()  # once per worker process


def _run_chunk(chunk: list[_Task]) -> list[_Outcome]:
    assert _WORKER_SETTINGS is not None
    return [_run_one(task, _WORKER_SETTINGS) for task in chunk]


def _run_one(task: _Task, s: _Settings) -> _Outcome:
    row, image, pixel_row = task
    name = f"manifest row {row} ({image}" + (f", pixel row {pixel_row})" if pixel_row is not None else ")")
    img = load_image(s.root, image, pixel_row)
    try:
        res = detect_landmarks(img, s.upsample, s.fallback, fallback_box=s.fallback_box, name=name)
    except NoFaceError as exc:
        return row, None, None, str(exc), None
    return row, format_landmarks(res.points), res.source, None, face_box(res) if res.source == "detected" else None


def _chunks(tasks: list[_Task], size: int) -> Iterator[list[_Task]]:
    for i in range(0, len(tasks), size):
        yield tasks[i : i + size]


def landmark_summary(manifest: Manifest, computed: Sequence[int] = (), boxes: bool = False) -> pd.DataFrame:
    """Rows per landmark source: ``rows`` (in the manifest), ``share`` (of all rows) and ``computed``
    (in this run). Rows without landmarks are counted as ``none``; rows with landmarks but no
    source as ``unknown``. With ``boxes``, a ``boxed`` column counts the rows of each source that
    have a face box (so ``rows - boxed`` of the ``fallback`` row are faces no detector found)."""
    n = len(manifest)
    has = manifest.has_landmarks()
    src = manifest.df["landmark_source"] if "landmark_source" in manifest.df else pd.Series([None] * n)
    labels = np.where(~has, "none", src.fillna("unknown").astype(str).to_numpy())
    order = [*LANDMARK_SOURCES, "unknown", "none"]
    computed_set = np.zeros(n, dtype=bool)
    computed_set[list(computed)] = True
    table = pd.DataFrame(
        {
            "rows": [int((labels == k).sum()) for k in order],
            "computed": [int(((labels == k) & computed_set).sum()) for k in order],
        },
        index=pd.Index(order, name="landmark_source"),
    )
    table["share"] = table["rows"] / max(n, 1)
    if boxes:
        has_box = np.isfinite(manifest.boxes()).all(axis=1)
        table["boxed"] = [int(((labels == k) & has_box).sum()) for k in order]
    return table


def extract_landmarks(
    manifest: Manifest,
    upsample: int = 1,
    fallback: bool = True,
    workers: int = 0,
    progress: bool = True,
    overwrite: bool = False,
    *,
    fallback_box: Sequence[float] | None = None,
    errors: str = "raise",
    chunksize: int = 64,
    boxes: bool = False,
) -> tuple[Manifest, pd.DataFrame]:
    """Landmarks for every row of a manifest, stored in its ``landmarks`` / ``landmark_source`` columns,
    and, with ``boxes``, each detected face box in its ``box_x box_y box_w box_h`` columns.

    Rows that already have landmarks (given by the dataset, exact synthetic ones, or computed by an
    earlier run) are kept unless ``overwrite``; the rest are computed with :func:`detect_landmarks`,
    in chunks, in ``workers`` processes (0 = in this process), each loading the dlib models once.
    When every row already has landmarks (and, with ``boxes``, a box) this returns at once (a cache
    hit). The input manifest is not changed: the result is a new :class:`Manifest`; save it to
    compute the landmarks only once.

    Face boxes (``boxes=True``, the CLI's ``fer-explain landmarks --boxes``): every row without a box
    (every row with ``overwrite``) is searched; a face the HOG detector finds stores its
    :func:`face_box` (dlib's box moved up by :data:`FER2013_BOX_SHIFT` of its height), in the image's
    pixels (it may reach past the image's edge); a row where no face is found keeps no box
    (``FaceDataset`` then uses the whole image) and is counted in the summary's ``boxed`` column.
    Rows that only lacked a box keep their landmarks, except ``fallback`` ones, which are replaced by
    the detected points. Boxes already in the manifest (AffectNet, ExpW) are kept unless
    ``overwrite`` (which also drops them where no face is found).

    Framing: :class:`~fer_explain.data.dataset.FaceDataset` crops the stored box grown by its
    ``crop_margin`` per side, and its default 0.1 (:data:`FER2013_CROP_MARGIN`) is the margin that
    frames a detected face the way FER2013 frames its faces (the geometry is measured on FER2013
    training faces, see :data:`FER2013_BOX_SHIFT`). Checked end to end with
    ``benchmarks/whole_photos.py``: the 3,589 FER2013 PublicTest faces pasted, upscaled 3-4x, into
    192-256 px noise or texture photos; HOG (``upsample=1``) finds 2,717 (75.7 %), whose stored
    box lies 0.102 / 0.111 / 0.106 / 0.109 (left / right / top / bottom) of its side inside FER2013's
    frame. The shipped ``fer2013/vgg_fer`` on those 2,717 faces, by ``crop_margin``: 0 -> 59.6 %,
    0.05 -> 61.1 %, **0.1 -> 61.9 %**, 0.15 -> 61.3 %, 0.2 -> 58.5 % (dlib's own box, unshifted, at
    0.1: 60.8 %); the same faces as FER2013 ships them: 66.3 % (cropped exactly at their true frame:
    66.0 %): the boxes cost 4.3 points, the photos left whole (no box, 46.8 %) 19.4.

    Args:
        manifest: the faces; images are read with :func:`fer_explain.data.io.load_image`.
        upsample, fallback, fallback_box: as in :func:`detect_landmarks`.
        workers: 0 computes in this process; N >= 1 uses a pool of N worker processes.
        progress: show a tqdm progress bar.
        overwrite: recompute rows that already have landmarks (and boxes).
        errors: with ``fallback=False``, ``"raise"`` a :class:`NoFaceError` naming the first row
            that needs landmarks and has no face, or ``"skip"`` it (left without landmarks, counted
            as ``none``).
        chunksize: rows per task sent to a worker.
        boxes: also store each detected face box (see above).

    Returns:
        ``(manifest, summary)``: the new manifest and :func:`landmark_summary` of it (with the
        ``boxed`` column when ``boxes``).
    """
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}")
    if int(workers) < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if int(chunksize) < 1:
        raise ValueError(f"chunksize must be >= 1, got {chunksize}")
    df = manifest.df.copy()
    n = len(df)
    need_lm = np.ones(n, dtype=bool) if overwrite else ~manifest.has_landmarks()
    need_box = np.zeros(n, dtype=bool)
    if boxes:
        need_box = np.ones(n, dtype=bool) if overwrite else ~np.isfinite(manifest.boxes()).all(axis=1)
    todo = np.flatnonzero(need_lm | need_box)
    if len(todo) == 0:
        out = manifest.replace(df)
        return out, landmark_summary(out, boxes=boxes)

    predictor_path()  # fail early and clearly when the model file is missing
    if "landmarks" not in df:
        df["landmarks"] = pd.Series([None] * len(df), dtype=object)
    if "landmark_source" not in df:
        df["landmark_source"] = pd.Series([None] * len(df), dtype=object)
    df["landmarks"] = df["landmarks"].astype(object)
    df["landmark_source"] = df["landmark_source"].astype(object)
    if boxes:
        for c in BOX_COLUMNS:
            df[c] = df[c].astype(np.float64) if c in df else np.nan

    has_pixel_row = "pixel_row" in df
    tasks: list[_Task] = []
    for i in todo:
        pr = df["pixel_row"].iat[i] if has_pixel_row else None
        pr = None if pr is None or pd.isna(pr) else int(pr)
        tasks.append((int(i), str(df["image"].iat[i]), pr))
    settings = _Settings(
        root=str(manifest.root), upsample=int(upsample), fallback=bool(fallback),
        fallback_box=None if fallback_box is None else tuple(float(v) for v in fallback_box),
    )

    from tqdm.auto import tqdm

    bar = tqdm(total=len(tasks), desc=f"landmarks ({manifest.name or 'manifest'})", unit="face",
               disable=not progress)
    results: list[_Outcome] = []
    try:
        if workers and int(workers) >= 1:
            ctx = multiprocessing.get_context()
            with ctx.Pool(int(workers), initializer=_init_worker, initargs=(settings,)) as pool:
                for part in pool.imap(_run_chunk, _chunks(tasks, int(chunksize))):
                    _collect(part, results, errors, bar, need_lm)
        else:
            for chunk in _chunks(tasks, int(chunksize)):
                _collect([_run_one(t, settings) for t in chunk], results, errors, bar, need_lm)
    finally:
        bar.close()

    done: list[int] = []
    for row, text, source, _err, box in results:
        upgrade = source == "detected" and df.at[row, "landmark_source"] == "fallback"
        if need_lm[row] or upgrade:
            df.at[row, "landmarks"] = text
            df.at[row, "landmark_source"] = source
            if text is not None:
                done.append(row)
        if need_box[row]:
            for c, v in zip(BOX_COLUMNS, box if box is not None else (np.nan,) * 4):
                df.at[row, c] = float(v)
    out = manifest.replace(df)
    return out, landmark_summary(out, computed=done, boxes=boxes)


def _collect(part: list[_Outcome], results: list[_Outcome], errors: str, bar: Any, need_lm: np.ndarray) -> None:
    for outcome in part:
        if outcome[3] is not None and errors == "raise" and need_lm[outcome[0]]:
            raise NoFaceError(outcome[3])
    results.extend(part)
    bar.update(len(part))
