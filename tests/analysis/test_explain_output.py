"""Reading `fer-explain explain` output: maps equal the shards', tables and population maps equal direct ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from fer_explain.analysis.attribution import region_emotion_table, region_masking_table
from fer_explain.analysis.dataset_explain import explain_dataset
from fer_explain.analysis.explain_output import (
    ExplainOutputError,
    check_run_matches,
    load_explain_run,
    run_maps,
    run_region_emotion_table,
    run_region_masking_table,
)
from fer_explain.analysis.population import population_maps
from fer_explain.data.manifest import Manifest
from fer_explain.data.synthetic import default_synthetic_manifest
from fer_explain.explain import make_explainer
from fer_explain.train import load_checkpoint, shipped_checkpoint
from fer_explain.train.inputs import CheckpointInput

DEEP = str(shipped_checkpoint("synthetic/deep_emotion"))
REGIONS = ("eyes", "nose", "mouth")


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> tuple[Path, Path]:
    """Ten test faces of the synthetic default (exact landmarks), explained in three shards."""
    torch.set_num_threads(1)
    m = default_synthetic_manifest()
    test = m.df[m.df["split"] == "test"].iloc[:10]
    faces = m.replace(test).save(tmp_path_factory.mktemp("faces") / "ten")
    out = tmp_path_factory.mktemp("run") / "explain"
    explain_dataset(DEEP, faces, out, methods=("gradcam", "regions"), shard_size=4, batch_size=3, progress=False)
    return faces, out


def _direct(faces: Path) -> tuple[torch.nn.Module, CheckpointInput, torch.Tensor, torch.Tensor, np.ndarray]:
    model, meta = load_checkpoint(DEEP)
    inp = CheckpointInput.from_checkpoint(meta, model)
    man = Manifest.load(faces)
    ds = inp.dataset(man, cache_dir=False)
    x = torch.stack([ds[i][0] for i in range(len(man))])
    y = torch.tensor(man.label_indices())
    return model, inp, x, y, inp.landmarks(man)


def test_loader_returns_the_shards_maps(run_dir: tuple[Path, Path]) -> None:
    _, out = run_dir
    run = load_explain_run(out)
    assert run.table is not None and len(run.table) == 10
    pd.testing.assert_frame_equal(run.table, pd.read_parquet(out / "table.parquet"))
    shards = [load_file(str(out / f"shard-{i:05d}.safetensors")) for i in range(3)]
    rm = run_maps(run, "gradcam")
    assert rm.explanation.maps.dtype == torch.float32 and rm.explanation.maps.shape == (10, 48, 48)
    torch.testing.assert_close(rm.explanation.maps, torch.cat([s["maps.gradcam"] for s in shards]).float(),
                               rtol=0, atol=0)
    np.testing.assert_array_equal(rm.landmarks, torch.cat([s["landmarks"] for s in shards]).numpy())
    torch.testing.assert_close(rm.explanation.probs, torch.cat([s["probs"] for s in shards]))
    assert rm.labels.tolist() == run.table["label_index"].tolist()
    assert rm.explanation.targets.tolist() == rm.labels.tolist()  # made with the default target: the true label
    assert list(rm.label_names) == run.table["label"].tolist() and rm.classes == run.record["key"]["classes"]
    # a few faces, in the order asked, across shards
    some = run_maps(run, "regions", [9, 0, 5])
    assert some.positions.tolist() == [9, 0, 5]
    full = torch.cat([s["maps.regions"] for s in shards]).float()
    torch.testing.assert_close(some.explanation.maps, full[[9, 0, 5]], rtol=0, atol=0)
    np.testing.assert_array_equal(some.landmarks, rm.landmarks[[9, 0, 5]])
    with pytest.raises(ExplainOutputError, match=r"holds no 'occlusion' maps; its methods: \['gradcam', 'regions'\]"):
        run_maps(run, "occlusion")


def test_tables_and_population_maps_equal_direct_ones(run_dir: tuple[Path, Path]) -> None:
    faces, out = run_dir
    run = load_explain_run(out)
    model, inp, x, y, lm = _direct(faces)
    classes = run.record["key"]["classes"]
    exp = make_explainer("gradcam", model, input_size=inp.size, black=inp.black()).attribute(x, target=y, labels=y)

    direct = region_emotion_table(exp, lm, labels=y, classes=classes, regions=REGIONS, margin="5%")
    from_run = run_region_emotion_table(run, "gradcam", REGIONS)
    pd.testing.assert_frame_equal(from_run, direct, check_exact=False, check_dtype=False, rtol=1e-5, atol=1e-6)
    counted = run_region_emotion_table(run, "gradcam", REGIONS, counts=True)
    assert counted.loc["n"].sum() == 10

    masking = region_masking_table(model, x, lm, y, classes=classes, regions=REGIONS, baseline=inp.black(),
                                   margin="5%", progress=False)
    pd.testing.assert_frame_equal(run_region_masking_table(run, REGIONS), masking, check_exact=False, check_dtype=False, rtol=1e-5,
                                  atol=1e-6)

    # population maps: from the loaded run (maps, landmarks in the view, labels) = from the maps computed here
    pop_run = population_maps(run, method="gradcam")
    pop_direct = population_maps(exp, lm, y, classes)
    assert list(pop_run) == list(pop_direct) and len(pop_run) >= 3
    for emotion, m in pop_direct.items():  # the run stores float16 maps: equal to their rounding
        np.testing.assert_allclose(pop_run[emotion], m, rtol=0, atol=2e-3 * float(np.abs(m).max()))
    rounded = population_maps(exp.maps.half().float(), lm, y, classes)
    assert max(float(np.abs(pop_run[e] - m).max() / np.abs(m).max()) for e, m in rounded.items()) < 1e-3
    assert not any(np.allclose(pop_run[e], m) for e, m in population_maps(exp, lm, y.roll(1), classes).items())
    with pytest.raises(ValueError, match="pass method="):
        population_maps(run)


def test_unusable_folders_and_mismatched_runs(run_dir: tuple[Path, Path], tmp_path: Path) -> None:
    _, out = run_dir
    with pytest.raises(ExplainOutputError, match=f"{tmp_path / 'none'} does not exist"):
        load_explain_run(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExplainOutputError, match="holds no explain.json"):
        load_explain_run(tmp_path / "empty")
    half = tmp_path / "half"
    half.mkdir()
    for p in out.iterdir():
        if p.name != "table.parquet":
            (half / p.name).write_bytes(p.read_bytes())
    with pytest.raises(ExplainOutputError, match=f"explain run {half} is unfinished .*rerun the same"):
        load_explain_run(half)

    run = load_explain_run(out)
    key = run.record["key"]
    check_run_matches(run, checkpoint_sha256=key["checkpoint_sha256"], manifest_hash=key["manifest_hash"], split="test")
    with pytest.raises(ExplainOutputError, match=f"explain run {out} was made with another checkpoint"):
        check_run_matches(run, checkpoint_sha256="0" * 64, manifest_hash=key["manifest_hash"], split="test")
    with pytest.raises(ExplainOutputError, match="another manifest split"):
        check_run_matches(run, checkpoint_sha256=key["checkpoint_sha256"], manifest_hash="x", split="test")
    with pytest.raises(ExplainOutputError, match="another split \\('test', not 'train'\\)"):
        check_run_matches(run, checkpoint_sha256=key["checkpoint_sha256"], manifest_hash=key["manifest_hash"],
                          split="train")
