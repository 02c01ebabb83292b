"""Behaviour of the individual explainers and of the Explanation type."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fer_explain.explain import (
    Explanation,
    GradCAM,
    IntegratedGradients,
    Occlusion,
    Saliency,
    SEMapExplainer,
    SlidingOcclusion,
    region_importance,
    region_importance_table,
    se_block_maps,
    select_confident,
    select_misclassified,
    stn_attention,
)
from fer_explain.explain.memory_format import forward_format
from fer_explain.explain.occlusion import black_baseline, occlusion_batching, window_starts


def test_explanation_helpers(tiny) -> None:
    model, make_x = tiny("deep_emotion")
    exp = GradCAM(model).attribute(make_x(4), labels=[0, 1, 2, 3])
    assert len(exp) == 4
    sub = exp[[1, 3]]
    assert len(sub) == 2 and sub.labels.tolist() == [1, 3]
    torch.testing.assert_close(sub.maps, exp.maps[[1, 3]])
    assert len(exp[0]) == 1 and len(exp[torch.tensor([True, False, True, False])]) == 2
    norm = exp.normalized()
    assert norm.min() >= 0 and norm.max() <= 1
    assert torch.allclose(norm.flatten(1).amax(1), torch.ones(4))
    assert isinstance(exp.to_numpy(), np.ndarray) and exp.to_numpy().shape == (4, 48, 48)
    torch.testing.assert_close(exp.predictions, exp.probs.argmax(1))
    assert exp.method == "gradcam" and exp.layer == "body.relu3"
    with pytest.raises(ValueError, match="samples"):
        Explanation(maps=torch.zeros(2, 4, 4), raw=None, targets=torch.zeros(3, dtype=torch.long),
                    probs=torch.zeros(2, 7), method="x")


def test_se_block_maps(tiny) -> None:
    model, make_x = tiny("se_resnet18")
    x = make_x(3)
    blocks, probs = se_block_maps(model, x, top_k=3)
    assert [b.name for b in blocks] == [n for n, _ in model.se_blocks()]
    b = blocks[-1]
    n, c = b.weights.shape
    assert (n, c) == (3, b.feature_maps.shape[1])
    assert ((b.weights >= 0) & (b.weights <= 1)).all()
    # top channels are sorted by weight and their maps are the scaled block outputs
    assert (b.top_weights[:, :-1] >= b.top_weights[:, 1:]).all()
    torch.testing.assert_close(b.top_maps[:, 0], b.feature_maps[torch.arange(3), b.top_channels[:, 0]])
    # weighted mean: sum_c s_c U_c / sum_c s_c with U the SE input
    torch.testing.assert_close(b.mean_map, b.feature_maps.sum(1) / b.weights.sum(1)[:, None, None])
    torch.testing.assert_close(probs, model(x).softmax(1))
    exp = SEMapExplainer(model).attribute(x)
    torch.testing.assert_close(exp.raw, b.mean_map)
    assert exp.maps.shape == (3, 48, 48)
    with pytest.raises(ValueError, match="valid"):
        se_block_maps(model, x, blocks=["layer9.se"])
    with pytest.raises(ValueError, match="no SE blocks"):
        se_block_maps(tiny("deep_emotion")[0], torch.randn(1, 1, 48, 48))


def test_selection_helpers() -> None:
    probs = torch.tensor([[0.95, 0.05], [0.6, 0.4], [0.05, 0.95], [0.02, 0.98]])
    labels = torch.tensor([0, 0, 0, 1])
    assert select_confident(probs).tolist() == [0, 2, 3]
    assert select_confident(probs, labels=labels).tolist() == [0, 3]
    assert select_misclassified(probs, labels).tolist() == [2]


def test_stn_identity_and_shift(tiny) -> None:
    model, make_x = tiny("deep_emotion")
    x = make_x(2)
    att = stn_attention(model, x)  # identity theta at initialisation
    np.testing.assert_allclose(att.warped, x.numpy(), atol=1e-4)
    ys, xs = np.meshgrid(np.arange(48), np.arange(48), indexing="ij")
    np.testing.assert_allclose(att.grid[0, ..., 0], xs, atol=1e-4)
    np.testing.assert_allclose(att.grid[0, ..., 1], ys, atol=1e-4)
    np.testing.assert_allclose(att.corners[0, 0], [-0.5, -0.5], atol=1e-5)
    np.testing.assert_allclose(att.area, [1.0, 1.0], atol=1e-6)
    with torch.no_grad():  # zoom in by 2 around the centre: the outline covers the middle half
        model.loc_fc.fc2.bias.copy_(torch.tensor([0.5, 0, 0, 0, 0.5, 0]))
    att = stn_attention(model, x, step=8)
    assert att.grid.shape == (2, 6, 6, 2)
    np.testing.assert_allclose(att.corners[0, 2], [35.5, 35.5], atol=1e-4)
    np.testing.assert_allclose(att.area, [0.25, 0.25], atol=1e-6)
    with pytest.raises(TypeError, match="spatial transformer"):
        stn_attention(tiny("vgg_fer")[0], torch.randn(1, 1, 64, 64))


def test_integrated_gradients_and_saliency(tiny) -> None:
    model, make_x = tiny("deep_emotion")
    x = make_x(2)
    exp = IntegratedGradients(model, n_steps=16, internal_batch_size=8).attribute(x)
    with torch.no_grad():
        logits = model(x).gather(1, exp.targets[:, None])[:, 0]
        base = model(torch.zeros_like(x)).gather(1, exp.targets[:, None])[:, 0]
    # completeness: the signed channel sum adds up to f(x) - f(baseline) up to captum's delta
    torch.testing.assert_close(exp.maps.flatten(1).sum(1), logits - base + exp.extras["delta"], atol=1e-4,
                               rtol=1e-4)
    sal = Saliency(model).attribute(x)
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(xg).gather(1, sal.targets[:, None]).sum(), xg)
    torch.testing.assert_close(sal.maps, g.abs().sum(1))
    with pytest.raises(ValueError, match="channel_reduction"):
        Saliency(model, channel_reduction="mean")  # type: ignore[arg-type]


def test_occlusion_auto_batching_and_flip(tiny) -> None:
    model, make_x = tiny("deep_emotion")
    x = make_x(2)
    assert window_starts(48, 10, 4)[-1] == 40  # last window clipped at the border, as in captum
    auto = Occlusion(model, 8, 8, memory_budget_mb=0.001).attribute(x)
    assert auto.params["perturbations_per_eval"] == 1
    big = Occlusion(model, 8, 8).attribute(x)
    # calibrated once per model and layout (cached), within the memory budget, balanced over the 36 positions
    with forward_format(model, big.params["memory_format"]):
        assert big.params["perturbations_per_eval"] == occlusion_batching(model, x, 36, 512.0)
    assert 1 <= big.params["perturbations_per_eval"] <= 36
    torch.testing.assert_close(auto.maps, big.maps)
    seed4 = SlidingOcclusion(model, 8, 8, baseline=black_baseline(model)).attribute(x)
    assert seed4.raw.shape == (2, 6, 6)
    pred_probs = seed4.extras["occluded_probs"]
    assert seed4.extras["flip"].dtype == torch.bool and pred_probs.shape == (2, 6, 6)
    # flipping windows mark their pixels as important
    torch.testing.assert_close(seed4.extras["importance"], seed4.extras["flip_map"] > 0)


def test_region_importance_table(tiny) -> None:
    model, make_x = tiny("deep_emotion")
    fm = torch.zeros(4, 1, 48, 48, dtype=torch.long)
    fm[:, :, :24] = 1
    batches = [(make_x(4), fm, torch.tensor([0, 0, 3, 6])), (make_x(4), fm, torch.tensor([3, 3, 3, 3]))]
    names = ["lower", "upper"]
    emotions = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]
    table = region_importance_table(model, batches, names, class_names=emotions, progress=False)
    assert list(table.index) == ["lower", "upper"]
    assert table["disgust"].isna().all() and table["happiness"].notna().all()
    # the mean over the 5 'happiness' samples equals the per-sample drops averaged by hand
    drops = torch.cat([region_importance(model, b[0], b[1], names, target=b[2]).drops for b in batches])
    labels = torch.cat([b[2] for b in batches])
    assert table.loc["upper", "happiness"] == pytest.approx(drops[labels == 3, 1].mean().item(), abs=1e-6)


def cartoon_landmarks(n: int, size: int = 48) -> torch.Tensor:
    """Hand-made 68-point shapes (dlib/iBUG order) of a frontal face filling a ``size`` image."""
    c, r = size / 2, size * 0.42
    t = np.linspace(np.pi * 0.95, np.pi * 0.05, 17)
    jaw = np.stack([c - r * np.cos(t), c + r * 0.2 + r * 0.75 * np.sin(t) - r * 0.2], 1)
    brow_r = np.stack([np.linspace(c - 17, c - 5, 5), np.full(5, c - 11)], 1)
    brow_l = brow_r * [-1, 1] + [2 * c, 0]
    nose = np.concatenate([np.stack([np.full(4, c), np.linspace(c - 7, c + 2, 4)], 1),
                           np.stack([np.linspace(c - 4, c + 4, 5), np.full(5, c + 5)], 1)])
    a = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    eye_r = np.stack([c - 10 + 4 * np.cos(a + np.pi), c - 6 + 1.8 * np.sin(a + np.pi)], 1)
    eye_l = eye_r * [-1, 1] + [2 * c, 0]
    m12, m8 = np.linspace(0, 2 * np.pi, 12, endpoint=False), np.linspace(0, 2 * np.pi, 8, endpoint=False)
    mouth = np.concatenate([np.stack([c - 8 * np.cos(m12), c + 12 + 3.5 * np.sin(m12)], 1),
                            np.stack([c - 5 * np.cos(m8), c + 12 + 1.5 * np.sin(m8)], 1)])
    pts = np.concatenate([jaw, brow_r, brow_l, nose, eye_r, eye_l, mouth])
    assert pts.shape == (68, 2)
    return torch.from_numpy(pts).float().expand(n, -1, -1).clone()


def test_with_landmark_feature_masks(tiny) -> None:
    """Region masking and region mass driven by fer_explain.faces.regions masks."""
    from captum.attr import FeatureAblation

    from fer_explain.explain import RegionAblation
    from fer_explain.explain import metrics as M
    from fer_explain.faces import regions

    model, make_x = tiny("deep_emotion")
    x = make_x(2)
    lm = cartoon_landmarks(2)
    fm = regions.base_feature_mask(lm, 48)
    assert set(torch.unique(fm).tolist()) == {0, 1, 2, 3, 4}
    with torch.no_grad():
        ref = FeatureAblation(lambda inp: model(inp).softmax(1)).attribute(x, target=4, feature_mask=fm)[:, 0]
    exp = RegionAblation(model, fm).attribute(x, target=4)
    torch.testing.assert_close(exp.maps, ref, atol=1e-6, rtol=1e-5)
    ri = region_importance(model, x, fm, regions.BASE_FEATURE_IDS, target=4)
    assert ri.regions == ["outside_face", "eyes", "nose", "mouth", "rest_of_face"]
    mouth = regions.region_masks(lm, "mouth", 48)
    mass = M.region_mass(GradCAM(model).attribute(x)[[0, 1]], {"mouth": mouth})
    assert mass["mouth"].between(0, 1).all()
    hand = torch.where(mouth, 1.0, 0.0)
    perfect = Explanation(maps=hand, raw=None, targets=torch.zeros(2, dtype=torch.long),
                          probs=torch.ones(2, 7) / 7, method="hand")
    assert M.pointing_game(perfect, mouth).tolist() == [1.0, 1.0]
