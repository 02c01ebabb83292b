"""dlib landmarks on a real photo (skimage's astronaut), fallback policy, manifest-wide extraction,
and (when FER2013 is present) extraction on real FER2013 faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("dlib")
skdata = pytest.importorskip("skimage.data")

from fer_explain.data.io import to_channels
from fer_explain.data.manifest import format_landmarks, make_manifest
from fer_explain.faces import landmarks as L
from fer_explain.faces.regions import MEAN_FACE_68, region_mask

try:
    L.predictor_path()
except L.PredictorNotFoundError as exc:  # pragma: no cover - the package is a dependency
    pytest.skip(f"dlib predictor missing: {exc}", allow_module_level=True)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skdata.astronaut()


def _inside(points: np.ndarray, box: tuple[int, int, int, int], grow: float) -> np.ndarray:
    """Points inside the box with each side pushed out by ``grow`` times the box's width/height."""
    x, y, w, h = box
    dx, dy = grow * w, grow * h
    return ((points[:, 0] >= x - dx) & (points[:, 0] <= x + w + dx)
            & (points[:, 1] >= y - dy) & (points[:, 1] <= y + h + dy))


def test_predictor_found_without_importing_package():
    p = L.predictor_path()
    assert p.name == "shape_predictor_68_face_landmarks.dat" and p.parent.name == "models" and p.is_file()


def test_predictor_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv(L.PREDICTOR_ENV, str(tmp_path / "nope.dat"))
    with pytest.raises(L.PredictorNotFoundError, match="nope.dat"):
        L.predictor_path()


def test_astronaut_rgb(astronaut):
    res = L.detect_landmarks(astronaut, upsample=0)
    assert res.source == "detected"
    assert res.points.shape == (68, 2) and res.points.dtype == np.float32
    h, w = astronaut.shape[:2]
    assert (res.points >= 0).all() and (res.points[:, 0] < w).all() and (res.points[:, 1] < h).all()
    assert _inside(res.points, res.box, 0.15).all()
    assert 55 <= _inside(res.points, res.box, 0.0).sum() < 68  # the chin and jaw spill out of the tight box
    # anatomy: eyes above nose above mouth; the subject's right eye (37-42) on the image's left
    eyes_y, nose_y, mouth_y = res.points[36:48, 1].mean(), res.points[27:36, 1].mean(), res.points[48:68, 1].mean()
    assert eyes_y < nose_y < mouth_y
    assert res.points[36:42, 0].mean() < res.points[42:48, 0].mean()
    masks = {n: region_mask(res.points, n, (h, w)) for n in ["eyes", "nose", "mouth", "face"]}
    assert all(m.any() for m in masks.values())
    assert np.nonzero(masks["mouth"])[0].min() > np.nonzero(masks["nose"])[0].mean()
    assert np.nonzero(masks["eyes"])[0].max() < np.nonzero(masks["mouth"])[0].min()


def test_astronaut_grey_matches_rgb(astronaut):
    rgb = L.detect_landmarks(astronaut, upsample=0)
    grey = L.detect_landmarks(to_channels(astronaut, 1), upsample=0)
    also = L.detect_landmarks(to_channels(astronaut, 1)[..., None], upsample=0)  # (H, W, 1)
    assert grey.source == "detected" and np.array_equal(grey.points, also.points)
    assert np.abs(grey.points - rgb.points).mean() < 3.0


def test_largest_face_is_taken(astronaut):
    crop = astronaut[50:210, 140:300]  # one face, 160 x 160
    big = np.asarray(Image.fromarray(crop).resize((320, 320), Image.BILINEAR))
    canvas = np.zeros((340, 520, 3), np.uint8)
    canvas[10:170, 10:170] = crop
    canvas[10:330, 190:510] = big
    res = L.detect_landmarks(canvas, upsample=0)
    assert res.source == "detected" and res.box[0] >= 190 and res.box[2] > 120
    assert (res.points[:, 0] > 190).all()


def test_no_face_fallback_and_error():
    blank = np.full((48, 48), 128, np.uint8)
    res = L.detect_landmarks(blank, upsample=1)
    assert res.source == "fallback" and res.box == (0, 0, 48, 48) and res.points.shape == (68, 2)
    part = L.detect_landmarks(blank, upsample=1, fallback_box=(0.1, 0.1, 0.9, 0.9))
    assert part.box == (5, 5, 38, 38)
    with pytest.raises(L.NoFaceError, match="grey_wall.png: no face detected"):
        L.detect_landmarks(blank, upsample=1, fallback=False, name="grey_wall.png")


def test_bad_images():
    with pytest.raises(TypeError, match="uint8"):
        L.detect_landmarks(np.zeros((48, 48), np.float32))
    with pytest.raises(ValueError, match=r"grey \(H, W\) or RGB \(H, W, 3\).*\(48, 48, 4\)"):
        L.detect_landmarks(np.zeros((48, 48, 4), np.uint8))
    with pytest.raises(ValueError, match="upsample"):
        L.detect_landmarks(np.zeros((48, 48), np.uint8), upsample=-1)


