"""Tests of fer_explain.analysis.regions: region inputs, datasets, seed 002's protocol, the cheap
masked-input variant, left/right asymmetry and the per-region acceptance check on mouth-only faces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from fer_explain.analysis.regions import (
    FaceArrays,
    RegionDataset,
    compare_padding,
    dataset_landmarks,
    evaluate_region_occlusion,
    face_arrays,
    left_right_asymmetry,
    plot_region_contribution,
    region_inputs,
    seed002_protocol,
    train_region_models,
)
from fer_explain.data.manifest import Manifest, make_manifest
from fer_explain.data.synthetic import SyntheticFaceConfig, generate, write_synthetic
from fer_explain.faces.regions import crop_region, keep_region

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def small_faces() -> FaceArrays:
    return face_arrays(generate(SyntheticFaceConfig(n=24, size=48, seed=3)))


def test_region_inputs_dispatch(small_faces: FaceArrays) -> None:
    x, lm = small_faces.images[:4], small_faces.landmarks[:4]
    keep = region_inputs(x, lm, "mouth", "keep", margin=0)
    assert torch.equal(keep, keep_region(x, lm, "mouth")[0])
    for mode in ("pad", "square_crop", "resize"):
        got = region_inputs(x, lm, "nose_mouth", mode, size=32, margin=1)
        assert got.shape == (4, 1, 32, 32)
        assert torch.equal(got, crop_region(x, lm, "nose_mouth", mode=mode, out_size=32, margin=1)[0])
    assert region_inputs(x, lm, "eyes", "keep", size=24).shape == (4, 1, 24, 24)
    with pytest.raises(ValueError, match="variant must be one of"):
        region_inputs(x, lm, "mouth", "crop")
    with pytest.raises(KeyError, match="unknown region"):
        region_inputs(x, lm, "chin", "pad")


def test_region_dataset_precomputed_equals_lazy(small_faces: FaceArrays) -> None:
    eager = RegionDataset(small_faces, region="mouth", variant="pad", out_size=32)
    lazy = RegionDataset(small_faces.images, small_faces.landmarks, "mouth", "pad", 32, labels=small_faces.labels,
                         precompute=False)
    assert len(eager) == len(lazy) == 24
    assert eager.classes == small_faces.classes
    for i in (0, 7, 23):
        xe, ye = eager[i]
        xl, yl = lazy[i]
        assert xe.shape == (1, 32, 32) and ye == yl == int(small_faces.labels[i])
        assert torch.allclose(xe, xl, atol=1e-6)
    # normalisation is applied after cutting the region out: the black padding becomes -mean/std
    norm = RegionDataset(small_faces, region="mouth", variant="pad", out_size=32, normalize=(0.5, 0.25))
    assert torch.allclose(norm[0][0], (eager[0][0] - 0.5) / 0.25)
    # over a Dataset of (x, y) items
    base = torch.utils.data.TensorDataset(small_faces.images, torch.as_tensor(small_faces.labels))
    over_ds = RegionDataset(base, small_faces.landmarks, "eyes", "keep")
    assert torch.equal(over_ds[5][0], RegionDataset(small_faces, region="eyes", variant="keep")[5][0])
    np.testing.assert_array_equal(over_ds.labels, small_faces.labels)
    with pytest.raises(ValueError, match="landmarks must have shape"):
        RegionDataset(small_faces.images, small_faces.landmarks[:5], "mouth", labels=small_faces.labels)


def test_seed002_protocol() -> None:
    rows = []
    for i, (split, label) in enumerate([("train", "happiness"), ("publictest", "anger"), ("privatetest", "fear"),
                                        ("train", "contempt"), ("privatetest", "contempt"), ("publictest", "neutral")]):
        rows.append({"dataset": "ferplus", "image": f"{i}.png", "label": label, "split": split})
    m = make_manifest(rows, root=".", label_space="basic8", name="ferplus-test")
    train, test = seed002_protocol(m)
    assert train.classes == test.classes and "contempt" not in train.classes and len(train.classes) == 7
    assert sorted(train.df["label"]) == ["anger", "happiness", "neutral"]
    assert list(test.df["label"]) == ["fear"]
    assert set(train.df["split"]) == {"train"} and set(test.df["split"]) == {"test"}
    assert sorted(train.df["original_split"]) == ["publictest", "publictest", "train"]
    with pytest.raises(ValueError, match="privatetest"):
        seed002_protocol(m.select(split=["train", "publictest"]))


def test_dataset_landmarks_follow_the_resize(tmp_path) -> None:
    m = write_synthetic(SyntheticFaceConfig(n=6, size=48, seed=1), tmp_path / "synth", progress=False)
    m = Manifest.load(tmp_path / "synth" / "manifest")
    lm48 = dataset_landmarks(m, 48)
    np.testing.assert_allclose(lm48, m.landmarks(), atol=1e-4)
    lm96 = dataset_landmarks(m, 96)
    np.testing.assert_allclose(lm96, (m.landmarks() + 0.5) * 2 - 0.5, atol=1e-4)
    arrays = face_arrays(m, size=96)
    assert arrays.images.shape == (6, 1, 96, 96) and arrays.classes == m.classes


class _HalfModel(nn.Module):
    """Class 0's logit reads only the image-left half (the subject's right half); class 1 is constant."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.shape[-1]
        left = x[..., : w // 2].mean(dim=(1, 2, 3))
        return torch.stack([40 * (left - 0.42), torch.zeros_like(left)], dim=1)


def test_left_right_asymmetry_finds_the_used_half(small_faces: FaceArrays) -> None:
    x = small_faces.images
    labels = np.zeros(len(x), dtype=np.int64)
    table = left_right_asymmetry(_HalfModel(), x, small_faces.landmarks, labels, classes=["a", "b"])
    assert list(table.index) == ["a", "all"]
    row = table.loc["all"]
    assert row["drop_right"] > 0.2 and abs(row["drop_left"]) < 0.05
    assert row["asymmetry"] > 0.8
    assert 0 <= row["acc_keep_right"] <= 1 and 0 <= row["acc_keep_left"] <= 1
    assert row["n"] == len(x)


def test_evaluate_region_occlusion_table(small_faces: FaceArrays) -> None:
    labels = np.zeros(len(small_faces), dtype=np.int64)
    table = evaluate_region_occlusion(_HalfModel(), small_faces.images, small_faces.landmarks, labels,
                                      regions=["mouth", "right_half", "left_half"], progress=False)
    assert list(table.columns) == ["region", "mode", "accuracy", "true_prob", "accuracy_drop", "n"]
    assert table.iloc[0]["region"] == "none" and len(table) == 1 + 3 * 2
    t = table.set_index(["region", "mode"])["true_prob"]
    # removing the half the model reads costs probability, removing the other half costs nothing
    assert t[("right_half", "remove")] < t[("none", "none")] - 0.2
    assert abs(t[("left_half", "remove")] - t[("none", "none")]) < 0.05
    fig = plot_region_contribution(table, value="accuracy", chance=0.5)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "region" and ax.get_ylabel() == "accuracy" and ax.get_title()
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= {"keep", "remove", "chance (0.50)"}
    with pytest.raises(ValueError, match="modes"):
        evaluate_region_occlusion(_HalfModel(), small_faces, modes="blur")


@pytest.mark.slow
def test_region_models_on_mouth_only_faces() -> None:
    """Acceptance check, small: on faces whose label is carried by the mouth alone, a model trained on
    a mouth-containing region recognises the expression and a model trained on a region without the
    mouth is near chance.

    Small setting (about 30 s on one CPU thread): 700 train / 350 test faces at 48 x 48, an
    SE-ResNet-18 at width 1/8, 5 epochs. Measured: mouth 0.76, nose_mouth 0.86, eyes 0.14,
    nose 0.14 (chance 0.143). Bounds: >= 0.6 with the mouth, <= chance + 0.15 without.
    The full-size thresholds of the issue (every mouth-containing region within 3 points of the whole
    face, the others within 5 points of chance) are checked by ``benchmarks/region_contribution.py``.
    """
    cfg = SyntheticFaceConfig(n=1050, size=48, evidence_regions=("mouth",), seed=0)
    faces = face_arrays(generate(cfg))
    train, test = faces.subset(np.arange(700)), faces.subset(np.arange(700, 1050))
    regions = ["mouth", "nose_mouth", "eyes", "nose"]
    table, confusions = train_region_models(
        (train, test), regions=regions, variant="pad", model_name="se_resnet18",
        model_args={"width": 0.125, "input_size": 48}, recipe="quick", epochs=5, lr=3e-3, progress=False)
    print(table)
    assert list(table.index) == regions
    assert (table["n_test"] == 350).all() and (table["variant"] == "pad").all()
    chance = 1 / 7
    for r in ("mouth", "nose_mouth"):
        assert table.loc[r, "accuracy"] >= 0.6, table
    for r in ("eyes", "nose"):
        assert table.loc[r, "accuracy"] <= chance + 0.15, table
    for r in regions:
        cm = confusions[r]
        assert cm.shape == (7, 7) and cm.sum() == 350
        assert np.trace(cm) / 350 == pytest.approx(table.loc[r, "accuracy"])
    fig = plot_region_contribution(table, chance=chance)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "region" and ax.get_ylabel() == "accuracy"
    assert [t.get_text() for t in ax.get_xticklabels()] == regions


def test_compare_padding_table_shape() -> None:
    faces = face_arrays(generate(SyntheticFaceConfig(n=60, size=32, seed=2)))
    tr, te = faces.subset(np.arange(40)), faces.subset(np.arange(40, 60))
    table = compare_padding((tr, te), regions=["mouth", "eyes"], model_name="se_resnet18",
                            model_args={"width": 0.0625, "input_size": 32}, recipe="quick", epochs=1, progress=False)
    assert list(table.index) == ["mouth", "eyes"]
    assert list(table.columns) == ["square_crop", "pad", "n_test"]
    assert table[["square_crop", "pad"]].apply(lambda s: s.between(0, 1)).all().all()
    fig = plot_region_contribution(table, chance=1 / 7, title="Table 5")
    ax = fig.axes[0]
    assert ax.get_title() == "Table 5"
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= {"pad", "square_crop"}
    assert isinstance(table, pd.DataFrame)


def test_face_arrays_in_a_checkpoints_evaluation_view() -> None:
    """With model_input, faces are the tensors evaluate scores (before normalisation), landmarks in that view."""
    from fer_explain.data.synthetic import default_synthetic_manifest
    from fer_explain.train import CheckpointInput, load_checkpoint, shipped_checkpoint

    m = default_synthetic_manifest().select(split="test")
    m = m.replace(m.df.iloc[:6])
    model, meta = load_checkpoint(shipped_checkpoint("fer2013/vgg_fer"))
    inp = CheckpointInput.from_checkpoint(meta, model)
    assert not inp.view.is_identity
    arrays = face_arrays(m, model_input=inp)
    evaluated = torch.stack([inp.dataset(m)[i][0] for i in range(len(m))])
    torch.testing.assert_close(inp.standardize(arrays.images), evaluated)
    plain = face_arrays(m, size=48)
    np.testing.assert_allclose(arrays.landmarks, inp.map_points(plain.landmarks), atol=1e-5)
    assert not np.allclose(arrays.landmarks, plain.landmarks)
    with pytest.raises(ValueError, match="disagrees"):
        face_arrays(m, size=64, model_input=inp)
