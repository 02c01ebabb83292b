"""overlay(): seed 002 eq. 3 checked numerically; explanation_grid(): layout and titles."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from fer_explain.viz.overlay import explanation_grid, overlay, to_display_image

CLASSES = ["anger", "disgust", "fear", "happiness"]


def test_overlay_default_is_seed002_eq3() -> None:
    img = np.array([[0.0, 0.2], [0.6, 1.0]])
    heat = np.array([[2.0, 4.0], [6.0, 10.0]])  # min-max normalised -> [[0, .25], [.5, 1]]
    h = np.array([[0.0, 0.25], [0.5, 1.0]])
    jet = matplotlib.colormaps["jet"](h)[..., :3]
    expected = np.clip(0.4 * jet + 0.5 * img[..., None], 0, 1)
    out = overlay(img, heat)
    assert out.shape == (2, 2, 3) and out.dtype == np.float64
    np.testing.assert_allclose(out, expected, atol=1e-12)
    # highest value -> jet's top colour (dark red), lowest -> its bottom colour (dark blue)
    assert out[1, 1, 0] > out[1, 1, 2] and out[0, 0, 2] > out[0, 0, 0]


def test_overlay_uint8_rgb_and_options() -> None:
    img8 = np.full((3, 3, 3), 255, dtype=np.uint8)
    heat = np.zeros((3, 3))
    heat[1, 1] = 1.0
    out = overlay(img8, heat, alpha_map=1.0, alpha_image=1.0, cmap="gray")
    assert out.max() <= 1.0 and out.min() >= 0.0  # 1 + 1 clipped
    np.testing.assert_allclose(out, 1.0)
    out2 = overlay(img8, heat, alpha_map=0.5, alpha_image=0.0, cmap="gray")
    np.testing.assert_allclose(out2[1, 1], 0.5)
    np.testing.assert_allclose(out2[0, 0], 0.0)
    # a constant map becomes all zeros (the colour map's bottom colour)
    flat = overlay(np.zeros((2, 2)), np.full((2, 2), 3.0), alpha_image=0.0)
    np.testing.assert_allclose(flat, 0.4 * np.broadcast_to(matplotlib.colormaps["jet"](0.0)[:3], (2, 2, 3)))
    # normalize=False keeps values (clipped to [0, 1])
    raw = overlay(np.zeros((1, 2)), np.array([[0.5, 2.0]]), alpha_map=1.0, cmap="gray", normalize=False)
    np.testing.assert_allclose(raw[0, :, 0], [matplotlib.colormaps["gray"](0.5)[0], 1.0])


def test_overlay_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="heatmap is 3x3 but the image is 2x2"):
        overlay(np.zeros((2, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        overlay(np.full((2, 2), 2.0), np.zeros((2, 2)))


def test_to_display_image_layouts() -> None:
    chw = torch.rand(3, 5, 4)
    np.testing.assert_allclose(to_display_image(chw), chw.permute(1, 2, 0).numpy(), rtol=1e-6)
    grey = to_display_image(np.full((4, 4), 128, np.uint8))
    assert grey.shape == (4, 4, 3) and grey[0, 0, 0] == pytest.approx(128 / 255)


def test_explanation_grid_layout_and_titles() -> None:
    images = torch.rand(3, 1, 8, 8)
    maps = {"gradcam": torch.rand(3, 8, 8), "occlusion": np.random.rand(3, 8, 8)}
    probs = np.array([[0.7, 0.1, 0.1, 0.1], [0.2, 0.5, 0.2, 0.1], [0.1, 0.1, 0.1, 0.7]])
    fig = explanation_grid(images, maps, [0, 2, 3], [0, 1, 3], probs, CLASSES)
    assert len(fig.axes) == 9
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "pred anger (0.70)\ntrue anger"
    assert titles[1:3] == ["gradcam", "occlusion"]
    assert titles[3] == "pred disgust (0.50)\ntrue fear"
    assert fig.axes[3].title.get_color() == "red" and fig.axes[0].title.get_color() == "black"
    assert titles[4:6] == ["", ""]  # method names only on the first row
    # names and per-sample probabilities work too; no true labels
    fig2 = explanation_grid(images[:1], {"cam": maps["gradcam"][:1]}, None, ["fear"], [0.42], CLASSES)
    assert fig2.axes[0].get_title() == "pred fear (0.42)"
    with pytest.raises(ValueError, match="maps for method 'cam'"):
        explanation_grid(images, {"cam": np.zeros((3, 4, 4))}, None, [0, 1, 2], probs, CLASSES)
