"""Exact resume: an interrupted run continued from its resume state ends bit-identical (CPU, seconds)."""

from __future__ import annotations

import pytest

from fer_explain.train import fit, get_recipe, load_checkpoint


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
