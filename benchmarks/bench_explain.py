"""Speed of the explainers against the libraries they build on or are checked against.

Usage::

    python benchmarks/bench_explain.py [--threads 2] [--batch 64] [--faces 512] [--repeat 3]

Prints wall-clock seconds (best of ``--repeat``) for

1. occlusion on a batch of 48x48 faces (window 8, stride 4: 121 positions) with deep_emotion and a
   small SE-ResNet-18 (width 0.125): ours (:class:`SlidingOcclusion` and :class:`Occlusion`, both with
   automatic batching) vs captum ``Occlusion`` with its default ``perturbations_per_eval=1`` and a
   sweep of larger values;
2. Grad-CAM on the same batch: ours (captum ``LayerGradCam``) vs pytorch-grad-cam ``GradCAM``;
3. dataset-level face-region masking (7 regions x N faces, :func:`region_importance_table`) vs the
   bare cost of N x 8 batched forward passes (the original + 7 masked copies).

Inputs are random (speed does not depend on the content); models are randomly initialised and in
eval mode. The machine's load average is printed, since shared machines skew timings.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import torch
from captum.attr import Occlusion as CaptumOcclusion

from fer_explain.explain import GradCAM, Occlusion, SlidingOcclusion, region_importance_table
from fer_explain.models import create_model


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

    ours = SlidingOcclusion(model, 8, 4)
    wrapped = Occlusion(model, 8, 4)
    t_ours = best_of(lambda: ours.attribute(x, 0), repeat)
    t_wrapped = best_of(lambda: wrapped.attribute(x, 0), repeat)
    print(f"  {name}: SlidingOcclusion (auto chunk={ours._used_chunk}) {t_ours:.3f} s | "
          f"Occlusion wrapper (auto ppe={wrapped._used_ppe}) {t_wrapped:.3f} s")
    sweep = {}
    for ppe in (1, 4, 16, 32, 64, 121):
        sweep[ppe] = best_of(captum(ppe), 1 if ppe == 1 else repeat)
    best = min(sweep, key=sweep.get)
    line = ", ".join(f"ppe={k}: {v:.3f}" for k, v in sweep.items())
    print(f"  {name}: captum Occlusion {line} s (best ppe={best})")


def bench_gradcam(name: str, model: torch.nn.Module, x: torch.Tensor, repeat: int) -> None:
    from pytorch_grad_cam import GradCAM as RefGradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    ours = GradCAM(model)
    t_ours = best_of(lambda: ours.attribute(x, 0), repeat)
    layer = model.get_submodule(ours.layer)
    with RefGradCAM(model=model, target_layers=[layer]) as ref:
        targets = [ClassifierOutputTarget(0)] * len(x)
        t_ref = best_of(lambda: ref(input_tensor=x, targets=targets), repeat)
    print(f"  {name}: ours {t_ours:.3f} s | pytorch-grad-cam {t_ref:.3f} s (layer {ours.layer})")


def bench_regions(model: torch.nn.Module, n_faces: int, batch: int, repeat: int) -> None:
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(batch, 1, 48, 48, generator=g) for _ in range(n_faces // batch)]
    fm = torch.zeros(batch, 1, 48, 48, dtype=torch.long)
    for r in range(7):  # 7 horizontal bands = 7 regions, every pixel in one of them
        fm[:, :, r * 48 // 7:(r + 1) * 48 // 7] = r
    labels = torch.randint(0, 7, (batch,), generator=g)
    batches = [(x, fm, labels) for x in xs]
    names = [f"region{r}" for r in range(7)]
    t_ours = best_of(lambda: region_importance_table(model, batches, names, progress=False), repeat)

    def forwards() -> None:
        with torch.no_grad():
            for x in xs:
                model(torch.cat([x] * 8))

    t_fwd = best_of(forwards, repeat)
    print(f"  {n_faces} faces x 7 regions: region_importance_table {t_ours:.3f} s | "
          f"{n_faces} x 8 batched forwards {t_fwd:.3f} s (ratio {t_ours / t_fwd:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--faces", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
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
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
