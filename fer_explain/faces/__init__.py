"""Faces: dlib 68-point landmarks (:mod:`.landmarks`) and the face regions built on them (:mod:`.regions`)."""

from fer_explain.faces.crop import FaceCrop, crop_face
from fer_explain.faces.landmarks import (
    FLIP_PERMUTATION_68,
    LandmarkResult,
    NoFaceError,
    PredictorNotFoundError,
    check_landmarks,
    detect_landmarks,
    extract_landmarks,
    flip_landmarks,
    landmark_summary,
    predictor_path,
)
from fer_explain.faces.regions import (
    BASE_FEATURE_IDS,
    MEAN_FACE_68,
    REGION_SETS,
    Region,
    base_feature_mask,
    crop_region,
    face_size,
    feature_mask,
    get_region,
    get_region_set,
    keep_region,
    list_regions,
    region_mask,
    region_masks,
    remove_region,
)

__all__ = [
    "FaceCrop", "crop_face",
    "BASE_FEATURE_IDS", "FLIP_PERMUTATION_68", "MEAN_FACE_68", "REGION_SETS", "LandmarkResult", "NoFaceError",
    "PredictorNotFoundError", "Region", "base_feature_mask", "check_landmarks", "crop_region", "detect_landmarks",
    "extract_landmarks", "face_size", "feature_mask", "flip_landmarks", "get_region", "get_region_set",
    "keep_region", "landmark_summary", "list_regions", "predictor_path", "region_mask", "region_masks",
    "remove_region",
]