def test_check_and_flip_landmarks():
    with pytest.raises(ValueError, match=r"\(68, 2\) or \(N, 68, 2\)"):
        L.check_landmarks(np.zeros((136,)))
    with pytest.raises(ValueError, match=r"\(N, 68, 2\)"):
        L.check_landmarks(np.zeros((68, 2)), batched=True)
    pts = (8 + 32 * MEAN_FACE_68).astype(np.float32)  # symmetric about x = 24 (width 49)
    flipped = L.flip_landmarks(pts, width=49)
    np.testing.assert_allclose(flipped, pts, atol=0.02)
    skew = pts + np.linspace(0, 3, 68, dtype=np.float32)[:, None]
    np.testing.assert_allclose(L.flip_landmarks(L.flip_landmarks(skew, 49), 49), skew, atol=1e-5)
    assert L.flip_landmarks(skew, 49)[36, 0] == pytest.approx(48 - skew[45, 0])


# --- manifests ---------------------------------------------------------------------------------------
def _tiny_manifest(root: Path, astronaut: np.ndarray):
    Image.fromarray(astronaut[40:220, 130:310]).resize((90, 90)).save(root / "face.png")
    Image.fromarray(np.full((48, 48), 90, np.uint8)).save(root / "blank.png")
    given = (4 + 40 * MEAN_FACE_68)
    rows = [
        {"dataset": "t", "image": "face.png", "label": "happiness", "split": "train"},
        {"dataset": "t", "image": "blank.png", "label": "neutral", "split": "train"},
        {"dataset": "t", "image": "blank.png", "label": "neutral", "split": "test",
         "landmarks": format_landmarks(given), "landmark_source": "synthetic"},
    ]
    return make_manifest(rows, root, name="tiny"), given


def test_extract_landmarks_paths_and_cache(tmp_path, astronaut):
    m, given = _tiny_manifest(tmp_path, astronaut)
    before = m.df.copy()
    out, summary = L.extract_landmarks(m, upsample=1, progress=False)
    assert out is not m and m.df.equals(before)  # input untouched
    assert list(out.df["landmark_source"]) == ["detected", "fallback", "synthetic"]
    pts = out.landmarks()
    assert pts.shape == (3, 68, 2) and np.isfinite(pts).all()
    np.testing.assert_allclose(pts[2], given, atol=0.006)  # given landmarks kept (2-decimal text)
    assert summary.loc["detected", "computed"] == 1 and summary.loc["fallback", "rows"] == 1
    assert summary.loc["synthetic", "computed"] == 0 and summary["rows"].sum() == 3
    out.validate()
    # the saved manifest round-trips, and a second run is a cache hit that changes nothing
    saved = out.save(tmp_path / "tiny_lm")
    again, summary2 = L.extract_landmarks(type(m).load(saved), progress=False)
    assert again.df.equals(type(m).load(saved).df) and summary2["computed"].sum() == 0
    # overwrite recomputes everything (the synthetic row's blank image falls back)
    redo, s3 = L.extract_landmarks(out, upsample=1, overwrite=True, progress=False)
    assert list(redo.df["landmark_source"]) == ["detected", "fallback", "fallback"] and s3["computed"].sum() == 3


def test_extract_without_fallback(tmp_path, astronaut):
    m, _ = _tiny_manifest(tmp_path, astronaut)
    with pytest.raises(L.NoFaceError, match=r"manifest row 1 \(blank.png\)"):
        L.extract_landmarks(m, fallback=False, progress=False)
    out, summary = L.extract_landmarks(m, fallback=False, errors="skip", progress=False)
    assert list(out.has_landmarks()) == [True, False, True]
    assert summary.loc["none", "rows"] == 1


def test_extract_with_worker_processes(tmp_path, astronaut):
    m, _ = _tiny_manifest(tmp_path, astronaut)
    here, _ = L.extract_landmarks(m, progress=False)
    pooled, _ = L.extract_landmarks(m, workers=1, chunksize=1, progress=False)
    assert here.df.equals(pooled.df)


# --- real FER2013 --------------------------------------------------------------------------------


FOLDER_LABELS = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness",
                 "neutral": "neutral", "sad": "sadness", "surprise": "surprise"}


@pytest.mark.realdata
def test_fer2013_every_face_gets_68_points(fer2013_dir: Path):
    root = fer2013_dir
    rows = []
    for folder, label in FOLDER_LABELS.items():
        files = sorted((root / "train" / folder).glob("*.jpg"))[:29]
        rows += [{"dataset": "fer2013", "image": str(f.relative_to(root)), "label": label, "split": "train"}
                 for f in files]
    m = make_manifest(rows, root, name="fer2013_sample")
    assert len(m) >= 150
    out, summary = L.extract_landmarks(m, upsample=1, progress=False)
    pts = out.landmarks()
    assert pts.shape == (len(m), 68, 2) and np.isfinite(pts).all()
    assert set(out.df["landmark_source"]) <= {"detected", "fallback"}
    share = summary.loc["detected", "share"]
    print(f"\nFER2013 sample of {len(m)}: detected {share:.1%}, fallback {summary.loc['fallback', 'share']:.1%}")
    assert 0.4 < share < 0.95  # measured here: about 68% with upsample=1
    assert (pts > -10).all() and (pts < 58).all()  # on (or just around) the 48 x 48 crop


