"""Speed of the explainers against the libraries they build on or are checked against.

Usage::

    python benchmarks/bench_explain.py [--threads 2] [--batch 64] [--faces 512] [--repeat 3] [--dataset 0]

Prints wall-clock seconds (best of ``--repeat``) for

1. occlusion on a batch of 48x48 faces (window 8, stride 4: 121 positions) with deep_emotion and a
   small SE-ResNet-18 (width 0.125): captum ``Occlusion`` at ``perturbations_per_eval`` 1 (its default),
   4, 16, 32, 64 and 121, against ours -- :class:`SlidingOcclusion` and the :class:`Occlusion` wrapper
   with their calibrated batching (the one-off calibration is timed on its own, then cached) and
   :class:`SlidingOcclusion` at captum's best ``perturbations_per_eval`` -- and the ratio of ours to
   captum's best;
2. Grad-CAM and Grad-CAM++ on the same batch: ours (one forward pass) vs pytorch-grad-cam;
3. dataset-level face-region masking (7 regions x N faces, :func:`region_importance_table`) vs captum
   ``FeatureAblation`` on the same batches and the bare cost of N x 8 batched forward passes (the
   original + 7 masked copies);
4. with ``--dataset K``: ``explain_dataset`` (gradcam, occlusion, regions) on K synthetic test faces
   with the shipped ``synthetic/deep_emotion`` checkpoint, in faces per second.

Inputs are random (speed does not depend on the content); models are randomly initialised and in
eval mode. The machine's load average is printed before and after: on a shared machine the numbers
move by tens of percent between runs, so compare columns of one run, not runs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable

import torch
from captum.attr import FeatureAblation
from captum.attr import Occlusion as CaptumOcclusion

from fer_explain.explain import (
    GradCAM,
    GradCAMPlusPlus,
    Occlusion,
    SlidingOcclusion,
    explaining,
    region_importance_table,
)
from fer_explain.explain.occlusion import calibrated_batch, clear_calibration
from fer_explain.models import create_model

PPE_SWEEP = (1, 4, 16, 32, 64, 121)


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_occlusion(name: str, model: torch.nn.Module, x: torch.Tensor, repeat: int) -> None:
    def prob(inp: torch.Tensor) -> torch.Tensor:
        return model(inp).softmax(dim=1)

    def captum(ppe: int) -> Callable[[], object]:
        def run() -> object:
            with torch.no_grad():
                return CaptumOcclusion(prob).attribute(x, sliding_window_shapes=(1, 8, 8), strides=(1, 4, 4),
                                                       baselines=0.0, target=0, perturbations_per_eval=ppe)
        return run

    sweep = {ppe: best_of(captum(ppe), 1 if ppe == 1 else repeat) for ppe in PPE_SWEEP}
    best = min(sweep, key=lambda k: sweep[k])
    print(f"  {name}: captum Occlusion " + ", ".join(f"ppe={k}: {v:.3f}" for k, v in sweep.items())
          + f" s (best ppe={best})")

    clear_calibration()
    with explaining(model):
        t0 = time.perf_counter()
        images = calibrated_batch(model, x)
        t_cal = time.perf_counter() - t0
    ours = SlidingOcclusion(model, 8, 4)
    wrapped = Occlusion(model, 8, 4)
    fixed = SlidingOcclusion(model, 8, 4, chunk=best)
    t_ours = best_of(lambda: ours.attribute(x, 0), repeat)
    t_wrapped = best_of(lambda: wrapped.attribute(x, 0), repeat)
    t_fixed = best_of(lambda: fixed.attribute(x, 0), repeat)
    print(f"  {name}: calibration {t_cal:.2f} s once -> {images} images per forward | SlidingOcclusion "
          f"(chunk={ours._used_chunk}) {t_ours:.3f} s | Occlusion (ppe={wrapped._used_ppe}) {t_wrapped:.3f} s | "
          f"SlidingOcclusion at captum's best (chunk={best}) {t_fixed:.3f} s")
    print(f"  {name}: ours / captum best = {t_ours / sweep[best]:.2f} (SlidingOcclusion), "
          f"{t_wrapped / sweep[best]:.2f} (Occlusion); captum default ppe=1 / ours = {sweep[1] / t_ours:.1f}x")


def bench_gradcam(name: str, model: torch.nn.Module, x: torch.Tensor, repeat: int) -> None:
    from pytorch_grad_cam import GradCAM as RefGradCAM
    from pytorch_grad_cam import GradCAMPlusPlus as RefGradCAMPlusPlus
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    for label, ours_cls, ref_cls in (("Grad-CAM", GradCAM, RefGradCAM),
                                     ("Grad-CAM++", GradCAMPlusPlus, RefGradCAMPlusPlus)):
        ours = ours_cls(model)
        t_ours = best_of(lambda o=ours: o.attribute(x, 0), repeat)
        layer = model.get_submodule(ours.layer)
        targets = [ClassifierOutputTarget(0)] * len(x)
        with ref_cls(model=model, target_layers=[layer]) as ref:
            t_ref = best_of(lambda r=ref, t=targets: r(input_tensor=x, targets=t), repeat)
        print(f"  {name} {label}: ours {t_ours:.3f} s | pytorch-grad-cam {t_ref:.3f} s "
              f"(ratio {t_ours / t_ref:.2f}, layer {ours.layer})")


def bench_regions(model: torch.nn.Module, n_faces: int, batch: int, repeat: int) -> None:
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(batch, 1, 48, 48, generator=g) for _ in range(max(1, n_faces // batch))]
    fm = torch.zeros(batch, 1, 48, 48, dtype=torch.long)
    for r in range(7):  # 7 horizontal bands = 7 regions, every pixel in one of them
        fm[:, :, r * 48 // 7:(r + 1) * 48 // 7] = r
    labels = torch.randint(0, 7, (batch,), generator=g)
    batches = [(x, fm, labels) for x in xs]
    names = [f"region{r}" for r in range(7)]
    t_ours = best_of(lambda: region_importance_table(model, batches, names, progress=False), repeat)

    def prob(inp: torch.Tensor) -> torch.Tensor:
        return model(inp).softmax(dim=1)

    def captum() -> None:
        with torch.no_grad():
            for x in xs:
                FeatureAblation(prob).attribute(x, baselines=0.0, target=labels, feature_mask=fm,
                                                perturbations_per_eval=7)

    def forwards() -> None:
        with torch.no_grad():
            for x in xs:
                model(torch.cat([x] * 8))

    t_cap = best_of(captum, repeat)
    t_fwd = best_of(forwards, repeat)
    print(f"  {len(xs) * batch} faces x 7 regions: region_importance_table {t_ours:.3f} s | captum FeatureAblation "
          f"{t_cap:.3f} s | {len(xs) * batch} x 8 batched forwards {t_fwd:.3f} s (ours / forwards "
          f"{t_ours / t_fwd:.2f})")


def bench_dataset(n_faces: int, batch: int) -> None:
    from fer_explain.analysis.dataset_explain import explain_dataset
    from fer_explain.data.synthetic import default_synthetic_manifest
    from fer_explain.train import shipped_checkpoint

    m = default_synthetic_manifest()
    faces = m.replace(m.df[m.df["split"] == "test"].iloc[:n_faces])
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        explain_dataset(shipped_checkpoint("synthetic/deep_emotion"), faces, os.path.join(tmp, "run"),
                        methods=("gradcam", "occlusion", "regions"), batch_size=batch, progress=False)
        dt = time.perf_counter() - t0
    print(f"  explain_dataset, deep_emotion, {len(faces)} faces, gradcam+occlusion+regions (+ region masses, "
          f"sparsity, deletion drop): {dt:.2f} s = {len(faces) / dt:.1f} faces/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--faces", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dataset", type=int, default=0, metavar="K", help="also time explain_dataset on K faces")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} threads, load average {os.getloadavg()}")
    models = {
        "deep_emotion": create_model("deep_emotion").eval(),
        "se_resnet18(w=0.125)": create_model("se_resnet18", in_chans=1, width=0.125, input_size=48).eval(),
    }
    x = torch.randn(args.batch, 1, 48, 48)
    print(f"occlusion, batch {args.batch}, 48x48, window 8, stride 4 (121 positions):")
    for name, model in models.items():
        bench_occlusion(name, model, x, args.repeat)
    print(f"Grad-CAM, batch {args.batch}:")
    for name, model in models.items():
        bench_gradcam(name, model, x, args.repeat)
    print("region masking (deep_emotion):")
    bench_regions(models["deep_emotion"], args.faces, args.batch, args.repeat)
    if args.dataset:
        print("dataset:")
        bench_dataset(args.dataset, min(args.batch, 32))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
