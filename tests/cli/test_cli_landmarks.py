"""``fer-explain landmarks``: landmarks and (``--boxes``) face boxes stored in the manifest, the printed
summary, and user errors (one message, exit status 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("dlib")
skdata = pytest.importorskip("skimage.data")

from fer_explain.cli import main
from fer_explain.data.manifest import Manifest, make_manifest


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """A manifest of two photos: a face in a larger frame, and a grey wall (no face)."""
    root = tmp_path / "photos"
    root.mkdir()
    canvas = np.zeros((260, 240, 3), np.uint8)
    canvas[40:220, 30:210] = skdata.astronaut()[40:220, 130:310]
    Image.fromarray(canvas).save(root / "face.png")
    Image.fromarray(np.full((120, 120), 90, np.uint8)).save(root / "wall.png")
    rows = [{"dataset": "photos", "image": "face.png", "label": "happiness", "split": "test"},
            {"dataset": "photos", "image": "wall.png", "label": "neutral", "split": "test"}]
    return make_manifest(rows, root, name="photos").save(tmp_path / "photos")


def test_boxes_stored_and_misses_counted(photos: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "boxed"
    assert main(["landmarks", str(photos), "--boxes", "--upsample", "0", "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "boxed" in printed
    assert "face boxes: 1 of 2 faces have one; 1 with no face detected keep none" in printed
    m = Manifest.load(out.with_suffix(".csv"))
    boxes = m.boxes()
    assert np.isfinite(boxes[0]).all() and np.isnan(boxes[1]).all()
    x, y, w, h = boxes[0]
    assert 30 - 10 <= x and x + w <= 210 + 10 and 40 - 10 <= y and y + h <= 220 + 20  # on the pasted face
    assert list(m.df["landmark_source"]) == ["detected", "fallback"]
    # a second run over the saved manifest computes nothing and keeps the boxes
    assert main(["landmarks", str(out.with_suffix(".csv")), "--boxes", "--upsample", "0", "--quiet"]) == 0
    assert "face boxes: 1 of 2" in capsys.readouterr().out
    np.testing.assert_array_equal(Manifest.load(out.with_suffix(".csv")).boxes(), boxes)


def test_without_boxes_no_box_columns(photos: Path, tmp_path: Path, capsys) -> None:
    assert main(["landmarks", str(photos), "--upsample", "0", "--quiet", "--out", str(tmp_path / "lm")]) == 0
    assert "face boxes" not in capsys.readouterr().out
    assert "box_x" not in Manifest.load(tmp_path / "lm.csv").df


@pytest.mark.parametrize("argv, message", [
    (["--upsample", "-1"], "argument --upsample: expected a whole number >= 0, got -1"),
    (["--workers", "two"], "argument --workers: expected a whole number >= 0, got 'two'"),
    (["--boxes", "--no-fallback"], "manifest row 1 (wall.png): no face detected"),
])
def test_user_errors(photos: Path, capsys, argv: list[str], message: str) -> None:
    code = main(["landmarks", str(photos), "--quiet", "--upsample", "0", *argv])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.count("fer-explain landmarks: error: ") == 1 and message in err, err
