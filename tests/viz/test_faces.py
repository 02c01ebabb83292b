"""fer_explain.viz.faces: grids of faces with their labels and masks drawn over them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fer_explain.data.synthetic import SyntheticFaceConfig, generate
from fer_explain.viz import face_grid


def test_face_grid_titles_masks_and_shape_checks() -> None:
    faces = generate(SyntheticFaceConfig(n=5, size=32, seed=3))
    fig = face_grid(faces.images, masks=faces.evidence, labels=faces.labels, classes=faces.label_space.classes,
                    ncols=3, title="evidence")
    visible = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 6 and len(visible) == 5
    assert visible[0].get_title() == faces.label_space.classes[faces.labels[0]]
    assert fig._suptitle is not None and fig._suptitle.get_text() == "evidence"
    with pytest.raises(ValueError, match="masks must be"):
        face_grid(faces.images, masks=faces.evidence[:2])
    with pytest.raises(ValueError, match="labels has 2 entries"):
        face_grid(faces.images, labels=["a", "b"])
    with pytest.raises(ValueError, match="no images"):
        face_grid(np.zeros((0, 8, 8), np.uint8))


def test_face_grid_paints_the_mask_in_its_colour() -> None:
    images = torch.zeros(2, 1, 8, 8)                 # black channel-first float faces, as a tensor
    masks = torch.zeros(2, 8, 8, dtype=torch.bool)
    masks[1, 2:4, 2:4] = True
    fig = face_grid(images, masks=masks, labels=["x", "y"], mask_color=(0.0, 1.0, 0.0), mask_alpha=1.0)
    shown = fig.axes[1].images[0].get_array()
    assert np.allclose(shown[2, 2], (0.0, 1.0, 0.0)) and np.allclose(shown[0, 0], 0.0)
    assert [ax.get_title() for ax in fig.axes] == ["x", "y"]
