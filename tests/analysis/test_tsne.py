"""Feature extraction, subsampling, t-SNE and its plot (small, CPU-only)."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgba
from torch.utils.data import DataLoader, TensorDataset

from fer_explain.analysis.tsne import (
    extract_features,
    plot_tsne,
    subsample_indices,
    tsne_embedding,
)
from fer_explain.labels import BASIC7, BASIC8
from fer_explain.models import create_model
from fer_explain.viz.style import EMOTION_COLORS, SEED002_ORDER

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _agg_backend_and_close_figures():
    matplotlib.use("Agg")  # non-interactive; the package itself never picks a backend
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("deep_emotion", num_classes=7)


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(20, 1, 48, 48, generator=g)
    y = torch.arange(20) % 7
    return x, y


def test_extract_features_returns_model_features_and_restores_train_flag(model, data) -> None:
    x, y = data
    model.train()
    feats, labels = extract_features(model, TensorDataset(x, y), batch_size=8, progress=False)
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    with torch.no_grad():
        expected = model.features(x).numpy()
    assert feats.shape == (20, model.feature_dim) and feats.dtype == np.float32
    np.testing.assert_allclose(feats, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(labels, y.numpy())
    # an eval-mode model stays in eval mode; a mixed state is restored module by module
    list(model.modules())[1].train()
    before = [m.training for m in model.modules()]
    extract_features(model, (x[:4], y[:4]), progress=False)
    assert [m.training for m in model.modules()] == before


def test_extract_features_restores_flag_on_error(model) -> None:
    model.train()
    bad = TensorDataset(torch.rand(2, 3, 48, 48), torch.zeros(2, dtype=torch.long))  # wrong channels
    with pytest.raises(RuntimeError):
        extract_features(model, bad, progress=False)
    assert model.training


def test_extract_features_subsample_cap_is_stratified_and_seeded(model, data) -> None:
    x, y = data
    ds = TensorDataset(x, y)
    f1, l1 = extract_features(model, ds, max_samples=7, seed=3, progress=False)
    f2, _ = extract_features(model, ds, max_samples=7, seed=3, progress=False)
    assert f1.shape[0] == 7 and sorted(l1.tolist()) == list(range(7))  # one per class
    np.testing.assert_array_equal(f1, f2)
    # through a DataLoader: same subsample, the loader's batch size kept
    f3, l3 = extract_features(model, DataLoader(ds, batch_size=5), max_samples=7, seed=3, progress=False)
    np.testing.assert_array_equal(l3, l1)
    np.testing.assert_allclose(f3, f1, atol=1e-5)


def test_subsample_indices() -> None:
    labels = np.array([0] * 80 + [1] * 15 + [2] * 5)
    idx = subsample_indices(100, 20, labels, seed=0)
    assert len(idx) == 20 and np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(np.bincount(labels[idx], minlength=3), [16, 3, 1])
    np.testing.assert_array_equal(idx, subsample_indices(100, 20, labels, seed=0))
    assert not np.array_equal(idx, subsample_indices(100, 20, labels, seed=1))
    np.testing.assert_array_equal(subsample_indices(5, 10), np.arange(5))
    assert len(subsample_indices(100, 30, seed=0)) == 30


def test_tsne_one_point_per_sample_and_deterministic() -> None:
    rng = np.random.default_rng(0)
    feats = np.concatenate([rng.normal(0, 1, (15, 8)), rng.normal(6, 1, (15, 8))]).astype(np.float32)
    e1 = tsne_embedding(feats, seed=0, max_iter=250)
    e2 = tsne_embedding(feats, seed=0, max_iter=250)
    assert e1.shape == (30, 2)
    np.testing.assert_array_equal(e1, e2)
    # the two clusters stay apart: every point is nearer its own cluster's centre
    c0, c1 = e1[:15].mean(0), e1[15:].mean(0)
    assert np.all(np.linalg.norm(e1[:15] - c0, axis=1) < np.linalg.norm(e1[:15] - c1, axis=1))
    # perplexity is clipped for tiny N (scikit-learn would refuse perplexity >= N)
    assert tsne_embedding(feats[:5], perplexity=30, max_iter=250).shape == (5, 2)
    with pytest.raises(ValueError, match="max_samples"):
        tsne_embedding(feats, max_samples=10)


def test_plot_tsne_colours_by_name_in_seed002_order() -> None:
    emb = np.arange(16, dtype=np.float32).reshape(8, 2)
    labels = np.arange(8)  # canonical indices: anger .. neutral, contempt
    fig = plot_tsne(emb, labels, BASIC8.classes, title="t-SNE")
    ax = fig.axes[0]
    assert ax.get_title() == "t-SNE"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == list(SEED002_ORDER)
    for coll in ax.collections:
        name = coll.get_label()
        assert tuple(coll.get_facecolor()[0][:3]) == pytest.approx(to_rgba(EMOTION_COLORS[name])[:3])
        # the point drawn for that name is the one labelled with its canonical index
        np.testing.assert_array_equal(coll.get_offsets(), emb[[BASIC8.classes.index(name)]])
    # only classes with points appear; names work as labels too
    fig2 = plot_tsne(emb[:2], ["happiness", "anger"], BASIC7.classes)
    assert [t.get_text() for t in fig2.axes[0].get_legend().get_texts()] == ["happiness", "anger"]
    with pytest.raises(ValueError, match="not an index"):
        plot_tsne(emb[:1], [9], BASIC7.classes)
