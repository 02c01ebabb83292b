"""explain_dataset: shards + table, resume after a kill (bit-identical), torchrun ranks, bad inputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist
from safetensors import safe_open
from safetensors.torch import load_file

from fer_explain.analysis.dataset_explain import ExplainArgumentError, explain_dataset
from fer_explain.data.manifest import Manifest
from fer_explain.data.synthetic import default_synthetic_manifest
from fer_explain.explain import make_explainer, metrics
from fer_explain.faces.regions import region_masks
from fer_explain.train import load_checkpoint, shipped_checkpoint
from fer_explain.train.inputs import CheckpointInput

REPO = Path(__file__).resolve().parents[2]
DEEP = str(shipped_checkpoint("synthetic/deep_emotion"))
SE = str(shipped_checkpoint("synthetic/se_resnet18"))


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same thread count as the subprocesses (OMP_NUM_THREADS=1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """Six test faces of the synthetic default (exact landmarks); the second one's marked as a fallback."""
    m = default_synthetic_manifest()
    test = m.df[m.df["split"] == "test"].iloc[:6].copy()
    test.loc[test.index[1], "landmark_source"] = "fallback"
    return m.replace(test).save(tmp_path_factory.mktemp("faces") / "six")


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    return env


def test_shards_table_and_rerun(faces: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run = explain_dataset(DEEP, faces, out, methods=("gradcam", "regions"), shard_size=4, batch_size=3,
                          progress=False)
    assert run.computed == [0, 1] and run.skipped == []
    assert sorted(p.name for p in out.iterdir()) == ["explain.json", "shard-00000.safetensors",
                                                     "shard-00001.safetensors", "table.csv", "table.parquet"]
    table = run.table
    assert table is not None and len(table) == 6 and table["position"].tolist() == list(range(6))
    assert table["landmark_fallback"].tolist() == [False, True, False, False, False, False]
    assert {"gradcam_mass_mouth", "gradcam_sparsity", "gradcam_drop", "regions_drop_mouth", "prob_anger"} <= set(table)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "table.parquet"), table)
    record = json.loads((out / "explain.json").read_text())
    assert record["key"]["region_set"] == "symmetric" and record["key"]["margin"] == "5%"
    assert [s["end"] for s in record["shards"]] == [4, 6]

    # the shard holds the registry's maps of the faces in the checkpoint's view, as float16
    model, meta = load_checkpoint(DEEP)
    inp = CheckpointInput.from_checkpoint(meta, model)
    man = Manifest.load(faces)
    x = torch.stack([inp.dataset(man, cache_dir=False)[i][0] for i in range(3)])
    y = torch.tensor(man.label_indices()[:3])
    exp = make_explainer("gradcam", model, input_size=inp.size, black=inp.black()).attribute(x, y)
    shard = load_file(str(out / "shard-00000.safetensors"))
    assert shard["maps.gradcam"].dtype == torch.float16 and shard["maps.gradcam"].shape == (4, 48, 48)
    torch.testing.assert_close(shard["maps.gradcam"][:3].float(), exp.maps.half().float())
    torch.testing.assert_close(torch.tensor(table.filter(like="prob_").to_numpy()[:3], dtype=torch.float32),
                               exp.probs)
    lm = inp.landmarks(man)[:3]
    mouth = torch.as_tensor(region_masks(lm, "mouth", (48, 48), margin="5%"))
    np.testing.assert_allclose(table["gradcam_mass_mouth"][:3], metrics.region_mass(exp, {"mouth": mouth})["mouth"],
                               rtol=1e-6)
    np.testing.assert_allclose(table["gradcam_sparsity"][:3], metrics.sparsity(exp).numpy(), rtol=1e-6)

    # a rerun with the same arguments finds every shard complete and leaves every byte as it was
    before = _files(out)
    again = explain_dataset(DEEP, faces, out, methods=("gradcam", "regions"), shard_size=4, batch_size=3,
                            progress=False)
    assert again.computed == [] and again.skipped == [0, 1]
    assert _files(out) == before


def _record_region_ablation(monkeypatch: pytest.MonkeyPatch, attribute: str) -> list[object]:
    """``explain``'s RegionAblation replaced by one that records ``attribute`` of every instance it builds."""
    import fer_explain.analysis.dataset_explain as DE

    seen: list[object] = []

    class Recording(DE.RegionAblation):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            seen.append(getattr(self, attribute))

    monkeypatch.setattr(DE, "RegionAblation", Recording)
    return seen


