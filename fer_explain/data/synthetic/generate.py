"""Generating synthetic faces: :func:`render_face` for one face, :func:`generate` for a range of a config."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fer_explain.data.synthetic.aus import AU_CHANNELS, AU_NUMBERS, CH, au_channels, public_aus
from fer_explain.data.synthetic.config import SyntheticFaceConfig
from fer_explain.data.synthetic.params import POSE_FIELDS, FaceParams, sample_params
from fer_explain.data.synthetic.render import (
    HAIR_NAMES,
    HAIR_STYLES,
    FaceIdentity,
    RenderOutput,
    render_batch,
)
from fer_explain.labels import LabelSpace

BATCH = 128
"""Faces rendered together by :func:`generate` (any batch size gives the same bytes)."""

FEATURE_COVERAGE = 0.25
"""Debug feature masks hold the pixels a feature covers by at least this fraction (visibly drawn)."""

AU_COLUMNS: tuple[str, ...] = tuple(f"au_{a}" for a in AU_NUMBERS)
"""Public AU intensity columns, in AU order."""


def dilate_mask(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Dilate a bool mask (H, W) or stack (N, H, W) by a disk of radius ``pixels`` (0 returns a copy)."""
    m = np.asarray(mask, dtype=bool)
    if pixels <= 0:
        return m.copy()
    from scipy.ndimage import binary_dilation

    r = int(pixels)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disk = (xx * xx + yy * yy) <= r * r
    if m.ndim == 2:
        return binary_dilation(m, structure=disk)
    return np.stack([binary_dilation(x, structure=disk) for x in m]) if len(m) else m.copy()


def au_frame(au: np.ndarray, au_label: np.ndarray, unilateral: list[str]) -> pd.DataFrame:
    """Public AU table from AU channel vectors: ``au_1``... (AU12/14: stronger side), per-side
    ``au_12_r``..., ``unilateral``, and ``label_au_*`` for the label-carrying part."""
    cols: dict[str, object] = {}
    for prefix, vec in (("", au), ("label_", au_label)):
        for a in AU_NUMBERS:
            chans = list(au_channels(a))
            v = vec[:, chans].max(axis=1) if len(vec) else np.zeros(0, np.float32)
            cols[f"{prefix}au_{a}"] = v.astype(np.float64)
        if not prefix:
            for name in ("au_12_r", "au_12_l", "au_14_r", "au_14_l"):
                cols[name] = vec[:, CH[name]].astype(np.float64)
            cols["unilateral"] = list(unilateral)
    return pd.DataFrame(cols)


def identity_frame(ident: FaceIdentity | None, ids: np.ndarray, poses: np.ndarray) -> pd.DataFrame:
    """One row per face: identity id and the main identity parameters, plus rotation and occluder."""
    if ident is None or len(ids) == 0:
        return pd.DataFrame(columns=["identity"])
    return pd.DataFrame({
        "identity": ids,
        "face_width": 2 * ident.head_half_width,
        "skin_lightness": ident.skin_lightness,
        "hair_style": [HAIR_STYLES[int(h)] for h in ident.hair_style],
        "hair_colour": [HAIR_NAMES[int(h)] for h in ident.hair_colour_id],
        "glasses": ident.glasses > 0,
        "eye_distance": 2 * ident.eye_offset_x,
        "mouth_width": 2 * ident.mouth_half_width,
        "rotation_deg": poses[:, POSE_FIELDS.index("rotation_deg")],
        "scale": poses[:, POSE_FIELDS.index("scale")],
        "occluder": poses[:, POSE_FIELDS.index("occ_kind")].astype(np.int64),
    })


def _identity_record(ident: FaceIdentity, i: int, identity_id: int) -> dict[str, object]:
    skin = ident.skin_rgb[i]
    return {
        "identity": int(identity_id),
        "face_width": float(2 * ident.head_half_width[i]),
        "skin_lightness": float(ident.skin_lightness[i]),
        "skin_rgb": tuple(float(x) for x in skin),
        "hair_style": HAIR_STYLES[int(ident.hair_style[i])],
        "hair_colour": HAIR_NAMES[int(ident.hair_colour_id[i])],
        "glasses": bool(ident.glasses[i] > 0),
        "eye_distance": float(2 * ident.eye_offset_x[i]),
        "mouth_width": float(2 * ident.mouth_half_width[i]),
    }


@dataclass
class FaceSample:
    """One rendered face and everything known about it.

    ``landmarks`` are the 68 iBUG points (dlib order) in pixel coordinates of ``image`` (pixel centres
    at integer coordinates); ``evidence`` marks the pixels that differ from the face's twin without
    its label-carrying AUs; ``aus`` the AU intensities shown; ``aus_label`` the label-carrying part.
    """

    image: np.ndarray
    landmarks: np.ndarray
    evidence: np.ndarray
    label: str
    true_label: str
    aus: dict[str, float]
    aus_label: dict[str, float]
    identity: dict[str, object]
    pose: dict[str, float]
    params: FaceParams
    features: dict[str, np.ndarray] | None = None

    def evidence_dilated(self, pixels: int) -> np.ndarray:
        """The evidence mask dilated by ``pixels`` (for tolerant scoring of explanations)."""
        return dilate_mask(self.evidence, pixels)


