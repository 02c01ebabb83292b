"""fit (history, seeding, early stopping, best weights, schedulers, budgets, sampling) and evaluate (CPU, seconds)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from fer_explain.labels import BASIC7
from fer_explain.train import HISTORY_COLUMNS, evaluate, fit, get_recipe
from fer_explain.train.loop import _budget_spent, _epoch_order

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


def test_max_steps_caps_training(toy, mlp) -> None:
    res = fit(mlp(), toy(120), None, recipe=get_recipe("quick", epochs=10, batch_size=16), progress=False,
              max_steps=10)
    assert res.steps == 10 and len(res.history) == 2 and res.history["steps"].iloc[-1] == 10


def test_time_budget_stops_before_an_epoch_that_would_overrun(toy, mlp) -> None:
    history = [{"seconds": 20.0, "eval_seconds": 5.0}, {"seconds": 20.0, "eval_seconds": 5.0}]
    assert not _budget_spent(history, minutes=75 / 60)  # 50 s spent, a 25 s epoch still fits in 75 s
    assert _budget_spent(history, minutes=74 / 60)
    # a budget far below one epoch: the run stops after its first epoch, which is kept in the history
    result = fit(mlp(), toy(), toy(seed=1), recipe=get_recipe("quick", epochs=50, time_budget_minutes=1e-9),
                 progress=False)
    assert len(result.history) == 1
    assert {"seconds", "eval_seconds"} <= set(result.history.columns)


def test_class_weighted_loss_and_oversampling_run_on_imbalanced_data(toy, mlp) -> None:
    ds = toy(60)
    keep = torch.cat([torch.nonzero(ds.tensors[1] == 0).flatten()[:4], torch.nonzero(ds.tensors[1] != 0).flatten()])
    imbalanced = TensorDataset(ds.tensors[0][keep], ds.tensors[1][keep])
    r = get_recipe("quick", epochs=2, batch_size=8, class_weighted_loss=True, oversample=True)
    res = fit(mlp(), imbalanced, None, recipe=r, progress=False)
    assert all(math.isfinite(v) for v in res.history["train_loss"])
    labels = imbalanced.tensors[1].numpy()
    weights = torch.as_tensor(1.0 / np.bincount(labels)[labels], dtype=torch.double)
    order = _epoch_order(3000, r, torch.Generator().manual_seed(0), weights.repeat(3000 // len(labels) + 1)[:3000])
    share = np.bincount(np.tile(labels, 3000 // len(labels) + 1)[:3000][order.numpy()], minlength=3) / 3000
    assert np.all(np.abs(share - 1 / 3) < 0.05)  # rare class 0 drawn about as often as the others



def test_class_weighted_loss_weights_the_rare_class_up(toy, mlp, monkeypatch) -> None:
    """class_weighted_loss passes inverse-frequency weights into the loss, and the loss uses them."""
    import torch.nn.functional as F

    from fer_explain.data.dataset import class_weights
    from fer_explain.train import loop, training_loss

    ds = toy(60)
    keep = torch.cat([torch.nonzero(ds.tensors[1] == 0).flatten()[:4], torch.nonzero(ds.tensors[1] != 0).flatten()])
    imbalanced = TensorDataset(ds.tensors[0][keep], ds.tensors[1][keep])
    labels = imbalanced.tensors[1].numpy()
    seen: list[torch.Tensor | None] = []

    def spy(model, logits, targets, recipe, class_weight=None):
        seen.append(None if class_weight is None else class_weight.detach().cpu())
        return training_loss(model, logits, targets, recipe, class_weight)

    monkeypatch.setattr(loop, "training_loss", spy)
    r = get_recipe("quick", epochs=1, batch_size=8, class_weighted_loss=True)
    fit(mlp(), imbalanced, None, recipe=r, progress=False)
    w = seen[0]
    assert w is not None and all(torch.equal(v, w) for v in seen)
    torch.testing.assert_close(w, class_weights(labels, 3))
    counts = np.bincount(labels, minlength=3)
    torch.testing.assert_close(w, torch.as_tensor(len(labels) / (3 * counts), dtype=torch.float32))
    assert w[0] > 3 * w[1]  # 4 faces of class 0 against ~20 of class 1
    # the weighted loss is the hand-computed weighted mean of the per-sample losses
    logits, targets = torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])
    per_sample = -F.log_softmax(logits, 1)[torch.arange(6), targets]
    manual = (w[targets] * per_sample).sum() / w[targets].sum()
    torch.testing.assert_close(training_loss(mlp(), logits, targets, r, w), manual)
    assert not torch.allclose(manual, per_sample.mean())
    seen.clear()
    fit(mlp(), imbalanced, None, recipe=get_recipe("quick", epochs=1, batch_size=8), progress=False)
    assert seen and all(v is None for v in seen)

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
