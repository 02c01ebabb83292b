"""fit_repeated: independently seeded runs, all reported, the best kept."""

from __future__ import annotations

import pytest

from fer_explain.train import fit_repeated, get_recipe


def test_fit_repeated_reports_all_runs(toy, mlp) -> None:
    r = get_recipe("quick", epochs=2, batch_size=16, runs=3)
    rep = fit_repeated(lambda i: mlp(seed=i), toy(60), toy(30, seed=1), recipe=r, progress=False)
    assert len(rep.results) == 3 and len(rep.histories) == 3
    assert rep.scores[rep.best_index] == rep.scores.max()
    assert rep.mean == pytest.approx(rep.scores.mean()) and rep.std == pytest.approx(rep.scores.std(ddof=1))
    assert "3 runs" in rep.summary()