def _sample_from(out: RenderOutput, i: int, p: FaceParams) -> FaceSample:
    feats = ({k: v[i] >= FEATURE_COVERAGE for k, v in out.features.items()} if out.features is not None
             else None)
    return FaceSample(
        image=out.images[i], landmarks=out.landmarks[i], evidence=out.evidence[i], label=p.label,
        true_label=p.true_label, aus=public_aus(p.au), aus_label=public_aus(p.au_label),
        identity=_identity_record(out.identity, i, p.identity_id),
        pose={k: float(p.pose[j]) for j, k in enumerate(POSE_FIELDS)}, params=p, features=feats,
    )


def render_face(params: FaceParams, debug: bool = False) -> FaceSample:
    """Render one face. With ``debug`` the sample carries each feature's drawn mask (``features``)."""
    return _sample_from(render_batch([params], debug=debug), 0, params)


def render_faces(params: list[FaceParams], debug: bool = False) -> list[FaceSample]:
    """Render several faces of one size together (faster than one by one, same bytes)."""
    out = render_batch(params, debug=debug)
    return [_sample_from(out, i, p) for i, p in enumerate(params)]


@dataclass
class SyntheticBatch:
    """Faces ``start..stop`` of a config as arrays.

    ``labels`` are the (possibly noisy) observed labels and ``true_labels`` the drawn classes, both as
    indices into ``label_space``; ``aus`` has the public AU columns (``au_1`` ... ``au_26``, per-side
    ``au_12_r``..., ``unilateral``) plus ``label_au_*`` for the label-carrying part; ``identity`` one
    row per face.
    """

    config: SyntheticFaceConfig
    indices: np.ndarray
    images: np.ndarray
    landmarks: np.ndarray
    evidence: np.ndarray
    labels: np.ndarray
    true_labels: np.ndarray
    aus: pd.DataFrame
    identity: pd.DataFrame

    @property
    def label_space(self) -> LabelSpace:
        return self.config.label_space

    def __len__(self) -> int:
        return len(self.indices)

    def label_names(self, true: bool = False) -> list[str]:
        cls = self.label_space.classes
        return [cls[i] for i in (self.true_labels if true else self.labels)]

    def evidence_dilated(self, pixels: int) -> np.ndarray:
        return dilate_mask(self.evidence, pixels)


def iter_params(config: SyntheticFaceConfig, start: int = 0, stop: int | None = None) -> Iterator[FaceParams]:
    """The parameters of faces ``start..stop`` of ``config``, in order."""
    stop = config.n if stop is None else stop
    cache: dict[int, np.ndarray] = {}
    for i in range(start, stop):
        yield sample_params(config, i, identity_cache=cache)


def generate(
    config: SyntheticFaceConfig,
    start: int = 0,
    stop: int | None = None,
    progress: bool = False,
    batch_size: int = BATCH,
) -> SyntheticBatch:
    """Render faces ``start`` (inclusive) to ``stop`` (exclusive, default ``config.n``) of ``config``.

    Face ``i`` is the same bytes whatever ``start``, ``stop`` and ``batch_size`` are.
    """
    stop = config.n if stop is None else int(stop)
    if not 0 <= start <= stop:
        raise ValueError(f"need 0 <= start <= stop, got start={start}, stop={stop}")
    if stop > config.n:
        raise ValueError(f"stop={stop} exceeds the config's n={config.n}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = stop - start
    size, ch = config.size, config.channels
    shape = (n, size, size) if ch == 1 else (n, size, size, 3)
    images = np.empty(shape, dtype=np.uint8)
    landmarks = np.empty((n, 68, 2), dtype=np.float32)
    evidence = np.empty((n, size, size), dtype=bool)
    cls = config.label_space.classes
    lut = {c: i for i, c in enumerate(cls)}
    labels = np.empty(n, dtype=np.int64)
    true_labels = np.empty(n, dtype=np.int64)
    au_face = np.empty((n, len(AU_CHANNELS)), dtype=np.float32)
    au_lab = np.empty((n, len(AU_CHANNELS)), dtype=np.float32)
    unilateral: list[str] = []
    ident_ids = np.empty(n, dtype=np.int64)
    poses = np.empty((n, len(POSE_FIELDS)), dtype=np.float64)
    ident_parts: list[FaceIdentity] = []
    params_iter = iter_params(config, start, stop)
    bar = tqdm(total=n, desc="rendering synthetic faces", unit="face", disable=not progress, leave=False)
    pos = 0
    while pos < n:
        chunk = [next(params_iter) for _ in range(min(batch_size, n - pos))]
        out = render_batch(chunk)
        k = len(chunk)
        sl = slice(pos, pos + k)
        images[sl] = out.images
        landmarks[sl] = out.landmarks
        evidence[sl] = out.evidence
        for j, p in enumerate(chunk):
            labels[pos + j] = lut[p.label]
            true_labels[pos + j] = lut[p.true_label]
            au_lab[pos + j] = p.au_label
            au_face[pos + j] = np.maximum(p.au_label, p.au_other)
            ident_ids[pos + j] = p.identity_id
            poses[pos + j] = p.pose
            unilateral.append(p.unilateral)
        ident_parts.append(out.identity)
        pos += k
        bar.update(k)
    bar.close()
    ident = FaceIdentity.concatenate(ident_parts) if ident_parts else None
    return SyntheticBatch(
        config=config, indices=np.arange(start, stop, dtype=np.int64), images=images, landmarks=landmarks,
        evidence=evidence, labels=labels, true_labels=true_labels,
        aus=au_frame(au_face, au_lab, unilateral), identity=identity_frame(ident, ident_ids, poses),
    )
