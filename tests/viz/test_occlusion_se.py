"""Occlusion (seed 004 Figs. 11-13) and SE-block (seed 001 Figs. 6-7) panels."""

from __future__ import annotations

import numpy as np
import pytest

from fer_explain.viz.occlusion import plot_occlusion
from fer_explain.viz.se import plot_se_maps

CLASSES = ["anger", "disgust", "fear", "happiness"]


def test_plot_occlusion_layout_and_titles() -> None:
    img = np.random.rand(16, 16)
    examples = [(img * (i % 2), "happiness" if i != 4 else 0, 0.5 + i / 20) for i in range(9)]
    fig = plot_occlusion(img, examples, np.random.rand(16, 16), true_label=3, classes=CLASSES)
    assert len(fig.axes) == 11  # original + 9 occluded + importance map
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "original\nhappiness" and titles[-1] == "important regions"
    assert titles[1] == "happiness (0.50)" and titles[5] == "anger (0.70)"
    assert fig.axes[5].title.get_color() == "red" and fig.axes[1].title.get_color() == "black"
    # the 3 x 3 grid: occluded panels sit in columns 1-3 of 3 rows
    spans = {(ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start) for ax in fig.axes[1:10]}
    assert spans == {(r, c) for r in range(3) for c in range(1, 4)}


def test_plot_occlusion_without_map_and_errors() -> None:
    img = np.zeros((8, 8))
    fig = plot_occlusion(img, [(img, "fear", 0.9)], None)
    assert [ax.get_title() for ax in fig.axes] == ["original", "fear (0.90)"]
    with pytest.raises(ValueError, match="nothing to draw"):
        plot_occlusion(img, [], None)
    with pytest.raises(ValueError, match=r"occluded_examples\[0\]"):
        plot_occlusion(img, [(img, "fear")], None)  # type: ignore[list-item]


def test_plot_se_maps_sorted_by_weight() -> None:
    maps = {"layer1.se": np.random.rand(3, 6, 6), "layer4.se": np.random.rand(2, 3, 3)}
    weights = {"layer1.se": np.array([0.1, 0.9, 0.5]), "layer4.se": np.array([0.3, 0.7])}
    fig = plot_se_maps(maps, weights, title="AffectNet", image=np.random.rand(12, 12))
    assert len(fig.axes) == 8  # 2 rows x (input + 3)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:4] == ["input", "ch 1 w=0.90", "ch 2 w=0.50", "ch 0 w=0.10"]
    assert titles[5:7] == ["ch 1 w=0.70", "ch 0 w=0.30"]
    assert not fig.axes[7].axison  # block with fewer channels: empty panel hidden
    assert fig.axes[0].get_ylabel() == "layer1.se" and fig.axes[4].get_ylabel() == "layer4.se"
    assert fig._suptitle.get_text() == "AffectNet"
    # the largest-weight map is drawn first (min-max normalised)
    m = maps["layer1.se"][1]
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), (m - m.min()) / (m.max() - m.min()))
    top = plot_se_maps(maps, weights, top_k=1, channel_ids={"layer1.se": [10, 11, 12]})
    assert [ax.get_title() for ax in top.axes] == ["ch 11 w=0.90", "ch 1 w=0.70"]
    with pytest.raises(ValueError, match="3 maps but 2 weights"):
        plot_se_maps({"b": np.zeros((3, 2, 2))}, {"b": np.zeros(2)})


def test_se_maps_on_the_face_put_each_channel_where_it_fires() -> None:
    """on_face=True: a channel that fires in the top-left quarter colours the top-left of the face red-ish."""
    import numpy as np

    from fer_explain.viz import plot_se_maps
    from fer_explain.viz.overlay import upsample

    fm = np.zeros((1, 6, 6), np.float32)
    fm[0, :3, :3] = 1.0
    up = upsample(fm[0], (48, 48))
    assert up.shape == (48, 48) and up[:20, :20].min() > 0.9 and up[30:, 30:].max() < 0.1
    face = np.full((48, 48), 0.5)
    fig = plot_se_maps({"layer1.0.se": fm}, {"layer1.0.se": np.array([0.8])}, image=face, on_face=True)
    img = fig.axes[1].get_images()[0].get_array()
    assert img.shape == (48, 48, 3)
    assert img[5, 5, 0] > img[40, 40, 0] and img[40, 40, 2] > img[5, 5, 2]  # JET: hot red top-left, cold blue elsewhere
    import pytest

    with pytest.raises(ValueError, match="needs the input face"):
        plot_se_maps({"b": fm}, {"b": np.array([1.0])}, on_face=True)
