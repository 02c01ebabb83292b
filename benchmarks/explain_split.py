"""Whole-split explanation at the hardware limit: ``explain_dataset`` on FER2013 with ``fer2013/vgg_fer`` (issue 14).

Usage::

    python benchmarks/explain_split.py                      # PublicTest, 3,589 faces, gradcam+occlusion+regions
    python benchmarks/explain_split.py --split train        # FER2013 train (train + val rows: 28,709 faces),
                                                            # gradcam only, peak RSS per shard
    python benchmarks/explain_split.py --limit 256          # a quick look at the first 256 faces

Runs :func:`fer_explain.analysis.dataset_explain.explain_dataset` exactly as ``fer-explain explain`` does (shards,
table, default batch and shard sizes; ``--images-per-forward`` defaults to ``auto``, the calibrated batching)
with ``--threads`` threads, and measures inside the same process:

* the **peak forward throughput**: the best images per second of plain no-grad batched forward passes of the
  checkpoint's model on faces of the split (batch sizes 32 ... 1024), before and after the run (the better
  of the two counts);
* per method, the wall time of its explainer calls and the images its forward passes saw (a forward pre-hook
  on the model); ``efficiency = images / peak throughput / wall time`` (target >= 0.85 for occlusion and
  regions). The deletion-drop column's forward passes, the region masks of the mass columns (rasterised
  from the landmarks per batch), region masses and sparsity are reported apart (``<m>:drop``,
  ``region masks``, ``stats``), as are data loading and writing (``rest``);
* the **peak RSS** (``getrusage`` and a sampling thread over ``/proc/self/statm``), after the first shard and
  at the end: memory is bounded by the shard size when the peak stops growing after the first shards.

PublicTest with the three methods takes about 5-8 minutes on an idle 2-core machine (occlusion is ~95 %
of it); ``--split train`` (gradcam, 28,709 faces) about as long -- check the printed estimate first.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_common import FER2013_MANIFEST, best_forward_throughput, loadavg, passfail

import fer_explain.analysis.dataset_explain as dx
from fer_explain.data.manifest import Manifest
from fer_explain.train import CheckpointInput, load_checkpoint, shipped_checkpoint

EFFICIENCY_TARGET = 0.85
SPLITS = {"publictest": ("publictest",), "train": ("train", "val"), "privatetest": ("privatetest",)}


class Meter:
    """Wall time and forwarded images per phase (the method whose explainer runs, its drop, stats, rest)."""

    def __init__(self) -> None:
        self.phase = "rest"
        self.seconds: dict[str, float] = defaultdict(float)
        self.images: dict[str, int] = defaultdict(int)
        self.forwards: dict[str, int] = defaultdict(int)
        self.model: torch.nn.Module | None = None

    def count(self, _module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        self.images[self.phase] += int(args[0].shape[0])
        self.forwards[self.phase] += 1

    def timed(self, phase: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        outer, self.phase = self.phase, phase
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.seconds[phase] += time.perf_counter() - t0
            self.phase = outer


class RssSampler(threading.Thread):
    """Samples this process's resident set size every ``interval`` seconds; ``peak`` in bytes."""

    def __init__(self, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.interval, self.peak, self.stop = interval, 0, threading.Event()
        self.page = resource.getpagesize()

    def rss(self) -> int:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * self.page

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)