# --- face boxes ----------------------------------------------------------------------------------------
def test_extract_boxes_stores_detected_boxes_only(tmp_path, astronaut):
    from fer_explain.data.dataset import FaceDataset
    from fer_explain.data.io import load_image

    m, given = _tiny_manifest(tmp_path, astronaut)
    out, summary = L.extract_landmarks(m, upsample=1, progress=False, boxes=True)
    boxes = out.boxes()
    face = L.detect_landmarks(load_image(tmp_path, "face.png"), upsample=1)
    np.testing.assert_allclose(boxes[0], L.face_box(face))  # the face box, in the image's pixels
    x, y, w, h = face.box
    np.testing.assert_allclose(boxes[0], (x, y - L.FER2013_BOX_SHIFT * h, w, h))  # dlib's box moved up
    assert np.isnan(boxes[1:]).all()  # blank images: no face, no box
    assert list(out.df["landmark_source"]) == ["detected", "fallback", "synthetic"]
    np.testing.assert_allclose(out.landmarks()[2], given, atol=0.006)  # given landmarks kept
    assert summary["boxed"].to_dict() == {"detected": 1, "fallback": 0, "dataset": 0, "synthetic": 0,
                                          "unknown": 0, "none": 0}
    out.validate()
    # FaceDataset now crops the face row (box grown by its crop_margin) and leaves the others whole
    ds = FaceDataset(out, size=24, channels=1, cache_dir=False, progress=False)
    whole = FaceDataset(m, size=24, channels=1, cache_dir=False, progress=False)
    assert not np.allclose(ds[0][0].numpy(), whole[0][0].numpy())
    np.testing.assert_array_equal(ds[1][0].numpy(), whole[1][0].numpy())
    # saved and run again: a cache hit
    saved = out.save(tmp_path / "boxed")
    again, s2 = L.extract_landmarks(type(m).load(saved), progress=False, boxes=True)
    assert s2["computed"].sum() == 0 and np.array_equal(again.boxes(), out.boxes(), equal_nan=True)
    # without boxes=True no box columns appear
    assert "box_x" not in L.extract_landmarks(m, progress=False)[0].df


def test_extract_boxes_keeps_given_boxes_and_upgrades_fallbacks(tmp_path, astronaut):
    m, _ = _tiny_manifest(tmp_path, astronaut)
    df = m.df.copy()
    df["landmarks"] = [format_landmarks(4 + 40 * MEAN_FACE_68)] * 3  # the face row: an earlier fallback
    df["landmark_source"] = ["fallback", "fallback", "synthetic"]
    df["box_x"], df["box_y"], df["box_w"], df["box_h"] = [np.nan, 2.0, np.nan], [np.nan, 3.0, np.nan], \
        [np.nan, 20.0, np.nan], [np.nan, 30.0, np.nan]
    m = m.replace(df)
    # fallback=False: rows that only need a box may have no face without an error
    out, summary = L.extract_landmarks(m, fallback=False, progress=False, boxes=True)
    assert list(out.df["landmark_source"]) == ["detected", "fallback", "synthetic"]  # fallback -> detected
    assert np.isfinite(out.boxes()[0]).all() and tuple(out.boxes()[1]) == (2.0, 3.0, 20.0, 30.0)
    assert np.isnan(out.boxes()[2]).all() and summary["computed"].sum() == 1
    # overwrite searches every row again: the given box is dropped where no face is found
    redo, _ = L.extract_landmarks(m, progress=False, boxes=True, overwrite=True)
    assert np.isnan(redo.boxes()[1]).all() and np.isfinite(redo.boxes()[0]).all()
    pooled, _ = L.extract_landmarks(m, progress=False, boxes=True, overwrite=True, workers=1, chunksize=1)
    assert pooled.df.equals(redo.df)


def test_boxed_landmarks_map_into_the_dataset_crop(tmp_path, astronaut):
    canvas = np.zeros((300, 260, 3), np.uint8)
    canvas[60:240, 40:220] = astronaut[40:220, 130:310]  # the face, off-centre in a larger photo
    Image.fromarray(canvas).save(tmp_path / "photo.png")
    m = make_manifest([{"dataset": "t", "image": "photo.png", "label": "happiness", "split": "test"}], tmp_path)
    out, _ = L.extract_landmarks(m, upsample=0, progress=False, boxes=True)
    pts = L.dataset_landmarks(out, 48, crop_margin=0.1)[0]
    inner = pts[17:]  # brows, nose, eyes, mouth inside the crop; the jaw may touch its edge, as in FER2013
    assert (inner > 2).all() and (inner < 46).all() and (pts > -3).all() and (pts < 51).all()
    assert np.abs(pts.mean(axis=0) - 24).max() < 4
