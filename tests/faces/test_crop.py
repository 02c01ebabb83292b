import numpy as np
import pytest
from skimage import data

from fer_explain.faces import NoFaceError, crop_face, detect_landmarks


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
