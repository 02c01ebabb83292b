"""FER2013 adapter over the real image folders (skips cleanly when they are absent).

The folder comes from ``FER_EXPLAIN_FER2013_DIR``, else ``/tmp/fer2013`` when it holds ``train/`` and
``test/``. Nothing is extracted here: extract the archive yourself, outside the repository.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fer_explain.data.sources import build_fer2013_manifest

pytestmark = pytest.mark.realdata

# per-class counts, train / PublicTest (the dataset card's Table)
EXPECTED = {
    "anger": (3995, 467),
    "disgust": (436, 56),
    "fear": (4097, 496),
    "happiness": (7215, 895),
    "neutral": (4965, 607),
    "sadness": (4830, 653),
    "surprise": (3171, 415),
}




def test_real_fer2013_folders_counts(fer2013_dir: Path) -> None:
    root = fer2013_dir
    m = build_fer2013_manifest(root, progress=False)
    splits = m.df["split"].value_counts().to_dict()
    assert splits == {"train": 28_709, "publictest": 3_589}
    table = m.class_distribution()
    for emotion, (n_train, n_public) in EXPECTED.items():
        assert (table.loc[emotion, "train"], table.loc[emotion, "publictest"]) == (n_train, n_public), emotion
    assert m.df["image"].str.match(r"^(train|test)/[a-z]+/(Training|PublicTest)_\d+\.jpg$").all()
