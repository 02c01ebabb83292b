"""FaceDataset, its pixel cache, make_loader and class_weights, on tiny manifests written at test time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import fer_explain.data.io as fio
from fer_explain.data.dataset import (
    FaceDataset,
    SampleLoadError,
    cache_key,
    class_weights,
    crop_box,
    make_loader,
    sample_location,
)
from fer_explain.data.manifest import Manifest, make_manifest
from fer_explain.data.transforms import get_transform

torch.set_num_threads(1)


# --- fixtures ------------------------------------------------------------------------------------


def _png(path: Path, arr: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path.name if path.parent.name == "" else f"{path.parent.name}/{path.name}"


@pytest.fixture()
def folder_manifest(tmp_path: Path) -> Manifest:
    """Four PNGs: grey and RGB, different sizes, two with a face box around a bright patch."""
    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (30, 40), dtype=np.uint8)
    rgb = rng.integers(0, 256, (50, 64, 3), dtype=np.uint8)
    boxed_grey = np.zeros((60, 80), np.uint8)
    boxed_grey[10:34, 20:44] = 200  # the box (20, 10, 24, 24)
    boxed_rgb = np.zeros((70, 90, 3), np.uint8)
    boxed_rgb[40:60, 50:80] = (255, 0, 0)  # the box (50, 40, 30, 20), pure red
    rows = [
        {"dataset": "t", "image": _png(root / "a/grey.png", grey), "label": "anger", "split": "train"},
        {"dataset": "t", "image": _png(root / "a/rgb.png", rgb), "label": "happiness", "split": "train"},
        {"dataset": "t", "image": _png(root / "b/boxed_grey.png", boxed_grey), "label": "happiness",
         "split": "train", "box_x": 20, "box_y": 10, "box_w": 24, "box_h": 24},
        {"dataset": "t", "image": _png(root / "b/boxed_rgb.png", boxed_rgb), "label": "sadness",
         "split": "test", "box_x": 50, "box_y": 40, "box_w": 30, "box_h": 20},
    ]
    for r in rows[:2]:
        r.update(box_x=np.nan, box_y=np.nan, box_w=np.nan, box_h=np.nan)
    return make_manifest(rows, root, name="folder")


def _pixel_csv(path: Path, labels: list[int], short_row: int | None = None) -> np.ndarray:
    """A FER2013-style CSV (emotion, pixels, Usage); row ``i`` is a constant image of value ``i``."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (len(labels), 48, 48), dtype=np.uint8)
    pixels = [" ".join(map(str, im.reshape(-1))) for im in images]
    if short_row is not None:
        pixels[short_row] = " ".join(pixels[short_row].split()[:-1])  # 2303 values
    pd.DataFrame({"emotion": labels, "pixels": pixels, "Usage": "Training"}).to_csv(path, index=False)
    return images


@pytest.fixture()
def csv_manifest(tmp_path: Path) -> tuple[Manifest, np.ndarray]:
    root = tmp_path / "fer"
    root.mkdir()
    codes = [0, 3, 3, 4, 6, 3, 2, 5, 1, 3]
    images = _pixel_csv(root / "fer2013.csv", codes)
    names = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]
    rows = [{"dataset": "fer2013", "image": "fer2013.csv", "label": names[c], "split": "train", "pixel_row": i}
            for i, c in enumerate(codes)]
    return make_manifest(rows, root, name="fercsv"), images


def _imbalanced_manifest(root: Path, counts: dict[str, int]) -> Manifest:
    root.mkdir(parents=True, exist_ok=True)
    names = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]
    labels = [lab for lab, n in counts.items() for _ in range(n)]
    _pixel_csv(root / "fer2013.csv", [names.index(lab) for lab in labels])
    rows = [{"dataset": "fer2013", "image": "fer2013.csv", "label": lab, "split": "train", "pixel_row": i}
            for i, lab in enumerate(labels)]
    return make_manifest(rows, root, name="imbalanced")


