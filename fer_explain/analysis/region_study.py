"""Seed 002's face-region study (Int. J. Automation and Computing 17(1), 2020, Tables 4-6) as one named preset.

One VGG classifier per face region, trained and tested on that region alone; the region set, padding,
augmentation, recipe, runs and data split each come from :data:`SEED002_REGION_STUDY`, where every value
says where it comes from (``paper: ...`` or ``assumed: ...``; :func:`region_study_table` shows it).
:func:`run_region_study` runs it on a manifest and writes its table region by region (a rerun skips the
regions already written); :func:`load_region_study` reads such folders back (several at once when the regions
were split across processes); :func:`compare_with_table5` puts a result beside the paper's Table 5 (RAF-DB).

Two data protocols (:func:`region_study_splits`):

* ``"ferplus"`` -- the paper's: FER+ Training + PublicTest to train, PrivateTest to test, contempt
  dropped (:func:`~fer_explain.analysis.region_training.seed002_protocol`); 3,500 stratified training faces
  (seed 0) held out for validation (assumed: the paper selects on its test set).
* ``"fer2013"`` -- a substitute for users without FER+: the project protocol (FER2013 Training less a
  stratified 3,500-face validation carve, seed 0; PublicTest scored once).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import torch

from fer_explain.analysis.region_inputs import SEED002_REGIONS, face_arrays
from fer_explain.analysis.region_training import seed002_protocol, train_region_models
from fer_explain.data.errors import UserError
from fer_explain.data.manifest import Manifest
from fer_explain.data.protocols import ProtocolValue, project_fer2013
from fer_explain.data.splits import stratified_draw

__all__ = [
    "SEED002_REGION_STUDY",
    "SEED002_TABLE5_RAFDB",
    "STUDY_DATA",
    "compare_with_table5",
    "load_region_study",
    "region_study_splits",
    "region_study_table",
    "run_region_study",
]

_P = ProtocolValue

SEED002_REGION_STUDY: Mapping[str, ProtocolValue] = MappingProxyType({
    "model": _P("vgg_fer", 'paper, Sec. 3.1 / Fig. 1: the VGG-style classification model ("12 convolutional '
                           'layers", widths 64 ... 512)'),
    "model_args": _P({"width": 0.25}, "assumed: a quarter of the paper's filters (16 ... 128), so that seven "
                                      "models train on a CPU; width=1.0 is the paper's"),
    "regions": _P(SEED002_REGIONS, "paper, Table 4 and Sec. 4.4: mouth, nose, eyes, nose+mouth, nose+eyes, "
                                   "mouth+eyes and the whole face"),
    "region_set": _P("seed002", "paper, Table 4: the landmark ranges taken literally (fer_explain.faces.regions)"),
    "margin": _P(0.05, "paper: the landmark ranges are cropped, with no margin; 0.05 pixels (a number is pixels, "
                       "fer_explain.faces.regions.margin_pixels) only adds the pixels whose centres lie on the hull's "
                       "edge, and a hull thinner than a pixel (a closed mouth) covers the pixels of its landmarks"),
    "variants": _P(("square_crop", "pad"), 'paper, Table 5: "without padding" (regions cropped into squares) '
                                           'and "with padding" (regions padded to squares)'),
    "variant": _P("pad", 'paper, Sec. 4.1: "we will utilize the padding approach in the following experiments"'),
    "augmentation": _P("random square crop + horizontal flip",
                       'paper, Sec. 4.1: "random crop original inputs into squares and random horizontal flip"; '
                       "assumed: the crop keeps 80-100 % of the area (fer_explain.data.transforms.seed002) and, "
                       "without padding, the square sits at a random place along the region's long side"),
    "test_view": _P("centre crop", 'paper, Sec. 4.1: "each face is cropped around the center" at test time; '
                                   "assumed: 90 % of the area, the mean training crop"),
    "normalization": _P("per channel, training-set statistics",
                        'paper, Sec. 4.1: "each image is normalized to have the same mean and variance in each '
                        'channel"; assumed: the statistics of each region\'s training inputs'),
    "recipe": _P("seed002", "paper, Sec. 4.1 (Adam, lr 0.05 reduced on a plateau, at most 100 epochs, early "
                            "stopping); see fer_explain.train.recipes for its assumed values. Measured (one epoch, 490 "
                            "synthetic faces): the width-0.25 vgg_fer stays at chance with Adam at lr 0.05 (loss "
                            "~23); the FER2013 run in the README overrides it with SGD (lr 0.02, momentum 0.9, weight decay "
                            "5e-4, cosine over 15 epochs)"),
    "runs": _P(5, 'paper, Sec. 4.1: "we train the system five times and choose the best model"'),
    "selection": _P("validation", 'assumed: the paper chooses "according to the performance on the testing '
                                  'set"; here the best validation score selects, and the best test accuracy '
                                  "is reported beside it as accuracy_best_of_runs (the paper's choice)"),
    "size": _P(64, 'paper, Sec. 3.1: "The inputs of the system are grey-scale images in 64x64"; the FER2013 '
                   "substitute uses FER2013's native 48 px (assumed: upscaling adds compute, not information)"),
    "channels": _P(1, 'paper, Sec. 3.1: "grey-scale images"'),
    "n_val": _P(3500, "assumed: the project protocol's 3,500-face stratified validation carve"),
    "seed": _P(0, "assumed: the paper publishes no seed"),
})
"""Every value of seed 002's region study and where it comes from."""