def test_region_masking_forwards_hold_images_per_forward(faces: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    used = _record_region_ablation(monkeypatch, "perturbations_per_eval")
    tables = {}
    for ipf in (6, 128):
        tables[ipf] = explain_dataset(DEEP, faces, tmp_path / str(ipf), methods=("regions",), shard_size=6,
                                      batch_size=3, images_per_forward=ipf, progress=False).table
    # 3 faces per batch: 6 images -> 2 of the 5 regions per forward (balanced: 2, 2, 1); 128 -> all 5 at once
    assert used == [2, 2, 5, 5]
    drops = [c for c in tables[6] if c.startswith("regions_drop_")]
    np.testing.assert_allclose(tables[6][drops].to_numpy(), tables[128][drops].to_numpy(), atol=1e-6)


def test_killed_run_resumes_bit_identical(faces: Path, tmp_path: Path) -> None:
    args = {"methods": ("gradcam", "occlusion"), "shard_size": 2, "batch_size": 2}
    reference = tmp_path / "uninterrupted"
    explain_dataset(DEEP, str(faces), reference, progress=False, **args)

    out = tmp_path / "killed"
    argv = ["explain", DEEP, str(faces), "--out", str(out), "--methods", "gradcam,occlusion", "--shard-size", "2",
            "--batch-size", "2", "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "fer_explain", *argv], env=_env(), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (out / "shard-00000.safetensors").exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            assert time.monotonic() < deadline, "no shard after 120 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "table.csv").exists()  # killed before the end
    (out / ".shard-00001.safetensors.dead.tmp").write_bytes(b"half a shard")  # as a kill mid-write leaves it

    from fer_explain.cli import main

    assert main(argv) == 0  # the rerun resumes
    resumed = json.loads((out / "explain.json").read_text())
    assert resumed == json.loads((reference / "explain.json").read_text())
    assert _files(out) == _files(reference)


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_torchrun_ranks_take_disjoint_shards(faces: Path, tmp_path: Path) -> None:
    single = tmp_path / "single"
    explain_dataset(DEEP, str(faces), single, methods=("gradcam", "regions"), shard_size=2, batch_size=2,
                    progress=False)
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
           "fer_explain", "explain", DEEP, str(faces), "--out", str(out), "--methods", "gradcam,regions",
           "--shard-size", "2", "--batch-size", "2", "--quiet"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, f"torchrun failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert proc.stdout.count("explained 6 faces") == 1  # rank 0 alone writes the table
    assert _files(out) == _files(single)
    # rank 0 took shards 0 and 2, rank 1 shard 1: each shard names its faces
    for i, faces_range in enumerate(([0, 2], [2, 4], [4, 6])):
        with safe_open(str(out / f"shard-{i:05d}.safetensors"), framework="pt") as f:
            assert json.loads(f.metadata()["explain"])["faces"] == faces_range


def test_bad_inputs_write_nothing(faces: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ExplainArgumentError, match=r"unknown explanation method\(s\) \['tea'\]") as err:
        explain_dataset(DEEP, faces, out, methods=("gradcam", "tea"))
    assert err.value.argument == "methods"
    with pytest.raises(ExplainArgumentError, match="'cam' cannot explain checkpoint .*deep_emotion.*global-average"):
        explain_dataset(DEEP, faces, out, methods=("cam",))
    with pytest.raises(ExplainArgumentError, match=r"split 'train' has no rows in manifest .*six.csv; its splits: \['test'\]"):
        explain_dataset(DEEP, faces, out, split="train")
    with pytest.raises(ExplainArgumentError, match="margin"):
        explain_dataset(DEEP, faces, out, margin="lots")
    assert not out.exists()

    explain_dataset(DEEP, faces, out, methods=("gradcam",), shard_size=3, progress=False)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}
    with pytest.raises(ExplainArgumentError, match=r"holds the shards of another run .*differs in methods") as err:
        explain_dataset(DEEP, faces, out, methods=("gradcam", "regions"), shard_size=3)
    assert err.value.argument == "out_dir"
    with pytest.raises(ExplainArgumentError, match="differs in architecture, checkpoint_sha256"):
        explain_dataset(SE, faces, out, methods=("gradcam",), shard_size=3)
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()} == before


def test_landmarks_from_the_manifest_computed_or_none(faces: Path, tmp_path: Path) -> None:
    man = Manifest.load(faces)
    df = man.df.copy()
    df.loc[[0, 4], "landmarks"] = None
    df.loc[[0, 4], "landmark_source"] = None
    holes = man.replace(df.iloc[:5])
    with pytest.raises(ExplainArgumentError, match=r"2 of 5 faces of split 'test' .* have no landmarks \(positions \[0, 4\]"):
        explain_dataset(DEEP, holes, tmp_path / "a", methods=("gradcam",))
    run = explain_dataset(DEEP, holes, tmp_path / "b", methods=("gradcam",), landmarks="compute", progress=False)
    table = run.table
    assert table is not None
    assert table["landmark_source"][[1, 2, 3]].tolist() == ["fallback", "synthetic", "synthetic"]
    assert set(table["landmark_source"][[0, 4]]) <= {"detected", "fallback"}  # dlib, on the fly
    assert table["landmark_fallback"].tolist() == (table["landmark_source"] == "fallback").tolist()
    assert table["gradcam_mass_face"].notna().all()

    bare = explain_dataset(DEEP, holes, tmp_path / "c", methods=("gradcam",), landmarks="none", progress=False)
    assert bare.table is not None
    assert not any("_mass_" in c or "landmark" in c for c in bare.table.columns)
    assert "landmarks" not in load_file(str(tmp_path / "c" / "shard-00000.safetensors"))


def test_auto_records_the_layout_and_a_resumed_run_keeps_it(faces: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import fer_explain.analysis.dataset_explain as DE

    out = tmp_path / "auto"
    args = {"methods": ("occlusion", "regions"), "shard_size": 3, "batch_size": 3, "images_per_forward": "auto",
            "progress": False}
    explain_dataset(DEEP, faces, out, **args)
    record = json.loads((out / "explain.json").read_text())
    layout = record["memory_format"]
    assert layout in ("contiguous", "channels_last") and record["images_per_forward"] >= 1
    reference = _files(out)
    # a rerun measures nothing: even where the measurement would now say otherwise, the recorded layout is used
    (out / "shard-00001.safetensors").unlink()
    (out / "table.csv").unlink()
    other = "contiguous" if layout == "channels_last" else "channels_last"
    monkeypatch.setattr(DE, "fastest_memory_format", lambda *a, **k: other)
    seen = _record_region_ablation(monkeypatch, "memory_format")
    explain_dataset(DEEP, faces, out, **args)
    assert seen == [layout] and _files(out) == reference
    # an explicit images_per_forward runs the model as it is and measures no layout
    fixed = tmp_path / "fixed"
    explain_dataset(DEEP, faces, fixed, **{**args, "images_per_forward": 64})
    assert json.loads((fixed / "explain.json").read_text()).get("memory_format") is None
