"""Recipes: the papers' values, provenance of each field, overrides and validation."""

from __future__ import annotations

import dataclasses

import pytest

from fer_explain.train.recipes import RECIPES, Recipe, get_recipe, list_recipes


def test_list_recipes_names_every_paper_recipe() -> None:
    assert list_recipes() == ["quick", "seed001", "seed002", "seed003_code", "seed003_paper", "seed004"]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("seed001", {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "batch_size": 100, "epochs": 20, "transform": "seed001"}),
        ("seed003_paper", {"optimizer": "sgd", "lr": 1e-3, "batch_size": 16, "epochs": 80, "class_weighted_loss": True,
                               "scheduler": "plateau", "transform": "seed003"}),
        ("seed003_code", {"momentum": 0.9, "weight_decay": 1e-4, "early_stopping_patience": 15,
                              "class_weighted_loss": False, "scheduler": None}),
        ("seed004", {"optimizer": "adam", "lr": 0.005, "weight_decay": 0.001, "init_std": 0.05, "oversample": True,
                         "transform": "seed004", "keep_best": True}),
        ("seed002", {"optimizer": "adam", "lr": 0.05, "scheduler": "plateau", "epochs": 100, "runs": 5, "transform": "seed002",
                         "monitor": "val_acc", "normalization": "dataset"}),
        ("quick", {"optimizer": "adam", "lr": 1e-3}),
    ],
)
def test_recipe_values(name: str, expected: dict) -> None:
    r = get_recipe(name)
    for key, value in expected.items():
        assert getattr(r, key) == value, key


def test_seed001_trains_on_five_crops_and_seed002_lowers_lr_on_accuracy_drop() -> None:
    assert get_recipe("seed001").transform_options == {"five_crop": True}
    assert get_recipe("seed002").scheduler_params["mode"] == "max"
    assert get_recipe("seed003_paper").scheduler_params["factor"] == 0.1


def test_every_field_of_every_recipe_has_a_known_source() -> None:
    allowed = {"paper", "code", "assumption", "default", "override"}
    for r in RECIPES.values():
        assert r.notes, r.name
        assert set(r.sources.values()) <= allowed, r.name
        for f in dataclasses.fields(Recipe):
            assert r.source(f.name) in allowed
    assert get_recipe("seed004").source("fc_l2") == "assumption"
    assert get_recipe("seed004").source("lr") == "paper"
    assert get_recipe("seed003_code").source("weight_decay") == "code"


def test_overrides_are_applied_and_marked() -> None:
    r = get_recipe("seed004", fc_l2=0.01, epochs=3)
    assert (r.fc_l2, r.epochs, r.lr) == (0.01, 3, 0.005)
    assert r.sources["fc_l2"] == "override" and r.sources["lr"] == "paper"
    assert RECIPES["seed004"].epochs == 300  # the registry is not modified


def test_unknown_recipe_and_field_list_valid_values() -> None:
    with pytest.raises(KeyError, match="seed004"):
        get_recipe("seed999")
    with pytest.raises(TypeError, match="learning_rate.*valid.*lr"):
        get_recipe("quick", learning_rate=0.1)


@pytest.mark.parametrize("bad", [{"optimizer": "rmsprop"}, {"scheduler": "poly"}, {"monitor": "acc"},
                                 {"batch_size": 0}, {"lr": -1.0}, {"early_stopping_patience": 0}])
def test_invalid_values_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        get_recipe("quick", **bad)


def test_to_dict_round_trip() -> None:
    r = get_recipe("seed004")
    assert Recipe.from_dict(r.to_dict()) == r
