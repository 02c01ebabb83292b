"""The checkpoints that ship in checkpoints/: each loads, is within its size limit and documents itself."""

from __future__ import annotations

import pytest
import torch

from fer_explain.train import list_shipped, load_checkpoint, shipped_checkpoint
from fer_explain.train.checkpoint import checkpoints_dir

SHIPPED = list_shipped()
#: file-size limits of the issue: synthetic checkpoints under 5 MB, real-data ones under 20 MB
LIMIT_MB = {"synthetic": 5.0, "fer2013": 20.0}


def test_the_shipped_set_has_every_family_and_a_real_data_model():
    synthetic = {n.split("/", 1)[1] for n in SHIPPED if n.startswith("synthetic/")}
    assert synthetic == {"deep_emotion", "densenet_bc", "resemotenet", "se_resnet18", "vgg_fer"}
    assert "fer2013/deep_emotion" in SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoint_loads_and_carries_its_story(name: str):
    path = shipped_checkpoint(name)
    group = name.split("/", 1)[0]
    size_mb = path.with_suffix(".safetensors").stat().st_size / 1e6
    assert size_mb < LIMIT_MB[group], f"{name}: {size_mb:.1f} MB"
    model, meta = load_checkpoint(path)  # verifies the weights' SHA-256
    assert meta["architecture"] == name.split("/", 1)[1]
    assert not model.training
    spec = meta["input"]
    x = torch.zeros(2, spec["channels"], spec["size"], spec["size"])
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, len(meta["classes"]))
    # accuracy, training time and the reproducing command are in the metadata
    assert meta["training_seconds"] > 0 and meta["history"]
    assert meta["evaluations"], f"{name}: never scored"
    for ev in meta["evaluations"]:
        assert 0 <= ev["accuracy"] <= 1 and ev["n"] > 0 and ev["command"].startswith("fer-explain evaluate")
    if group == "fer2013":
        assert meta["extra"]["command"].startswith("fer-explain train")
        assert any(ev["split"] == "publictest" and ev["n"] == 3589 for ev in meta["evaluations"])


@pytest.mark.parametrize("name", [n for n in SHIPPED if not n.startswith("synthetic/")])
def test_every_real_data_checkpoint_has_a_model_card(name: str):
    readme = (checkpoints_dir() / "README.md").read_text(encoding="utf-8")
    assert f"## Model card: `{name}`" in readme
    card = readme.split(f"## Model card: `{name}`", 1)[1].split("\n## ", 1)[0]
    for part in ("**Training data**", "**Result", "**Reproduce**", "**Known limits**", "**Intended use**"):
        assert part in card, f"{name}: model card lacks {part}"
    _, meta = load_checkpoint(shipped_checkpoint(name), verify=False)
    public = [ev for ev in meta["evaluations"] if ev["split"] == "publictest"][-1]
    assert f"{100 * public['accuracy']:.1f} %" in card, "the card's PublicTest accuracy differs from the metadata"

