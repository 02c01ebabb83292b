"""Region masking costs one unmasked pass plus the masked copies: the same maps as captum's FeatureAblation."""

from __future__ import annotations

import pytest
import torch
from captum.attr import FeatureAblation

from fer_explain.explain import RegionAblation, region_importance
from fer_explain.explain.base import explaining


def _mask(n: int) -> torch.Tensor:
    fm = torch.zeros(n, 1, 48, 48, dtype=torch.long)
    fm[:, :, 10:20, 8:40] = 1
    fm[:, :, 30:42, 14:34] = 2
    fm[:, :, 22:28, 20:28] = 3
    return fm


def test_region_ablation_one_unmasked_pass_same_maps(tiny, counted_batches) -> None:
    model, make_x = tiny("deep_emotion")
    x = make_x(3)
    fm = _mask(3)
    black = torch.full((1, 1, 1), -1.0)
    target = torch.tensor([0, 2, 5])
    with counted_batches(model) as calls:
        exp = RegionAblation(model, fm, baseline=black).attribute(x, target)
    assert calls == [5 * 3]  # the unmasked batch and the 4 regions' copies in one forward

    def prob(inp: torch.Tensor) -> torch.Tensor:
        return model(inp).softmax(dim=1)

    with torch.no_grad():
        ref = FeatureAblation(prob).attribute(x, baselines=-1.0, target=target, feature_mask=fm)[:, 0]
    torch.testing.assert_close(exp.maps, ref, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(exp.probs, model(x).detach().float().softmax(1))
    # the base class's route (_compute: a separate unmasked pass) agrees to float rounding
    explainer = RegionAblation(model, fm, baseline=black)
    with explaining(model) as handles:
        explainer._handles = handles
        maps, _, extras = explainer._compute(x.clone(), exp.targets)
        explainer._handles = None
    torch.testing.assert_close(maps, exp.maps, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(extras["drops"], exp.extras["drops"], atol=1e-6, rtol=1e-5)
    # the prediction by default, from the same single unmasked pass
    with counted_batches(model) as calls:
        pred = RegionAblation(model, fm, baseline=black, perturbations_per_eval=2).attribute(x)
    assert calls == [3, 6, 6]  # the prediction first, then 2 regions per forward
    torch.testing.assert_close(pred.targets, model(x).argmax(1))
    with torch.no_grad():
        ref_pred = FeatureAblation(prob).attribute(x, baselines=-1.0, target=pred.targets, feature_mask=fm)[:, 0]
    torch.testing.assert_close(pred.maps, ref_pred, atol=1e-6, rtol=1e-5)


def test_region_importance_with_labels_one_call_per_batch_and_bad_targets(tiny, counted_batches) -> None:
    model, make_x = tiny("deep_emotion")
    x = make_x(3)
    fm = _mask(3)
    with counted_batches(model) as calls:
        ri = region_importance(model, x, fm, target=[1, 2, 3], baseline=-1.0)
        assert calls == [15]
        for bad in (7, [0, 1], [-1, 0, 0]):
            with pytest.raises(ValueError, match="target"):
                region_importance(model, x, fm, target=bad)
            with pytest.raises(ValueError, match="target"):
                RegionAblation(model, fm).attribute(x, bad)

    def prob(inp: torch.Tensor) -> torch.Tensor:
        return model(inp).softmax(dim=1)

    with torch.no_grad():
        ref = FeatureAblation(prob).attribute(x, baselines=-1.0, target=torch.tensor([1, 2, 3]), feature_mask=fm)
    for j, rid in enumerate(ri.region_ids):
        sample = (fm[:, 0] == rid).flatten(1).float().argmax(1)  # a pixel of the region in each sample
        torch.testing.assert_close(ri.drops[:, j], ref[:, 0].flatten(1)[torch.arange(3), sample],
                                   atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(ri.probs, model(x).detach().float().softmax(1), atol=1e-6, rtol=1e-5)