STUDY_DATA: tuple[str, ...] = ("ferplus", "fer2013")
"""The data protocols :func:`region_study_splits` knows."""

SEED002_TABLE5_RAFDB: pd.DataFrame = pd.DataFrame(
    {"square_crop": [55.12, 44.43, 40.16, 56.68, 58.41, 67.63, 77.31],
     "pad": [60.07, 49.02, 50.20, 63.14, 58.87, 67.83, 82.69]},
    index=pd.Index(list(SEED002_REGIONS), name="region"),
)
"""Seed 002's Table 5: RAF-DB test accuracy (%) per region, without padding (``square_crop``) and with (``pad``)."""


def region_study_table() -> pd.DataFrame:
    """The preset's values and their sources: columns ``value`` and ``source``, indexed by ``field``."""
    t = SEED002_REGION_STUDY
    return pd.DataFrame({"value": [repr(v.value) for v in t.values()], "source": [v.source for v in t.values()]},
                        index=pd.Index(list(t), name="field"))


def _value(key: str, given: Any) -> Any:
    return SEED002_REGION_STUDY[key].value if given is None else given


def region_study_splits(manifest: Manifest, data: str = "fer2013", *, n_val: int | None = None,
                        seed: int | None = None) -> tuple[Manifest, Manifest, Manifest]:
    """``(train, val, test)`` manifests (basic7 classes) of a data protocol of :data:`STUDY_DATA`.

    ``"ferplus"`` needs a FER+ manifest with ``train`` / ``publictest`` / ``privatetest`` splits;
    ``"fer2013"`` a FER2013 manifest with ``train`` and ``publictest`` (a ``val`` split already carved by
    ``fer-explain manifest fer2013 DIR --carve-val 3500`` is used as it is; otherwise the project
    protocol carves it).
    """
    if data not in STUDY_DATA:
        raise UserError(f"unknown region-study data protocol {data!r}; valid: {list(STUDY_DATA)}")
    nv = int(_value("n_val", n_val))
    sd = int(_value("seed", seed))
    if data == "ferplus":
        train, test = seed002_protocol(manifest)
        pick = stratified_draw(train.df["label"].to_numpy(), nv, sd)
        is_val = np.zeros(len(train), dtype=bool)
        is_val[pick] = True
        df = train.df.reset_index(drop=True)
        return (train.replace(df[~is_val].reset_index(drop=True)), train.replace(df[is_val].reset_index(drop=True)),
                test)
    present = set(manifest.df["split"].astype(str))
    if "val" in present and {"train", "publictest"} <= present:
        m7 = manifest.with_label_space("basic7")
        return m7.select(split="train"), m7.select(split="val"), m7.select(split="publictest")
    split = project_fer2013(manifest, seed=sd, n_val=nv).with_label_space("basic7")
    return split.select(split="train"), split.select(split="val"), split.select(split="test")


def _write(out: Path, table: pd.DataFrame, confusions: Mapping[str, np.ndarray], settings: Mapping[str, Any]) -> None:
    from fer_explain._atomic import atomic_write_bytes

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "region_study.csv", table.to_csv().encode())
    atomic_write_bytes(out / "region_study.json", json.dumps(
        {"settings": dict(settings), "confusions": {k: np.asarray(v).tolist() for k, v in confusions.items()}},
        indent=1, default=str).encode())