def _instrument(meter: Meter, shard_log: list[tuple[int, float, int]], sampler: RssSampler) -> None:
    """Wrap explain_dataset's building blocks (module attributes of dataset_explain) with the meter."""
    load, make, ablation = dx.load_checkpoint, dx.make_explainer, dx.RegionAblation
    drop, mass, sparsity, shard = dx._first_deletion_drop, dx.xm.region_mass, dx.xm.sparsity, dx._explain_shard

    def load_checkpoint_hooked(*args: Any, **kwargs: Any) -> Any:
        model, meta = load(*args, **kwargs)
        model.register_forward_pre_hook(meter.count)
        meter.model = model
        return model, meta

    class Timed:
        def __init__(self, name: str, explainer: Any) -> None:
            self.name, self.explainer = name, explainer

        def attribute(self, *args: Any, **kwargs: Any) -> Any:
            return meter.timed(self.name, self.explainer.attribute, *args, **kwargs)

    def make_timed(name: str, *args: Any, **kwargs: Any) -> Timed:
        return Timed(name, make(name, *args, **kwargs))

    def ablation_timed(*args: Any, **kwargs: Any) -> Timed:
        return Timed(dx.REGION_METHOD, ablation(*args, **kwargs))

    def drop_timed(model: Any, x: Any, exp: Any, black: Any) -> Any:
        return meter.timed(f"{'regions' if exp.method == 'region_ablation' else exp.method}:drop", drop, model, x,
                           exp, black)

    def shard_timed(*args: Any, **kwargs: Any) -> Any:
        out = shard(*args, **kwargs)
        shard_log.append((len(shard_log), time.perf_counter(), max(sampler.peak, sampler.rss())))
        return out

    dx.load_checkpoint, dx.make_explainer, dx.RegionAblation = load_checkpoint_hooked, make_timed, ablation_timed
    dx._first_deletion_drop, dx._explain_shard = drop_timed, shard_timed
    masks = dx.region_masks_many
    dx.region_masks_many = lambda *a, **k: meter.timed("region masks", masks, *a, **k)
    dx.xm.region_mass = lambda *a, **k: meter.timed("stats", mass, *a, **k)
    dx.xm.sparsity = lambda *a, **k: meter.timed("stats", sparsity, *a, **k)


def _faces(manifest: str, split: str, limit: int | None) -> Manifest:
    m = Manifest.load(manifest)
    names = SPLITS.get(split, (split,))
    df = m.df[m.df["split"].isin(names)]
    return m.replace(df.iloc[:limit] if limit else df)


