"""Tests of fer_explain.analysis.attribution on synthetic mouth-only faces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from fer_explain.analysis.attribution import plot_side_by_side, region_emotion_table, region_masking_table
from fer_explain.data.synthetic import SyntheticFaceConfig, generate
from fer_explain.explain import Explanation

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def mouth_faces():
    return generate(SyntheticFaceConfig(n=70, size=48, evidence_regions=("mouth",), seed=5))


def _oracle(batch) -> Explanation:
    """A hand-made explanation whose maps are the ground-truth evidence masks."""
    maps = torch.from_numpy(batch.evidence.astype(np.float32))
    labels = torch.from_numpy(batch.labels).long()
    k = len(batch.label_space.classes)
    return Explanation(maps=maps, raw=None, targets=labels, probs=torch.full((len(labels), k), 1 / k),
                       method="oracle", labels=labels)


def test_oracle_explanation_puts_the_mass_on_the_mouth(mouth_faces) -> None:
    classes = mouth_faces.label_space.classes
    exp = _oracle(mouth_faces)
    table = region_emotion_table(exp, mouth_faces.landmarks, classes=classes, margin="10%", counts=True)
    print(table)
    assert list(table.index) == ["eyes", "nose", "mouth", "n"]
    assert list(table.columns) == list(classes)
    # neutral shows no label-carrying AU: no evidence, no positive attribution -> NaN shares, n = 0
    assert table["neutral"].iloc[:3].isna().all() and table.loc["n", "neutral"] == 0
    shares = table.drop(index="n").drop(columns="neutral")
    for emotion in shares.columns:
        col = shares[emotion]
        assert col.idxmax() == "mouth", (emotion, col)
        assert col["mouth"] > 0.5 and col["eyes"] < 0.1
    assert table.loc["n"].sum() == (mouth_faces.labels != classes.index("neutral")).sum()
    # grouping by another label vector works the same way
    same = region_emotion_table(exp, mouth_faces.landmarks, labels=mouth_faces.labels, classes=classes,
                                margin="10%")
    assert np.allclose(same.to_numpy(), table.drop(index="n").to_numpy(), equal_nan=True)
    with pytest.raises(ValueError, match="landmarks must be"):
        region_emotion_table(exp, mouth_faces.landmarks[:5], classes=classes)


class _MouthBoxModel(nn.Module):
    """Class 0's logit reads the mean of the box where the synthetic mouth sits; class 1 is constant."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        box = x[:, :, 31:40, 16:32].mean(dim=(1, 2, 3))
        return torch.stack([30 * (box - 0.3), torch.zeros_like(box)], dim=1)


def test_region_masking_table_and_side_by_side(mouth_faces) -> None:
    x = torch.from_numpy(mouth_faces.images).float().div(255)[:, None]
    labels = np.zeros(len(x), dtype=np.int64)
    table = region_masking_table(_MouthBoxModel(), x, mouth_faces.landmarks, labels, classes=["a", "b"],
                                 margin="5%", progress=False)
    print(table)
    assert list(table.index) == ["eyes", "nose", "mouth"] and list(table.columns) == ["a"]
    assert table.loc["mouth", "a"] > 0.1
    assert abs(table.loc["eyes", "a"]) < 0.02
    assert table.loc["mouth", "a"] > table.loc["nose", "a"]
    exp = _oracle(mouth_faces)
    attr = region_emotion_table(exp, mouth_faces.landmarks, classes=mouth_faces.label_space.classes)
    fig = plot_side_by_side(attr, table, titles=("oracle share", "masking drop"), suptitle="mouth-only faces")
    heat = [ax for ax in fig.axes if ax.get_title() in ("oracle share", "masking drop")]
    assert [ax.get_title() for ax in heat] == ["oracle share", "masking drop"]
    assert fig._suptitle is not None and fig._suptitle.get_text() == "mouth-only faces"
    assert all(ax.get_xlabel() == "emotion" and ax.get_ylabel() == "region" for ax in heat)
    assert [t.get_text() for t in heat[0].get_yticklabels()] == ["eyes", "nose", "mouth"]
