"""prepare_transfer: new head, frozen layers, fine-tuning from a checkpoint."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from fer_explain.labels import BASIC7
from fer_explain.train import fit, get_recipe, load_checkpoint, prepare_transfer


def test_prepare_transfer_replaces_head_and_freezes(tmp_path) -> None:
    from fer_explain.models import create_model

    model = create_model("deep_emotion", num_classes=7)
    old_fc1 = model.fc1.weight.detach().clone()
    t = prepare_transfer(model, num_classes=6, trainable="head")
    assert t.classifier.out_features == 6
    trainable = {n for n, p in t.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.weight", "classifier.bias"}
    assert torch.equal(t.fc1.weight, old_fc1)
    assert create_model(**t.config).classifier.out_features == 6

    t2 = prepare_transfer(create_model("deep_emotion"), trainable=["fc1", "body.conv4"], replace_head=False)
    trainable = {n.split(".weight")[0].split(".bias")[0] for n, p in t2.named_parameters() if p.requires_grad}
    assert trainable == {"fc1", "body.conv4"}
    with pytest.raises(ValueError, match="matches no parameter"):
        prepare_transfer(create_model("deep_emotion"), trainable=["nope"])
    with pytest.raises(ValueError, match="replace_head=True"):
        prepare_transfer(create_model("deep_emotion"), num_classes=6, replace_head=False)


def test_registered_model_trains_saves_and_transfers(tmp_path, same_weights) -> None:
    from fer_explain.models import create_model

    g = torch.Generator().manual_seed(0)
    ds = TensorDataset(torch.rand(16, 1, 48, 48, generator=g), torch.arange(16) % 7)
    model = create_model("deep_emotion", num_classes=7)
    res = fit(model, ds, ds, recipe=get_recipe("seed004", epochs=1, batch_size=8), progress=False,
              checkpoint_path=tmp_path / "de", classes=BASIC7)
    loaded, meta = load_checkpoint(tmp_path / "de", expected_arch="deep_emotion", expected_classes="basic7")
    same_weights(res.model, loaded)
    assert meta["recipe"]["name"] == "seed004" and len(meta["history"]) == 1
    # transfer from the checkpoint: new 6-class head, the rest frozen, fine-tunes only the head
    t = prepare_transfer(tmp_path / "de", num_classes=6, trainable="head")
    frozen_before = t.fc1.weight.detach().clone()
    ds6 = TensorDataset(ds.tensors[0], ds.tensors[1] % 6)
    fit(t, ds6, None, recipe=get_recipe("quick", epochs=1, batch_size=8), progress=False)
    assert torch.equal(t.fc1.weight, frozen_before)
