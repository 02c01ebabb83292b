"""Figures from arrays: overlays, explanation grids, face grids with masks, confusion heatmaps, region
charts, training curves, occlusion and SE-block panels.

Every figure function returns a :class:`matplotlib.figure.Figure` it created (or the Figure of the
``ax`` it was given), never calls ``plt.show()`` and never changes matplotlib's backend or global
style; :func:`to_display_image` and :func:`se_panel` prepare their inputs.
"""

from fer_explain.viz.bars import plot_region_bars, plot_region_contribution, plot_region_emotion_heatmap
from fer_explain.viz.confusion import plot_confusion
from fer_explain.viz.curves import plot_training_curves
from fer_explain.viz.faces import face_grid
from fer_explain.viz.leaderboard import plot_leaderboard_heatmap
from fer_explain.viz.occlusion import plot_occlusion
from fer_explain.viz.overlay import explanation_grid, overlay, to_display_image
from fer_explain.viz.se import plot_se_maps, se_panel
from fer_explain.viz.style import EMOTION_COLORS, SEED002_ORDER, emotion_palette, seed002_order

__all__ = [
    "EMOTION_COLORS",
    "SEED002_ORDER",
    "emotion_palette",
    "explanation_grid",
    "face_grid",
    "overlay",
    "plot_confusion",
    "plot_leaderboard_heatmap",
    "plot_occlusion",
    "plot_region_bars",
    "plot_region_contribution",
    "plot_region_emotion_heatmap",
    "plot_se_maps",
    "plot_training_curves",
    "se_panel",
    "seed002_order",
    "to_display_image",
]
