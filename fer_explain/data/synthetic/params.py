"""Per-face parameters: :class:`FaceParams` and :func:`sample_params`, the only place randomness is drawn.

Face ``i`` of a config draws everything from its own generator ``np.random.default_rng([seed, i])``
(identities from a pool draw theirs from ``default_rng([seed, 1, identity])``), so a face never depends
on how many faces were generated before it or how they were batched. The draws have a fixed layout
(the same number of numbers whatever the options), so changing an option such as ``label_noise``
changes only what that option controls.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, replace

import numpy as np

from fer_explain.data.synthetic.aus import (
    AU_CHANNELS,
    AU_NUMBERS,
    AU_REGION,
    PROTOTYPES,
    UNILATERAL,
    au_channels,
)
from fer_explain.data.synthetic.config import Nuisance, SyntheticFaceConfig

N_ID = 48
"""Number of identity uniforms (see ``render.identity.IDENTITY_UNIFORMS`` for their meaning)."""

POSE_FIELDS: tuple[str, ...] = (
    "rotation_deg", "rot_cos", "rot_sin", "scale", "tx", "ty", "gain", "grad_x", "grad_y",
    "cast_r", "cast_g", "cast_b", "blur", "blur_passes", "noise_sigma",
    "occ_kind", "occ_x", "occ_y", "occ_cos", "occ_sin", "occ_size", "occ_r", "occ_g", "occ_b",
)
"""Resolved nuisance values of one face (occ_kind: 0 none, 1 hand-like blob, 2 bar)."""
POSE: dict[str, int] = {k: i for i, k in enumerate(POSE_FIELDS)}

# layout of the per-face uniforms
_N_AU = len(AU_NUMBERS)
_OFF_POSE = 0  # 24 pose uniforms
_OFF_INT = 24  # label AU intensities (one per AU number)
_OFF_KEEP = _OFF_INT + _N_AU  # partial-expression keep draws
_OFF_BINT = _OFF_KEEP + _N_AU  # blend AU intensities
_OFF_DINT = _OFF_BINT + _N_AU  # decoy AU intensities
_OFF_MISC = _OFF_DINT + _N_AU  # misc draws, see below
_MISC = ("side", "partial", "blend", "blend_class", "blend_weight", "noise_flip", "noise_class",
         "identity", "decoy_eyes", "decoy_nose", "decoy_mouth", "decoy_side")
N_SAMPLE = _OFF_MISC + len(_MISC)
_M = {k: _OFF_MISC + i for i, k in enumerate(_MISC)}
_AU_POS = {au: i for i, au in enumerate(AU_NUMBERS)}
_GOLDEN = 0.6180339887498949


@dataclass(eq=False, slots=True)
class FaceParams:
    """Everything that determines one synthetic face; :func:`render_face` turns it into pixels.

    ``au_label`` holds the label-carrying AU intensities (turned off in the evidence twin),
    ``au_other`` the class-independent ones (decoys of non-evidence regions, blended second class);
    the face shows their element-wise maximum. Vectors follow :data:`AU_CHANNELS`.
    """

    index: int
    seed: int
    size: int
    channels: int
    label: str
    true_label: str
    au_label: np.ndarray
    au_other: np.ndarray
    identity_id: int
    identity_u: np.ndarray
    pose: np.ndarray
    noise: np.ndarray
    unilateral: str = "none"
    evidence_threshold: float = 6.0

    @property
    def au(self) -> np.ndarray:
        """The AU intensities the face shows (label-carrying and class-independent together)."""
        return np.maximum(self.au_label, self.au_other)

    def replace(self, **changes: object) -> FaceParams:
        """A copy with some fields changed, e.g. another ``au_label`` for the same identity and pose."""
        if "size" in changes and "noise" not in changes and int(changes["size"]) != self.size:  # type: ignore[arg-type]
            raise ValueError("changing size needs a matching noise field; use sample_params(config) instead")
        return replace(self, **changes)  # type: ignore[arg-type]


def identity_uniforms(seed: int, identity: int) -> np.ndarray:
    """The identity draws of a pooled identity (shared by every face of that identity)."""
    return np.random.default_rng([int(seed), 1, int(identity)]).random(N_ID)


def true_class_index(config: SyntheticFaceConfig, index: int) -> int:
    """The drawn class of face ``index``: cyclic when balanced, a low-discrepancy sequence otherwise.

    Both depend only on the index (not on ``n``), and keep every prefix of the set within a few
    faces of the requested proportions.
    """
    props = config.proportions
    k = len(props)
    if config.class_proportions is None:
        return index % k
    x = ((index + 1) * _GOLDEN + (config.seed % 9973) * 0.7548776662466927) % 1.0
    acc = 0.0
    for j, p in enumerate(props):
        acc += p
        if x < acc:
            return j
    return max(j for j, p in enumerate(props) if p > 0)


def _resolve_pose(u: list[float], nz: Nuisance) -> np.ndarray:
    p = [0.0] * len(POSE_FIELDS)
    rot = nz.rotation * (2 * u[0] - 1)
    p[POSE["rotation_deg"]] = rot
    p[POSE["rot_cos"]] = math.cos(math.radians(rot))
    p[POSE["rot_sin"]] = math.sin(math.radians(rot))
    p[POSE["scale"]] = nz.scale[0] + (nz.scale[1] - nz.scale[0]) * u[1]
    p[POSE["tx"]] = nz.translate * (2 * u[2] - 1)
    p[POSE["ty"]] = nz.translate * (2 * u[3] - 1)
    p[POSE["gain"]] = nz.gain[0] + (nz.gain[1] - nz.gain[0]) * u[4]
    mag = nz.light_gradient * u[5]
    ang = 2 * math.pi * u[6]
    p[POSE["grad_x"]] = mag * math.cos(ang)
    p[POSE["grad_y"]] = mag * math.sin(ang)
    for j, c in enumerate(("cast_r", "cast_g", "cast_b")):
        p[POSE[c]] = nz.colour_cast * (2 * u[7 + j] - 1)
    p[POSE["blur"]] = nz.blur * u[10]
    p[POSE["blur_passes"]] = nz.blur_passes
    p[POSE["noise_sigma"]] = nz.noise[0] + (nz.noise[1] - nz.noise[0]) * u[11]
    if u[12] < nz.occluder:
        p[POSE["occ_kind"]] = 1.0 if u[13] < 0.5 else 2.0
        p[POSE["occ_x"]] = 28.0 + 44.0 * u[14]
        p[POSE["occ_y"]] = 40.0 + 42.0 * u[15]
        ang = math.pi * u[16]
        p[POSE["occ_cos"]] = math.cos(ang)
        p[POSE["occ_sin"]] = math.sin(ang)
        p[POSE["occ_size"]] = 0.8 + 0.5 * u[17]
        if p[POSE["occ_kind"]] == 1.0:  # skin-like hand
            t = u[18]
            rgb = (0.42 + 0.53 * t, 0.27 + 0.52 * t, 0.19 + 0.48 * t)
        else:  # a bar: dark, light or coloured
            rgb = (u[18], u[19], u[20]) if u[21] < 0.6 else (0.08 + 0.1 * u[18],) * 3
        p[POSE["occ_r"]], p[POSE["occ_g"]], p[POSE["occ_b"]] = rgb
    return np.array(p)


def _put(vec: np.ndarray, emotion: str, au: int, value: float, side: str) -> None:
    for ch in au_channels(au, side if (emotion in UNILATERAL and au in (12, 14)) else None):
        vec[ch] = max(vec[ch], value)


def sample_params(
    config: SyntheticFaceConfig,
    index: int,
    identity_cache: MutableMapping[int, np.ndarray] | None = None,
) -> FaceParams:
    """Draw the parameters of face ``index`` of ``config`` (deterministic in ``(config, index)``)."""
    if index < 0:
        raise ValueError(f"face index must be >= 0, got {index}")
    rng = np.random.default_rng([int(config.seed), int(index)])
    u_arr = rng.random(N_SAMPLE + N_ID)
    noise = rng.random(config.size * config.size, dtype=np.float32)
    u = u_arr.tolist()
    classes = config.label_space.classes
    k = len(classes)
    lo, hi = config.intensity

    true_c = classes[true_class_index(config, index)]
    side = "r" if u[_M["side"]] < 0.5 else "l"
    proto: Mapping[int, float] = PROTOTYPES[true_c]

    # label-carrying AUs
    kept = list(proto)
    if len(kept) > 1 and u[_M["partial"]] < config.partial:
        draws = {au: u[_OFF_KEEP + _AU_POS[au]] for au in kept}
        subset = [au for au in kept if draws[au] < 0.5]
        kept = subset or [min(kept, key=lambda a: draws[a])]
    regions = set(config.regions)
    au_label = np.zeros(len(AU_CHANNELS), dtype=np.float32)
    for au in kept:
        if AU_REGION[au] in regions:
            _put(au_label, true_c, au, (lo + (hi - lo) * u[_OFF_INT + _AU_POS[au]]) * proto[au], side)

    # class-independent AUs: a blended second class and decoys of the non-evidence regions
    au_other = np.zeros(len(AU_CHANNELS), dtype=np.float32)
    if k > 1 and u[_M["blend"]] < config.blend:
        others = [c for c in classes if c != true_c]
        c2 = others[min(int(u[_M["blend_class"]] * len(others)), len(others) - 1)]
        w = config.blend_weight[0] + (config.blend_weight[1] - config.blend_weight[0]) * u[_M["blend_weight"]]
        for au, wt in PROTOTYPES[c2].items():
            if AU_REGION[au] in regions:
                _put(au_other, c2, au, w * (lo + (hi - lo) * u[_OFF_BINT + _AU_POS[au]]) * wt, side)
    dside = "r" if u[_M["decoy_side"]] < 0.5 else "l"
    for region in ("eyes", "nose", "mouth"):
        if region in regions:
            continue
        d = classes[min(int(u[_M[f"decoy_{region}"]] * k), k - 1)]
        for au, wt in PROTOTYPES[d].items():
            if AU_REGION[au] == region:
                _put(au_other, d, au, (lo + (hi - lo) * u[_OFF_DINT + _AU_POS[au]]) * wt, dside)

    # label noise
    label = true_c
    if config.label_noise > 0 and u[_M["noise_flip"]] < config.label_noise:
        others = [c for c in classes if c != true_c]
        label = others[min(int(u[_M["noise_class"]] * len(others)), len(others) - 1)]

    # identity
    if config.n_identities is None:
        ident = int(index)
        id_u = u_arr[N_SAMPLE:]
    else:
        ident = min(int(u[_M["identity"]] * config.n_identities), config.n_identities - 1)
        cached = identity_cache.get(ident) if identity_cache is not None else None
        if cached is None:
            cached = identity_uniforms(config.seed, ident)
            if identity_cache is not None:
                identity_cache[ident] = cached
        id_u = cached

    unilateral = "none"
    if true_c in UNILATERAL and au_label.any():
        unilateral = "right" if side == "r" else "left"
    return FaceParams(
        index=int(index), seed=int(config.seed), size=int(config.size), channels=int(config.channels),
        label=label, true_label=true_c, au_label=au_label, au_other=au_other, identity_id=ident,
        identity_u=id_u, pose=_resolve_pose(u[_OFF_POSE:_OFF_POSE + 24], config.nuisance_spec),
        noise=noise, unilateral=unilateral, evidence_threshold=float(config.evidence_threshold),
    )
