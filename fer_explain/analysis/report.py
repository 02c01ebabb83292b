"""One call from a checkpoint and a manifest to a folder of tables (CSV) and figures (PNG).

:func:`write_report` is what ``fer-explain report`` runs. It loads the checkpoint
(:func:`fer_explain.train.load_checkpoint`), prepares the manifest split's faces the way the
checkpoint says (input size, channels, mean/std, the recipe's evaluation transform), evaluates, and
writes into ``out_dir``:

=================================  =================================================================
file                               content
=================================  =================================================================
``evaluation.csv``                 per-class accuracy and support, overall and mean-per-class rows
``confusion.csv`` / ``.png``       confusion matrix (counts; rows true, columns predicted)
``confusion_normalized.csv/.png``  row-normalised confusion matrix
``predictions.csv``                one row per face: true, predicted, confidence, every probability
``tsne.csv`` / ``tsne.png``        t-SNE of the pooled features (at most ``tsne_max`` faces)
``history.csv``,                   the checkpoint's per-epoch metrics (when it has a history)
``training_curves.png``
``explanations.png``               ``n_examples`` faces with each method's map
``region_emotion_<method>.csv``    mean share of positive attribution per region and emotion
                                   (when every selected row has landmarks)
``region_masking.csv``             mean drop in the true class's probability when a region is removed
``region_emotion.png``             the first method's table beside the masking table
``occlusion.png``                  seed 004's occlusion protocol on one face
                                   (:func:`seed004_occlusion_figure`)
``se_maps.png``                    strongest SE channels per block for one face (SE models only)
``summary.json``                   accuracy, sample counts, the checkpoint, manifest and file list
=================================  =================================================================

Explanations, region tables and figures use ``max_explain`` faces of the (sub-sampled) split picked by
:func:`explanation_samples`: round-robin over the emotions, alternating correct and wrong predictions
within each (seeded), so even the first ``n_examples`` shown span the emotions and both outcomes. They
are seen in the checkpoint's evaluation view (:class:`~fer_explain.train.inputs.CheckpointInput`: the
same tensors ``evaluate`` scores, with the landmarks mapped into that view); explainers come from the
one registry (:func:`fer_explain.explain.make_explainer`); the predictions explained are the model's
(``target`` = predicted class).

From an ``explain`` run (``explain_dir``, ``fer-explain report --explain-dir DIR``): the output folder of
``fer-explain explain`` (:mod:`~fer_explain.analysis.dataset_explain`) made with the same checkpoint on the
same manifest split (its ``explain.json`` key: the weights' SHA-256, the split's content hash; anything else
is refused, :class:`~fer_explain.analysis.explain_output.ExplainOutputError`). Its maps are not recomputed:
``explanations.png`` shows the run's maps of the chosen faces (the run's methods by default), and the region
x emotion tables are the run's, over **every face of its split** (not the ``max_explain`` sample), with the
run's region set and margin; ``region_masking.csv`` comes from the run's region-masking drops when it has
them (``regions`` method, ``target="label"``) and is computed on the chosen faces otherwise. The run's
target (true label by default, unlike the report's own maps) is recorded in ``summary.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from tqdm.auto import tqdm

from fer_explain.explain import REGION_DEFAULTS, list_explainers, make_explainer
from fer_explain.train.inputs import CheckpointInput

__all__ = ["REPORT_METHODS", "explanation_samples", "seed004_occlusion_figure", "write_report"]

REPORT_METHODS: tuple[str, ...] = tuple(list_explainers())
"""Method names :func:`write_report` accepts: the explainer registry's (:func:`fer_explain.explain.list_explainers`)."""


def _save_fig(fig: Any, path: Path, written: dict[str, Path], key: str) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    written[key] = path


def _save_csv(df: pd.DataFrame, path: Path, written: dict[str, Path], key: str, index: bool = True) -> None:
    df.to_csv(path, index=index)
    written[key] = path