# --- decoding ------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
def test_items_shape_dtype_range(folder_manifest: Manifest, tmp_path: Path, channels: int) -> None:
    ds = FaceDataset(folder_manifest, size=32, channels=channels, cache_dir=tmp_path / "c")
    assert len(ds) == 4
    for i in range(len(ds)):
        x, y = ds[i]
        assert x.dtype == torch.float32 and x.shape == (channels, 32, 32)
        assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
        assert y == folder_manifest.label_space.index(folder_manifest.df["label"].iat[i])
    assert ds[-1][1] == ds[3][1]
    with pytest.raises(IndexError, match="out of range"):
        ds[4]


def test_box_crop_takes_the_box(folder_manifest: Manifest, tmp_path: Path) -> None:
    ds = FaceDataset(folder_manifest, size=24, channels=1, crop_margin=0.0, cache_dir=False)
    x, _ = ds[2]  # the 24x24 box is exactly the 200-valued patch
    assert torch.allclose(x, torch.full_like(x, 200 / 255))
    wide = FaceDataset(folder_manifest, size=48, channels=1, crop_margin=0.5, cache_dir=False)
    x, _ = wide[2]  # the box is the middle half of the crop; the margin shows the black surround
    assert torch.allclose(x[0, 16:32, 16:32], torch.full((16, 16), 200 / 255))
    assert float(x[0, :8].max()) == 0.0 and float(x[0, :, :8].max()) == 0.0
    rgb = FaceDataset(folder_manifest, size=20, channels=3, crop_margin=0.0, cache_dir=False)
    x, _ = rgb[3]  # the red box, stretched to a square
    assert torch.allclose(x[0], torch.ones(20, 20)) and float(x[1:].abs().max()) == 0.0


def test_crop_box_pads_outside_with_zeros() -> None:
    img = np.full((10, 10), 7, np.uint8)
    out = crop_box(img, (-2, 6, 4, 6), margin=0.0)  # x -2..2, y 6..12
    assert out.shape == (6, 4)
    assert (out[:, :2] == 0).all() and (out[4:, :] == 0).all() and (out[:4, 2:] == 7).all()
    with pytest.raises(ValueError, match="outside"):
        crop_box(img, (20, 20, 5, 5))


def test_channel_conversion(folder_manifest: Manifest) -> None:
    grey3 = FaceDataset(folder_manifest, size=16, channels=3, cache_dir=False)[0][0]
    assert torch.equal(grey3[0], grey3[1]) and torch.equal(grey3[1], grey3[2])  # grey repeated
    rgb_img = np.asarray(Image.open(folder_manifest.root / "a/rgb.png"))
    grey = FaceDataset(folder_manifest, size=64, channels=1, cache_dir=False)
    luma = np.asarray(Image.fromarray(rgb_img).convert("L").resize((64, 64), Image.Resampling.BILINEAR))
    assert np.abs(grey.pixels(1)[0].astype(int) - luma.astype(int)).max() <= 1  # ITU-R 601, as PIL


def test_pixel_csv_rows(csv_manifest: tuple[Manifest, np.ndarray]) -> None:
    manifest, images = csv_manifest
    ds = FaceDataset(manifest, size=48, channels=1, cache_dir=False)
    for i in (0, 7):
        assert np.array_equal(ds.pixels(i)[0], images[i])
    assert ds.labels.dtype == np.int64
    assert ds.class_counts().tolist() == [1, 1, 1, 4, 1, 1, 1]


def test_normalize_and_return_index(csv_manifest: tuple[Manifest, np.ndarray]) -> None:
    manifest, images = csv_manifest
    ds = FaceDataset(manifest, cache_dir=False, normalize=(0.5, 0.25), return_index=True)
    x, y, i = ds[5]
    assert i == 5 and y == 3
    assert torch.allclose(x[0], (torch.from_numpy(images[5]).float() / 255 - 0.5) / 0.25, atol=1e-6)
    with pytest.raises(ValueError, match="expected 1 or 1"):
        FaceDataset(manifest, cache_dir=False, normalize=([0.5, 0.5, 0.5], [0.2, 0.2, 0.2]))


# --- the cache -----------------------------------------------------------------------------------


