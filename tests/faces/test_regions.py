"""Region definitions, masks, region-only inputs, crops and feature masks (synthetic exact landmarks)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fer_explain.faces import regions as R
from fer_explain.faces.regions import MEAN_FACE_68, Region

torch.set_num_threads(1)

SIZE = 64


def face(size: int = SIZE, lo: float = 8.0, hi: float = 56.0) -> np.ndarray:
    """Exact synthetic landmarks: the mean face scaled into the box [lo, hi]^2 of a size x size image."""
    return (lo + (hi - lo) * MEAN_FACE_68).astype(np.float32)


def batch(n: int = 3) -> np.ndarray:
    out = np.stack([face(), face(lo=4, hi=50), face(lo=14, hi=60)])
    out[1, :, 0] += 3.0  # not all centred
    return out[:n].copy()


# --- definitions -------------------------------------------------------------------------------------
def test_region_sets_and_names():
    base = ["mouth", "nose", "eyes", "nose_mouth", "nose_eyes", "mouth_eyes", "face"]
    assert R.list_regions("seed002") == base
    assert R.list_regions() == base + ["right_eye", "left_eye", "right_half", "left_half"]
    t4 = R.get_region_set("seed002")
    # Table 4 literally (1-based numbers)
    assert t4["mouth"].indices == tuple(range(48, 68))
    assert t4["nose"].indices == tuple(range(28, 36))
    assert t4["eyes"].indices == tuple(range(17, 22)) + tuple(range(36, 42))
    assert t4["face"].indices == tuple(range(68))
    assert set(t4["nose_eyes"].indices) == set(range(17, 22)) | set(range(28, 36)) | set(range(36, 42))
    sym = R.get_region_set("symmetric")
    assert sym["eyes"].indices == tuple(range(17, 27)) + tuple(range(36, 48))


def test_unknown_region_and_set_errors():
    with pytest.raises(KeyError, match=r"unknown region 'chin'.*'mouth'.*'left_half'"):
        R.region_mask(face(), "chin", SIZE)
    with pytest.raises(KeyError, match=r"unknown region set 'paper'.*seed002.*symmetric"):
        R.get_region_set("paper")
    with pytest.raises(KeyError, match="right_eye"):  # only the symmetric set has it; error lists seed002's names
        R.get_region("right_eye", "seed002")
    with pytest.raises(ValueError, match="outside 1..68"):
        Region("bad", ((0, 1, 2),))


def test_wrong_landmark_shapes():
    with pytest.raises(ValueError, match=r"\(68, 2\).*\(68, 3\)"):
        R.region_mask(np.zeros((68, 3)), "mouth", SIZE)
    with pytest.raises(ValueError, match=r"\(N, 68, 2\).*\(68, 2\)"):
        R.region_masks(face(), "mouth", SIZE)
    with pytest.raises(ValueError, match=r"\(N, 68, 2\)"):
        R.keep_region(torch.zeros(2, 1, SIZE, SIZE), np.zeros((2, 67, 2)), "mouth")
    with pytest.raises(ValueError, match="2 samples but x has 1"):
        R.keep_region(torch.zeros(1, 1, SIZE, SIZE), batch(2), "mouth")
    bad = batch(2)
    bad[1, 5] = np.nan
    with pytest.raises(ValueError, match=r"sample\(s\) \[1\]"):
        R.region_masks(bad, "mouth", SIZE)


# --- mask geometry -----------------------------------------------------------------------------------
def _tri_landmarks() -> np.ndarray:
    pts = np.full((68, 2), 30.0)
    pts[0], pts[1], pts[2] = (2, 3), (12, 3), (2, 13)
    return pts


def test_pixel_convention_exact_triangle():
    tri = Region("tri", ((1, 2, 3),))
    m = R.region_mask(_tri_landmarks(), tri, (20, 20))
    yy, xx = np.mgrid[:20, :20]
    expected = (xx >= 2) & (yy >= 3) & ((xx - 2) + (yy - 3) <= 10)  # boundary pixels included
    assert m.dtype == bool and m.shape == (20, 20)
    np.testing.assert_array_equal(m, expected)
    assert m.sum() == 66


def test_margin_is_a_rounded_distance():
    dot = Region("dot", ((1,),))
    pts = _tri_landmarks()
    assert R.region_mask(pts, dot, 20).sum() == 1  # a single landmark is one pixel
    assert R.region_mask(pts, dot, 20, margin=2).sum() == 13  # disc of radius 2: dx^2 + dy^2 <= 4
    seg = Region("seg", ((1, 2),))
    assert R.region_mask(pts, seg, 20).sum() == 11  # the 11 pixels on the segment
    assert R.region_mask(pts, seg, 20, margin=1).sum() == 11 * 3 + 2


def test_hull_thinner_than_a_pixel_covers_its_vertices_pixels():
    # a closed mouth: three points on a line between pixel rows (y = 5.4), no pixel centre inside
    pts = np.full((68, 2), 30.0)
    pts[[0, 1, 2]] = [[3.2, 5.4], [6.0, 5.45], [9.8, 5.4]]  # landmarks 1-3 (1-based, as in Region)
    thin = Region("thin", ((1, 2, 3),))
    m = R.region_mask(pts, thin, 20)
    assert sorted(zip(*np.nonzero(m))) == [(5, 3), (5, 6), (5, 10)]
    assert R.region_mask(pts, thin, 20, margin=0.05).sum() == 3
    with pytest.raises(ValueError, match="region mask is empty"):  # outside the image it still is empty
        R.mask_boxes(torch.as_tensor(R.region_masks((pts + 40.0)[None], thin, 20)))


def test_masks_inside_image_and_nonempty():
    lm = batch()
    lm[2] += 10.0  # this face spills past the image border
    for name in R.list_regions():
        m = R.region_masks(lm, name, (SIZE, SIZE + 8))
        assert isinstance(m, np.ndarray) and m.dtype == bool and m.shape == (3, SIZE, SIZE + 8)
        assert m.reshape(3, -1).any(axis=1).all(), name
    mt = R.region_masks(torch.as_tensor(lm), "face", SIZE)
    assert isinstance(mt, torch.Tensor) and mt.dtype == torch.bool and mt.shape == (3, SIZE, SIZE)
    single = R.region_mask(lm[0], "face", SIZE)
    np.testing.assert_array_equal(single, mt[0].numpy())


def test_mask_contains_region_landmarks_and_face_contains_all():
    lm = face()
    for name in ["mouth", "nose", "eyes", "face"]:
        reg = R.get_region(name)
        m = R.region_mask(lm, name, SIZE)
        ij = np.round(lm[list(reg.indices)]).astype(int)
        # every landmark of the region is in (or within one pixel of) the mask
        near = np.zeros_like(m)
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                near |= np.roll(np.roll(m, dy, 0), dx, 1)
        assert near[ij[:, 1], ij[:, 0]].all(), name
    face_m = R.region_mask(lm, "face", SIZE)
    for name in R.list_regions():
        assert not (R.region_mask(lm, name, SIZE) & ~face_m).any(), name


def test_union_semantics():
    lm = batch()
    m = {n: R.region_masks(lm, n, SIZE) for n in R.list_regions()}
    np.testing.assert_array_equal(m["nose_mouth"], m["nose"] | m["mouth"])
    np.testing.assert_array_equal(m["eyes"], m["right_eye"] | m["left_eye"])
    np.testing.assert_array_equal(m["nose_eyes"], m["nose"] | m["eyes"])
    np.testing.assert_array_equal(m["mouth_eyes"], m["mouth"] | m["eyes"])
    # one hull per side: the bridge between the eyes (landmark 28) is not filled
    x, y = np.round(lm[0, 27]).astype(int)
    assert not m["eyes"][0, y, x]
    assert not (m["mouth"] & m["nose"]).any() and not (m["eyes"] & m["nose"]).any()


def test_region_order_on_the_face():
    lm = face()
    ys = {n: np.nonzero(R.region_mask(lm, n, SIZE))[0].mean() for n in ["eyes", "nose", "mouth"]}
    assert ys["eyes"] < ys["nose"] < ys["mouth"]


def test_margin_grows_monotonically():
    lm = batch()
    prev = None
    for margin in [0, 1, 2.5, 4, "10%", "20%"]:
        m = R.region_masks(lm, "mouth", SIZE, margin=margin)
        if prev is not None:
            assert (m | prev == m).all() and m.sum() > prev.sum(), margin
        prev = m
    px = R.margin_pixels("10%", lm)
    np.testing.assert_allclose(px, 0.1 * R.face_size(lm))
    np.testing.assert_array_equal(R.region_masks(lm[:1], "nose", SIZE, margin="10%"),
                                  R.region_masks(lm[:1], "nose", SIZE, margin=float(px[0])))
    assert R.margin_pixels("3px", lm).tolist() == [3.0] * 3
    with pytest.raises(ValueError, match=">= 0"):
        R.region_mask(face(), "nose", SIZE, margin=-1)
    with pytest.raises(ValueError, match="percentage"):
        R.region_mask(face(), "nose", SIZE, margin="ten")


def test_halves_partition_face():
    lm = batch()
    face_m = R.region_masks(lm, "face", SIZE)
    right = R.region_masks(lm, "right_half", SIZE)
    left = R.region_masks(lm, "left_half", SIZE)
    np.testing.assert_array_equal(right | left, face_m)
    assert not (right & left).any()
    for i in range(3):
        assert np.nonzero(right[i])[1].mean() < lm[i, 27:31, 0].mean() < np.nonzero(left[i])[1].mean()
        assert abs(int(right[i].sum()) - int(left[i].sum())) < 0.1 * face_m[i].sum()  # symmetric face
    # a tilted face: the split follows the nose line, not the image's vertical
    c = np.array([32.0, 32.0])
    a = np.deg2rad(20)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    tilted = (face() - c) @ rot.T + c
    r_t = R.region_mask(tilted, "right_half", SIZE)
    nose_line = tilted[27:31]
    d = nose_line[-1] - nose_line[0]
    yy, xx = np.nonzero(r_t)
    side = d[0] * (yy - nose_line[0, 1]) - d[1] * (xx - nose_line[0, 0])
    assert (side > -1.0).all()


def test_seed002_eyes_cover_one_side_only():
    lm = face()
    mid = lm[27:31, 0].mean()
    lit = R.region_mask(lm, "eyes", SIZE, region_set="seed002")
    sym = R.region_mask(lm, "eyes", SIZE)
    assert (np.nonzero(lit)[1] < mid).all()
    np.testing.assert_array_equal(lit, R.region_mask(lm, "right_eye", SIZE))
    assert (np.nonzero(sym)[1] > mid).any() and sym.sum() > 1.8 * lit.sum()
    ne = R.region_mask(lm, "nose_eyes", SIZE, region_set="seed002")
    np.testing.assert_array_equal(ne, lit | R.region_mask(lm, "nose", SIZE, region_set="seed002"))


# --- region-only inputs ------------------------------------------------------------------------------
def _images(n: int = 3, c: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, c, SIZE, SIZE, generator=g) + 0.5


def test_keep_and_remove_partition_the_image():
    x, lm = _images(), batch()
    kept, mk = R.keep_region(x, lm, "mouth_eyes")
    removed, mr = R.remove_region(x, lm, "mouth_eyes")
    assert torch.equal(mk, mr) and mk.shape == (3, SIZE, SIZE)
    assert torch.equal(mk, torch.as_tensor(R.region_masks(lm, "mouth_eyes", SIZE)))
    assert torch.allclose(kept + removed, x)
    assert (kept[~mk[:, None].expand_as(x)] == 0).all() and (removed[mk[:, None].expand_as(x)] == 0).all()
    assert torch.equal(kept[mk[:, None].expand_as(x)], x[mk[:, None].expand_as(x)])


def test_baselines():
    x, lm = _images(), batch()
    kept, m = R.keep_region(x, lm, "nose", baseline="mean")
    out = ~m[:, None].expand_as(x)
    assert torch.allclose(kept, torch.where(out, x.mean(dim=(2, 3), keepdim=True).expand_as(x), x))
    blurred, _ = R.keep_region(x, lm, "nose", baseline="blur", blur_sigma=2.0)
    assert blurred.shape == x.shape
    assert (blurred[out] - x[out]).abs().mean() > 0.05  # the noise is smoothed away...
    assert abs(blurred[out].mean() - x[out].mean()) < 0.05  # ...but the brightness is kept
    half, _ = R.remove_region(x, lm, "nose", baseline=0.5)
    assert (half[m[:, None].expand_as(x)] == 0.5).all()
    with pytest.raises(ValueError, match="'zero', 'mean', 'blur'"):
        R.keep_region(x, lm, "nose", baseline="noise")


def test_crop_pad_keeps_everything_square_crop_loses_mouth_ends():
    x, lm = _images(1), batch(1)
    m = torch.as_tensor(R.region_masks(lm, "mouth", SIZE))
    x0, y0, x1, y1 = R.mask_boxes(m)[0].tolist()
    w, h = x1 - x0 + 1, y1 - y0 + 1
    assert w > h  # the mouth is wide
    padded, mp = R.crop_region(x, lm, "mouth", mode="pad", out_size=max(w, h))
    _, ms = R.crop_region(x, lm, "mouth", mode="square_crop", out_size=min(w, h))
    assert padded.shape == (1, 3, w, w) and mp.shape == (1, w, w)
    assert mp.sum() == m.sum()  # scale 1: every mouth pixel survives
    assert ms.sum() < 0.85 * m.sum()  # the ends of the mouth are cut off
    assert (padded[0, :, ~mp[0].any(dim=1)] == 0).all()  # rows above/below the box are zero padding


def test_crop_exact_alignment_on_a_box_region():
    # landmarks 1-4 at the corners of a 20 x 10 box: pad to 20 x 20 puts it 5 rows down, exactly
    pts = np.full((1, 68, 2), 30.0)
    pts[0, :4] = [(10, 20), (29, 20), (29, 29), (10, 29)]
    box = Region("box", ((1, 2, 3, 4),))
    x = _images(1)
    out, mask = R.crop_region(x, pts, box, mode="pad", out_size=20, fill=-1.0)
    assert torch.allclose(out[0, :, 5:15, :], x[0, :, 20:30, 10:30], atol=1e-6)
    assert (out[0, :, :5] == -1).all() and (out[0, :, 15:] == -1).all()
    assert mask[0, 5:15].all() and not mask[0, :5].any() and not mask[0, 15:].any()
    out_r, mask_r = R.crop_region(x, pts, box, mode="resize", out_size=(10, 20))
    assert torch.allclose(out_r[0], x[0, :, 20:30, 10:30], atol=1e-6) and mask_r.all()
    out_s, mask_s = R.crop_region(x, pts, box, mode="square_crop", out_size=10)
    assert torch.allclose(out_s[0], x[0, :, 20:30, 15:25], atol=1e-6) and mask_s.all()


def test_crop_masks_align_with_outputs():
    lm = batch()
    x = torch.as_tensor(R.region_masks(lm, "nose_mouth", SIZE)).float()[:, None].repeat(1, 3, 1, 1)
    for mode in R.CROP_MODES:
        out, m = R.crop_region(x, lm, "nose_mouth", mode=mode, out_size=(48, 40))
        assert out.shape == (3, 3, 48, 40) and m.shape == (3, 48, 40) and m.dtype == torch.bool
        agree = ((out[:, 0] > 0.5) == m).float().mean()
        assert agree > 0.97, (mode, agree)
        assert m.flatten(1).any(1).all()
    with pytest.raises(ValueError, match="'pad', 'square_crop', 'resize'"):
        R.crop_region(x, lm, "mouth", mode="stretch")


# --- feature masks -----------------------------------------------------------------------------------
def test_feature_mask_ids():
    lm = batch()
    fm = R.feature_mask(lm, SIZE, ["eyes", "nose", "mouth"])
    assert fm.dtype == torch.long and fm.shape == (3, 1, SIZE, SIZE)
    for i, name in enumerate(["eyes", "nose", "mouth"], start=1):
        assert torch.equal(fm[:, 0] == i, torch.as_tensor(R.region_masks(lm, name, SIZE)))
    with pytest.raises(ValueError, match="'nose_eyes' and 'eyes' overlap"):
        R.feature_mask(lm, SIZE, ["nose_eyes", "eyes"])
    first = R.feature_mask(lm, SIZE, ["nose_eyes", "eyes"], overlap="first")
    assert set(first.unique().tolist()) == {0, 1}

    base = R.base_feature_mask(lm, SIZE)
    assert set(base.unique().tolist()) == set(R.BASE_FEATURE_IDS)
    face_m = torch.as_tensor(R.region_masks(lm, "face", SIZE))
    assert torch.equal(base[:, 0] > 0, face_m)
    assert torch.equal(base[:, 0] == 1, torch.as_tensor(R.region_masks(lm, "eyes", SIZE)))


def test_base_feature_mask_works_with_captum():
    captum_attr = pytest.importorskip("captum.attr")
    lm = batch(2)
    x = _images(2)
    fm = R.base_feature_mask(torch.as_tensor(lm), SIZE)
    weights = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))

    def model(inp: torch.Tensor) -> torch.Tensor:
        return (inp * weights).sum(dim=(1, 2, 3))[:, None]

    attr = captum_attr.FeatureAblation(model).attribute(x, target=0, feature_mask=fm)
    for i in range(2):
        for k in R.BASE_FEATURE_IDS:
            sel = (fm[i, 0] == k)[None].expand(3, -1, -1)
            vals = attr[i][sel]
            expected = (x[i] * weights[0])[sel].sum()  # zero baseline: the region's whole contribution
            assert torch.allclose(vals, vals[0]) and torch.allclose(vals[0], expected, rtol=1e-4)


@pytest.mark.parametrize("region_set", ["symmetric", "seed002"])
@pytest.mark.parametrize("margin", [0, "5%"])
def test_region_masks_many_equals_one_call_per_region_and_rasterises_each_hull_once(region_set, margin, monkeypatch):
    lm = batch()
    lm[2] += np.random.default_rng(0).normal(0, 0.6, lm[2].shape).astype(np.float32)  # off-grid points
    names = R.list_regions(region_set)
    one_by_one = {r: torch.as_tensor(R.region_masks(lm, r, SIZE, margin=margin, region_set=region_set)) for r in names}
    calls = []
    real = R.hull_masks
    monkeypatch.setattr(R, "hull_masks", lambda pts, *a: calls.append(pts.shape[1]) or real(pts, *a))
    many = R.region_masks_many(lm, names, SIZE, margin=margin, region_set=region_set)
    assert list(many) == names
    for r in names:
        assert torch.equal(many[r], one_by_one[r]), r
    groups = {g for r in names for g in R.get_region(r, region_set).groups}
    assert len(calls) == len(groups) < sum(len(R.get_region(r, region_set).groups) for r in names)
    on_tensor = R.region_masks_many(torch.as_tensor(lm), ["mouth"], SIZE, margin=margin, region_set=region_set)
    assert torch.equal(on_tensor["mouth"], one_by_one["mouth"])


def test_base_ids_priority_and_missing_masks():
    z = torch.zeros(1, 2, 3, dtype=torch.bool)
    face_m, mouth, nose, eyes = z.clone(), z.clone(), z.clone(), z.clone()
    face_m[0, :, :] = True
    face_m[0, 1, 2] = False               # outside the face
    mouth[0, 0, :] = True                 # mouth under nose under eyes where they overlap
    nose[0, 0, 1:] = True
    eyes[0, 0, 2] = True
    ids = R.base_ids({"eyes": eyes, "nose": nose, "mouth": mouth, "face": face_m})
    assert ids.shape == (1, 1, 2, 3)
    assert ids[0, 0].tolist() == [[3, 2, 1], [4, 4, 0]]
    with pytest.raises(KeyError, match=r"missing \['face'\]"):
        R.base_ids({"eyes": eyes, "nose": nose, "mouth": mouth})


def test_feature_mask_names_a_repeated_region():
    with pytest.raises(ValueError, match="must not repeat"):
        R.feature_mask(batch(), SIZE, ["mouth", "mouth"])
