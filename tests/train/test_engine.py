"""fit / evaluate / transfer / fit_repeated on tiny in-test data (CPU, seconds)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from fer_explain.labels import BASIC7
from fer_explain.train import (
    HISTORY_COLUMNS,
    evaluate,
    fc_l2_penalty,
    fit,
    fit_repeated,
    get_recipe,
    load_checkpoint,
    prepare_transfer,
    training_loss,
)

QUICK = {"epochs": 4, "lr": 0.01, "batch_size": 16}


def test_fit_learns_a_toy_problem(toy, mlp) -> None:
    res = fit(mlp(), toy(120), toy(60, seed=1), recipe=get_recipe("quick", **QUICK), progress=False)
    h = res.history
    assert list(h.columns) == list(HISTORY_COLUMNS)
    assert list(h["epoch"]) == [1, 2, 3, 4]
    assert h["train_loss"].iloc[-1] < 0.8 * h["train_loss"].iloc[0]
    assert h["val_acc"].iloc[-1] > 0.85
    assert list(h["steps"]) == [8, 16, 24, 32]  # ceil(120 / 16) steps per epoch
    assert (h["lr"] == 0.01).all() and (h["seconds"] > 0).all()
    assert res.steps == 32 and not res.interrupted and not res.stopped_early


def test_history_without_validation_has_nan_val_columns(toy, mlp) -> None:
    res = fit(mlp(), toy(48), None, recipe=get_recipe("quick", epochs=2, batch_size=16), progress=False)
    assert res.history["val_acc"].isna().all() and res.history["val_loss"].isna().all()
    assert res.best_epoch in (1, 2)  # monitored on the training accuracy instead


def test_same_seed_same_weights_other_seed_other_weights(toy, mlp, same_weights) -> None:
    r = get_recipe("quick", **QUICK)
    a = fit(mlp(), toy(120), toy(60, seed=1), recipe=r, progress=False)
    b = fit(mlp(), toy(120), toy(60, seed=1), recipe=r, progress=False, deterministic=True)
    same_weights(a.model, b.model)
    c = fit(mlp(), toy(120), toy(60, seed=1), recipe=get_recipe(r, seed=1), progress=False)
    assert not torch.equal(a.model.classifier.weight, c.model.classifier.weight)


def test_fit_leaves_the_global_random_streams_untouched(toy, mlp) -> None:
    torch.manual_seed(123)
    np.random.seed(7)
    expected_t, expected_n = torch.rand(3), np.random.rand(3)
    torch.manual_seed(123)
    np.random.seed(7)
    fit(mlp(), toy(32), None, recipe=get_recipe("quick", epochs=1, batch_size=16), progress=False)
    assert torch.equal(torch.rand(3), expected_t)
    assert np.array_equal(np.random.rand(3), expected_n)


def test_early_stopping_stops_after_patience(toy, mlp) -> None:
    # a learning rate of 1e-12 cannot change the predictions: val accuracy never improves after epoch 1
    r = get_recipe("quick", optimizer="sgd", lr=1e-12, epochs=20, batch_size=16, early_stopping_patience=3,
                   monitor="val_acc")
    res = fit(mlp(), toy(48), toy(30, seed=1), recipe=r, progress=False)
    assert res.stopped_early
    assert len(res.history) == 4  # the first epoch, then three without improvement
    assert res.best_epoch == 1


def test_keep_best_restores_the_best_epochs_weights(toy, mlp, same_weights) -> None:
    # validation labels are the training labels shifted by one: learning makes validation worse
    train, val = toy(120), toy(120, flip=True)
    r = get_recipe("quick", epochs=5, lr=0.02, batch_size=16, keep_best=True, monitor="val_loss")
    res = fit(mlp(), train, val, recipe=r, progress=False)
    best = int(res.history["val_loss"].idxmin()) + 1
    assert res.best_epoch == best < 5
    # the same run stopped after the best epoch has exactly the restored weights
    short = fit(mlp(), train, val, recipe=get_recipe(r, epochs=best), progress=False)
    same_weights(res.model, short.model)
    for k, v in res.best_state.items():
        assert torch.equal(v, res.model.state_dict()[k])
    # and without keep_best the last epoch's weights stay
    last = fit(mlp(), train, val, recipe=get_recipe(r, keep_best=False), progress=False)
    assert not torch.equal(last.model.classifier.weight, res.model.classifier.weight)


def test_plateau_scheduler_lowers_lr(toy, mlp) -> None:
    # a tiny learning rate leaves the validation accuracy flat: the LR drops x0.1 every epoch
    r = get_recipe("quick", optimizer="sgd", lr=1e-5, epochs=4, batch_size=16, scheduler="plateau",
                   scheduler_params={"patience": 0, "factor": 0.1}, monitor="val_acc")
    h = fit(mlp(), toy(48), toy(30, seed=1), recipe=r, progress=False).history
    assert h["val_acc"].nunique() == 1
    # epoch 1 sets the best value; every later epoch is a plateau (patience 0)
    assert np.allclose(h["lr"], [1e-5, 1e-5, 1e-6, 1e-7], rtol=1e-9, atol=0)


# --- exact resume ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stop_at", [11, 16])  # mid-epoch, and exactly at an epoch's end
def test_resume_after_interruption_is_bit_identical(tmp_path, toy, mlp, same_weights, stop_at) -> None:
    r = get_recipe("quick", optimizer="adam", lr=0.01, epochs=4, batch_size=16, scheduler="step",
                   scheduler_params={"step_size": 1, "gamma": 0.5}, keep_best=True)
    train, val = toy(120), toy(60, seed=1)
    full = fit(mlp(), train, val, recipe=r, progress=False, checkpoint_path=tmp_path / "full")

    part = fit(mlp(), train, val, recipe=r, progress=False, checkpoint_path=tmp_path / "part",
               checkpoint_every_steps=3, stop_after_steps=stop_at)
    assert part.interrupted and part.steps == stop_at
    assert not (tmp_path / "part.safetensors").exists()  # no final checkpoint for an unfinished run
    # a differently initialised model: everything must come from the resume state
    resumed = fit(mlp(seed=99), train, val, recipe=r, progress=False, checkpoint_path=tmp_path / "part", resume=True)
    assert not resumed.interrupted and resumed.steps == full.steps
    same_weights(full.model, resumed.model)
    cols = [c for c in full.history.columns if c not in ("seconds", "eval_seconds")]
    assert full.history[cols].equals(resumed.history[cols])
    loaded, _ = load_checkpoint(tmp_path / "part", model=mlp(seed=5))
    same_weights(full.model, loaded)


def test_resume_refuses_another_recipe(tmp_path, toy, mlp) -> None:
    r = get_recipe("quick", epochs=2, batch_size=16)
    fit(mlp(), toy(48), None, recipe=r, progress=False, checkpoint_path=tmp_path / "c", stop_after_steps=2)
    with pytest.raises(ValueError, match=r"different recipe.*lr"):
        fit(mlp(), toy(48), None, recipe=get_recipe(r, lr=0.5), progress=False, checkpoint_path=tmp_path / "c",
            resume=True)


def test_resume_without_state_warns_and_starts_fresh(tmp_path, toy, mlp) -> None:
    with pytest.warns(UserWarning, match="no resume state"):
        res = fit(mlp(), toy(32), None, recipe=get_recipe("quick", epochs=1, batch_size=16), progress=False,
                  checkpoint_path=tmp_path / "none", resume=True)
    assert res.steps == 2


def test_max_steps_caps_training(toy, mlp) -> None:
    res = fit(mlp(), toy(120), None, recipe=get_recipe("quick", epochs=10, batch_size=16), progress=False,
              max_steps=10)
    assert res.steps == 10 and len(res.history) == 2 and res.history["steps"].iloc[-1] == 10


# --- losses, sampling --------------------------------------------------------------------------------


def test_fc_l2_adds_lambda_times_squared_weight_norm(mlp) -> None:
    model = mlp()
    x, y = torch.randn(6, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    logits = model.eval()(x)
    plain = training_loss(model, logits, y, get_recipe("quick"))
    lam = 0.37
    reg = training_loss(model, logits, y, get_recipe("quick", fc_l2=lam))
    expected = lam * model.classifier.weight.pow(2).sum()
    assert torch.allclose(reg - plain, expected, rtol=1e-6, atol=0)
    assert torch.allclose(plain, nn.functional.cross_entropy(logits, y))


def test_seed004_fc_l2_covers_deep_emotions_two_fc_layers() -> None:
    from fer_explain.models import create_model

    model = create_model("deep_emotion", num_classes=7).eval()
    x, y = torch.rand(2, 1, 48, 48), torch.tensor([0, 6])
    logits = model(x)
    r = get_recipe("seed004")
    with_term = training_loss(model, logits, y, r)
    without = training_loss(model, logits, y, get_recipe(r, fc_l2=0.0))
    norm2 = model.fc1.weight.pow(2).sum() + model.classifier.weight.pow(2).sum()
    assert torch.allclose(with_term - without, r.fc_l2 * norm2, rtol=1e-5, atol=0)
    assert torch.equal(fc_l2_penalty(model, ["fc1", "classifier"]), norm2)
    with pytest.raises(ValueError, match="no_such_fc.*top-level"):
        fc_l2_penalty(model, ["no_such_fc"])


def test_class_weighted_loss_and_oversampling_run_on_imbalanced_data(toy, mlp) -> None:
    ds = toy(60)
    keep = torch.cat([torch.nonzero(ds.tensors[1] == 0).flatten()[:4], torch.nonzero(ds.tensors[1] != 0).flatten()])
    imbalanced = TensorDataset(ds.tensors[0][keep], ds.tensors[1][keep])
    r = get_recipe("quick", epochs=2, batch_size=8, class_weighted_loss=True, oversample=True)
    res = fit(mlp(), imbalanced, None, recipe=r, progress=False)
    assert all(math.isfinite(v) for v in res.history["train_loss"])
    from fer_explain.train.engine import _epoch_order

    labels = imbalanced.tensors[1].numpy()
    weights = torch.as_tensor(1.0 / np.bincount(labels)[labels], dtype=torch.double)
    order = _epoch_order(3000, r, torch.Generator().manual_seed(0), weights.repeat(3000 // len(labels) + 1)[:3000])
    share = np.bincount(np.tile(labels, 3000 // len(labels) + 1)[:3000][order.numpy()], minlength=3) / 3000
    assert np.all(np.abs(share - 1 / 3) < 0.05)  # rare class 0 drawn about as often as the others


# --- evaluate ----------------------------------------------------------------------------------------


class FixedLogits(nn.Module):
    """Returns the input as the logits (the 'model' is the data), with one dummy parameter."""

    def __init__(self, num_classes: int = 7):
        super().__init__()
        self.classifier = nn.Linear(1, num_classes)  # only declares the output size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


def test_evaluate_confusion_and_per_class_accuracy(toy, mlp) -> None:
    res = fit(mlp(), toy(120), None, recipe=get_recipe("quick", epochs=2, batch_size=16), progress=False)
    ds = toy(90, seed=3)
    ev = evaluate(res.model, ds, batch_size=32)
    labels = ds.tensors[1].numpy()
    assert ev.confusion.shape == (3, 3)
    assert np.array_equal(ev.confusion.sum(axis=1), np.bincount(labels, minlength=3))
    assert np.allclose(ev.per_class_accuracy, np.diag(ev.confusion) / np.bincount(labels))
    assert ev.accuracy == pytest.approx(float((ev.preds == labels).mean()))
    assert np.allclose(ev.probs.sum(1), 1, atol=1e-5) and ev.probs.shape == (90, 3)
    logp = torch.log_softmax(res.model.eval()(ds.tensors[0]), 1)[torch.arange(90), ds.tensors[1]]
    assert ev.loss == pytest.approx(float(-logp.detach().mean()), rel=1e-5)


def test_evaluate_restores_the_training_flag(toy, mlp) -> None:
    model = mlp().train()
    evaluate(model, toy(20))
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    evaluate(model, toy(20))
    assert not model.training


def test_evaluate_cross_dataset_without_neutral() -> None:
    no_neutral = BASIC7.without("neutral")
    # sample 0: neutral is the model's favourite, then surprise; sample 1: happiness
    logits = torch.full((2, 7), -5.0)
    logits[0, BASIC7.index("neutral")], logits[0, BASIC7.index("surprise")] = 4.0, 2.0
    logits[1, BASIC7.index("happiness")] = 3.0
    labels = torch.tensor([no_neutral.index("surprise"), no_neutral.index("anger")])
    ev = evaluate(FixedLogits(7), TensorDataset(logits, labels), label_space=BASIC7, target_space=no_neutral)
    assert ev.probs.shape == (2, 6) and ev.confusion.shape == (6, 6)
    assert ev.classes == no_neutral.classes
    assert np.allclose(ev.probs.sum(1), 1, atol=1e-6)
    assert list(ev.preds) == [no_neutral.index("surprise"), no_neutral.index("happiness")]
    assert ev.accuracy == 0.5
    assert np.isnan(ev.per_class_accuracy[no_neutral.index("fear")])  # no fear samples


def test_evaluate_averages_five_crops() -> None:
    crops = torch.randn(4, 5, 7, 1, 1)  # N=4 samples x K=5 crops x C=7 "logit" channels x 1 x 1
    ev = evaluate(FixedLogits(7), TensorDataset(crops, torch.zeros(4, dtype=torch.long)))
    assert np.allclose(ev.probs, crops.flatten(2).softmax(-1).mean(1).numpy(), atol=1e-6)


class DictDataset(Dataset):
    def __init__(self, base: TensorDataset):
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict:
        x, y = self.base[i]
        return {"image": x, "label": int(y)}


def test_fit_accepts_dict_items_and_index_triples(toy, mlp) -> None:
    ds = toy(32)
    res = fit(mlp(), DictDataset(ds), None, recipe=get_recipe("quick", epochs=1, batch_size=16), progress=False)
    assert res.steps == 2
    triples = TensorDataset(ds.tensors[0], ds.tensors[1], torch.arange(32))
    assert evaluate(res.model, triples).confusion.sum() == 32


# --- transfer, registered models, repeated runs ------------------------------------------------------


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


def test_fit_repeated_reports_all_runs(toy, mlp) -> None:
    r = get_recipe("quick", epochs=2, batch_size=16, runs=3)
    rep = fit_repeated(lambda i: mlp(seed=i), toy(60), toy(30, seed=1), recipe=r, progress=False)
    assert len(rep.results) == 3 and len(rep.histories) == 3
    assert rep.scores[rep.best_index] == rep.scores.max()
    assert rep.mean == pytest.approx(rep.scores.mean()) and rep.std == pytest.approx(rep.scores.std(ddof=1))
    assert "3 runs" in rep.summary()


# --- from a manifest ---------------------------------------------------------------------------------


def _tiny_manifest(tmp_path) -> str:
    from PIL import Image

    from fer_explain.data.manifest import make_manifest

    rng = np.random.default_rng(0)
    rows = []
    for i in range(28):
        label = BASIC7.classes[i % 7]
        img = (rng.random((40, 40)) * 255).astype(np.uint8)
        img[:, : 5 * (i % 7) + 5] = 255  # a class-dependent bright band
        name = f"img{i:02d}.png"
        Image.fromarray(img).save(tmp_path / name)
        rows.append({"dataset": "tiny", "image": name, "label": label, "split": "train" if i < 21 else "val"})
    manifest = make_manifest(rows, tmp_path, "basic7", name="tiny")
    return str(manifest.save(tmp_path / "tiny"))


def test_train_from_manifest_builds_datasets_fits_and_saves(tmp_path, same_weights) -> None:
    from fer_explain.train import train_from_manifest

    path = _tiny_manifest(tmp_path)
    res = train_from_manifest(path, "deep_emotion", "seed004", tmp_path / "out" / "de", epochs=1, batch_size=7,
                              cache_dir=False, progress=False, notes="tiny test")
    assert len(res.history) == 1 and res.steps == 3 and not np.isnan(res.history["val_acc"].iloc[0])
    model, meta = load_checkpoint(tmp_path / "out" / "de", expected_arch="deep_emotion", expected_classes="basic7")
    same_weights(res.model, model)
    from fer_explain.data.manifest import Manifest

    assert meta["manifest_hash"] == Manifest.load(path).content_hash()
    assert meta["input"]["size"] == 48 and meta["input"]["channels"] == 1
    assert meta["recipe"]["name"] == "seed004" and meta["recipe"]["epochs"] == 1 and meta["notes"] == "tiny test"
    # transfer from that checkpoint onto the same manifest: head kept (same label space), only the head learns
    res2 = train_from_manifest(path, "deep_emotion", "quick", tmp_path / "out" / "tr", epochs=1, batch_size=7,
                               cache_dir=False, progress=False, init_from=tmp_path / "out" / "de", trainable="head")
    assert torch.equal(res2.model.fc1.weight, model.fc1.weight)
    assert not torch.equal(res2.model.classifier.weight, model.classifier.weight)
    # evaluate the checkpoint on the validation split, as the CLI does
    from fer_explain.train import evaluate_checkpoint

    ev = evaluate_checkpoint(tmp_path / "out" / "de", path, split="val", cache_dir=False, progress=False)
    assert ev.confusion.sum() == 7 and ev.classes == BASIC7.classes
    assert ev.accuracy == pytest.approx(res.history["val_acc"].iloc[0])


def test_time_budget_stops_before_an_epoch_that_would_overrun(toy, mlp) -> None:
    from fer_explain.train.engine import _budget_spent

    history = [{"seconds": 20.0, "eval_seconds": 5.0}, {"seconds": 20.0, "eval_seconds": 5.0}]
    assert not _budget_spent(history, minutes=75 / 60)  # 50 s spent, a 25 s epoch still fits in 75 s
    assert _budget_spent(history, minutes=74 / 60)
    # a budget far below one epoch: the run stops after its first epoch, which is kept in the history
    result = fit(mlp(), toy(), toy(seed=1), recipe=get_recipe("quick", epochs=50, time_budget_minutes=1e-9),
                 progress=False)
    assert len(result.history) == 1
    assert {"seconds", "eval_seconds"} <= set(result.history.columns)
