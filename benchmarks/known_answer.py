"""Known-answer acceptance of the explainers on mouth-only synthetic faces (prints numbers, writes JSON).

On the synthetic set with ``evidence_regions=("mouth",)`` only the mouth carries the label (the other
regions show decoy action units drawn the same way for every class), and every face comes with the
exact pixels that carry its label (the evidence mask) and its exact 68 landmarks. So the right answer
for an explanation of a correct prediction is known: the mouth. The script

1. renders a training set and a separate test set (another seed) of 64x64 grey mouth-only faces
   (``--n-test 700`` gives 600 non-neutral test faces: the 7 classes are balanced);
2. trains DenseNet-BC (default: three dense blocks of 16 layers, growth 12; ``--layers-per-block`` and
   ``--growth-rate``/``--width`` make it smaller) with Adam + cosine schedule, the best validation
   epoch kept (10 % of the training faces are held out for validation), and reports test accuracy;
3. explains the non-neutral test faces that the model classifies correctly (target = true label)
   with Grad-CAM (ReLU, bilinear, the model's pinned layer ``body.final``, 16x16 at 64x64) and with
   captum occlusion (window 6, stride 2, baseline 0 in the normalised input space, i.e. mid grey;
   see "Why margin 2 px and window 6 / stride 2" below);
4. scores the maps against the evidence masks dilated by ``--evidence-dilate`` (2) pixels --
   pointing game and relevance mass accuracy -- and measures the share of positive attribution in
   each face region of the symmetric set (mouth, nose, eyes, and the rest of the image), with the
   region masks computed from the exact landmarks at margin 0 and at margin 2 px. Two reference rows
   show what a *perfect* explanation scores at each method's resolution: ``ideal@RxR`` is the
   evidence mask averaged to the Grad-CAM layer's grid and upsampled bilinearly, ``oracle-occl``
   the occlusion map (same window, stride, baseline) of :class:`EvidenceOracle`, a model that reads
   nothing but the evidence pixels;
5. runs the cascading model-parameter randomisation test (Adebayo et al. 2018) for Grad-CAM on
   ``--cascade-n`` (64) explained faces: every layer with parameters is re-initialised one at a
   time from the classifier down (cumulatively), and the mean Spearman correlation with the trained
   model's maps is reported per step (printed at the end of each top-level group -- classifier,
   final BN, each dense block, each transition, stem -- or for every layer with
   ``--cascade-print all``; the JSON always holds every layer);
6. prints one PASS/FAIL line per criterion and writes everything to ``--out`` (JSON; a ``.csv``
   name gets the criteria table as CSV).

Acceptance criteria:

* test accuracy > 0.90 and at least 500 non-neutral test faces;
* pointing game hit rate >= 0.90 for Grad-CAM and for occlusion;
* mean share of positive attribution on the mouth > 0.5 for both methods, with the mouth mask from
  the exact landmarks grown by ``--acceptance-margin`` (default 2 px, the same tolerance as the
  dilated evidence masks; the margin-0 share is reported alongside);
* mean Spearman similarity under full randomisation (all layers) < 0.3.

The exit status is 0 when every criterion passes, 1 otherwise.

Why margin 2 px and window 6 / stride 2 (measured on 120 non-neutral mouth-only faces, seed 5): the
evidence itself lies only 55 % inside the mouth hull of the landmarks at margin 0 (lip thickness and
jaw drop reach past the landmark curves) and 99 % at margin 2; a perfect map at Grad-CAM's 16x16
resolution puts 38 % on the margin-0 mouth and 77 % on the margin-2 mouth; the occlusion map of the
evidence-reading oracle puts 29 % / 60 % there with window 8 / stride 4 (pointing game 0.96), 37 % /
72 % with window 6 / stride 2 (pointing game 1.0) and 47 % / 84 % with window 4 / stride 2. A
margin-0 criterion would fail a perfect explainer, and 8/4 leaves a perfect one barely above 0.5.
Window 6 / stride 2 is 900 window positions per face (8/4: 225).

Full scale on a GPU (a few minutes; ``--train-minutes`` caps the training time)::

    python benchmarks/known_answer.py --device cuda --out known_answer.json

A quick end-to-end check on one CPU thread (a minute or two; it does not pass acceptance)::

    python benchmarks/known_answer.py --n-train 700 --n-test 350 --epochs 1 --layers-per-block 4 \\
        --growth-rate 6 --max-explain 8 --occlusion-window 8 --occlusion-stride 4 --cascade-n 8

If the GPU run must be shorter: ``--occlusion-window 8 --occlusion-stride 4`` (4x fewer occlusion
forwards, but see the numbers above) or ``--max-explain 256``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

# On a shared machine OpenMP threads that spin while waiting slow everything down; a passive wait
# policy avoids that (must be set before torch starts its thread pool).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from fer_explain.data.synthetic import SyntheticBatch, SyntheticFaceConfig, generate
from fer_explain.explain import GradCAM, Occlusion
from fer_explain.explain import metrics as M
from fer_explain.explain.base import Explainer, Explanation, upsample
from fer_explain.faces.regions import region_masks
from fer_explain.models import create_model
from fer_explain.train import evaluate, fit, get_recipe

#: Face regions whose attribution share is reported; ``rest`` is every pixel outside all three.
REGIONS: tuple[str, ...] = ("mouth", "nose", "eyes")
ALL_REGIONS: tuple[str, ...] = (*REGIONS, "rest")

ACCURACY_MIN = 0.90
NONNEUTRAL_MIN = 500
POINTING_MIN = 0.90
MOUTH_SHARE_MIN = 0.5
RANDOMISED_SPEARMAN_MAX = 0.3


# --------------------------------------------------------------------------- data
def render_sets(n_train: int, n_test: int, size: int, seed: int) -> tuple[SyntheticBatch, SyntheticBatch]:
    """Mouth-only training and test sets (grey, default nuisance); the test set uses ``seed + 1000``."""
    cfg = SyntheticFaceConfig(n=n_train, size=size, channels=1, seed=seed, evidence_regions=("mouth",))
    train = generate(cfg)
    test = generate(cfg.replace(n=n_test, seed=seed + 1000))
    return train, test


def to_input(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """uint8 ``(N, H, W)`` grey images -> normalised float ``(N, 1, H, W)`` model input."""
    if images.ndim != 3:
        raise ValueError(f"expected grey images (N, H, W), got shape {images.shape}")
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)[:, None]
    return (x - float(mean[0])) / float(std[0])


def region_mask_dict(landmarks: np.ndarray | Tensor, size: int, margin: float) -> dict[str, Tensor]:
    """Boolean ``(N, size, size)`` masks of mouth, nose and eyes (symmetric set, grown by ``margin``
    pixels) from the landmarks, and ``rest``: every pixel in none of them."""
    lm = torch.as_tensor(np.asarray(landmarks, dtype=np.float32))
    masks = {name: region_masks(lm, name, size, margin).cpu() for name in REGIONS}
    union = torch.zeros_like(masks[REGIONS[0]])
    for m in masks.values():
        union |= m
    masks["rest"] = ~union
    return masks


# --------------------------------------------------------------------------- known-answer references
class EvidenceOracle(nn.Module):
    """A model that reads nothing but the evidence pixels of a fixed batch of faces.

    The logit of face ``i``'s label is ``scale * mean(x_i ** 2 over evidence_i)`` and every other
    logit is 0, so the only pixels that can change its output are the evidence pixels (and a pixel
    changes it whenever it moves away from 0, the occlusion baseline). The forward pass also
    accepts ``k`` stacked copies of the batch (``k * N`` inputs, as captum's occlusion sends them).
    ``features`` (an identity on ``x ** 2 * evidence``, full resolution) is a Grad-CAM layer.
    Give :class:`~fer_explain.explain.Occlusion` an explicit ``perturbations_per_eval`` (its
    automatic choice probes the model with a single face, which this model refuses).

    Args:
        evidence: ``(N, H, W)`` bool evidence masks.
        labels: ``(N,)`` class of each face.
        num_classes: number of outputs.
        scale: logit scale (small keeps the softmax out of saturation).
    """

    def __init__(self, evidence: Tensor | np.ndarray, labels: Tensor | np.ndarray, num_classes: int = 7,
                 scale: float = 2.0) -> None:
        super().__init__()
        ev = torch.as_tensor(np.asarray(evidence)).bool()
        lab = torch.as_tensor(np.asarray(labels)).long().flatten()
        if ev.dim() != 3 or len(ev) != len(lab):
            raise ValueError(f"evidence must be (N, H, W) with one label per face; got {tuple(ev.shape)} "
                             f"and {len(lab)} labels")
        if len(lab) and (int(lab.min()) < 0 or int(lab.max()) >= num_classes):
            raise ValueError(f"labels must lie in 0..{num_classes - 1}, got {lab.min()}..{lab.max()}")
        self.register_buffer("evidence", ev[:, None].float())
        self.register_buffer("labels", lab)
        self.num_classes = int(num_classes)
        self.scale = float(scale)
        self.features = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        n = self.evidence.shape[0]
        if x.shape[0] % n or tuple(x.shape[-2:]) != tuple(self.evidence.shape[-2:]):
            raise ValueError(f"EvidenceOracle holds {n} faces of {tuple(self.evidence.shape[-2:])}; got input "
                             f"{tuple(x.shape)} (the batch must be k copies of those faces)")
        k = x.shape[0] // n
        m = self.evidence.repeat(k, 1, 1, 1)
        a = self.features(x[:, :1].pow(2) * m)
        score = self.scale * a.sum((1, 2, 3)) / m.sum((1, 2, 3)).clamp_min(1)
        return F.one_hot(self.labels.repeat(k), self.num_classes).to(x.dtype) * score[:, None]


def ideal_map(evidence: Tensor | np.ndarray, grid: int, size: int) -> Tensor:
    """The perfect map at a coarser resolution: evidence averaged to ``grid x grid`` cells, then
    upsampled bilinearly to ``size`` (as Grad-CAM's layer map is)."""
    ev = torch.as_tensor(np.asarray(evidence)).float()[:, None]
    return upsample(F.adaptive_avg_pool2d(ev, grid)[:, 0], (size, size), "bilinear")


def reference_explanation(maps: Tensor, targets: Tensor, num_classes: int, method: str) -> Explanation:
    """An :class:`Explanation` around hand-made maps (uniform probabilities)."""
    n = len(maps)
    return Explanation(maps=maps.float(), raw=None, targets=targets.long().cpu(),
                       probs=torch.full((n, num_classes), 1.0 / num_classes), method=method)


# --------------------------------------------------------------------------- explaining
def concat_explanations(parts: Sequence[Explanation]) -> Explanation:
    """One :class:`Explanation` from several of the same method (batch-wise ``extras`` are dropped)."""
    if not parts:
        raise ValueError("no explanations to concatenate")
    first = parts[0]

    def cat(name: str) -> Tensor | None:
        values = [getattr(p, name) for p in parts]
        return None if any(v is None for v in values) else torch.cat(values)

    return Explanation(maps=torch.cat([p.maps for p in parts]), raw=cat("raw"),
                       targets=torch.cat([p.targets for p in parts]), probs=torch.cat([p.probs for p in parts]),
                       method=first.method, params=dict(first.params), layer=first.layer, labels=cat("labels"))


def explain_in_chunks(explainer: Explainer, x: Tensor, targets: Tensor, chunk: int = 128,
                      desc: str = "explain", progress: bool = False) -> Explanation:
    """``explainer.attribute(x, targets, labels=targets)`` over chunks of ``chunk`` faces."""
    from tqdm.auto import tqdm

    if len(x) == 0:
        raise ValueError("no faces to explain")
    parts = []
    for s in tqdm(range(0, len(x), chunk), desc=desc, disable=not progress, leave=False):
        t = targets[s:s + chunk]
        parts.append(explainer.attribute(x[s:s + chunk], t, labels=t))
    return concat_explanations(parts)


def localisation(exp: Explanation, evidence: np.ndarray | Tensor, landmarks: np.ndarray | Tensor,
                 margins: Sequence[float] = (0, 2)) -> dict[str, Any]:
    """Localisation numbers of one explanation against the known answer.

    Args:
        exp: maps ``(N, H, W)``.
        evidence: ground-truth evidence masks ``(N, H, W)`` (already dilated as wanted).
        landmarks: exact ``(N, 68, 2)`` landmarks of the same faces.
        margins: region-mask margins (pixels) at which region shares are measured.

    Returns:
        ``pointing_game`` (hit rate over faces with a non-empty mask), ``pointing_valid`` (how many),
        ``relevance_mass`` (mean relevance mass accuracy), ``no_positive`` (maps without positive
        attribution), and per margin ``region_share[<margin>]``: mean share of the positive
        attribution per region, with ``mouth_median`` and ``mouth_majority`` (fraction of faces with
        more than half on the mouth).
    """
    ev = torch.as_tensor(np.asarray(evidence)).bool()
    hits = M.pointing_game(exp, ev)
    rma = M.relevance_mass_accuracy(exp, ev)
    size = exp.maps.shape[-1]
    out: dict[str, Any] = {
        "n": len(exp),
        "pointing_game": float(torch.nanmean(hits)) if (~hits.isnan()).any() else float("nan"),
        "pointing_valid": int((~hits.isnan()).sum()),
        "relevance_mass": float(torch.nanmean(rma)) if (~rma.isnan()).any() else float("nan"),
        "no_positive": int((exp.maps.flatten(1).clamp_min(0).sum(1) <= 0).sum()),
        "region_share": {},
    }
    for margin in margins:
        df = M.region_mass(exp, region_mask_dict(landmarks, size, margin))
        share = {name: float(df[name].mean()) for name in ALL_REGIONS}
        share["mouth_median"] = float(df["mouth"].median())
        share["mouth_majority"] = float((df["mouth"] > 0.5).mean())
        out["region_share"][_margin_key(margin)] = share
    return out


def _margin_key(margin: float) -> str:
    return f"{margin:g}px"


# --------------------------------------------------------------------------- randomisation
def layer_group(name: str) -> str:
    """Top-level group of a layer name: ``body.block3.layer2.layers.conv1`` -> ``body.block3``."""
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "body" and len(parts) > 1 else parts[0]


def group_ends(curve: pd.DataFrame) -> pd.DataFrame:
    """Rows of the cascading curve where a group is fully randomised (the last layer of each group)."""
    groups = curve["layer"].map(layer_group)
    last = groups != groups.shift(-1)
    out = curve[last].copy()
    out.insert(1, "group", groups[last])
    return out


def cascade(model: nn.Module, x: Tensor, targets: Tensor, seed: int = 0,
            progress: bool = False) -> pd.DataFrame:
    """Cascading randomisation of Grad-CAM (default settings), every randomisable layer, top down."""
    return M.cascading_randomization(lambda m: GradCAM(m), model, x, targets, seed=seed, progress=progress)


# --------------------------------------------------------------------------- acceptance
def criterion(name: str, value: float, op: str, threshold: float, note: str = "") -> dict[str, Any]:
    """One acceptance line: ``value op threshold`` (NaN never passes)."""
    ops: dict[str, Callable[[float, float], bool]] = {
        ">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b}
    if op not in ops:
        raise ValueError(f"op must be one of {sorted(ops)}, got {op!r}")
    ok = bool(not math.isnan(value) and ops[op](value, threshold))
    return {"criterion": name, "value": value, "op": op, "threshold": threshold, "passed": ok, "note": note}


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float):
        return None if math.isnan(obj) or math.isinf(obj) else obj
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return _jsonable(float(obj))
    return obj


def write_results(results: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """JSON of everything, or (for a ``.csv`` name) the criteria table."""
    p = Path(path)
    if p.parent != Path(""):
        p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix.lower() == ".csv":
        rows = results["criteria"]
        with p.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(_jsonable(rows))
    else:
        p.write_text(json.dumps(_jsonable(results), indent=2) + "\n")


# --------------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--n-train", type=int, default=8000, help="training faces (10%% held out for validation)")
    ap.add_argument("--n-test", type=int, default=700, help="test faces (6/7 of them non-neutral)")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--train-minutes", type=float, default=3.0,
                    help="training time budget: no epoch starts that would end past it (0: none)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--growth-rate", "--width", dest="growth_rate", type=int, default=12,
                    help="DenseNet-BC growth rate k")
    ap.add_argument("--layers-per-block", type=int, default=16)
    ap.add_argument("--occlusion-window", type=int, default=6)
    ap.add_argument("--occlusion-stride", type=int, default=2)
    ap.add_argument("--occlusion-ppe", type=int, default=None,
                    help="occluded copies of a chunk per forward (default: 16 on cuda, automatic on cpu)")
    ap.add_argument("--chunk", type=int, default=64, help="faces per explainer call")
    ap.add_argument("--max-explain", type=int, default=None,
                    help="explain at most this many correctly classified faces (default: all)")
    ap.add_argument("--evidence-dilate", type=int, default=2)
    ap.add_argument("--acceptance-margin", type=float, default=2.0, choices=(0.0, 2.0),
                    help="mouth-mask margin (px) of the mouth-share criterion")
    ap.add_argument("--cascade-n", type=int, default=64, help="faces in the randomisation test")
    ap.add_argument("--cascade-print", choices=("groups", "all"), default="groups")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="write the results here (.json, or .csv for the criteria)")
    ap.add_argument("--progress", action="store_true", help="tqdm bars (training, explaining)")
    args = ap.parse_args(argv)
    if args.n_train < 20 or args.n_test < 7:
        ap.error("--n-train must be >= 20 and --n-test >= 7")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the whole known-answer check; returns the results (also written to ``--out``)."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device is available")
        torch.backends.cudnn.benchmark = True
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    # 1. data ----------------------------------------------------------------------------------
    t0 = time.perf_counter()
    train, test = render_sets(args.n_train, args.n_test, args.size, args.seed)
    timings["render"] = time.perf_counter() - t0
    classes = train.label_space.classes
    neutral = classes.index("neutral")
    n_nonneutral = int((test.labels != neutral).sum())
    print(f"rendered {len(train)} training + {len(test)} test mouth-only faces at {args.size}x{args.size} "
          f"in {timings['render']:.1f}s; {n_nonneutral} non-neutral test faces; device {device}")

    # 2. model -----------------------------------------------------------------------------------
    torch.manual_seed(args.seed)
    model = create_model("densenet_bc", num_classes=len(classes), in_chans=1, growth_rate=args.growth_rate,
                         layers_per_block=args.layers_per_block, input_size=args.size)
    spec = model.input_spec
    x_train = to_input(train.images, spec.mean, spec.std)
    y_train = torch.from_numpy(train.labels).long()
    n_val = max(len(classes), len(train) // 10)
    train_ds = TensorDataset(x_train[n_val:], y_train[n_val:])
    val_ds = TensorDataset(x_train[:n_val], y_train[:n_val])
    recipe = get_recipe("quick", epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, scheduler="cosine",
                        seed=args.seed, time_budget_minutes=args.train_minutes or None)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"DenseNet-BC growth {args.growth_rate}, {args.layers_per_block} layers/block: {n_params:,} parameters; "
          f"Adam lr {args.lr} cosine, batch {args.batch_size}, {args.epochs} epochs "
          f"(budget {args.train_minutes} min), train {len(train_ds)}, val {len(val_ds)}")
    t0 = time.perf_counter()
    result = fit(model, train_ds, val_ds, recipe=recipe, device=device, progress=args.progress, classes=classes)
    timings["train"] = time.perf_counter() - t0
    model = result.model.eval()
    hist = result.history
    for _, row in hist.iterrows():
        print(f"  epoch {int(row['epoch']):3d}  loss {row['train_loss']:.4f}  train acc {row['train_acc']:.3f}  "
              f"val acc {row['val_acc']:.3f}  ({row['seconds'] + row['eval_seconds']:.1f}s)")
    print(f"trained {len(hist)} epochs in {timings['train']:.1f}s, best epoch {result.best_epoch}")

    x_test = to_input(test.images, spec.mean, spec.std)
    y_test = torch.from_numpy(test.labels).long()
    ev = evaluate(model, TensorDataset(x_test, y_test), device=device, batch_size=256)
    preds = torch.as_tensor(ev.preds).long()
    per_class = {c: float(a) for c, a in zip(classes, ev.per_class_accuracy)}
    print(f"test accuracy {ev.accuracy:.4f}  per class: "
          + ", ".join(f"{c} {a:.3f}" for c, a in per_class.items()))

    # 3. explain ----------------------------------------------------------------------------------
    nonneutral = y_test != neutral
    correct = nonneutral & (preds == y_test)
    idx = torch.nonzero(correct).flatten()
    n_correct = len(idx)
    explained_set = "correct non-neutral"
    if n_correct == 0:
        idx = torch.nonzero(nonneutral).flatten()
        explained_set = "all non-neutral (no correctly classified face)"
        print("WARNING: no non-neutral test face is classified correctly; explaining all non-neutral faces")
    if args.max_explain is not None:
        idx = idx[:args.max_explain]
    sel = idx.numpy()
    xs, ts = x_test[idx], y_test[idx]
    evidence = test.evidence_dilated(args.evidence_dilate)[sel]
    landmarks = test.landmarks[sel]
    print(f"explaining {len(idx)} faces ({explained_set}; {n_correct} of {n_nonneutral} non-neutral test faces "
          f"are classified correctly), target = true label")

    ppe = args.occlusion_ppe if args.occlusion_ppe is not None else (16 if device.type == "cuda" else None)
    explainers: dict[str, Explainer] = {
        "gradcam": GradCAM(model),
        "occlusion": Occlusion(model, window=args.occlusion_window, stride=args.occlusion_stride, baseline=0.0,
                               perturbations_per_eval=ppe),
    }
    margins = sorted({0.0, 2.0, float(args.acceptance_margin)})
    grid = args.size // 4
    loc: dict[str, dict[str, Any]] = {}
    for name, explainer in explainers.items():
        t0 = time.perf_counter()
        exp = explain_in_chunks(explainer, xs, ts, chunk=args.chunk, desc=name, progress=args.progress)
        timings[name] = time.perf_counter() - t0
        loc[name] = localisation(exp, evidence, landmarks, margins)
        loc[name]["params"] = exp.params
        loc[name]["layer"] = exp.layer
        if name == "gradcam" and exp.raw is not None:
            grid = int(exp.raw.shape[-1])

    # what a perfect explanation scores at each method's resolution (not criteria)
    t0 = time.perf_counter()
    ev_raw = torch.from_numpy(test.evidence[sel])
    refs: dict[str, dict[str, Any]] = {}
    ideal = reference_explanation(ideal_map(ev_raw, grid, args.size), ts, len(classes), f"ideal@{grid}x{grid}")
    refs[ideal.method] = localisation(ideal, evidence, landmarks, margins)
    oracle_parts = []
    for start in range(0, len(idx), args.chunk):
        part = slice(start, start + args.chunk)
        oracle = EvidenceOracle(ev_raw[part], ts[part], len(classes))
        oracle_parts.append(Occlusion(oracle, window=args.occlusion_window, stride=args.occlusion_stride,
                                      baseline=0.0, perturbations_per_eval=16).attribute(xs[part], ts[part]))
    refs["oracle-occl"] = localisation(concat_explanations(oracle_parts), evidence, landmarks, margins)
    timings["references"] = time.perf_counter() - t0

    # 4. report localisation ----------------------------------------------------------------------
    print(f"\nlocalisation vs evidence masks dilated by {args.evidence_dilate}px "
          f"(pointing game over faces with evidence; shares = mean share of positive attribution)")
    header = f"{'method':10s} {'time':>6s} {'pointing':>8s} {'rel.mass':>8s}"
    for margin in margins:
        header += "".join(f" {r + '@' + _margin_key(margin):>10s}" for r in ALL_REGIONS)
    print(header)
    rows = [(name, f"{timings[name]:5.1f}s", r) for name, r in loc.items()]
    rows += [(name, "  ref ", r) for name, r in refs.items()]
    for name, when, r in rows:
        line = f"{name:10s} {when:>6s} {r['pointing_game']:8.3f} {r['relevance_mass']:8.3f}"
        for margin in margins:
            share = r["region_share"][_margin_key(margin)]
            line += "".join(f" {share[reg]:10.3f}" for reg in ALL_REGIONS)
        print(line)
    print("  (ref rows: a perfect map averaged to the Grad-CAM grid; occlusion of a model that reads only the "
          "evidence pixels)")
    for name, r in loc.items():
        for margin in margins:
            s = r["region_share"][_margin_key(margin)]
            print(f"  {name} mouth share @{_margin_key(margin)}: mean {s['mouth']:.3f}, median {s['mouth_median']:.3f}, "
                  f"faces with > 0.5 on the mouth {s['mouth_majority']:.3f}")
        if r["no_positive"]:
            print(f"  {name}: {r['no_positive']} maps without positive attribution (excluded from the shares)")

    # 5. cascading randomisation -----------------------------------------------------------------
    nc = min(args.cascade_n, len(idx))
    t0 = time.perf_counter()
    curve = cascade(model, xs[:nc], ts[:nc], seed=args.seed, progress=args.progress)
    timings["cascade"] = time.perf_counter() - t0
    full = float(curve["spearman_mean"].iloc[-1])
    shown = curve if args.cascade_print == "all" else group_ends(curve)
    print(f"\ncascading randomisation of Grad-CAM on {nc} faces: {len(curve)} layers randomised one at a time "
          f"from the top, {timings['cascade']:.1f}s ({'every layer' if args.cascade_print == 'all' else 'end of each group'})")
    print(f"  {'step':>4s}  {'layer':42s} {'spearman':>9s} {'std':>6s}")
    for _, row in shown.iterrows():
        print(f"  {int(row['step']):4d}  {row['layer']:42s} {row['spearman_mean']:9.3f} {row['spearman_std']:6.3f}")

    # 6. acceptance ---------------------------------------------------------------------------------
    acc_key = _margin_key(args.acceptance_margin)
    crit = [
        criterion("test_accuracy", float(ev.accuracy), ">", ACCURACY_MIN),
        criterion("nonneutral_test_faces", float(n_nonneutral), ">=", NONNEUTRAL_MIN),
    ]
    note = "" if n_correct else "explained faces are not correctly classified"
    for name, r in loc.items():
        crit.append(criterion(f"{name}_pointing_game", r["pointing_game"] if n_correct else float("nan"), ">=",
                              POINTING_MIN, note or f"{r['pointing_valid']} faces"))
        crit.append(criterion(f"{name}_mouth_share@{acc_key}",
                              r["region_share"][acc_key]["mouth"] if n_correct else float("nan"), ">",
                              MOUTH_SHARE_MIN, note or f"@0px: {r['region_share']['0px']['mouth']:.3f}"))
    crit.append(criterion("gradcam_randomised_spearman", full, "<", RANDOMISED_SPEARMAN_MAX,
                          f"all {len(curve)} layers randomised, {nc} faces"))
    timings["total"] = time.perf_counter() - t_all
    print(f"\nacceptance (mouth share uses the mouth mask grown by {acc_key}; timings: "
          + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()) + ")")
    for c in crit:
        print(f"{'PASS' if c['passed'] else 'FAIL'}  {c['criterion']:32s} {c['value']:10.4f} {c['op']:>2s} "
              f"{c['threshold']:g}  {c['note']}")
    all_pass = all(c["passed"] for c in crit)
    print(f"{'PASS' if all_pass else 'FAIL'}  overall ({sum(c['passed'] for c in crit)}/{len(crit)} criteria)")

    results: dict[str, Any] = {
        "config": {k: v for k, v in vars(args).items()},
        "model": {"name": "densenet_bc", "growth_rate": args.growth_rate, "layers_per_block": args.layers_per_block,
                  "parameters": n_params, "gradcam_layer": loc["gradcam"]["layer"]},
        "training": {"epochs_run": len(hist), "best_epoch": result.best_epoch,
                     "history": hist.to_dict(orient="records")},
        "test_accuracy": float(ev.accuracy),
        "per_class_accuracy": per_class,
        "n_test": len(test),
        "n_nonneutral_test": n_nonneutral,
        "n_correct_nonneutral": n_correct,
        "n_explained": len(idx),
        "explained_set": explained_set,
        "evidence_dilate": args.evidence_dilate,
        "acceptance_margin": args.acceptance_margin,
        "localisation": loc,
        "references": refs,
        "cascade": {"n_faces": nc, "full_randomisation_spearman": full,
                    "curve": curve.to_dict(orient="records")},
        "timings": timings,
        "criteria": crit,
        "passed": all_pass,
    }
    if args.out:
        write_results(results, args.out)
        print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    sys.exit(0 if main()["passed"] else 1)