def load_region_study(*outs: str | Path) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The table and the confusion matrices (``{"<variant>/<region>": (K, K) counts}``) that
    :func:`run_region_study` wrote to ``out``; with several folders (the regions of one study run by
    several processes, each with its own ``out``) their rows are joined, in the order given. Folders whose
    settings differ in anything but their regions are refused, naming them, as is a missing one."""
    if not outs:
        raise TypeError("load_region_study needs at least one folder")
    tables, confusions, first = [], {}, None
    for out in map(Path, outs):
        record, csv = out / "region_study.json", out / "region_study.csv"
        if not record.exists() or not csv.exists():
            raise UserError(f"{out}: no region study here (region_study.csv and region_study.json are written by "
                            "run_region_study / fer-explain region-study --out)")
        prev = json.loads(record.read_text())
        settings = {k: v for k, v in prev["settings"].items() if k != "regions"}
        if first is None:
            first = (out, settings)
        elif settings != first[1]:
            diff = sorted(k for k in set(settings) | set(first[1]) if settings.get(k) != first[1].get(k))
            raise UserError(f"{out}: its region study has other settings than {first[0]} ({', '.join(diff)})")
        tables.append(pd.read_csv(csv, index_col=0))
        confusions |= {k: np.asarray(v) for k, v in prev["confusions"].items()}
    return pd.concat(tables), confusions


def run_region_study(
    manifest: Manifest,
    data: str = "fer2013",
    *,
    variants: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    runs: int | None = None,
    model: str | None = None,
    model_args: Mapping[str, Any] | None = None,
    size: int | None = None,
    recipe: str | None = None,
    out: str | Path | None = None,
    device: str | torch.device = "cpu",
    cache_dir: Any = False,
    progress: bool = True,
    **recipe_overrides: Any,
) -> pd.DataFrame:
    """Seed 002's region study (:data:`SEED002_REGION_STUDY`; each argument left ``None`` takes its value).

    ``manifest`` needs landmarks (``fer-explain landmarks``). ``variants`` defaults to the paper's main
    setting (``("pad",)``); pass ``("square_crop", "pad")`` for Table 5. ``recipe_overrides`` change the
    recipe (``epochs=10``...). With ``out`` the table (``region_study.csv``) and the confusion matrices
    and settings (``region_study.json``) are rewritten after every region, and a rerun with the same
    settings skips the (variant, region) pairs already there and resumes the interrupted one exactly (each
    region's models and resume state are in ``out/checkpoints``); other settings are an error naming the file.

    Returns the table: one row per (variant, region) with :func:`train_region_models`' columns.
    """
    variants = tuple(variants) if variants is not None else (str(_value("variant", None)),)
    regions = tuple(regions) if regions is not None else tuple(_value("regions", None))
    model_name = str(_value("model", model))
    margs = dict(_value("model_args", model_args))
    if size is None:
        size = 48 if data == "fer2013" else int(_value("size", None))
    margs.setdefault("input_size", int(size))
    rec = str(_value("recipe", recipe))
    n_runs = int(_value("runs", runs))
    settings = {"data": data, "variants": list(variants), "regions": list(regions), "runs": n_runs,
                "model": model_name, "model_args": margs, "size": int(size), "recipe": rec,
                "recipe_overrides": {k: recipe_overrides[k] for k in sorted(recipe_overrides)},
                "region_set": _value("region_set", None), "margin": _value("margin", None),
                "manifest": manifest.name, "rows": len(manifest)}
    done = pd.DataFrame()
    confusions: dict[str, np.ndarray] = {}
    out_dir = Path(out) if out is not None else None
    if out_dir is not None and (out_dir / "region_study.json").exists():
        prev = json.loads((out_dir / "region_study.json").read_text())
        if json.loads(json.dumps(prev["settings"], default=str)) != json.loads(json.dumps(settings, default=str)):
            raise UserError(f"{out_dir / 'region_study.json'}: holds a region study with other settings "
                            f"({prev['settings']}); use another --out folder")
        done, confusions = load_region_study(out_dir)
    train_m, val_m, test_m = region_study_splits(manifest, data)
    ch = int(_value("channels", None))
    faces = [face_arrays(m, int(size), ch, cache_dir=cache_dir, progress=progress) for m in (train_m, val_m, test_m)]
    rows = [done] if len(done) else []
    for variant in variants:
        for region in regions:
            key = f"{variant}/{region}"
            if key in confusions:
                continue
            t0 = time.perf_counter()
            table, conf = train_region_models((faces[0], faces[2]), regions=[region], variant=variant,
                                              model_name=model_name, recipe=rec, size=int(size), channels=ch,
                                              model_args=margs, region_set=str(_value("region_set", None)),
                                              margin=float(_value("margin", None)), val_data=faces[1],
                                              augment=True, runs=n_runs, device=device, progress=progress,
                                              checkpoint_dir=None if out_dir is None else out_dir / "checkpoints",
                                              checkpoint_every_steps=None if out_dir is None else 100,
                                              **recipe_overrides)
            table["wall_seconds"] = time.perf_counter() - t0
            rows.append(table)
            confusions[key] = conf[region]
            result = pd.concat(rows)
            if progress:
                r = table.iloc[0]
                print(f"{key}: accuracy {r['accuracy']:.4f} (mean {r['accuracy_mean']:.4f} +- "
                      f"{r['accuracy_sd']:.4f} over {n_runs} runs), {r['train_seconds'] / 60:.1f} min", flush=True)
            if out_dir is not None:
                _write(out_dir, result, confusions, settings)
    return pd.concat(rows) if rows else pd.DataFrame()


def compare_with_table5(result: pd.DataFrame) -> pd.DataFrame:
    """``result`` (from :func:`run_region_study`) beside seed 002's Table 5 (RAF-DB), in % per region:
    one column ``ours_<variant>`` and one ``paper_<variant>`` for each variant the result holds, and the
    rank of each region within each column (1 = most accurate)."""
    cols: dict[str, pd.Series] = {}
    for variant, part in result.groupby("variant", sort=False):
        ours = part["accuracy"].astype(float) * 100
        cols[f"ours_{variant}"] = ours
        cols[f"paper_{variant}"] = SEED002_TABLE5_RAFDB[variant].reindex(ours.index)
    table = pd.DataFrame(cols)
    for c in list(table.columns):
        table[f"rank_{c}"] = table[c].rank(ascending=False, method="min").astype("Int64")
    table.index.name = "region"
    return table.round(2)
