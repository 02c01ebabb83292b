"""Speed of the explainers against the libraries they build on, on every shipped checkpoint (issue 14, "Speed").

Usage::

    python benchmarks/bench_explain.py [--threads 2] [--repeat 2] [--seconds 4 | --faces K] [--models NAME ...]
                                       [--skip occlusion|gradcam|regions|dataset ...]

For each shipped checkpoint (:data:`_bench_common.CHECKPOINTS`: synthetic deep_emotion, vgg_fer w 0.25,
se_resnet18 w 0.25, resemotenet w 0.1, densenet_bc 4 layers per block, and FER2013 deep_emotion and
vgg_fer), built by the project's loader at its shipped size and channels, on real faces of its test data
(synthetic test split / FER2013 PublicTest) in its evaluation view, explaining the true labels.
The occlusion batch has ``--faces`` faces, or by default as many (8 to 64, a multiple of 8) as make one
sweep take about ``--seconds`` at the model's measured forward throughput:

1. **Occlusion** with the registry's window and stride (``occlusion_window``: 8/4 at 48 px, 10/5 at 64 px)
   and black patches (``CheckpointInput.black()``): captum ``Occlusion`` over its ``perturbations_per_eval``
   sweep (1 and the values giving about ``--sweep-images`` 128 ... 2048 images per forward), against
   :class:`SlidingOcclusion` and the :class:`Occlusion` wrapper with their calibrated batching and measured memory
   layout (captum runs the model as loaded, ours in NHWC where that is faster: :mod:`fer_explain.explain.memory_format`;
   the one-off
   calibration, :func:`calibrated_batch`, is timed on its own and cached first), and ``explain_dataset`` occlusion-only on the same faces (one shard, one batch, float32 maps,
   ``images_per_forward="auto"``; its whole wall time: loading the checkpoint and the faces, the occlusion,
   its table columns, writing). Ratio of each to captum's best time (target <= 1.05) and the max abs
   difference of each map to captum's ``attr[:, 0]`` (probability drop, same units; target <= 1e-5).
2. **Grad-CAM** (the registry's layer) on ``--gradcam-faces`` faces: ours vs pytorch-grad-cam vs one forward
   + backward pass of the batch (target logits summed, gradient to the input); ratio to fwd+bwd (target
   <= 1.1), ours <= pytorch-grad-cam, max abs difference after pytorch-grad-cam's normalisation order
   (ReLU, min-max, resize, min-max; target <= 1e-5).
3. **Region masking**: :func:`region_importance_table` and :class:`RegionAblation` over ``--region-faces``
   faces in batches of ``--region-batch``, with 7 regions (horizontal bands covering every pixel, as in the
   issue's measurement), against the bare cost of N x 8 batched forward passes (one forward of the 8 copies
   per batch: the original and 7 masked ones). Target <= 1.1.

Prints PASS/FAIL per target, the load average before and after, and a final summary table. The machine's
other load moves the numbers by tens of percent: compare columns of one run (and on an oversubscribed
machine every forward call pays scheduling delays that dwarf the work, which favours whatever makes fewer
calls: measure on an idle machine). The default (``--repeat 2 --seconds 4``) takes roughly 1-2 minutes
per model on an idle 2-core machine (densenet_bc, the slowest, most); to stay under 10 minutes a run, split
the models in two::

    python benchmarks/bench_explain.py --models synthetic/deep_emotion synthetic/vgg_fer synthetic/se_resnet18 \
        synthetic/resemotenet
    python benchmarks/bench_explain.py --models synthetic/densenet_bc fer2013/deep_emotion fer2013/vgg_fer

``--repeat 1 --seconds 1`` for a quick look.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from captum.attr import Occlusion as CaptumOcclusion

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_common import (
    CHECKPOINTS,
    FER2013_MANIFEST,
    Shipped,
    best_forward_throughput,
    load_shipped,
    loadavg,
    passfail,
    timed_rounds,
)

from fer_explain.explain import (
    Occlusion,
    RegionAblation,
    SlidingOcclusion,
    explaining,
    make_explainer,
    region_importance_table,
)
from fer_explain.explain.occlusion import calibrated_batch, clear_calibration, window_starts
from fer_explain.explain.registry import occlusion_window

SWEEP_IMAGES = (128, 256, 512, 1024, 2048)
OCCLUSION_TARGET, GRADCAM_TARGET, REGION_TARGET, MAP_TOL = 1.05, 1.10, 1.10, 1e-5


def _maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())


# --------------------------------------------------------------------------- occlusion
def _explain_dataset_occlusion(s: Shipped, tmp: str, tag: str) -> torch.Tensor:
    """``explain_dataset`` occlusion-only on ``s``'s faces (one shard, one batch) -> the maps."""
    from safetensors.torch import load_file

    from fer_explain.analysis.dataset_explain import explain_dataset

    assert s.faces is not None
    out = Path(tmp) / tag
    run = explain_dataset(s.path, s.faces, out, split=None, methods=("occlusion",), landmarks="none",
                          shard_size=len(s.faces), batch_size=len(s.faces), dtype="float32",
                          images_per_forward="auto", progress=False)
    return load_file(str(run.shard_paths[0]))["maps.occlusion"]


