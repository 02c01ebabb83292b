"""Training-step and inference speed of every registered model at its native input size, and the
share of a FER2013 training step spent waiting for data (cached loader vs a preloaded tensor).

Prints numbers; nothing here is asserted. Examples::

    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_models.py                      # all models, batch 64
    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_models.py --fer2013 /tmp/fer2013 --models deep_emotion
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import torch.nn.functional as F

from fer_explain.models import create_model, list_models


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def model_speed(name: str, batch: int, repeats: int, **kwargs: object) -> dict[str, float]:
    torch.manual_seed(0)
    model = create_model(name, **kwargs)
    spec = model.input_spec
    x = torch.rand(batch, spec.channels, spec.size, spec.size)
    y = torch.randint(0, model.num_classes, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    model.train()
    t_train = _time(step, repeats)
    model.eval()
    with torch.no_grad():
        t_infer = _time(lambda: model(x), repeats)
    params = sum(p.numel() for p in model.parameters())
    return {"params": params, "size": spec.size, "channels": spec.channels,
            "train_img_s": batch / t_train, "infer_img_s": batch / t_infer}


def data_wait_share(root: str, batch: int, steps: int) -> None:
    from fer_explain.data.dataset import FaceDataset, make_loader
    from fer_explain.data.sources import build_manifest

    manifest = build_manifest("fer2013", root).select("train")
    ds = FaceDataset(manifest, size=48, channels=1, normalize=((0.5,), (0.5,)), progress=False)
    t0 = time.perf_counter()
    ds.build_cache(progress=False)
    print(f"pixel cache ready in {time.perf_counter() - t0:.1f} s ({len(ds)} faces)")
    model = create_model("deep_emotion")
    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def run(batches) -> tuple[float, float]:
        wait = compute = 0.0
        it = iter(batches)
        for _ in range(steps):
            t = time.perf_counter()
            xb, yb = next(it)
            t1 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
            wait += t1 - t
            compute += time.perf_counter() - t1
        return wait, compute

    for workers in (0, 2):
        loader = make_loader(ds, batch_size=batch, shuffle=True, num_workers=workers, seed=0)
        wait, compute = run(loader)
        print(f"cached loader, num_workers={workers}: data wait {wait:.2f} s, compute {compute:.2f} s "
              f"-> {100 * wait / (wait + compute):.1f}% of step time waiting for data")
    pixels = torch.stack([ds[i][0] for i in range(min(len(ds), steps * batch))])
    labels = torch.as_tensor(ds.labels[: len(pixels)])
    g = torch.Generator().manual_seed(0)

    def preloaded():
        while True:
            idx = torch.randint(0, len(pixels), (batch,), generator=g)
            yield pixels[idx], labels[idx]

    wait, compute = run(preloaded())
    print(f"preloaded tensor: data wait {wait:.2f} s, compute {compute:.2f} s "
          f"-> {100 * wait / (wait + compute):.1f}% of step time waiting for data")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=list_models())
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--fer2013", default=os.environ.get("FER_EXPLAIN_FER2013_DIR"),
                    help="FER2013 image folders (train/, test/) for the data-wait measurement")
    ap.add_argument("--steps", type=int, default=100, help="training steps for the data-wait measurement")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch}")
    print(f"{'model':14s} {'params':>11s} {'input':>9s} {'train img/s':>12s} {'infer img/s':>12s}")
    for name in args.models:
        r = model_speed(name, args.batch, args.repeats)
        print(f"{name:14s} {r['params']:11,d} {r['channels']}x{r['size']}x{r['size']:<4d} "
              f"{r['train_img_s']:12.1f} {r['infer_img_s']:12.1f}")
    if args.fer2013:
        data_wait_share(args.fer2013, args.batch, args.steps)


if __name__ == "__main__":
    main()
