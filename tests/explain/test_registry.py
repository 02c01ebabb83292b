"""The one explainer registry: its documented defaults, and the explorer and the report building the same maps."""

from __future__ import annotations

import pytest
import torch

from fer_explain.explain import (
    IG_STEPS,
    REGION_DEFAULTS,
    IntegratedGradients,
    Occlusion,
    explainer_applies,
    list_explainers,
    make_explainer,
    occlusion_window,
)
from fer_explain.models import create_model
from fer_explain.train import CheckpointInput, load_checkpoint, shipped_checkpoint


def test_documented_defaults() -> None:
    assert list_explainers() == ["cam", "gradcam", "gradcam++", "integrated_gradients", "occlusion",
                                 "occlusion_coarse", "saliency", "se_map"]
    assert occlusion_window(48) == (8, 4) and occlusion_window(64) == (10, 5) and occlusion_window(224) == (37, 18)
    assert dict(REGION_DEFAULTS) == {"region_set": "symmetric", "margin": "5%"}
    model = create_model("deep_emotion")
    black = torch.full((1, 1, 1), -2.0)
    occ = make_explainer("occlusion", model, input_size=48, black=black)
    assert isinstance(occ, Occlusion) and (occ.window, occ.stride) == (8, 4) and torch.equal(occ.baseline, black)
    assert make_explainer("Occlusion", model, input_size=48, black=black, window=12).stride == 6  # label lookup
    ig = make_explainer("integrated_gradients", model, input_size=48, black=black)
    assert isinstance(ig, IntegratedGradients) and ig.n_steps == IG_STEPS == 32 and torch.equal(ig.baseline, black)


def test_methods_a_model_cannot_do_are_refused() -> None:
    model = create_model("vgg_fer", width=0.25, in_chans=1, input_size=48)  # flatten head: not CAM-able
    assert not explainer_applies("cam", model) and not explainer_applies("se_map", model)
    with pytest.raises(ValueError, match="'cam' needs a global-average-pooling"):
        make_explainer("cam", model)
    with pytest.raises(ValueError, match="unknown explanation method 'lime'"):
        make_explainer("lime", model)


@pytest.mark.parametrize("method", ["occlusion", "integrated_gradients", "gradcam"])
def test_explorer_and_report_build_identical_maps(method: str) -> None:
    """The explorer (widgets.make_explainer) and write_report (explain.make_explainer at the checkpoint's
    input) give bit-identical maps for the same name, model and faces."""
    from fer_explain.widgets.common import load_model
    from fer_explain.widgets.common import make_explainer as explorer_explainer

    model, meta = load_checkpoint(shipped_checkpoint("fer2013/vgg_fer"))
    inp = CheckpointInput.from_checkpoint(meta, model)
    x = inp.prepare(torch.rand(3, 1, 48, 48, generator=torch.Generator().manual_seed(0)))
    report_map = make_explainer(method, model, input_size=inp.size, black=inp.black()).attribute(x).maps
    explorer_map = explorer_explainer(method, load_model((model, meta))).attribute(x).maps
    assert torch.equal(report_map, explorer_map)