def occlusion_faces(s: Shipped, seconds: float) -> int:
    """Faces per occlusion batch so that one sweep takes about ``seconds`` (8 to 64, a multiple of 8): long
    enough that explain_dataset's fixed costs (loading, writing) stay small against it, short enough for
    the whole benchmark to fit in minutes."""
    size = s.x.shape[-1]
    window, stride = occlusion_window(size)
    n_pos = len(window_starts(size, window, stride)) ** 2
    rate, _ = best_forward_throughput(s.model, s.x, sizes=(64, 256, 1024), repeat=1)
    return max(8, min(64, int(seconds * rate / (n_pos + 1)) // 8 * 8, len(s.x) // 8 * 8))


def ppe_sweep(n_faces: int, n_pos: int, images: tuple[int, ...]) -> list[int]:
    """captum's ``perturbations_per_eval`` values: 1 and those giving about ``images`` images per forward."""
    return sorted({1, *(min(n_pos, max(1, round(i / n_faces))) for i in images)})


def bench_occlusion(s: Shipped, repeat: int, sweep_images: tuple[int, ...], dataset: bool) -> dict[str, Any]:
    model, x, labels = s.model, s.x, s.labels
    c, size = x.shape[1], x.shape[-1]
    window, stride = occlusion_window(size)
    n_pos = len(window_starts(size, window, stride)) ** 2
    black = s.inp.black()
    base_value = float(black.flatten()[0]) if bool((black == black.flatten()[0]).all()) else black

    def prob(inp: torch.Tensor) -> torch.Tensor:
        return model(inp).softmax(dim=1)

    def captum(ppe: int) -> torch.Tensor:
        with torch.no_grad():
            return CaptumOcclusion(prob).attribute(x, sliding_window_shapes=(c, window, window),
                                                   strides=(c, stride, stride), baselines=base_value,
                                                   target=labels, perturbations_per_eval=ppe)[:, 0]

    sweep = ppe_sweep(len(x), n_pos, sweep_images)
    clear_calibration()
    with explaining(model):
        t0 = time.perf_counter()
        images = calibrated_batch(model, x)
        t_cal = time.perf_counter() - t0
    sliding = SlidingOcclusion(model, window, stride, baseline=black)
    wrapped = Occlusion(model, window, stride, baseline=black)
    sliding.attribute(x[:2], labels[:2])  # calibrates (cached) for the budget-capped key
    wrapped.attribute(x[:2], labels[:2])
    maps: dict[str, torch.Tensor] = {}
    variants: dict[str, Any] = {f"captum ppe={p}": (lambda p=p: maps.__setitem__(f"captum{p}", captum(p)))
                                for p in sweep}
    variants["SlidingOcclusion"] = lambda: maps.__setitem__("sliding", sliding.attribute(x, labels).maps)
    variants["Occlusion"] = lambda: maps.__setitem__("occlusion", wrapped.attribute(x, labels).maps)
    tmp = tempfile.mkdtemp(prefix="bench_occ_")
    counter = iter(range(10**6))
    if dataset and s.faces is not None:
        _explain_dataset_occlusion(s, tmp, "warm")  # first call imports and caches; not timed
        variants["explain_dataset"] = lambda: maps.__setitem__("dataset", _explain_dataset_occlusion(
            s, tmp, f"run{next(counter)}"))
    times = timed_rounds(variants, repeat, once=frozenset({"captum ppe=1"} if repeat > 1 else set()))
    cap = {p: times[f"captum ppe={p}"] for p in sweep}
    best_ppe = min(cap, key=lambda p: cap[p])
    t_best = cap[best_ppe]
    ref = maps[f"captum{best_ppe}"]
    res: dict[str, Any] = {"captum_best": t_best, "best_ppe": best_ppe, "calibration_s": t_cal, "images": images,
                           "chunk": sliding._used_chunk, "ppe": wrapped._used_ppe, "n_pos": n_pos}
    print(f"  occlusion ({len(x)} faces, {size}px, window {window}, stride {stride}: {n_pos} positions, "
          f"black patches, true labels)")
    print("    captum Occlusion: " + ", ".join(f"ppe={p} {t:.3f}" for p, t in cap.items())
          + f" s -> best ppe={best_ppe} ({best_ppe * len(x)} images/forward)")
    print(f"    calibration {t_cal:.2f} s once -> {images} images/forward; SlidingOcclusion chunk "
          f"{sliding._used_chunk}, Occlusion ppe {wrapped._used_ppe}")
    for key, label in (("sliding", "SlidingOcclusion"), ("occlusion", "Occlusion"), ("dataset", "explain_dataset")):
        if label not in times:
            continue
        ratio = times[label] / t_best
        diff = _maxdiff(maps[key], ref)
        res[key] = (ratio, diff)
        print(f"    {label:<16} {times[label]:.3f} s  ratio {ratio:.2f} (<= {OCCLUSION_TARGET}: "
              f"{passfail(ratio <= OCCLUSION_TARGET)})  max|map - captum| {diff:.1e} ({passfail(diff <= MAP_TOL)})")
    return res


# --------------------------------------------------------------------------- Grad-CAM
def _reference_order(raw: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Our layer map processed as pytorch-grad-cam does: ReLU, min-max, resize, ReLU, min-max."""
    cam = raw.clamp_min(0)
    cam = cam - cam.flatten(1).min(1).values[:, None, None]
    cam = cam / (1e-7 + cam.flatten(1).max(1).values[:, None, None])
    up = torch.nn.functional.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    up = up.clamp_min(0)
    up = up - up.flatten(1).min(1).values[:, None, None]
    return up / (1e-7 + up.flatten(1).max(1).values[:, None, None])


def bench_gradcam(s: Shipped, x: torch.Tensor, labels: torch.Tensor, repeat: int) -> dict[str, Any]:
    from pytorch_grad_cam import GradCAM as RefGradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = s.model
    ours = make_explainer("gradcam", model, input_size=s.inp.size, black=s.inp.black())
    layer = model.get_submodule(ours.layer)
    targets = [ClassifierOutputTarget(int(t)) for t in labels]
    out: dict[str, Any] = {}

    def fwd_bwd() -> None:
        with explaining(model), torch.enable_grad():
            xi = x.clone().requires_grad_(True)
            logits = model(xi)
            torch.autograd.grad(logits.gather(1, labels[:, None]).sum(), xi)

    with RefGradCAM(model=model, target_layers=[layer]) as ref:
        variants = {"ours": lambda: out.__setitem__("ours", ours.attribute(x, labels)),
                    "pytorch-grad-cam": lambda: out.__setitem__("ref", ref(input_tensor=x, targets=targets)),
                    "fwd+bwd": fwd_bwd}
        times = timed_rounds(variants, max(5, 3 * repeat))
    diff = _maxdiff(_reference_order(out["ours"].raw, tuple(x.shape[-2:])), torch.as_tensor(out["ref"]))
    r_fb, r_ref = times["ours"] / times["fwd+bwd"], times["ours"] / times["pytorch-grad-cam"]
    print(f"  Grad-CAM ({len(x)} faces, layer {ours.layer}): ours {times['ours'] * 1e3:.1f} ms | pytorch-grad-cam "
          f"{times['pytorch-grad-cam'] * 1e3:.1f} ms | fwd+bwd {times['fwd+bwd'] * 1e3:.1f} ms")
    print(f"    ours / fwd+bwd {r_fb:.2f} (<= {GRADCAM_TARGET}: {passfail(r_fb <= GRADCAM_TARGET)})  ours / "
          f"pytorch-grad-cam {r_ref:.2f} ({passfail(r_ref <= 1.0)})  max|map - pytorch-grad-cam| {diff:.1e} "
          f"({passfail(diff <= MAP_TOL)})")
    return {"fwd_bwd": r_fb, "ref": r_ref, "diff": diff}


# --------------------------------------------------------------------------- region masking
def bench_regions(s: Shipped, n_faces: int, batch: int, repeat: int) -> dict[str, Any]:
    model, size = s.model, s.inp.size
    xs = [s.x[torch.arange(i, i + batch) % len(s.x)] for i in range(0, max(batch, n_faces), batch)]
    labels = [s.labels[torch.arange(i, i + batch) % len(s.x)] for i in range(0, max(batch, n_faces), batch)]
    fm = torch.zeros(batch, 1, size, size, dtype=torch.long)
    for r in range(7):  # 7 horizontal bands = 7 regions, every pixel in one of them
        fm[:, :, r * size // 7:(r + 1) * size // 7] = r
    names = [f"region{r}" for r in range(7)]
    batches = [(x, fm, y) for x, y in zip(xs, labels)]
    black = s.inp.black()
    ablation = RegionAblation(model, fm, baseline=black)

    def forwards() -> None:
        with torch.no_grad():
            for x in xs:
                model(torch.cat([x] * 8))

    variants = {
        "region_importance_table": lambda: region_importance_table(model, batches, names, baseline=black,
                                                                   progress=False),
        "RegionAblation": lambda: [ablation.attribute(x, y) for x, y in zip(xs, labels)],
        "N x 8 forwards": forwards,
    }
    times = timed_rounds(variants, repeat)
    r_table = times["region_importance_table"] / times["N x 8 forwards"]
    r_abl = times["RegionAblation"] / times["N x 8 forwards"]
    n = len(xs) * batch
    print(f"  region masking ({n} faces in batches of {batch}, 7 regions): region_importance_table "
          f"{times['region_importance_table']:.3f} s | RegionAblation {times['RegionAblation']:.3f} s | "
          f"{n} x 8 batched forwards {times['N x 8 forwards']:.3f} s")
    print(f"    ratio table {r_table:.2f} ({passfail(r_table <= REGION_TARGET)}), RegionAblation {r_abl:.2f} "
          f"({passfail(r_abl <= REGION_TARGET)}) (target <= {REGION_TARGET})")
    return {"table": r_table, "ablation": r_abl}


# --------------------------------------------------------------------------- summary
def _cell(value: float | None, target: float, fmt: str = "{:.2f}") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return (fmt.format(value) + (" ok" if value <= target else " FAIL"))


def summary(rows: list[tuple[str, dict[str, Any]]]) -> None:
    print("\nSUMMARY (ratios; 'ok' = target met: occlusion <= 1.05x captum best, Grad-CAM <= 1.1x fwd+bwd and "
          "<= 1.0x pytorch-grad-cam, regions <= 1.1x N x 8 forwards, maps within 1e-5)")
    head = (f"{'model':<26}{'captum s':>9}{'ppe':>4}{'Sliding':>10}{'Occl.':>10}{'explain':>10}{'occ diff':>10}"
            f"{'GC/fb':>9}{'GC/pgc':>9}{'GC diff':>10}{'reg tab':>9}{'reg abl':>9}")
    print(head)
    print("-" * len(head))
    fails = 0
    for name, r in rows:
        occ, gc, rg = r.get("occlusion", {}), r.get("gradcam", {}), r.get("regions", {})
        diffs = [occ[k][1] for k in ("sliding", "occlusion", "dataset") if k in occ]
        cells = [
            f"{occ['captum_best']:>9.3f}" if occ else f"{'-':>9}", f"{occ.get('best_ppe', '-'):>4}",
            *[f"{_cell(occ[k][0] if k in occ else None, OCCLUSION_TARGET):>10}" for k in ("sliding", "occlusion",
                                                                                          "dataset")],
            f"{_cell(max(diffs) if diffs else None, MAP_TOL, '{:.0e}'):>10}",
            f"{_cell(gc.get('fwd_bwd'), GRADCAM_TARGET):>9}", f"{_cell(gc.get('ref'), 1.0):>9}",
            f"{_cell(gc.get('diff'), MAP_TOL, '{:.0e}'):>10}",
            f"{_cell(rg.get('table'), REGION_TARGET):>9}", f"{_cell(rg.get('ablation'), REGION_TARGET):>9}",
        ]
        line = f"{name:<26}" + "".join(cells)
        fails += line.count("FAIL")
        print(line)
    print(f"{fails} target(s) failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--faces", type=int, default=0, help="faces per occlusion batch (0: about --seconds "
                                                                  "per sweep, 8 to 64)")
    parser.add_argument("--seconds", type=float, default=4.0, help="target seconds of one occlusion sweep")
    parser.add_argument("--gradcam-faces", type=int, default=64)
    parser.add_argument("--region-faces", type=int, default=128)
    parser.add_argument("--region-batch", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--sweep-images", type=int, nargs="+", default=list(SWEEP_IMAGES),
                        help="captum's sweep: ppe=1 and the ppe giving about these images per forward")
    parser.add_argument("--models", nargs="+", default=list(CHECKPOINTS), choices=list(CHECKPOINTS), metavar="NAME")
    parser.add_argument("--skip", nargs="+", default=[], choices=["occlusion", "gradcam", "regions", "dataset"])
    parser.add_argument("--fer2013-manifest", default=FER2013_MANIFEST)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    t_start = time.perf_counter()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average before: {loadavg()}")
    rows: list[tuple[str, dict[str, Any]]] = []
    for name in args.models:
        n_max = max(64, args.faces, args.gradcam_faces, args.region_batch)
        s = load_shipped(name, n_max, args.fer2013_manifest)
        src = "random inputs (data not found)" if s.faces is None else f"{len(s.x)} test faces"
        print(f"\n{s.short} [{name}, {type(s.model).__name__}, {src}]  load {loadavg()}")
        res: dict[str, Any] = {}
        if "occlusion" not in args.skip:
            k = args.faces or occlusion_faces(s, args.seconds)
            sub = Shipped(s.name, s.path, s.model, s.meta, s.inp,
                          None if s.faces is None else s.faces.replace(s.faces.df.iloc[:k]), s.x[:k], s.labels[:k])
            res["occlusion"] = bench_occlusion(sub, args.repeat, tuple(args.sweep_images), "dataset" not in args.skip)
        if "gradcam" not in args.skip:
            res["gradcam"] = bench_gradcam(s, s.x[:args.gradcam_faces], s.labels[:args.gradcam_faces], args.repeat)
        if "regions" not in args.skip:
            res["regions"] = bench_regions(s, args.region_faces, args.region_batch, args.repeat)
        rows.append((s.short, res))
    summary(rows)
    print(f"load average after: {loadavg()}; total {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