def test_cache_is_used_without_decoding(folder_manifest: Manifest, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    ds = FaceDataset(folder_manifest, size=32, channels=1, cache_dir=cache)
    assert not ds.is_cached and not cache.exists()  # nothing written before build_cache
    expected = [ds[i][0] for i in range(len(ds))]  # lazy decode
    path = ds.build_cache(progress=False)
    assert path.is_file() and path.parent == cache and ds.is_cached
    assert path.with_suffix(".json").is_file()
    assert not list(cache.glob("*.partial.npy")) and not list(cache.glob("*.filled.npy"))

    def refuse(*args: object, **kw: object) -> None:
        raise AssertionError("decoded an image although the cache is built")

    monkeypatch.setattr(fio, "load_image", refuse)
    again = FaceDataset(folder_manifest, size=32, channels=1, cache_dir=cache)
    assert again.is_cached and again.cache_path == path
    for i in range(len(again)):
        assert torch.equal(again[i][0], expected[i])
    assert again.build_cache(progress=False) == path  # finished: a no-op, no decoding
    with pytest.raises(AssertionError, match="decoded"):  # the patch is live: a new key must decode
        FaceDataset(folder_manifest, size=16, channels=1, cache_dir=cache)[0]


def test_cache_key_depends_on_settings(folder_manifest: Manifest) -> None:
    base = cache_key(folder_manifest, 48, 1, 0.1)
    assert base == cache_key(folder_manifest, 48, 1, 0.1)
    others = {cache_key(folder_manifest, 64, 1, 0.1), cache_key(folder_manifest, 48, 3, 0.1),
              cache_key(folder_manifest, 48, 1, 0.2),
              cache_key(folder_manifest.replace(folder_manifest.df.iloc[:3]), 48, 1, 0.1)}
    assert base not in others and len(others) == 4


def test_interrupted_fill_resumes(csv_manifest: tuple[Manifest, np.ndarray], tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    manifest, images = csv_manifest
    cache = tmp_path / "cache"
    real = fio.load_image
    calls = {"n": 0}

    def flaky(*args: object, **kw: object) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-fill
        return real(*args, **kw)

    monkeypatch.setattr(fio, "load_image", flaky)
    ds = FaceDataset(manifest, cache_dir=cache)
    with pytest.raises(KeyboardInterrupt):
        ds.build_cache(progress=False, chunk_size=2)
    assert not ds.cache_path.exists() and not ds.is_cached  # no completed marker
    filled = np.load(next(cache.glob("*.filled.npy")))
    assert filled.tolist() == [True] * 4 + [False] * 6  # two whole chunks were saved

    calls["n"] = -100  # no more interrupts; count the rows decoded by the resumed fill
    ds.build_cache(progress=False, chunk_size=2)
    assert calls["n"] == -100 + 6 and ds.is_cached
    monkeypatch.setattr(fio, "load_image", real)
    fresh = FaceDataset(manifest, cache_dir=cache)
    assert fresh.is_cached
    for i in range(len(fresh)):
        assert np.array_equal(fresh.pixels(i)[0], images[i])


def test_build_cache_with_worker_processes(csv_manifest: tuple[Manifest, np.ndarray], tmp_path: Path) -> None:
    manifest, images = csv_manifest
    ds = FaceDataset(manifest, cache_dir=tmp_path / "cache")
    ds.build_cache(progress=False, workers=2, chunk_size=3)
    mm = np.load(ds.cache_path, mmap_mode="r")
    assert mm.shape == (10, 1, 48, 48) and np.array_equal(mm[:, 0], images)


def test_preload_and_disabled_cache(csv_manifest: tuple[Manifest, np.ndarray], tmp_path: Path) -> None:
    manifest, images = csv_manifest
    nocache = FaceDataset(manifest, cache_dir=False, preload=True, progress=False)
    assert nocache.cache_path is None and nocache.is_preloaded
    assert not (tmp_path / "cache").exists()
    with pytest.raises(RuntimeError, match="disabled"):
        nocache.build_cache()
    cached = FaceDataset(manifest, cache_dir=tmp_path / "cache", preload=True, progress=False)
    assert cached.is_cached  # preload builds the cache first
    for ds in (nocache, cached):
        assert torch.equal(ds[4][0][0], torch.from_numpy(images[4]).float() / 255)


def test_loader_workers_read_the_memmap(csv_manifest: tuple[Manifest, np.ndarray], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    manifest, images = csv_manifest
    ds = FaceDataset(manifest, cache_dir=tmp_path / "cache", return_index=True)
    ds.build_cache(progress=False)
    ds[0]  # the parent opens its map; workers must open their own

    def refuse(*args: object, **kw: object) -> None:
        raise AssertionError("decoded an image although the cache is built")

    monkeypatch.setattr(fio, "load_image", refuse)  # forked workers inherit the patch
    loader = make_loader(ds, batch_size=4, shuffle=True, num_workers=2, seed=3)
    seen = []
    for x, y, idx in loader:
        assert x.shape[1:] == (1, 48, 48)
        for k, i in enumerate(idx.tolist()):
            assert torch.equal(x[k, 0], torch.from_numpy(images[i]).float() / 255)
        seen += idx.tolist()
    assert sorted(seen) == list(range(10))


# --- errors --------------------------------------------------------------------------------------


def test_corrupt_image_names_file_and_row(folder_manifest: Manifest, tmp_path: Path) -> None:
    (folder_manifest.root / "b/boxed_grey.png").write_bytes(b"this is not a png at all")
    ds = FaceDataset(folder_manifest, cache_dir=tmp_path / "cache")
    # rows are named as the rest of the package names CSV rows: manifest row index 2 = line 4 (data row 3)
    with pytest.raises(SampleLoadError, match=r"manifest line 4 \(data row 3\), image 'b/boxed_grey\.png'") as info:
        ds[2]
    assert info.value.row == 2 and info.value.file == "b/boxed_grey.png"
    assert isinstance(info.value, fio.ImageReadError)
    with pytest.raises(SampleLoadError, match=r"manifest line 4 \(data row 3\)"):
        ds.build_cache(progress=False)
    with pytest.raises(SampleLoadError, match=r"manifest line 4 \(data row 3\)") as info:  # in a worker process
        ds.build_cache(progress=False, workers=2, chunk_size=1)
    assert info.value.row == 2
    assert not ds.is_cached


def test_short_pixel_string_names_file_and_rows(tmp_path: Path) -> None:
    root = tmp_path / "fer"
    root.mkdir()
    _pixel_csv(root / "fer2013.csv", [0, 1, 2, 3, 4], short_row=3)
    rows = [{"dataset": "fer2013", "image": "fer2013.csv", "label": "fear", "split": "train", "pixel_row": r}
            for r in (0, 3)]
    ds = FaceDataset(make_manifest(rows, root), cache_dir=False)
    ds[0]
    # manifest row index 1 = line 3 (data row 2); pixel_row 3 = line 5 (data row 4) of the pixel CSV
    with pytest.raises(SampleLoadError, match=r"manifest line 3 \(data row 2\), pixel CSV 'fer2013\.csv' "
                                              r"line 5 \(data row 4\): .*2303") as info:
        ds[1]
    assert info.value.row == 1
    assert "manifest row" not in str(info.value) and "pixel row" not in str(info.value)


def test_empty_manifest_and_bad_arguments(folder_manifest: Manifest) -> None:
    empty = folder_manifest.select(labels=["fear"])
    assert len(empty) == 0
    with pytest.raises(ValueError, match="no rows"):
        FaceDataset(empty)
    with pytest.raises(ValueError, match="channels"):
        FaceDataset(folder_manifest, channels=2)
    with pytest.raises(ValueError, match="size"):
        FaceDataset(folder_manifest, size=0)


# --- loaders and weights -------------------------------------------------------------------------


def test_oversampling_balances_classes(tmp_path: Path) -> None:
    manifest = _imbalanced_manifest(tmp_path / "imb", {"happiness": 60, "sadness": 10, "fear": 5})
    ds = FaceDataset(manifest, size=8, cache_dir=False, preload=True, progress=False)
    assert ds.class_counts()[[2, 3, 4]].tolist() == [5, 60, 10]
    plain = torch.cat([y for _, y in make_loader(ds, batch_size=25, seed=0)])
    assert (plain == 3).float().mean() == 0.8  # a permutation keeps the imbalance
    loader = make_loader(ds, batch_size=25, oversample=True, seed=0)
    drawn = torch.cat([y for _ in range(10) for _, y in loader])  # 10 epochs, 750 draws
    share = torch.bincount(drawn, minlength=7)[[2, 3, 4]].float() / len(drawn)
    assert float((share - 1 / 3).abs().max()) < 0.06, share


def test_loader_is_deterministic_given_seed(csv_manifest: tuple[Manifest, np.ndarray]) -> None:
    manifest, _ = csv_manifest
    ds = FaceDataset(manifest, cache_dir=False, return_index=True,
                     transform=get_transform("seed004", 48, train=True))

    def run(seed: int, oversample: bool) -> list[torch.Tensor]:
        torch.manual_seed(123)  # the transforms draw from the global generator
        return [t for x, _, i in make_loader(ds, batch_size=4, seed=seed, oversample=oversample) for t in (x, i)]

    for oversample in (False, True):
        a, b = run(0, oversample), run(0, oversample)
        assert all(torch.equal(p, q) for p, q in zip(a, b))
        c = run(1, oversample)
        assert any(not torch.equal(p, q) for p, q in zip(a[1::2], c[1::2]))  # other seed, other order


def test_class_weights() -> None:
    labels = np.array([0] * 6 + [1] * 3 + [3] * 1)
    inv = class_weights(labels, 4)
    assert inv.dtype == torch.float32
    assert torch.allclose(inv, torch.tensor([10 / 18, 10 / 9, 0.0, 10 / 3]))
    eff = class_weights(labels, 4, scheme="effective", beta=0.9)
    assert eff[2] == 0 and eff[3] > eff[1] > eff[0] and torch.isclose(eff.sum(), torch.tensor(3.0))
    assert torch.allclose(class_weights([1, 2, 1, 2], 3), torch.tensor([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="valid"):
        class_weights(labels, 4, scheme="sqrt")
    with pytest.raises(ValueError, match=r"0\.\.3"):
        class_weights([0, 4], 4)


def test_sample_location_counts_rows_as_the_package_does() -> None:
    assert sample_location(0, "a.png") == "manifest line 2 (data row 1), image 'a.png'"
    assert (sample_location(1, "fer2013.csv", 0)
            == "manifest line 3 (data row 2), pixel CSV 'fer2013.csv' line 2 (data row 1)")
    assert sample_location(None, "a.png") == "image 'a.png'"


def test_split_modules_are_reexported_by_dataset() -> None:
    """The cache, decoding and loader code moved out of dataset.py; the old import path still works."""
    import fer_explain.data.dataset as ds_mod
    from fer_explain.data import decode, loaders, pixel_cache

    for module in (decode, loaders, pixel_cache):
        for name in module.__all__:
            if name in ds_mod.__all__:
                assert getattr(ds_mod, name) is getattr(module, name), name
    assert {"FaceDataset", "SampleLoadError", "cache_key", "class_weights", "crop_box", "crop_bounds", "decode_row",
            "default_cache_dir", "make_loader"} <= set(ds_mod.__all__)
    for path in (decode.__file__, loaders.__file__, pixel_cache.__file__, ds_mod.__file__):
        assert len(Path(path).read_text().splitlines()) <= 600, path


def test_pickled_dataset_reopens_its_own_memmap(csv_manifest: tuple[Manifest, np.ndarray], tmp_path: Path) -> None:
    import pickle

    manifest, images = csv_manifest
    ds = FaceDataset(manifest, size=48, cache_dir=tmp_path / "cache")
    ds.build_cache(progress=False)
    assert np.array_equal(ds.pixels(4)[0], images[4])  # opens the map in this process
    clone = pickle.loads(pickle.dumps(ds))
    assert clone.is_cached and clone.cache_path == ds.cache_path and clone.cache_key == ds.cache_key
    assert clone._cache is not None and clone._cache._mm is None  # the map is not pickled
    assert np.array_equal(clone.pixels(4)[0], images[4])
