"""Throughput of the synthetic face generator (faces/s), everything a face carries, no file writing.

Each face counts its parameters, its render, its evidence twin, its landmarks and evidence mask
(exactly what :func:`fer_explain.data.synthetic.generate` returns). The acceptance figure is measured
pinned to one core::

    taskset -c 0 python benchmarks/bench_synth.py

Prints one line per setting with the best of ``--repeats`` runs (the machine may be shared, so the
best run is the least disturbed one), the median, and the rate per CPU second of this process (which
leaves out the time other processes held the core).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from fer_explain.data.synthetic import SyntheticFaceConfig, generate

SETTINGS = {
    "48 grey": {"size": 48, "channels": 1},
    "64 grey": {"size": 64, "channels": 1},
    "100 RGB": {"size": 100, "channels": 3},
    "224 RGB": {"size": 224, "channels": 3},
}


def bench(n: int, repeats: int, nuisance: str, **kw: object) -> tuple[float, float, float]:
    """Best and median wall-clock rate, and the best CPU-time rate (faces per CPU second)."""
    cfg = SyntheticFaceConfig(n=n, seed=123, nuisance=nuisance, **kw)  # type: ignore[arg-type]
    generate(cfg, 0, min(n, 64))  # warm-up (imports, caches)
    rates, cpu_rates = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        generate(cfg)
        rates.append(n / (time.perf_counter() - t0))
        cpu_rates.append(n / max(time.process_time() - c0, 1e-9))
    return max(rates), statistics.median(rates), max(cpu_rates)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2048, help="faces per run (default 2048)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--nuisance", default="default", help="none / default / hard")
    ap.add_argument("--settings", nargs="*", default=["48 grey", "64 grey", "100 RGB"],
                    help=f"which of {list(SETTINGS)}")
    args = ap.parse_args(argv)
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "n/a"
    print(f"cpus allowed: {affinity}  load average: {os.getloadavg() if hasattr(os, 'getloadavg') else 'n/a'}")
    for name in args.settings:
        n = args.n if "224" not in name else max(args.n // 8, 64)
        best, med, cpu = bench(n, args.repeats, args.nuisance, **SETTINGS[name])
        print(f"{name:8s} nuisance={args.nuisance:7s} n={n:5d}: best {best:7.0f} faces/s, median {med:7.0f} "
              f"faces/s wall clock; {cpu:7.0f} faces per CPU second")


if __name__ == "__main__":
    main()
