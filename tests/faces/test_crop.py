from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from fer_explain.faces import NoFaceError, crop_detection, crop_face, detect_landmarks


def test_crop_face_on_astronaut_maps_landmarks_into_the_crop():
    photo = data.astronaut()
    crop = crop_face(photo, size=48, channels=1, margin=0.2, upsample=0)
    assert crop.image.shape == (48, 48) and crop.image.dtype == np.uint8
    assert crop.detection.source == "detected"
    # the face fills the middle of the crop: all landmarks inside, centred within a few pixels
    assert (crop.landmarks >= 0).all() and (crop.landmarks < 48).all()
    centre = crop.landmarks.mean(axis=0)
    assert np.abs(centre - 24).max() < 8
    # the crop really is that part of the photo: landmarks detected again land close to the mapped ones
    rgb = crop_face(photo, size=160, channels=3, margin=0.2, upsample=0)
    again = detect_landmarks(rgb.image, upsample=0)
    assert np.median(np.linalg.norm(again.points - rgb.landmarks, axis=1)) < 6


def test_crop_face_errors():
    blank = np.zeros((64, 64), np.uint8)
    with pytest.raises(NoFaceError, match="photo"):
        crop_face(blank, upsample=0)
    assert crop_face(blank, size=32, fallback=True, upsample=0).image.shape == (32, 32)
    with pytest.raises(ValueError, match="margin"):
        crop_face(blank, margin=-1)


def _detection(box, points, source="detected"):
    from fer_explain.faces import LandmarkResult
    return LandmarkResult(points=np.asarray(points, np.float32), source=source, box=box)


def test_crop_detection_maps_pixels_and_landmarks_exactly_at_scale_one():
    from fer_explain.faces import crop_detection
    photo = np.arange(60 * 80, dtype=np.uint8).reshape(60, 80) % 251
    pts = np.tile([[30.0, 20.0]], (68, 1))
    pts[1] = [41.0, 35.0]
    det = _detection((20, 10, 30, 30), pts, source="fallback")  # a fallback box is cropped as it is
    crop = crop_detection(photo, det, size=30, channels=1, margin=0.0)
    assert crop.box == (20, 10, 30, 30)
    np.testing.assert_array_equal(crop.image, photo[10:40, 20:50])
    np.testing.assert_allclose(crop.landmarks[:2], [[10.0, 10.0], [21.0, 25.0]], atol=1e-5)
    # halving the size maps pixel centres: x' = (x - x0 + 0.5) / 2 - 0.5
    half = crop_detection(photo, det, size=15, channels=1, margin=0.0)
    np.testing.assert_allclose(half.landmarks[1], [(21 + 0.5) / 2 - 0.5, (25 + 0.5) / 2 - 0.5], atol=1e-5)
    # a detected box is first moved up by FER2013_BOX_SHIFT of its height (30 x 0.07 = 2.1 px: rows 8..37)
    from fer_explain.faces.landmarks import FER2013_BOX_SHIFT, face_box
    assert FER2013_BOX_SHIFT == 0.07
    detected = _detection((20, 10, 30, 30), pts)
    assert face_box(detected) == pytest.approx((20.0, 7.9, 30.0, 30.0))
    up = crop_detection(photo, detected, size=30, channels=1, margin=0.0)
    assert up.box == (20, 8, 30, 30)
    np.testing.assert_array_equal(up.image, photo[8:38, 20:50])
    np.testing.assert_allclose(up.landmarks[:2], [[10.0, 12.0], [21.0, 27.0]], atol=1e-5)


def test_crop_detection_square_vs_dataset_framing():
    from fer_explain.data.dataset import crop_box
    from fer_explain.faces import crop_detection
    from fer_explain.faces.landmarks import face_box
    photo = np.random.default_rng(0).integers(0, 256, (100, 120, 3), dtype=np.uint8)
    det = _detection((40, 30, 20, 40), np.full((68, 2), 50.0))  # face box (40, 27.2, 20, 40)
    square = crop_detection(photo, det, size=48, channels=3, margin=0.25)
    assert square.image.shape == (48, 48, 3)
    assert square.box == (20, 17, 60, 60)  # side max(20, 40) = 40, grown by 0.25 x 40 per side, same centre
    # square=False is FaceDataset's framing: the face box itself grown by margin x (w, h) per side
    box = crop_detection(photo, det, size=32, channels=3, margin=0.25, square=False)
    expected = np.asarray(Image.fromarray(crop_box(photo, face_box(det), 0.25)).resize((32, 32),
                                                                                      Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(box.image, expected)
    assert box.box == (35, 17, 30, 60)
    # past the photo's edge the crop is zero-padded, not shifted
    edge = crop_detection(photo, _detection((0, 0, 20, 20), np.zeros((68, 2))), size=30, margin=0.25)
    assert edge.box == (-5, -6, 30, 30) and (edge.image[:6] == 0).all() and (edge.image[:, :5] == 0).all()
    with pytest.raises(ValueError, match="size"):
        crop_detection(photo, det, size=0)




@pytest.mark.realdata
def test_crop_face_default_frames_a_pasted_fer2013_face_like_fer2013(fer2013_dir: Path):
    """Known answer: a FER2013 face pasted 4x into a noise photo, cut out again by crop_face, is closest
    to the face as FER2013 ships it with the default margin (0.1), not with 0 or 0.2."""
    root = fer2013_dir
    from fer_explain.faces.landmarks import FER2013_CROP_MARGIN

    assert FER2013_CROP_MARGIN == 0.1
    rng = np.random.default_rng(0)
    files = sorted((root / "train" / "happy").glob("Training_*.jpg"))[:40]
    errors: dict[float, list[float]] = {0.0: [], 0.1: [], 0.2: []}
    for f in files:
        face = np.asarray(Image.open(f).convert("L"))
        photo = rng.integers(0, 256, (240, 240), dtype=np.uint8)
        photo[24:216, 24:216] = np.asarray(Image.fromarray(face).resize((192, 192), Image.Resampling.BICUBIC))
        try:
            det = detect_landmarks(photo, upsample=1, fallback=False)
        except NoFaceError:
            continue
        for margin, found in errors.items():
            crop = crop_detection(photo, det, size=48, channels=1, margin=margin)
            found.append(float(np.abs(crop.image.astype(float) - face).mean()))
    assert len(errors[0.1]) >= 20
    mean = {m: float(np.mean(v)) for m, v in errors.items()}
    assert mean[0.1] < mean[0.0] and mean[0.1] < mean[0.2], mean
    assert crop_face(photo).box == crop_detection(photo, detect_landmarks(photo), margin=0.1).box
