"""Face regions cut from the exact landmarks of synthetic faces, whose evidence location is known."""

import numpy as np

from fer_explain.data.synthetic import SyntheticFaceConfig, dilate_mask, generate
from fer_explain.faces import region_masks


def test_mouth_region_holds_the_mouth_only_evidence_and_eyes_do_not():
    batch = generate(SyntheticFaceConfig(n=42, size=64, seed=3, evidence_regions=("mouth",)))
    has = batch.evidence.reshape(len(batch.labels), -1).any(axis=1)
    assert has.sum() >= 30  # every non-neutral face carries evidence
    ev = batch.evidence[has]
    lm = batch.landmarks[has]
    mouth = np.asarray(region_masks(lm, "mouth", (64, 64), margin=3))
    eyes = np.asarray(region_masks(lm, "eyes", (64, 64), margin=0))
    inside_mouth = (ev & mouth).sum() / ev.sum()
    inside_eyes = (ev & eyes).sum() / ev.sum()
    assert inside_mouth > 0.9, inside_mouth
    assert inside_eyes < 0.01, inside_eyes
    # a dilated evidence mask still overlaps the mouth far more than any other region
    wide = dilate_mask(ev, 2)
    nose = np.asarray(region_masks(lm, "nose", (64, 64), margin=0))
    assert (wide & mouth).sum() > 5 * (wide & nose).sum()
