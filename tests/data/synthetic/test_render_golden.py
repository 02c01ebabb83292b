"""Golden hashes of the synthetic renderer: a refactor of the renderer must keep every byte.

Each case renders a fixed set of faces through the public API and compares sha256 digests of the
images, evidence masks, landmarks, debug feature masks and identity records with digests recorded
from the renderer as it stood before its split into one module per feature. The cases together cover
every emotion (basic8), grey and RGB, sizes below and above the level-of-detail threshold (64 px), all
hair styles, glasses, both occluder kinds, rotation/scale/translation, lighting gradients, colour
casts, one and two blur passes, noise, partial and blended expressions, and mouth-only evidence with
decoy AUs elsewhere.

If a change is *meant* to alter the pixels, bump ``RENDERER_VERSION`` and re-record the digests
(run this file with ``GOLDEN_PRINT=1`` and ``-s`` to print the new ones).
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from fer_explain.data.synthetic import RENDERER_VERSION, SyntheticFaceConfig, render_faces, sample_params
from fer_explain.data.synthetic.params import POSE

CASES: dict[str, SyntheticFaceConfig] = {
    # grey, small, strong nuisance: occluders (hand and bar), rotation, two blur passes, noise
    "grey32_hard": SyntheticFaceConfig(n=16, size=32, channels=1, seed=21, classes="basic8", nuisance="hard"),
    # grey FER-like size, default nuisance, partial and blended expressions
    "grey48_default_blend": SyntheticFaceConfig(n=16, size=48, channels=1, seed=5, classes="basic8",
                                                partial=0.5, blend=0.5),
    # RGB at the level-of-detail threshold (catchlights, lid creases), colour cast, occluders
    "rgb64_hard": SyntheticFaceConfig(n=16, size=64, channels=3, seed=9, classes="basic8", nuisance="hard"),
    # RGB, larger, clean faces; mouth-only evidence with decoy AUs in the other regions
    "rgb100_mouth": SyntheticFaceConfig(n=8, size=100, channels=3, seed=3, classes="basic8", nuisance="none",
                                        evidence_regions=("mouth",)),
}

GOLDEN: dict[str, dict[str, str]] = {  # recorded from RENDERER_VERSION "1"
    "grey32_hard": {
        "images": "5645dc25ab8dfe58d834cfb2cf48cdfa021c7acd39184ca64e311565f979813d",
        "evidence": "81ea9fdd9df8e2c1b11272f6d6b9b7cf880c4dd165c78cf7ebe2db75fd06797d",
        "landmarks": "7a673761c53fe7af0eebe66d4ff1b167999720bc6dc141e5a1bb44ad5865f52b",
        "features": "ff5c198e8d0d622810fae8bde217640e9523383ee48c22df324d3972317c2fea",
        "identity": "c79e3c791ae1c3eac84d6bba9ee1b5fa7863e4603adda79352d3ed2d1175bfca",
    },
    "grey48_default_blend": {
        "images": "20b3180ba9f9146d14e2cf06aa9c7042716cfea811358ce1fd86af295d20001c",
        "evidence": "8afd1ba3d66ef30536740e02966d4e69a3e86d8e7d6dacbcec0f663de1906681",
        "landmarks": "e816327bff40f1abb3c356ba4f25c1406183addbf19feaaed7e6edb976c4fdca",
        "features": "bba20074646fdda46f7a6edb701beab8e0cb26ff386a8feb875aee0db85a737d",
        "identity": "1f923a15c1d5f46177cb045a484fba743bf831a282d203cd1ceaca6a78b3e99a",
    },
    "rgb64_hard": {
        "images": "d5a6a266de1d7df8a69a11c060c0707c9517af81af8de742407c05c3c4770edb",
        "evidence": "79c054e2ac4157d0c6b301038df676129c820992e0026cdae2c0c123059fefb7",
        "landmarks": "b7b27a0851685c11b3c0f75538dc499fcea5278becf3b0e767637b74a7869040",
        "features": "1a7f7dc852270370b91e900630ae64093824fc2c512ab4e87ee2f555c7dfe433",
        "identity": "98d68bc1b80ec464c289619e4bda123fb33d62ad4406fdd9d2e16a307af78f69",
    },
    "rgb100_mouth": {
        "images": "46892c1c5c070cb5cf46660bb58c8ffb400d1ee467d13d342e07a0a0cafaf45c",
        "evidence": "0605d1ef57889644f5087b01c5c17428e89a1c21ae94dab854d90448ca52533e",
        "landmarks": "54f7934968a745a4f2e9b063a7338ea20758d557854fafd4710594d2129d776d",
        "features": "e8c493e5e244e9e77a3fea4241e58acfe2fd6ee279432bc8d2a4b6a1454f9d38",
        "identity": "4951b56042a106dbfbbeaa0b2d12fda92072f3bc25429eac2e1879e768769ab7",
    },
}


def _sha(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _digests(cfg: SyntheticFaceConfig) -> dict[str, str]:
    params = [sample_params(cfg, i) for i in range(cfg.n)]
    samples = render_faces(params, debug=True)
    # rendering alone (no debug) must give the same images, landmarks and evidence
    plain = render_faces(params, debug=False)
    for a, b in zip(samples, plain):
        assert np.array_equal(a.image, b.image) and np.array_equal(a.evidence, b.evidence)
        assert np.array_equal(a.landmarks, b.landmarks)
    images = np.stack([s.image for s in samples])
    evidence = np.stack([s.evidence for s in samples])
    landmarks = np.stack([s.landmarks for s in samples])
    names = sorted(samples[0].features or {})
    features = [np.stack([s.features[k] for s in samples]) for k in names]  # type: ignore[index]
    ident = repr([sorted(s.identity.items()) for s in samples]).encode()
    return {
        "images": _sha(images),
        "evidence": _sha(evidence),
        "landmarks": _sha(landmarks),
        "features": hashlib.sha256(",".join(names).encode() + _sha(*features).encode()).hexdigest(),
        "identity": hashlib.sha256(ident).hexdigest(),
    }


def test_cases_cover_the_renderer():
    """The golden cases exercise every class and every optional part of the renderer."""
    labels, hair, glasses, occ, lod, rgb, grey = set(), set(), 0, set(), False, False, False
    for cfg in CASES.values():
        for i in range(cfg.n):
            p = sample_params(cfg, i)
            labels.add(p.true_label)
            s = p.identity_u
            hair.add(int(np.searchsorted([0.42, 0.7, 0.92], s[5], side="right")))
            glasses += int(s[35] < 0.18)
            occ.add(int(p.pose[POSE["occ_kind"]]))
        lod |= cfg.size >= 64
        rgb |= cfg.channels == 3
        grey |= cfg.channels == 1
    assert len(labels) == 8 and hair == {0, 1, 2, 3} and glasses >= 2 and occ == {0, 1, 2}
    assert lod and rgb and grey


@pytest.mark.parametrize("case", sorted(CASES))
def test_renderer_output_is_byte_identical_to_the_recorded_digests(case):
    got = _digests(CASES[case])
    if os.environ.get("GOLDEN_PRINT"):
        print(f"\n    {case!r}: {got!r},")
    assert RENDERER_VERSION == "1", "RENDERER_VERSION changed: re-record the golden digests"
    assert got == GOLDEN[case]
