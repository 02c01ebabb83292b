"""DDP under torchrun (2 CPU processes, gloo) gives the weights of single-process global-batch training."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file
from torch import nn
from torch.utils.data import TensorDataset

from fer_explain.train import fit, get_recipe

REPO = Path(__file__).resolve().parents[2]
STEPS = 5  # optimizer steps compared (global batch 16 of 64 samples: one epoch and a bit)

SETUP = textwrap.dedent(
    f"""
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset
    from fer_explain.train import get_recipe

    class Recording(TensorDataset):
        # remembers which rows this process read (to check that the ranks split every batch)

        def __init__(self, *tensors):
            super().__init__(*tensors)
            self.seen = []

        def __getitem__(self, i):
            self.seen.append(int(i))
            return super().__getitem__(i)

    def make_data():
        g = torch.Generator().manual_seed(0)
        x = torch.randn(64, 6, generator=g)
        return Recording(x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long())

    def make_model():
        # no BatchNorm, no dropout: the only difference between the runs is how the batch is split
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))

    def make_recipe(shuffle):
        return get_recipe("quick", optimizer="sgd", lr=0.1, momentum=0.9, batch_size=16, epochs=3,
                          shuffle=shuffle, keep_best=False)

    STEPS = {STEPS}
    """
)

WORKER = textwrap.dedent(
    """
    import json, os, sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from ddp_setup import STEPS, make_data, make_model, make_recipe
    import torch
    import torch.distributed as dist
    from safetensors.torch import save_file
    import fer_explain.train.checkpoint as ckpt
    from fer_explain.train import fit

    torch.set_num_threads(1)
    out = sys.argv[1]
    rank = int(os.environ["RANK"])
    writes = []
    for name in ("save_checkpoint", "save_resume_state"):
        original = getattr(ckpt, name)
        def spy(*a, _original=original, _name=name, **k):
            writes.append(_name)
            return _original(*a, **k)
        setattr(ckpt, name, spy)

    # 1) fit joins the process group itself from the torchrun environment
    res = fit(make_model(), make_data(), make_data(), recipe=make_recipe(False), progress=True,
              max_steps=STEPS, checkpoint_path=os.path.join(out, "ddp"))
    assert dist.is_initialized() and dist.get_world_size() == 2
    save_file({k: v.contiguous() for k, v in res.model.state_dict().items()}, f"{out}/noshuffle_rank{rank}.safetensors")
    # 2) a second fit reuses that group; with shuffling every rank draws the same order
    data = make_data()
    res = fit(make_model(), data, None, recipe=make_recipe(True), progress=False, max_steps=STEPS)
    with open(f"{out}/seen_rank{rank}.json", "w") as f:
        json.dump(data.seen, f)
    save_file({k: v.contiguous() for k, v in res.model.state_dict().items()}, f"{out}/shuffle_rank{rank}.safetensors")
    with open(f"{out}/writes_rank{rank}.json", "w") as f:
        json.dump(writes, f)
    """
)


def _setup_module(folder: Path) -> ModuleType:
    """Write SETUP to ``folder/ddp_setup.py`` (the workers import it too) and import it here."""
    path = folder / "ddp_setup.py"
    path.write_text(SETUP)
    spec = importlib.util.spec_from_file_location("ddp_setup", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _single_process(setup: ModuleType, shuffle: bool) -> nn.Module:
    res = fit(setup.make_model(), setup.make_data(), None, recipe=setup.make_recipe(shuffle), progress=False,
              max_steps=STEPS)
    return res.model


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_ddp_two_processes_match_single_process_global_batch(tmp_path) -> None:
    setup = _setup_module(tmp_path)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), str(tmp_path)]
    try:
        proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=150,
                              check=False)
    except subprocess.TimeoutExpired as exc:  # pragma: no cover - a hung rendezvous
        pytest.fail(f"torchrun did not finish in 150 s: {exc.stderr}")
    assert proc.returncode == 0, f"torchrun failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"

    for shuffle in (False, True):
        reference = _single_process(setup, shuffle).state_dict()
        for rank in (0, 1):
            ddp = load_file(str(tmp_path / f"{'shuffle' if shuffle else 'noshuffle'}_rank{rank}.safetensors"))
            assert ddp.keys() == reference.keys()
            for k in reference:
                assert torch.allclose(ddp[k], reference[k], atol=1e-5, rtol=0), (shuffle, rank, k)
            assert not torch.equal(ddp["0.weight"], setup.make_model()[0].weight.detach())  # it did train

    # each rank read half of every global batch: 5 steps x 8 rows, disjoint within each epoch
    seen = [json.loads((tmp_path / f"seen_rank{r}.json").read_text()) for r in (0, 1)]
    assert len(seen[0]) == len(seen[1]) == STEPS * 8
    assert not set(seen[0][:32]) & set(seen[1][:32])  # epoch 1: 4 steps, the ranks split all 64 rows
    assert sorted(seen[0][:32] + seen[1][:32]) == list(range(64))

    writes0 = json.loads((tmp_path / "writes_rank0.json").read_text())
    writes1 = json.loads((tmp_path / "writes_rank1.json").read_text())
    assert "save_checkpoint" in writes0 and "save_resume_state" in writes0
    assert writes1 == []  # only rank 0 writes
    assert (tmp_path / "ddp.safetensors").is_file()


def test_batch_size_must_split_evenly_across_processes(monkeypatch) -> None:
    from fer_explain.train import loop
    from fer_explain.train.distributed import DistInfo

    monkeypatch.setattr(loop, "setup_distributed", lambda device: DistInfo(world_size=3, rank=0))
    ds = TensorDataset(torch.randn(8, 2), torch.zeros(8, dtype=torch.long))
    with pytest.raises(ValueError, match="batch_size 16 is not divisible by the 3 processes"):
        fit(nn.Linear(2, 2), ds, recipe=get_recipe("quick", batch_size=16), progress=False)


def test_local_positions_shard_an_epoch_like_a_distributed_sampler() -> None:
    from fer_explain.train.distributed import DistInfo, local_positions

    assert local_positions(5, DistInfo()) == [0, 1, 2, 3, 4]
    # every rank takes every N-th position; the last rank's short share is padded from the start
    assert local_positions(5, DistInfo(world_size=2, rank=0)) == [0, 2, 4]
    assert local_positions(5, DistInfo(world_size=2, rank=1)) == [1, 3, 0]
