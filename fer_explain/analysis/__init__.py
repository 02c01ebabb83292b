"""Analyses on plain arrays, models and manifests: evaluation tables, confusion matrices,
accuracy vs class frequency, dataset tables, run summaries, cross-dataset and transfer tables,
t-SNE of pooled features, region contribution (seed 002), the ResEmoteNet ablation (seed 003),
population maps, region x emotion attribution tables and the one-call report.
"""

from fer_explain.analysis.ablation import ABLATION_DESCRIPTIONS, PAPER_TABLE_IV, resemotenet_ablation
from fer_explain.analysis.attribution import (
    BASE_REGIONS,
    plot_side_by_side,
    region_emotion_table,
    region_masking_table,
)
from fer_explain.analysis.dataset_explain import explain_dataset
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
from fer_explain.analysis.known_answer import KnownAnswerSettings, known_answer_leaderboard
from fer_explain.analysis.population import (
    align_maps,
    plot_population_grid,
    population_maps,
    reference_landmarks,
    similarity_transform,
    sparsity_by_emotion,
)
from fer_explain.analysis.recorded import list_recorded, recorded_result
from fer_explain.analysis.regions import (
    REGION_VARIANTS,
    SEED002_REGIONS,
    FaceArrays,
    RegionDataset,
    compare_padding,
    dataset_landmarks,
    evaluate_region_occlusion,
    face_arrays,
    left_right_asymmetry,
    plot_region_contribution,
    region_inputs,
    seed002_protocol,
    train_region_models,
)
from fer_explain.analysis.report import REPORT_METHODS, write_report
from fer_explain.analysis.tsne import extract_features, plot_tsne, subsample_indices, tsne_embedding

__all__ = [
    "ABLATION_DESCRIPTIONS",
    "BASE_REGIONS",
    "PAPER_TABLE_IV",
    "REGION_VARIANTS",
    "REPORT_METHODS",
    "SEED002_REGIONS",
    "FaceArrays",
    "KnownAnswerSettings",
    "RegionDataset",
    "accuracy_vs_frequency",
    "align_maps",
    "class_distribution_table",
    "compare_padding",
    "confusion",
    "cross_dataset_matrix",
    "dataset_landmarks",
    "evaluate_region_occlusion",
    "evaluation_table",
    "explain_dataset",
    "extract_features",
    "face_arrays",
    "known_answer_leaderboard",
    "left_right_asymmetry",
    "list_recorded",
    "normalize_rows",
    "plot_population_grid",
    "plot_region_contribution",
    "plot_side_by_side",
    "plot_tsne",
    "population_maps",
    "prediction_table",
    "recorded_result",
    "reference_landmarks",
    "region_emotion_table",
    "region_inputs",
    "region_masking_table",
    "relative_gain",
    "resemotenet_ablation",
    "seed002_protocol",
    "similarity_transform",
    "sparsity_by_emotion",
    "subsample_indices",
    "summarize_runs",
    "train_region_models",
    "transfer_table",
    "tsne_embedding",
    "write_report",
]
