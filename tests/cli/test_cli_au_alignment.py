"""``fer-explain au-alignment`` on a few synthetic faces: the tables, the figure, landmarks computed when the
manifest has none, and bad input that ends in one message and exit status 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fer_explain.analysis.au_alignment import COLUMNS, REFERENCES
from fer_explain.cli import main
from fer_explain.data.synthetic import default_synthetic_manifest
from fer_explain.train import shipped_checkpoint

DEEP = str(shipped_checkpoint("synthetic/deep_emotion"))
METHODS = "gradcam,saliency"


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """Five test faces: happiness, surprise, neutral, anger, and a happiness face labelled sadness (so the
    model's prediction differs from the label and the predicted class is explained too)."""
    m = default_synthetic_manifest()
    test = m.df[m.df["split"] == "test"]
    rows = pd.concat([test[test["label"] == e].iloc[:1] for e in ("happiness", "surprise", "neutral", "anger")])
    wrong = test[test["label"] == "happiness"].iloc[1:2].assign(label="sadness")
    return m.replace(pd.concat([rows, wrong])).save(tmp_path_factory.mktemp("faces") / "five")


def test_writes_the_tables_and_the_figure(faces: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "au"
    argv = ["au-alignment", DEEP, str(faces), "--split", "test", "--out", str(out), "--methods", METHODS, "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "scored 5 faces of split 'test' with gradcam, saliency; landmarks: 5 synthetic" in printed
    table = pd.read_csv(out / "au_alignment.csv")
    assert tuple(table.columns) == COLUMNS
    assert list(dict.fromkeys(table["method"])) == ["gradcam", "saliency", *REFERENCES]
    assert set(table["target"]) == {"true", "predicted"} and set(table["threshold"]) == {"top15", "otsu"}
    assert "neutral" not in set(table["emotion"]) and "all_fallback" not in set(table["emotion"])
    true_all = table[(table["emotion"] == "all") & (table["target"] == "true")].set_index(["method", "threshold"])
    assert (true_all["n"] == 4).all()  # neutral has no mask
    assert true_all.loc[("ideal", "otsu"), "iou"] == 1.0 and true_all.loc[("ideal", "otsu"), "pointing_game"] == 1.0
    assert true_all.loc[("ideal", "top15"), "iou"] < 1.0  # the masks are not exactly 15 % of the face
    assert table[["iou", "f1", "pointing_game"]].apply(lambda c: c.between(0, 1)).all().all()
    sad = table[(table["emotion"] == "sadness") & (table["target"] == "true")]
    assert set(sad["n"]) == {1}

    per_face = pd.read_csv(out / "au_alignment_faces.csv")
    assert len(per_face) == 5 * (2 + len(REFERENCES)) * 2
    wrong = per_face[per_face["label"] == "sadness"]
    assert (wrong["prediction"] != "sadness").all()
    assert set(wrong.loc[wrong["target"] == "predicted", "emotion"]) == {wrong["prediction"].iloc[0]}
    assert (out / "explain_true" / "explain.json").is_file() and (out / "explain_predicted" / "explain.json").is_file()
    # the summary is the mean of the per-face rows
    g = per_face[(per_face["method"] == "gradcam") & (per_face["target"] == "true")]
    row = table[(table["method"] == "gradcam") & (table["target"] == "true") & (table["emotion"] == "all")
                & (table["threshold"] == "otsu")].iloc[0]
    assert row["iou"] == pytest.approx(g["iou_otsu"].mean()) and row["f1"] == pytest.approx(g["f1_otsu"].mean())

    population = pd.read_csv(out / "au_alignment_population.csv")
    assert set(population["method"]) == {"gradcam", "saliency", *REFERENCES}
    ideal = population[(population["method"] == "ideal") & (population["threshold"] == "otsu")]
    assert (ideal["iou"] > 0.5).all()
    assert (out / "au_alignment.png").read_bytes()[:4] == b"\x89PNG"

    assert main(argv) == 0  # a rerun finds the explanations complete and writes the same table
    assert pd.read_csv(out / "au_alignment.csv").equals(table)


def test_landmarks_are_computed_when_the_manifest_has_none(faces: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("dlib")
    from fer_explain.data.manifest import Manifest

    m = Manifest.load(faces)
    bare = m.replace(m.df.drop(columns=["landmarks", "landmark_source"]).iloc[:3]).save(tmp_path / "bare")
    out = tmp_path / "au"
    assert main(["au-alignment", DEEP, str(bare), "--out", str(out), "--methods", "gradcam", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "scored 3 faces" in printed and "detected share" in printed
    per_face = pd.read_csv(out / "au_alignment_faces.csv")
    assert set(per_face["landmark_source"]) <= {"detected", "fallback"}
    assert (per_face["landmark_fallback"] == (per_face["landmark_source"] == "fallback")).all()
    table = pd.read_csv(out / "au_alignment.csv")
    if per_face["landmark_fallback"].any():
        assert "all_fallback" in set(table["emotion"])
    assert Manifest.load(out / "faces.csv").has_landmarks().all()
    assert np.isfinite(per_face.loc[per_face["emotion"] != "neutral", "iou_otsu"]).all()


@pytest.mark.parametrize("extra,message", [
    (["--methods", "lime"], "argument --methods: unknown explanation method(s) ['lime']"),
    (["--methods", "cam"], "argument --methods: method(s) ['cam'] cannot explain checkpoint"),
    (["--split", "val"], "argument --split: split 'val' has no rows in manifest"),
    (["--max-faces", "0"], "argument --max-faces: expected a positive integer, got '0'"),
])
def test_bad_arguments_name_the_flag(faces: Path, tmp_path: Path, capsys, extra: list[str], message: str) -> None:
    out = tmp_path / "out"
    assert main(["au-alignment", DEEP, str(faces), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert f"fer-explain au-alignment: error: {message}" in err and "Traceback" not in err
    assert not out.exists()


def test_missing_files_are_named(faces: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["au-alignment", DEEP, str(tmp_path / "nowhere.csv"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"fer-explain au-alignment: error: {tmp_path / 'nowhere.csv'}" in err and "Traceback" not in err
    assert main(["au-alignment", str(tmp_path / "ckpt"), str(faces), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"checkpoint {tmp_path / 'ckpt'}: missing" in err and "Traceback" not in err
    assert main(["au-alignment", str(tmp_path / "ckpt"), str(faces), "--out", str(out), "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err
    assert not out.exists()