def _display(x: Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Normalised inputs ``(N, C, H, W)`` back to ``[0, 1]`` images ``(N, H, W[, 3])``."""
    m = torch.as_tensor(mean, dtype=x.dtype).reshape(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype).reshape(1, -1, 1, 1)
    img = (x * s + m).clamp(0, 1)
    img = img[:, 0] if img.shape[1] == 1 else img.permute(0, 2, 3, 1)
    return img.cpu().numpy()


def explanation_samples(labels: Sequence[int] | np.ndarray, preds: Sequence[int] | np.ndarray, n: int,
                        seed: int = 0) -> np.ndarray:
    """Positions of at most ``n`` faces to explain, spread over the emotions and over right and wrong.

    Within each true class the correct and the wrong predictions are shuffled (one generator seeded
    with ``seed``, classes in index order). Faces are then taken round by round: in each round every
    class that has faces left gives one, a correct one when ``round + class position`` is even and a
    wrong one otherwise (the other kind when that one has run out). So the first faces of the result
    cover the emotions and mix both outcomes, and the order is deterministic for a given seed.
    """
    lab = np.asarray(labels).astype(np.int64).ravel()
    pred = np.asarray(preds).astype(np.int64).ravel()
    if lab.shape != pred.shape:
        raise ValueError(f"labels ({lab.shape[0]}) and preds ({pred.shape[0]}) differ in length")
    n = max(0, min(int(n), len(lab)))
    rng = np.random.default_rng(seed)
    pools: list[tuple[list[int], list[int]]] = []
    for c in np.unique(lab):
        idx = np.flatnonzero(lab == c)
        ok = pred[idx] == c
        right, wrong = idx[ok], idx[~ok]
        pools.append((list(right[rng.permutation(len(right))]), list(wrong[rng.permutation(len(wrong))])))
    out: list[int] = []
    rnd = 0
    while len(out) < n:
        for pos, (right, wrong) in enumerate(pools):
            if len(out) == n:
                break
            first, second = (right, wrong) if (rnd + pos) % 2 == 0 else (wrong, right)
            if first:
                out.append(first.pop(0))
            elif second:
                out.append(second.pop(0))
        rnd += 1
    return np.asarray(out, dtype=np.int64)


def seed004_occlusion_figure(model: torch.nn.Module, x: Tensor, label: int, black: Tensor, *,
                             classes: Sequence[str], mean: Sequence[float], std: Sequence[float],
                             window: int | None = None, stride: int | None = None,
                             title: str | None = None) -> tuple[Any, Any]:
    """Seed 004's occlusion protocol on one face, as its Figs. 11-13: ``(figure, explanation)``.

    :func:`~fer_explain.explain.occlusion.seed004_occlusion` slides a **black** ``window`` patch (``black``:
    the checkpoint's black, :meth:`~fer_explain.train.inputs.CheckpointInput.black`) with ``stride`` over the
    face ``x`` ``(1, C, H, W)`` (normalised) and scores the **true label** ``label``: the map is the share of
    covering patches whose occluded prediction is not the true label (seed 004's "region of importance").
    Defaults: ``window`` = side // 6 (the explainer registry's occlusion window; 8 at 48 px), ``stride`` =
    window // 2. Nine occluded copies (a 3 x 3 grid of patch positions) show their predictions, red where
    wrong. The explanation holds ``extras["flip_map"]`` (the map drawn) and ``extras["flip"]``.
    """
    from fer_explain.explain.occlusion import seed004_occlusion
    from fer_explain.viz import plot_occlusion

    side = int(x.shape[-1])
    window = max(2, side // 6) if window is None else int(window)
    stride = max(1, window // 2) if stride is None else int(stride)
    dev = next(model.parameters()).device
    base = black.to(dev)
    exp = seed004_occlusion(model, window, stride, baseline=base).attribute(x[:1].to(dev), labels=[int(label)])
    rows, cols = exp.extras["rows"], exp.extras["cols"]
    picks = [(rows[round(a)], cols[round(b)]) for a in np.linspace(0, len(rows) - 1, 3)
             for b in np.linspace(0, len(cols) - 1, 3)]
    occluded = x[:1].detach().cpu().repeat(len(picks), 1, 1, 1)
    for j, (r, c) in enumerate(picks):
        occluded[j, :, r:r + window, c:c + window] = black.cpu()
    was = model.training
    model.eval()
    with torch.no_grad():
        p_occ = model(occluded.to(dev)).float().softmax(1).cpu()
    model.train(was)
    shown = _display(occluded, mean, std)
    examples = [(shown[j], classes[int(p_occ[j].argmax())], float(p_occ[j].max())) for j in range(len(picks))]
    fig = plot_occlusion(_display(x[:1].detach().cpu(), mean, std)[0], examples, exp.extras["flip_map"][0].numpy(),
                         true_label=classes[int(label)], classes=list(classes),
                         title=title or (f"seed 004 occlusion: black {window}x{window} patch, stride {stride}; "
                                         "map = share of patches that make the prediction wrong for the true label"))
    return fig, exp


def write_report(
    checkpoint: str | os.PathLike[str],
    manifest_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    split: str | None = "test",
    max_samples: int | None = 2000,
    methods: Sequence[str] | None = None,
    *,
    explain_dir: str | os.PathLike[str] | None = None,
    max_explain: int = 64,
    n_examples: int = 6,
    tsne_max: int = 1000,
    regions: Sequence[str] = ("eyes", "nose", "mouth"),
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    cache_dir: str | os.PathLike[str] | None | bool = False,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Path]:
    """Evaluate a checkpoint on a manifest split and write every table and figure (see the module docstring).

    Args:
        checkpoint: the checkpoint's name (``ckpt/run``) or either of its files.
        manifest_path: the manifest (``.csv``/``.json``/``.parquet`` or its stem).
        out_dir: the folder to write into (created).
        split: the manifest split to report on (``None``: every row).
        max_samples: evaluate at most this many faces, a stratified draw with ``seed``
            (``None``: all).
        methods: explanation methods (:data:`REPORT_METHODS`; default ``("gradcam", "occlusion")``, or
            with ``explain_dir`` the run's); the first one's region table is the one drawn beside the
            masking table.
        explain_dir: the output folder of ``fer-explain explain`` for this checkpoint and manifest split:
            maps and region tables are read from it, not recomputed (see the module docstring).
        max_explain: faces explained for the region tables (:func:`explanation_samples`: across the
            emotions, correct and wrong predictions mixed, drawn with ``seed``).
        n_examples: faces shown in ``explanations.png``.
        tsne_max: faces in the t-SNE (stratified draw).
        regions: regions of the region x emotion tables (non-overlapping for the masking table).
        cache_dir: ``FaceDataset``'s pixel cache (default ``False``: no cache is written).

    Returns:
        ``{name: path}`` of every file written (names as in the module docstring's table, without
        the extension: ``"evaluation"``, ``"confusion_png"``, ``"region_emotion_gradcam"``, ...).
    """
    import matplotlib

    from fer_explain.analysis.attribution import plot_side_by_side, region_emotion_table, region_masking_table
    from fer_explain.analysis.evaluation import evaluation_table, normalize_rows, prediction_table
    from fer_explain.analysis.tsne import extract_features, plot_tsne, subsample_indices, tsne_embedding
    from fer_explain.data.manifest import Manifest
    from fer_explain.train import evaluate, load_checkpoint
    from fer_explain.viz import explanation_grid, plot_confusion, plot_se_maps, plot_training_curves

    run = None
    if explain_dir is not None:
        from fer_explain.analysis import explain_output as xo

        run = xo.load_explain_run(explain_dir)  # checked before anything is written
        if methods is None:
            methods = [m for m in run.record["key"]["methods"] if m in REPORT_METHODS]
        absent = [m for m in methods if m not in run.record["key"]["methods"]]
        if absent:
            raise xo.ExplainOutputError(f"explain run {run.out_dir} holds no maps of {absent}; its methods: "
                                        f"{run.record['key']['methods']}")
    methods = list(("gradcam", "occlusion") if methods is None else methods)
    bad = [m for m in methods if m not in REPORT_METHODS]
    if bad:
        raise ValueError(f"unknown explanation method(s) {bad}; valid: {list(REPORT_METHODS)}")
    out = Path(out_dir)
    written: dict[str, Path] = {}
    steps = tqdm(total=7, desc="report", disable=not progress)

    # ---- model, data
    model, meta = load_checkpoint(checkpoint, device=device)
    manifest = Manifest.load(manifest_path)
    if split is not None:
        manifest = manifest.select(split=split)
    if len(manifest) == 0:
        raise ValueError(f"{manifest_path}: no rows in split {split!r}")
    if run is not None:
        from fer_explain.train.checkpoint import checkpoint_paths, file_sha256

        xo.check_run_matches(run, checkpoint_sha256=meta.get("weights_sha256") or file_sha256(
            checkpoint_paths(checkpoint)[0]), manifest_hash=manifest.content_hash(), split=split)
    out.mkdir(parents=True, exist_ok=True)  # after every check of the inputs
    split_positions = np.arange(len(manifest))  # each report row's position in the split (the run's faces)
    if max_samples is not None and len(manifest) > max_samples:
        split_positions = np.asarray(subsample_indices(len(manifest), max_samples, manifest.label_indices(), seed))
        manifest = manifest.replace(manifest.df.iloc[split_positions])
    classes = list(manifest.classes)
    model_classes = list(meta.get("classes") or classes)
    inp = CheckpointInput.from_checkpoint({**meta, "path": str(checkpoint)}, model)
    size, mean, std = inp.size, inp.mean, inp.std
    # one dataset, in the checkpoint's evaluation view, for the tables, the t-SNE and the explanations
    eval_ds = inp.dataset(manifest, cache_dir=cache_dir)

    # ---- evaluation tables
    with matplotlib.rc_context({"figure.max_open_warning": 0}):
        ev = evaluate(model, eval_ds, batch_size=batch_size, device=device, label_space=model_classes,
                      target_space=manifest.label_space, progress=progress)
        _save_csv(evaluation_table(ev.labels, ev.preds, classes), out / "evaluation.csv", written, "evaluation")
        cm = pd.DataFrame(ev.confusion, index=pd.Index(classes, name="true"), columns=classes)
        _save_csv(cm, out / "confusion.csv", written, "confusion")
        cmn = pd.DataFrame(normalize_rows(ev.confusion), index=pd.Index(classes, name="true"), columns=classes)
        _save_csv(cmn, out / "confusion_normalized.csv", written, "confusion_normalized")
        _save_fig(plot_confusion(ev.confusion, classes, normalize=False), out / "confusion.png", written,
                  "confusion_png")
        _save_fig(plot_confusion(ev.confusion, classes, normalize=True), out / "confusion_normalized.png", written,
                  "confusion_normalized_png")
        df = manifest.df
        ids = df["image"].astype(str)
        if "pixel_row" in df:
            pr = df["pixel_row"]
            ids = [f"{i}#{int(p)}" if pd.notna(p) else i for i, p in zip(ids, pr)]
        _save_csv(prediction_table(ev.probs, ev.labels, classes, ids=list(ids)), out / "predictions.csv", written,
                  "predictions")
        steps.update()

        # ---- t-SNE of pooled features
        if hasattr(model, "features") and len(eval_ds) >= 5:
            feats, flabels = extract_features(model, eval_ds, batch_size=batch_size, max_samples=tsne_max,
                                              seed=seed, progress=False)
            emb = tsne_embedding(feats, seed=seed, max_samples=None)
            _save_csv(pd.DataFrame({"x": emb[:, 0], "y": emb[:, 1], "label": [classes[int(k)] for k in flabels]}),
                      out / "tsne.csv", written, "tsne", index=False)
            _save_fig(plot_tsne(emb, flabels, classes), out / "tsne.png", written, "tsne_png")
        steps.update()

        # ---- training curves
        history = meta.get("history")
        if history:
            hist = pd.DataFrame(history)
            _save_csv(hist, out / "history.csv", written, "history", index=False)
            try:
                fig = plot_training_curves(hist, title=f"training curves ({meta.get('architecture')})")
            except ValueError:
                fig = None  # a history without loss/accuracy columns
            if fig is not None:
                _save_fig(fig, out / "training_curves.png", written, "training_curves_png")
        steps.update()

        # ---- explanations of faces across the emotions, right and wrong
        chosen = explanation_samples(ev.labels, ev.preds, max_explain, seed)
        n_exp = len(chosen)
        items = [eval_ds[int(i)] for i in chosen]
        x = torch.stack([it[0] for it in items])
        y = torch.as_tensor([int(it[1]) for it in items], dtype=torch.long)
        black = inp.black()
        explanations = {}
        for method in methods:
            if run is not None:  # the run's maps of these faces
                explanations[method] = xo.run_maps(run, method, split_positions[chosen]).explanation
                continue
            explainer = make_explainer(method, model, input_size=size, black=black)
            explanations[method] = explainer.attribute(x.to(device), labels=y)
        images = _display(x, mean, std)
        k = min(n_examples, n_exp)
        first = next(iter(explanations.values()))
        preds = first.predictions[:k].tolist()
        fig = explanation_grid(images[:k], {m: e.maps[:k] for m, e in explanations.items()},
                               [classes[int(t)] for t in y[:k]], [model_classes[int(p)] for p in preds],
                               first.probs[:k].max(dim=1).values, model_classes)
        _save_fig(fig, out / "explanations.png", written, "explanations_png")
        steps.update()

        # ---- region x emotion tables (needs landmarks)
        lm = inp.landmarks(manifest)[chosen] if bool(manifest.has_landmarks().all()) else None
        tables: dict[str, pd.DataFrame] = {}
        mask_t = None
        if run is not None:  # the whole split, from the run's table
            if run.record["key"]["regions"]:
                tables = {m: xo.run_region_emotion_table(run, m, regions) for m in methods}
            if (run.record["key"]["target"] == "label" and set(regions) <= set(xo.run_masking_regions(run))
                    and model_classes == classes):
                mask_t = xo.run_region_masking_table(run, regions)
            elif lm is None and methods:  # masking computed here, on the run's landmarks of the chosen faces
                lm = xo.run_maps(run, methods[0], split_positions[chosen]).landmarks
        elif lm is not None:
            tables = {method: region_emotion_table(exp, lm, labels=y, classes=classes, regions=regions,
                                                   margin=REGION_DEFAULTS["margin"])
                      for method, exp in explanations.items()}
        for method, t in tables.items():
            _save_csv(t, out / f"region_emotion_{method}.csv", written, f"region_emotion_{method}")
        if mask_t is None and lm is not None and model_classes == classes:
            mask_t = region_masking_table(model, x.to(device), lm, y, classes=classes, regions=regions,
                                          baseline=black.to(device), margin=REGION_DEFAULTS["margin"], progress=False)
        if mask_t is not None:
            _save_csv(mask_t, out / "region_masking.csv", written, "region_masking")
            if methods and methods[0] in tables:
                fig = plot_side_by_side(tables[methods[0]], mask_t,
                                        titles=(f"{methods[0]}: attribution share", "masking: drop in p(true class)"))
                _save_fig(fig, out / "region_emotion.png", written, "region_emotion_png")
        steps.update()

        # ---- occlusion figure for one face: seed 004's protocol (black patch, true label)
        in_model = [j for j in range(n_exp) if classes[int(y[j])] in model_classes]
        if in_model:  # the first chosen face whose true label the model knows
            j = in_model[0]
            fig, _ = seed004_occlusion_figure(model, x[j:j + 1], model_classes.index(classes[int(y[j])]), black,
                                              classes=model_classes, mean=mean, std=std)
            _save_fig(fig, out / "occlusion.png", written, "occlusion_png")
        steps.update()

        # ---- SE maps
        se_blocks = list(model.se_blocks()) if hasattr(model, "se_blocks") else []
        if se_blocks:
            from fer_explain.explain import se_block_maps

            blocks, _ = se_block_maps(model, x[:1].to(device), top_k=6, keep_feature_maps=False)
            fig = plot_se_maps({b.name: b.top_maps[0] for b in blocks}, {b.name: b.top_weights[0] for b in blocks},
                               title="strongest SE channels", image=images[0],
                               channel_ids={b.name: b.top_channels[0] for b in blocks})
            _save_fig(fig, out / "se_maps.png", written, "se_maps_png")
        steps.update()
    steps.close()

    summary = {
        "checkpoint": str(checkpoint),
        "architecture": meta.get("architecture"),
        "manifest": str(manifest_path),
        "split": split,
        "n": len(ev.labels),
        "accuracy": float(ev.accuracy),
        "mean_per_class_accuracy": float(np.nanmean(ev.per_class_accuracy)),
        "loss": float(ev.loss),
        "classes": classes,
        "model_classes": model_classes,
        "methods": methods,
        "n_explained": int(n_exp),
        "explained_rows": [int(i) for i in chosen],
        "explained_target": "prediction" if run is None else run.record["key"]["target"],
        "explain_dir": None if run is None else str(run.out_dir),
        "region_tables_faces": (int(run.record["key"]["faces"]) if run is not None and tables
                                else int(n_exp) if tables else 0),
        "files": {k: p.name for k, p in written.items()},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    written["summary"] = out / "summary.json"
    return written
