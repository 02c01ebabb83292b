"""Is the synthetic set learnable, and is the "hard" setting hard? Train a small CNN for a few minutes.

Trains a Deep-Emotion-sized CNN (``fer_explain.models.create_model("deep_emotion")`` when available,
otherwise a ~70k-parameter CNN defined here) on synthetic faces for at most ``--minutes`` of wall
time with ``--threads`` threads, then reports accuracy on held-out faces rendered with another seed.

Acceptance (see the synthetic data docs): >= 95% on the default set, between 30% and 85% on the
"hard" setting. Example::

    python benchmarks/synth_learnability.py --minutes 3 --threads 2 --nuisance default hard
"""

from __future__ import annotations

import argparse
import os
import time

# On a shared machine OpenMP threads that spin while waiting make 2-thread training ~10x slower than
# 1 thread; a passive wait policy avoids that (must be set before torch starts its thread pool).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
from torch import nn

from fer_explain.data.synthetic import SyntheticFaceConfig, generate


class TinyCNN(nn.Module):
    """A ~65k-parameter CNN for 48x48 inputs (``--model tiny``, or when fer_explain.models is missing)."""

    def __init__(self, num_classes: int = 7, in_chans: int = 1):
        super().__init__()

        def block(cin: int, cout: int, stride: int = 1, pool: bool = True) -> nn.Sequential:
            layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                                       nn.BatchNorm2d(cout), nn.ReLU()]
            return nn.Sequential(*layers, nn.MaxPool2d(2)) if pool else nn.Sequential(*layers)

        self.features = nn.Sequential(block(in_chans, 16, stride=2, pool=False), block(16, 32), block(32, 64),
                                      block(64, 64))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(64 * 3 * 3, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def make_model(name: str, num_classes: int) -> tuple[nn.Module, str]:
    if name != "tiny":
        try:
            from fer_explain.models import create_model

            return create_model(name, num_classes=num_classes), name
        except Exception as exc:  # noqa: BLE001 - fall back to the local CNN, say why
            print(f"fer_explain.models.create_model({name!r}) unavailable ({exc}); using the tiny CNN")
    return TinyCNN(num_classes), "tiny"


def to_tensor(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(images).float().div_(255.0)
    return x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    model.train()
    return correct / len(x)


def run(nuisance: str, args: argparse.Namespace) -> float:
    extra = {"evidence_regions": tuple(args.evidence_regions)} if args.evidence_regions else {}
    t0 = time.perf_counter()
    train = generate(SyntheticFaceConfig(n=args.n_train, seed=args.seed, nuisance=nuisance, **extra))
    test = generate(SyntheticFaceConfig(n=args.n_test, seed=args.seed + 1000, nuisance=nuisance, **extra))
    t_gen = time.perf_counter() - t0
    xtr, ytr = to_tensor(train.images), torch.from_numpy(train.labels)
    xte, yte = to_tensor(test.images), torch.from_numpy(test.labels)
    torch.manual_seed(args.seed)
    model, used = make_model(args.model, train.label_space.num_classes)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    budget = args.minutes * 60.0
    start = time.perf_counter()
    g = torch.Generator().manual_seed(args.seed)
    epoch = steps = 0
    while time.perf_counter() - start < budget:
        perm = torch.randperm(len(xtr), generator=g)
        for i in range(0, len(perm), args.batch):
            if time.perf_counter() - start >= budget:
                break
            idx = perm[i:i + args.batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            steps += 1
        epoch += 1
        if args.verbose:
            print(f"  [{nuisance}] epoch {epoch} ({time.perf_counter() - start:.0f}s) loss {loss.item():.3f} "
                  f"test acc {accuracy(model, xte, yte):.3f}")
    train_s = time.perf_counter() - start
    acc = accuracy(model, xte, yte)
    if args.verbose:
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(xte[i:i + 512]).argmax(1) for i in range(0, len(xte), 512)])
        k = train.label_space.num_classes
        cm = torch.zeros(k, k, dtype=torch.long)
        cm.index_put_((yte, pred), torch.ones_like(yte), accumulate=True)
        print("  confusion (rows true, columns predicted):", ", ".join(train.label_space.classes))
        for name, row in zip(train.label_space.classes, cm.tolist()):
            print(f"  {name:10s} {row}")
    print(f"{nuisance:8s} model={used} ({n_params} params) train={len(xtr)} test={len(xte)} "
          f"generation {t_gen:.1f}s, training {train_s:.0f}s ({epoch} epochs, {steps} steps): "
          f"held-out accuracy {acc:.3f}")
    return acc


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nuisance", nargs="+", default=["default", "hard"])
    ap.add_argument("--minutes", type=float, default=3.0, help="training wall time per setting")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-train", type=int, default=8000)
    ap.add_argument("--n-test", type=int, default=2100)
    ap.add_argument("--model", default="deep_emotion", help="a fer_explain model name, or 'tiny'")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--evidence-regions", nargs="*", default=None)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"threads={args.threads} load average={os.getloadavg() if hasattr(os, 'getloadavg') else 'n/a'}")
    for nz in args.nuisance:
        run(nz, args)


if __name__ == "__main__":
    main()
