"""Writing synthetic sets to disk, the cached default set, and the torch Dataset."""

from __future__ import annotations

import numpy as np
import torch

from fer_explain.data.io import load_image
from fer_explain.data.manifest import Manifest
from fer_explain.data.synthetic import (
    SyntheticFaceConfig,
    SyntheticFaceDataset,
    default_synthetic_manifest,
    generate,
    write_synthetic,
)
from fer_explain.data.synthetic.writer import stratified_splits


def test_write_synthetic_round_trip(tmp_path):
    cfg = SyntheticFaceConfig(n=70, seed=3)
    m = write_synthetic(cfg, tmp_path / "syn", progress=False)
    loaded = Manifest.load(tmp_path / "syn" / "manifest")
    loaded.validate(check_files=True)
    assert len(loaded) == 70 and set(loaded.df["dataset"]) == {"synthetic"}
    assert set(loaded.df["landmark_source"]) == {"synthetic"}
    assert {"evidence", "true_label", "au_1", "au_12", "au_26", "subject"} <= set(loaded.df.columns)
    b = generate(cfg)
    lm = loaded.landmarks()
    assert np.abs(lm - b.landmarks).max() <= 0.006  # two decimals
    for i in (0, 33, 69):
        row = loaded.df.iloc[i]
        assert np.array_equal(load_image(loaded.root, row["image"]), b.images[i])
        assert np.array_equal(load_image(loaded.root, row["evidence"]) > 0, b.evidence[i])
        assert row["label"] == cfg.label_space.classes[b.labels[i]]
    counts = loaded.df.groupby("label")["split"].value_counts().unstack()
    assert (counts["train"] == 7).all() and (counts["val"] == 2).all() and (counts["test"] == 1).all()
    assert m.content_hash() == loaded.content_hash()


def test_write_synthetic_cli_keywords_rgb(tmp_path):
    m = write_synthetic(n=14, size=64, channels=3, seed=2, out=tmp_path / "rgb", progress=False)
    img = load_image(m.root, m.df["image"].iat[0])
    assert img.shape == (64, 64, 3)


def test_stratified_splits_are_seeded_and_stratified():
    labels = np.repeat(np.arange(7), 100)
    a, b = stratified_splits(labels, 0), stratified_splits(labels, 0)
    assert np.array_equal(a, b) and not np.array_equal(a, stratified_splits(labels, 1))
    for c in range(7):
        sel = a[labels == c]
        assert (sel == "train").sum() == 70 and (sel == "val").sum() == 15 and (sel == "test").sum() == 15


def test_default_manifest_is_cached_and_regenerated(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_EXPLAIN_CACHE", str(tmp_path / "cache"))
    m = default_synthetic_manifest(n=28)
    assert str(m.root).startswith(str(tmp_path / "cache" / "synthetic"))
    first = (m.root / m.df["image"].iat[5]).stat().st_mtime_ns
    again = default_synthetic_manifest(n=28)
    assert (again.root / again.df["image"].iat[5]).stat().st_mtime_ns == first  # cached
    (m.root / m.df["image"].iat[5]).unlink()  # incomplete -> regenerated
    third = default_synthetic_manifest(n=28)
    assert (third.root / third.df["image"].iat[5]).is_file()
    assert third.content_hash() == m.content_hash()
    other = default_synthetic_manifest(cache_dir=tmp_path / "elsewhere", n=14)
    assert other.root.parent == tmp_path / "elsewhere"


def test_torch_dataset_needs_no_files():
    ds = SyntheticFaceDataset(n=20, seed=1, chunk_size=8)
    x, y = ds[3]
    assert isinstance(x, torch.Tensor) and x.shape == (1, 48, 48) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0 and isinstance(y, int)
    b = generate(SyntheticFaceConfig(n=20, seed=1))
    assert torch.equal(x, torch.from_numpy(b.images[3]).float().div(255).unsqueeze(0))
    ds2 = SyntheticFaceDataset(SyntheticFaceConfig(n=20, seed=1, size=64, channels=3), return_landmarks=True,
                               return_evidence=True, max_cached_chunks=1)
    x, y, lm, ev = ds2[19]
    assert x.shape == (3, 64, 64) and lm.shape == (68, 2) and ev.shape == (64, 64) and ev.dtype == torch.bool
    assert y == b.labels[19]
    ds3 = SyntheticFaceDataset(SyntheticFaceConfig(n=20, seed=1), return_evidence=True, evidence_dilate=2)
    ev3 = ds3[3][2]
    assert ev3.sum() > int(b.evidence[3].sum()) and bool(ev3[torch.from_numpy(b.evidence[3])].all())
    loader = torch.utils.data.DataLoader(ds, batch_size=10)
    xb, yb = next(iter(loader))
    assert xb.shape == (10, 1, 48, 48) and torch.equal(yb, torch.as_tensor(b.labels[:10]))
