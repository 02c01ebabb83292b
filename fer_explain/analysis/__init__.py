"""Analyses on plain arrays, models and manifests: evaluation tables, confusion matrices,
accuracy vs class frequency, dataset tables, run summaries, cross-dataset and transfer tables, and
t-SNE of pooled features.
"""

from fer_explain.analysis.evaluation import (
    accuracy_vs_frequency,
    class_distribution_table,
    confusion,
    cross_dataset_matrix,
    evaluation_table,
    normalize_rows,
    prediction_table,
    relative_gain,
    summarize_runs,
    transfer_table,
)
from fer_explain.analysis.tsne import extract_features, plot_tsne, subsample_indices, tsne_embedding

__all__ = [
    "accuracy_vs_frequency",
    "class_distribution_table",
    "confusion",
    "cross_dataset_matrix",
    "evaluation_table",
    "extract_features",
    "normalize_rows",
    "plot_tsne",
    "prediction_table",
    "relative_gain",
    "subsample_indices",
    "summarize_runs",
    "transfer_table",
    "tsne_embedding",
]