def _peak_throughput(checkpoint: Path, faces: Manifest) -> tuple[float, int]:
    model, meta = load_checkpoint(checkpoint)
    inp = CheckpointInput.from_checkpoint({**meta, "path": str(checkpoint)}, model)
    ds = inp.dataset(faces.replace(faces.df.iloc[:64]), cache_dir=False)
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    return best_forward_throughput(model.eval(), x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="fer2013/vgg_fer")
    parser.add_argument("--manifest", default=FER2013_MANIFEST)
    parser.add_argument("--split", default="publictest", help="publictest, privatetest, or train (= train + val "
                                                              "rows: FER2013's 28,709 training faces)")
    parser.add_argument("--methods", default=None, help="default gradcam,occlusion,regions (train: gradcam)")
    parser.add_argument("--limit", type=int, default=None, help="only the first K faces of the split")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--shard-size", type=int, default=512)
    parser.add_argument("--images-per-forward", default="auto")
    parser.add_argument("--landmarks", default="manifest", choices=["manifest", "none"])
    parser.add_argument("--out", default=None, help="output folder (default: a temporary one, deleted)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    torch.set_num_threads(args.threads)
    methods = (args.methods or ("gradcam" if args.split == "train" else "gradcam,occlusion,regions")).split(",")
    ipf: int | str = args.images_per_forward if args.images_per_forward == "auto" else int(args.images_per_forward)
    checkpoint = shipped_checkpoint(args.checkpoint)
    faces = _faces(args.manifest, args.split, args.limit)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; load average before: {loadavg()}")
    print(f"{args.checkpoint} on {len(faces)} faces of {args.manifest} split {SPLITS.get(args.split, args.split)}; "
          f"methods {methods}; batch {args.batch_size}, shard {args.shard_size}, images/forward {ipf}", flush=True)
    probe = "occlusion" in methods or "regions" in methods
    # the probe's big batches would set the process's peak RSS: without occlusion/regions it runs after the run only
    peak0, at0 = _peak_throughput(checkpoint, faces) if probe else (float("nan"), 0)
    n_occ = 0
    if "occlusion" in methods:
        window, stride = dx.occlusion_window(48)
        n_occ = len(dx.window_starts(48, window, stride)) ** 2
    est = len(faces) * (n_occ + 8 * ("regions" in methods) + 4 * ("gradcam" in methods) + 2 * len(methods)) / peak0
    if probe:
        print(f"peak forward throughput (before): {peak0:.0f} images/s at batch {at0}; estimated run time "
              f"~{est:.0f} s", flush=True)

    meter, shard_log, sampler = Meter(), [], RssSampler()
    _instrument(meter, shard_log, sampler)
    sampler.start()
    rss0 = sampler.rss()
    tmp = None if args.out else tempfile.TemporaryDirectory(prefix="explain_split_")
    out = Path(args.out or tmp.name) / "run"  # type: ignore[union-attr]
    t0 = time.perf_counter()
    run = dx.explain_dataset(checkpoint, faces, out, split=None, methods=methods, landmarks=args.landmarks,
                             shard_size=args.shard_size, batch_size=args.batch_size, images_per_forward=ipf,
                             progress=False)
    wall = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    run_rss = max(sampler.peak, sampler.rss())
    life_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak1, at1 = _peak_throughput(checkpoint, faces)
    peak = max(peak0, peak1) if probe else peak1
    n_table = 0 if run.table is None else len(run.table)
    if tmp is not None:
        tmp.cleanup()

    print(f"\nexplain_dataset: {len(faces)} faces in {wall:.1f} s = {len(faces) / wall:.1f} faces/s "
          f"({len(run.computed)} shards, table {n_table} rows, images/forward "
          f"{run.record.get('images_per_forward', ipf)})")
    print(f"peak forward throughput: {peak0:.0f} images/s (batch {at0}) before, {peak1:.0f} (batch {at1}) after "
          f"-> {peak:.0f}")
    print(f"{'phase':<16}{'seconds':>9}{'share':>7}{'forwards':>10}{'images':>11}{'img/s':>8}{'efficiency':>12}")
    phases = sorted(meter.seconds, key=lambda k: -meter.seconds[k])
    accounted = sum(meter.seconds.values())
    rest = wall - accounted
    summary: list[str] = []
    for ph in [*phases, "rest"]:
        sec = meter.seconds.get(ph, 0.0) if ph != "rest" else rest
        imgs = meter.images.get(ph, 0)
        eff = imgs / peak / sec if sec > 0 and imgs else float("nan")
        mark = ""
        if ph in ("occlusion", "regions"):
            mark = f" {passfail(eff >= EFFICIENCY_TARGET)} (>= {EFFICIENCY_TARGET})"
            summary.append(f"{ph} efficiency {eff:.2f} {passfail(eff >= EFFICIENCY_TARGET)}")
        print(f"{ph:<16}{sec:>9.1f}{sec / wall:>7.0%}{meter.forwards.get(ph, 0):>10}{imgs:>11}"
              f"{(imgs / sec if sec > 0 else 0):>8.0f}{eff:>12.2f}{mark}")
    per_shard_mb = 3 * args.shard_size * len(methods) * 48 * 48 * 2 / 2**20
    first = shard_log[0][2] if shard_log else 0
    print(f"\npeak RSS during the run {run_rss / 2**20:.0f} MB (sampled every 0.1 s; before the run "
          f"{rss0 / 2**20:.0f} MB; after shard 1 {first / 2**20:.0f} MB; {len(shard_log)} shards of "
          f"{args.shard_size} faces; a shard's maps <= {per_shard_mb:.0f} MB by the docstring's bound); "
          f"getrusage peak up to the run's end {life_rss / 2**20:.0f} MB")
    if len(shard_log) > 2:
        picks = sorted({0, 1, len(shard_log) // 2, len(shard_log) - 1})
        print("  peak RSS after shard " + ", ".join(f"{shard_log[i][0] + 1}: {shard_log[i][2] / 2**20:.0f} MB"
                                                    for i in picks))
        growth = (shard_log[-1][2] - shard_log[1][2]) / 2**20
        print(f"  growth from shard 2 to the last: {growth:+.0f} MB "
              f"({'bounded' if growth < max(50.0, 2 * per_shard_mb) else 'GROWING'})")
    print(f"\nSUMMARY: {len(faces)} faces, wall {wall:.1f} s, " + "; ".join(summary)
          + f"; peak RSS {run_rss / 2**20:.0f} MB; load average after: {loadavg()}")


if __name__ == "__main__":
    main()
