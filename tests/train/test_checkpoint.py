"""Checkpoints: safetensors + JSON round trip, clear mismatch errors, atomic writes, no unpickling."""

from __future__ import annotations

import json

import pytest
import torch

from fer_explain.labels import BASIC7
from fer_explain.models import create_model
from fer_explain.train import checkpoint as ckpt
from fer_explain.train import get_recipe
from fer_explain.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


@pytest.fixture
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("deep_emotion", num_classes=7)


def test_round_trip_weights_and_metadata(tmp_path, model, same_weights) -> None:
    history = [{"epoch": 1, "train_loss": 1.5, "val_acc": 0.4}]
    w, m = save_checkpoint(tmp_path / "ck" / "de", model, classes=BASIC7, recipe=get_recipe("seed004"),
                           manifest_hash="abc123", history=history, training_seconds=12.5,
                           notes="width-reduced variant")
    assert (w.name, m.name) == ("de.safetensors", "de.json")
    for name in ("de", "de.safetensors", "de.json"):
        loaded, meta = load_checkpoint(tmp_path / "ck" / name)
        same_weights(model, loaded)
    assert not loaded.training  # returned ready for inference
    assert meta["architecture"] == "deep_emotion"
    assert meta["arch_args"] == model.config
    assert meta["classes"] == list(BASIC7.classes) and meta["label_space"] == "basic7"
    assert meta["input"] == {"size": 48, "channels": 1, "mean": list(model.input_spec.mean),
                             "std": list(model.input_spec.std)}
    assert meta["recipe"]["name"] == "seed004" and meta["recipe"]["lr"] == 0.005
    assert meta["manifest_hash"] == "abc123" and meta["history"] == history
    assert meta["training_seconds"] == 12.5 and meta["notes"] == "width-reduced variant"
    assert set(meta["versions"]) >= {"torch", "torchvision", "fer_explain", "python"}
    assert meta["num_parameters"] == sum(p.numel() for p in model.parameters())


def test_wrong_architecture_or_label_space_names_both(tmp_path, model) -> None:
    save_checkpoint(tmp_path / "de", model, classes=BASIC7)
    with pytest.raises(CheckpointError, match=r"'deep_emotion' but 'vgg_fer' was expected"):
        load_checkpoint(tmp_path / "de", expected_arch="vgg_fer")
    no_neutral = BASIC7.without("neutral")
    with pytest.raises(CheckpointError, match=r"predicts classes \['anger'.*'neutral'\] but \['anger'.*'surprise'\]"):
        load_checkpoint(tmp_path / "de", expected_classes=no_neutral)
    load_checkpoint(tmp_path / "de", expected_arch="deep_emotion", expected_classes="basic7")  # matches: fine


def test_pickle_files_are_refused_without_reading_them(tmp_path, model) -> None:
    pt = tmp_path / "model.pt"
    torch.save(model.state_dict(), pt)
    with pytest.raises(CheckpointError, match="refusing to load a pickle-based checkpoint"):
        load_checkpoint(pt)
    with pytest.raises(CheckpointError, match="never unpickles"):
        load_checkpoint(tmp_path / "model.pth")
    with pytest.raises(FileNotFoundError, match="need both files"):
        load_checkpoint(tmp_path / "model")


def test_loading_never_calls_torch_load(tmp_path, model, monkeypatch) -> None:
    save_checkpoint(tmp_path / "de", model)

    def forbidden(*args, **kwargs):
        raise AssertionError("torch.load called")

    monkeypatch.setattr(torch, "load", forbidden)
    load_checkpoint(tmp_path / "de")


def test_atomic_writes_leave_no_temp_files_and_keep_the_old_checkpoint(tmp_path, model, monkeypatch) -> None:
    save_checkpoint(tmp_path / "de", model, notes="first")
    save_checkpoint(tmp_path / "de", model, notes="second")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["de.json", "de.safetensors"]
    before = (tmp_path / "de.safetensors").read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "de", model, notes="third")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["de.json", "de.safetensors"]
    assert (tmp_path / "de.safetensors").read_bytes() == before
    assert ckpt.read_metadata(tmp_path / "de")["notes"] == "second"


