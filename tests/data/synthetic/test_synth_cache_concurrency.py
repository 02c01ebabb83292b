"""Concurrent callers of the cached default set: nobody sees half a set, everybody gets the same one.

Three separate processes (and, cheaply, three threads) ask for the same set on an empty cache at the
same moment; each must succeed, and all must read the same manifest and the same image bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from fer_explain.data.io import load_image
from fer_explain.data.synthetic import SyntheticFaceConfig, default_synthetic_manifest, generate
from fer_explain.data.synthetic.writer import CACHE_ENV, MANIFEST_NAME

REPO = Path(__file__).resolve().parents[3]
SET = {"n": 42, "size": 32, "seed": 4}

# a worker: import everything, say it is ready, wait for "go", then ask for the set and read all of it
WORKER = """
import hashlib, json, os, sys, time
from pathlib import Path
from fer_explain.data.synthetic import default_synthetic_manifest
ready, go, kwargs = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
ready.touch()
end = time.monotonic() + 300
while not go.exists() and time.monotonic() < end:
    time.sleep(0.002)
m = default_synthetic_manifest(**kwargs)
h = hashlib.sha256()
for col in ("image", "evidence"):
    for rel in m.df[col]:
        h.update((m.root / rel).read_bytes())
csv = (m.root / "manifest.csv").read_bytes()
print(json.dumps({"root": str(m.root), "hash": m.content_hash(), "files": h.hexdigest(),
                  "csv": hashlib.sha256(csv).hexdigest()}))
"""


def _digest(m) -> dict[str, str]:
    h = hashlib.sha256()
    for col in ("image", "evidence"):
        for rel in m.df[col]:
            h.update((m.root / rel).read_bytes())
    csv = (m.root / f"{MANIFEST_NAME}.csv").read_bytes()
    return {"root": str(m.root), "hash": m.content_hash(), "files": h.hexdigest(),
            "csv": hashlib.sha256(csv).hexdigest()}


def _check_cache(cache: Path, results: list[dict[str, str]]) -> None:
    assert all(r == results[0] for r in results), results
    folders = [p for p in (cache / "synthetic").iterdir() if p.is_dir()]
    assert [p.name for p in folders] == [Path(results[0]["root"]).name]  # no temporary folder left
    cfg = SyntheticFaceConfig(**SET)  # type: ignore[arg-type]
    b = generate(cfg)
    m = default_synthetic_manifest(cache_dir=cache / "synthetic", **SET)
    for i in (0, 17, 41):
        assert np.array_equal(load_image(m.root, m.df["image"].iat[i]), b.images[i])


def test_three_processes_build_the_default_set_once_and_agree(tmp_path):
    cache = tmp_path / "cache"
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg", **{CACHE_ENV: str(cache)})
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    go = tmp_path / "go"
    procs = []
    for k in range(3):
        ready = tmp_path / f"ready{k}"
        procs.append((ready, subprocess.Popen(
            [sys.executable, "-c", WORKER, str(ready), str(go), json.dumps(SET)], cwd=tmp_path, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    end = time.monotonic() + 300
    while not all(r.exists() or p.poll() is not None for r, p in procs) and time.monotonic() < end:
        time.sleep(0.01)
    go.touch()  # all three start on an empty cache at the same moment
    results = []
    for _, p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    _check_cache(cache, results)


def test_three_threads_share_one_build(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    barrier = threading.Barrier(3)
    results: list[dict[str, str] | BaseException] = [None] * 3  # type: ignore[list-item]

    def work(k: int) -> None:
        try:
            barrier.wait()
            results[k] = _digest(default_synthetic_manifest(**SET))
        except BaseException as e:  # noqa: BLE001 - reported below
            results[k] = e

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    _check_cache(cache, results)  # type: ignore[arg-type]


def test_a_caller_that_missed_the_set_reuses_the_one_finished_meanwhile(tmp_path, monkeypatch):
    """The race behind "image file not found": a caller checks the cache just before another caller's
    set lands, then must neither rebuild nor replace (delete) the finished set others are reading."""
    from fer_explain.data.synthetic import writer

    first = default_synthetic_manifest(cache_dir=tmp_path, **SET)
    marker = first.root / writer.COMPLETE_MARKER
    before = (first.root.stat().st_ino, marker.stat().st_mtime_ns)
    real_complete = writer._complete
    calls: list[int] = []

    def stale_first_look(folder, cfg):
        calls.append(1)
        return False if len(calls) == 1 else real_complete(folder, cfg)  # the look before the lock

    def no_render(*args, **kwargs):
        raise AssertionError("a finished set was rendered again")

    monkeypatch.setattr(writer, "_complete", stale_first_look)
    monkeypatch.setattr(writer, "write_synthetic", no_render)
    again = default_synthetic_manifest(cache_dir=tmp_path, **SET)
    assert len(calls) == 2 and again.root == first.root
    assert (again.root.stat().st_ino, marker.stat().st_mtime_ns) == before


def test_leftovers_of_an_interrupted_build_are_removed(tmp_path):
    key = SyntheticFaceConfig(**SET).key()  # type: ignore[arg-type]
    (tmp_path / f".{key}.tmp.dead1234" / "images").mkdir(parents=True)
    (tmp_path / key / "images").mkdir(parents=True)  # an incomplete set
    m = default_synthetic_manifest(cache_dir=tmp_path, **SET)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([key, f".{key}.lock"])
    m.validate(check_files=True)
