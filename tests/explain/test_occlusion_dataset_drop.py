"""explain_dataset's ``<m>_drop`` column in one forward pass equals step 1 of the full deletion curve."""

from __future__ import annotations

import pytest
import torch

from fer_explain.analysis.dataset_explain import DELETION_STEPS, _first_deletion_drop
from fer_explain.explain import make_explainer, metrics


@pytest.mark.parametrize("method", ["occlusion", "gradcam"])
@pytest.mark.parametrize("name", ["deep_emotion", "se_resnet18"])
def test_first_deletion_drop_equals_the_curves_first_step(tiny, counted_batches, name: str, method: str) -> None:
    model, make_x = tiny(name)
    x = make_x(4)
    black = torch.full((x.shape[1], 1, 1), -1.0)
    exp = make_explainer(method, model, input_size=x.shape[-1], black=black).attribute(x, target=[0, 3, 6, 1])
    curve = metrics.deletion_curve(model, x, exp, n_steps=DELETION_STEPS, baseline=black)
    with counted_batches(model) as calls:
        drop = _first_deletion_drop(model, x, exp, black)
    assert calls == [4]  # one forward pass of the batch, not the whole curve
    assert drop.dtype == torch.float64 and drop.shape == (4,)
    torch.testing.assert_close(drop, (curve.probs[:, 0] - curve.probs[:, 1]).double(), atol=1e-6, rtol=0)
    assert (drop != 0).any()