def test_a_torn_pair_is_detected(tmp_path, model) -> None:
    save_checkpoint(tmp_path / "a", model)
    torch.manual_seed(1)
    save_checkpoint(tmp_path / "b", create_model("deep_emotion"))
    (tmp_path / "a.safetensors").write_bytes((tmp_path / "b.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="different saves"):
        load_checkpoint(tmp_path / "a")


def test_module_without_config_needs_model_argument(tmp_path, mlp, same_weights) -> None:
    m = mlp()
    save_checkpoint(tmp_path / "mlp", m)
    assert json.loads((tmp_path / "mlp.json").read_text())["architecture"] is None
    with pytest.raises(CheckpointError, match="pass model="):
        load_checkpoint(tmp_path / "mlp")
    loaded, _ = load_checkpoint(tmp_path / "mlp", model=mlp(seed=3))
    same_weights(m, loaded)


@pytest.mark.parametrize("make", [
    lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=1e-3),
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
])
def test_optimizer_state_survives_flattening(tmp_path, mlp, make) -> None:
    model = mlp()
    opt = make(model.parameters())
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(4, 8)).sum().backward()
        opt.step()
    tensors, structure = ckpt.flatten_optimizer_state(opt.state_dict())
    ckpt.save_resume_state(tmp_path / "r", tensors, {"optimizer": structure})
    loaded_tensors, payload = ckpt.load_resume_state(tmp_path / "r")
    opt2 = make(mlp(seed=1).parameters())
    opt2.load_state_dict(ckpt.unflatten_optimizer_state(loaded_tensors, json.loads(json.dumps(payload["optimizer"]))))
    a, b = opt.state_dict(), opt2.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for pid in a["state"]:
        for k, v in a["state"][pid].items():
            assert torch.equal(v, b["state"][pid][k]) if isinstance(v, torch.Tensor) else v == b["state"][pid][k]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.resume.json", "r.resume.safetensors"]


def test_history_nan_is_stored_as_null(tmp_path, model) -> None:
    save_checkpoint(tmp_path / "de", model, history=[{"epoch": 1, "val_acc": float("nan")}])
    text = (tmp_path / "de.json").read_text()
    assert "NaN" not in text
    assert json.loads(text)["history"] == [{"epoch": 1, "val_acc": None}]


def _rewrite_json(tmp_path, source: str, target: str, **changes) -> None:
    """Copy checkpoint ``source`` to ``target`` with the JSON's top-level entries replaced (weights untouched)."""
    meta = json.loads((tmp_path / f"{source}.json").read_text())
    meta.update(changes)
    (tmp_path / f"{target}.json").write_text(json.dumps(meta))
    (tmp_path / f"{target}.safetensors").write_bytes((tmp_path / f"{source}.safetensors").read_bytes())


def test_json_naming_another_architecture_is_a_checkpoint_error(tmp_path, model) -> None:
    save_checkpoint(tmp_path / "de", model)
    # a registered architecture with its own arguments: the deep_emotion weights do not fit it
    vgg_args = create_model("vgg_fer", width=0.25).config
    _rewrite_json(tmp_path, "de", "as_vgg", architecture="vgg_fer", arch_args=vgg_args)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "as_vgg")
    msg = str(info.value)
    assert "as_vgg.safetensors" in msg and "as_vgg.json" in msg and "'vgg_fer'" in msg
    assert "missing keys (body.block1.conv1.conv.weight, " in msg and "unexpected keys (body." in msg
    assert len(msg) < 1500  # summarised, not torch's full listing
    # the architecture's name changed but not its arguments: vgg_fer does not take deep_emotion's
    _rewrite_json(tmp_path, "de", "renamed", architecture="vgg_fer", arch_args={**model.config, "name": "vgg_fer"})
    with pytest.raises(CheckpointError, match=r"renamed\.json: architecture 'vgg_fer' does not accept the arguments"):
        load_checkpoint(tmp_path / "renamed")
    # an architecture that does not exist: the valid ones are listed
    _rewrite_json(tmp_path, "de", "unknown", architecture="resnet50", arch_args={**model.config, "name": "resnet50"})
    with pytest.raises(CheckpointError, match=r"unknown\.json: unknown architecture 'resnet50'; valid architectures: "
                                              r"deep_emotion, .*vgg_fer"):
        load_checkpoint(tmp_path / "unknown")
    # "architecture" and "arch_args" disagree
    _rewrite_json(tmp_path, "de", "torn", architecture="vgg_fer")
    with pytest.raises(CheckpointError, match=r"torn\.json: \"architecture\" is 'vgg_fer' but \"arch_args\" name 'deep_emotion'"):
        load_checkpoint(tmp_path / "torn")


def test_arguments_that_do_not_match_the_weights_shapes_are_a_checkpoint_error(tmp_path) -> None:
    torch.manual_seed(0)
    narrow = create_model("vgg_fer", width=0.25)
    save_checkpoint(tmp_path / "vgg", narrow)
    _rewrite_json(tmp_path, "vgg", "wider", arch_args={**narrow.config, "width": 0.5})
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "wider")
    msg = str(info.value)
    assert "wider.safetensors" in msg and "wider.json" in msg
    first = "body.block1.conv1.conv.weight"
    assert f"shape mismatches ({first}: weights [16, 1, 3, 3] vs model [32, 1, 3, 3]" in msg
    assert "missing key" not in msg and "unexpected key" not in msg
    assert len(msg) < 1500
    # the same summary when the caller supplies the model
    with pytest.raises(CheckpointError, match=r"vgg\.safetensors: the weights do not fit the model: \d+ shape mismatches"):
        load_checkpoint(tmp_path / "vgg", model=create_model("vgg_fer", width=0.5))
    assert ckpt.state_dict_mismatch(narrow, narrow.state_dict()) is None
