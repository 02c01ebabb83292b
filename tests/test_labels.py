import numpy as np
import pytest
import torch

from fer_explain.labels import (
    BASIC7,
    BASIC8,
    DATASET_CODES,
    EMOTIONS,
    LabelSpace,
    canonical_label,
    get_label_space,
    label_space_matrix,
    project_probabilities,
    remap_labels,
)


def test_canonical_order_is_fer2013():
    assert BASIC7.classes == ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
    assert BASIC8.classes == BASIC7.classes + ("contempt",)
    for code, name in DATASET_CODES["fer2013"].items():
        assert BASIC7.index(name) == code


@pytest.mark.parametrize("dataset", sorted(DATASET_CODES))
def test_every_dataset_maps_to_canonical_names(dataset):
    names = set(DATASET_CODES[dataset].values())
    assert names <= set(EMOTIONS)
    # every dataset covers the 7 basic emotions except CK+48 (no neutral folder)
    expected = set(BASIC7.classes) - ({"neutral"} if dataset == "ckplus48" else set())
    assert expected <= names


def test_native_codes_of_each_dataset():
    assert canonical_label("rafdb", 1) == "surprise"
    assert canonical_label("rafdb", 7) == "neutral"
    assert canonical_label("affectnet", 7) == "contempt"
    assert canonical_label("ckplus", 2) == "contempt"
    assert canonical_label("jaffe", "HA") == "happiness"
    assert canonical_label("ferg", "joy") == "happiness"
    assert canonical_label("fer2013_folders", "angry") == "anger"


def test_unknown_code_error_lists_valid_codes():
    with pytest.raises(KeyError, match=r"rafdb: unknown label code 9.*valid codes"):
        canonical_label("rafdb", 9)
    with pytest.raises(KeyError, match="unknown dataset code table"):
        canonical_label("nope", 1)


def test_label_space_errors_and_without():
    with pytest.raises(ValueError, match="unknown emotion names"):
        LabelSpace("x", ("anger", "joy"))
    no_neutral = BASIC7.without("neutral")
    assert no_neutral.classes == BASIC7.classes[:6]
    with pytest.raises(KeyError, match="not in label space"):
        no_neutral.index("neutral")
    assert get_label_space(list(BASIC8.classes)) is BASIC8
    with pytest.raises(KeyError, match="valid"):
        get_label_space("basic9")


def test_project_probabilities_drops_missing_class_and_renormalises():
    # a 7-class model evaluated on a dataset without neutral: neutral's probability is set to zero
    p = torch.tensor([[0.1, 0.0, 0.0, 0.2, 0.0, 0.0, 0.7], [0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0.0]])
    target = BASIC7.without("neutral")
    q = project_probabilities(p, BASIC7, target)
    assert q.shape == (2, 6)
    assert torch.allclose(q.sum(1), torch.ones(2))
    assert q[0].argmax().item() == target.index("happiness")  # neutral would have won
    assert torch.allclose(q[1], p[1, :6])
    raw = project_probabilities(p.numpy(), BASIC7, target, renormalize=False)
    assert np.allclose(raw, p.numpy()[:, :6])


def test_project_probabilities_into_larger_space_and_shape_error():
    p = np.full((1, 7), 1 / 7)
    q = project_probabilities(p, BASIC7, BASIC8)
    assert q.shape == (1, 8) and q[0, 7] == 0
    with pytest.raises(ValueError, match="8 classes"):
        project_probabilities(np.ones((1, 7)), BASIC8, BASIC7)


def test_remap_labels_and_matrix():
    rafdb_order = get_label_space(["surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral"])
    assert remap_labels([0, 6], rafdb_order, BASIC7).tolist() == [5, 6]
    assert remap_labels([7], BASIC8, BASIC7).tolist() == [-1]
    assert label_space_matrix(BASIC8, BASIC7).sum() == 7
