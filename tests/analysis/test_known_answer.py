"""The known-answer leaderboard on tiny settings: variants, reference-row arithmetic, per-region scoring,
the checkpoint cache and the resumable CSV."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import fer_explain.analysis.known_answer as KA
import fer_explain.analysis.known_answer_scores as KS
import fer_explain.train as T
from fer_explain.analysis.known_answer import (
    LEADERBOARD_COLUMNS,
    UPPER_FACE_CLASSES,
    VARIANTS,
    KnownAnswerError,
    KnownAnswerSettings,
    known_answer_leaderboard,
    load_or_train,
    render_variant,
)
from fer_explain.data.synthetic import colliding_classes
from fer_explain.explain import mask_scores as S
from fer_explain.explain import metrics as M
from fer_explain.faces.regions import BASE_FEATURE_IDS
from fer_explain.models import create_model

QUICK = KnownAnswerSettings.quick(n_boot=200)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Tiny(nn.Module):
    """A cheap stand-in model for the scoring arithmetic (its logits depend on the pixels)."""

    def __init__(self, classes: int = 7) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.AvgPool2d(8), nn.Flatten(), nn.Linear(36, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# --------------------------------------------------------------------------- variants
def test_upper_face_label_space_has_no_colliding_classes() -> None:
    v = VARIANTS["upper_face"]
    assert v.classes is UPPER_FACE_CLASSES
    assert v.classes.classes == ("anger", "fear", "happiness", "sadness", "surprise")
    assert colliding_classes(v.classes.classes, ("eyes",)) == []
    assert v.config(10, 0).colliding_classes() == []
    # the reason for the 5 classes: on basic7 the upper face cannot tell disgust from neutral
    assert colliding_classes(VARIANTS["mouth_only"].classes.classes, ("eyes",)) == [("disgust", "neutral")]
    assert v.neutral is None and VARIANTS["mouth_only"].neutral == 6


def test_variants_render_their_evidence() -> None:
    settings = KnownAnswerSettings.quick(n_train=20, n_test=10)
    train, test = render_variant("upper_face", settings)
    assert len(train) == 20 and len(test) == 10 and set(train.labels) <= set(range(5))
    assert not np.array_equal(train.images[:10], test.images)  # the test set has its own seed
    assert train.evidence.any(axis=(1, 2)).all()  # every upper-face class has evidence
    _, mouth = render_variant("mouth_only", settings)
    ys = np.nonzero(mouth.evidence)[1]
    assert ys.min() > mouth.landmarks[:, 30, 1].min()  # mouth-only evidence lies below the nose tip


# --------------------------------------------------------------------------- methods and references
def test_scoring_copies_the_run_settings() -> None:
    settings = KA.KnownAnswerSettings.quick(seed=3, evidence_dilate=1, occlusion_windows=[10, 6])
    scoring = settings.scoring()
    assert scoring.seed == 3 and scoring.evidence_dilate == 1 and scoring.occlusion_windows == (10, 6)
    assert scoring.n_explain == 8 and scoring.chunk == 8 and scoring.faces == "all"
    with pytest.raises(TypeError):
        KS.ScoreSettings()  # type: ignore[call-arg]  # the defaults live in KnownAnswerSettings only


def test_method_specs_cover_the_registry() -> None:
    vgg = create_model("vgg_fer", num_classes=7, in_chans=1, width=0.25, input_size=48)
    names = [s.name for s in KS.method_specs(vgg, KA.KnownAnswerSettings().scoring())]
    assert names == ["gradcam", "gradcam_fine", "gradcam++", "gradcam++_fine", "integrated_gradients",
                     "occlusion_w8", "occlusion_w4", "occlusion_coarse", "saliency", "region_masking",
                     "random", "gaussian", "ideal"]
    specs = {s.name: s for s in KS.method_specs(vgg, KA.KnownAnswerSettings().scoring())}
    assert specs["gradcam"].layer == "body.block4" and specs["gradcam_fine"].layer == "body.block3"  # 6x6, 12x12
    assert specs["occlusion_w4"].params == {"window": 4, "stride": 2}
    se = create_model("se_resnet18", num_classes=7, in_chans=1, width=0.25, input_size=48, stem="fer")
    se_names = [s.name for s in KS.method_specs(se, KA.KnownAnswerSettings().scoring())]
    assert "cam" in se_names and "se_map" in se_names
    deep = create_model("deep_emotion", num_classes=7, in_chans=1)
    assert KS.fine_layer(deep, 48) == deep.gradcam_layer_name(48)  # 9x9 already: no second row
    assert "gradcam_fine" not in [s.name for s in KS.method_specs(deep, KA.KnownAnswerSettings().scoring())]


def _masks(n: int = 400, size: int = 48) -> torch.Tensor:
    """Boxes of 6 x 8 pixels at random places: area share 48 / 2304."""
    g = np.random.default_rng(0)
    m = torch.zeros(n, size, size, dtype=torch.bool)
    for i in range(n):
        r, c = g.integers(0, size - 6), g.integers(0, size - 8)
        m[i, r:r + 6, c:c + 8] = True
    return m


def test_reference_rows_score_chance_and_ceiling() -> None:
    masks = _masks()
    n, size = masks.shape[0], masks.shape[-1]
    settings = KnownAnswerSettings.quick(n_boot=200, perturbation_steps=2).scoring()
    x = torch.randn(n, 1, size, size)
    targets = torch.zeros(n, dtype=torch.long)
    model = Tiny()
    ideal = KS.score_maps(model, x, targets, S.ideal_maps(masks), masks, settings)
    assert ideal["pointing_game"] == 1.0 and ideal["relevance_mass"] == 1.0 and ideal["rank_accuracy"] == 1.0
    assert ideal["pointing_game_lo"] == ideal["pointing_game_hi"] == 1.0
    assert math.isnan(ideal["randomization_spearman"])  # no randomised maps: NaN, not a number
    random = KS.score_maps(model, x, targets, S.random_maps(n, size, seed=1), masks, settings)
    share = float(masks.float().mean())
    lo, hi = M.binomial_interval(share, n)
    assert lo <= random["pointing_game"] <= hi
    assert random["relevance_mass"] == pytest.approx(share, abs=0.01)
    assert random["pointing_game_lo"] <= random["pointing_game"] <= random["pointing_game_hi"]
    # a map pointing right next to the mask scores 0 on the pointing game
    miss = torch.roll(S.ideal_maps(masks), shifts=10, dims=2)
    assert KS.score_maps(model, x, targets, miss, masks & ~torch.roll(masks, 10, 2), settings)["pointing_game"] < 0.2


def test_region_masking_rows_are_scored_per_region() -> None:
    # two regions: 0 left half, 1 right half; evidence on the right; the map is constant per region
    n, size = 6, 48
    fm = torch.zeros(n, size, size, dtype=torch.long)
    fm[:, :, size // 2:] = 1
    masks = torch.zeros(n, size, size, dtype=torch.bool)
    masks[:, 20:26, 30:40] = True
    drops = torch.tensor([[0.1, 0.6]] * 4 + [[0.6, 0.1]] * 2)
    maps = drops.gather(1, fm.flatten(1)).view(n, size, size)
    region = {"drops": drops, "present": torch.ones(n, 2, dtype=torch.bool), "ids": torch.tensor([0, 1])}
    settings = KnownAnswerSettings.quick(n_boot=100, perturbation_steps=2).scoring()
    x = torch.randn(n, 1, size, size)
    row = KS.score_maps(Tiny(), x, torch.zeros(n, dtype=torch.long), maps, masks, settings, region=region,
                        feature_mask=fm)
    assert row["pointing_game"] == pytest.approx(4 / 6)
    # rank accuracy counts the tied right half at its expected value: k = 60 of 1152 tied pixels, 60 inside
    expected_rank = (4 * (60 * 60 / 1152) / 60 + 2 * 0.0) / 6
    assert row["rank_accuracy"] == pytest.approx(expected_rank)


# --------------------------------------------------------------------------- cache and resume
def test_a_second_call_loads_the_cached_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real_fit = T.fit

    def counting_fit(*args, **kwargs):
        calls.append(1)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(T, "fit", counting_fit)
    settings = KnownAnswerSettings.quick(n_train=40, n_test=14)
    first = load_or_train("deep_emotion", "mouth_only", tmp_path, settings, log=lambda _: None)
    weights = Path(first.info["path"] + ".safetensors")
    stamp = weights.stat().st_mtime_ns
    assert calls == [1] and not first.info["cached"] and first.info["parameters"] > 0
    second = load_or_train("deep_emotion", "mouth_only", tmp_path, settings, log=lambda _: None)
    assert calls == [1] and second.info["cached"] and weights.stat().st_mtime_ns == stamp
    assert second.info["test_accuracy"] == first.info["test_accuracy"]
    x = torch.randn(2, 1, 48, 48)
    with torch.no_grad():
        assert torch.allclose(first.model.eval()(x), second.model(x))
    # other training settings are another model: trained again
    load_or_train("deep_emotion", "mouth_only", tmp_path, settings.replace(lr=1e-3), log=lambda _: None)
    assert calls == [1, 1]


def _fake_score_model(calls: list, fail_after: int | None = None):
    """A stand-in for score_model: rows gradcam and ideal, written through on_row; optionally 'killed'."""

    def fake(model, test, settings, *, variant, neutral, model_name, model_accuracy, skip=(), on_row=None,
             progress=False, log=print):
        calls.append((model_name, variant, sorted(skip)))
        rows = []
        for i, m in enumerate(m for m in ("gradcam", "ideal") if m not in skip):
            if fail_after is not None and i >= fail_after:
                raise KeyboardInterrupt
            row = {"model": model_name, "variant": variant, "method": m, "model_accuracy": model_accuracy,
                   "pointing_game": 0.5, "n": 3}
            on_row(row)
            rows.append(row)
        return rows

    return fake


def test_known_answer_appends_rows_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list = []
    monkeypatch.setattr(KA, "score_model", _fake_score_model(calls))
    settings = KnownAnswerSettings.quick(n_train=30, n_test=10)
    table = known_answer_leaderboard(tmp_path, models="deep_emotion", variants=["mouth_only", "upper_face"],
                                     settings=settings, progress=False, log=lambda _: None)
    assert tuple(table.columns) == KS.COLUMNS and tuple(table.columns[:len(LEADERBOARD_COLUMNS)]) == LEADERBOARD_COLUMNS
    assert len(table) == 4 and [c[:2] for c in calls] == [("deep_emotion", "mouth_only"), ("deep_emotion", "upper_face")]
    assert (tmp_path / "leaderboard.png").is_file() and (tmp_path / "models.json").is_file()
    again = known_answer_leaderboard(tmp_path, models="deep_emotion", variants=["mouth_only", "upper_face"],
                                     settings=settings, progress=False, heatmap=False, log=lambda _: None)
    assert len(calls) == 2 and len(again) == 4  # nothing scored twice


def test_a_killed_run_keeps_its_rows_and_resumes_after_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list = []
    settings = KnownAnswerSettings.quick(n_train=30, n_test=10)
    monkeypatch.setattr(KA, "score_model", _fake_score_model(calls, fail_after=1))
    with pytest.raises(KeyboardInterrupt):
        known_answer_leaderboard(tmp_path, models="deep_emotion", variants="mouth_only", settings=settings,
                                 progress=False, log=lambda _: None)
    assert list(pd.read_csv(tmp_path / "leaderboard.csv")["method"]) == ["gradcam"]  # written before the kill
    monkeypatch.setattr(KA, "score_model", _fake_score_model(calls))
    table = known_answer_leaderboard(tmp_path, models="deep_emotion", variants="mouth_only", settings=settings,
                                     progress=False, heatmap=False, log=lambda _: None)
    assert calls[-1] == ("deep_emotion", "mouth_only", ["gradcam"]) and list(table["method"]) == ["gradcam", "ideal"]


def test_bad_arguments_name_the_argument(tmp_path: Path) -> None:
    with pytest.raises(KnownAnswerError, match="unknown models") as exc:
        known_answer_leaderboard(tmp_path, models="deep_emotion,nope", settings=QUICK)
    assert exc.value.argument == "models"
    with pytest.raises(KnownAnswerError, match="unknown variants"):
        known_answer_leaderboard(tmp_path, variants=["eyes_only"], settings=QUICK)
    (tmp_path / "file").write_text("x")
    with pytest.raises(KnownAnswerError, match="not a folder"):
        known_answer_leaderboard(tmp_path / "file", settings=QUICK)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "leaderboard.csv").write_text("a,b\n1,2\n")
    with pytest.raises(KnownAnswerError, match="lacks the leaderboard columns"):
        known_answer_leaderboard(tmp_path / "old", settings=QUICK)
    with pytest.raises(KnownAnswerError, match="faces"):
        KnownAnswerSettings(faces="some")


def test_quick_run_scores_every_method(tmp_path: Path) -> None:
    table = known_answer_leaderboard(tmp_path, models="deep_emotion", variants="multi_au", settings=QUICK, progress=False,
                         log=lambda _: None)
    assert list(table["method"]) == [s.name for s in KS.method_specs(create_model("deep_emotion"), QUICK.scoring())]
    ideal = table.set_index("method").loc["ideal"]
    assert ideal["pointing_game"] == 1.0 and ideal["relevance_mass"] == 1.0
    assert table[["pointing_game", "relevance_mass", "rank_accuracy"]].apply(lambda c: c.between(0, 1)).all().all()
    assert pd.isna(table.set_index("method").loc[["random", "gaussian", "ideal"], "randomization_spearman"]).all()


def test_heatmap_draws_one_panel_per_model() -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from fer_explain.viz import plot_leaderboard_heatmap

    table = pd.DataFrame([{"model": m, "variant": v, "method": k, "pointing_game": p}
                          for m in ("a", "b") for v in ("mouth_only", "upper_face")
                          for k, p in (("gradcam", 0.25), ("ideal", 1.0))])
    table = table.iloc[:-1]  # b / upper_face / ideal missing: a blank cell
    fig = plot_leaderboard_heatmap(table)
    panels = [ax for ax in fig.axes if ax.get_title() in ("a", "b")]
    assert [ax.get_title() for ax in panels] == ["a", "b"]
    texts = [t.get_text() for t in panels[1].texts]
    assert texts.count("1.00") == 1 and texts.count("0.25") == 2
    with pytest.raises(KeyError, match="lacks columns"):
        plot_leaderboard_heatmap(table.drop(columns="pointing_game"))
    with pytest.raises(ValueError, match="repeats"):
        plot_leaderboard_heatmap(pd.concat([table, table.iloc[:1]]))


def test_erased_faces_black_out_one_square_of_the_promised_size() -> None:
    torch.manual_seed(0)
    x, y = torch.rand(40, 1, 48, 48) + 1.0, torch.arange(40)  # values in [1, 2): the black -1 stands out
    erased = KA.ErasedFaces(x, y, p=1.0, value=-1.0)
    assert len(erased) == 40
    for i in range(40):
        xi, yi = erased[i]
        assert int(yi) == i
        black = (xi[0] == -1.0)
        rows, cols = black.any(1).nonzero().flatten(), black.any(0).nonzero().flatten()
        h, w = len(rows), len(cols)
        assert int(black.sum()) == h * w and h == w  # one filled square
        assert KA.ERASE_MIN_SIDE - 1 <= h <= KA.ERASE_MAX_SIDE + 1
        assert rows.diff().eq(1).all() and cols.diff().eq(1).all()
    small = KA.ErasedFaces(x, y, p=1.0, value=-1.0, max_side=8)
    sides = [int((small[i][0][0] == -1.0).any(1).sum()) for i in range(40)]
    assert min(sides) >= KA.ERASE_MIN_SIDE - 1 and max(sides) <= 8 + 1 and max(sides) > 5
    untouched = KA.ErasedFaces(x, y, p=0.0, value=-1.0)
    assert all(torch.equal(untouched[i][0], x[i]) for i in range(5))


def test_erase_setting_keys_labels_and_validation() -> None:
    plain, erased = KnownAnswerSettings(), KnownAnswerSettings(erase=0.5)
    assert "erase" not in plain.training_key("deep_emotion")  # the keys of models cached before erase existed
    assert erased.training_key("deep_emotion") == {**plain.training_key("deep_emotion"), "erase": 0.5}
    assert plain.label("vgg_fer") == "vgg_fer" and erased.label("vgg_fer") == "vgg_fer+erase0.5"
    with pytest.raises(KnownAnswerError, match="erase must lie in"):
        KnownAnswerSettings(erase=1.5)
    small = KnownAnswerSettings(erase=0.5, erase_max=8)
    assert small.training_key("deep_emotion") == {**erased.training_key("deep_emotion"), "erase_max": 8}
    assert small.label("vgg_fer") == "vgg_fer+erase0.5max8"
    with pytest.raises(KnownAnswerError, match="erase_max must lie in"):
        KnownAnswerSettings(erase=0.5, erase_max=2)
    both = KnownAnswerSettings(erase=0.5, erase_regions=0.25)
    assert both.training_key("vgg_fer") == {**erased.training_key("vgg_fer"), "erase_regions": 0.25}
    assert both.label("vgg_fer") == "vgg_fer+erase0.5+regions0.25"
    assert KnownAnswerSettings(erase_regions=0.25).label("vgg_fer") == "vgg_fer+regions0.25"
    with pytest.raises(KnownAnswerError, match="erase_regions must lie in"):
        KnownAnswerSettings(erase_regions=-0.1)


def test_erased_faces_black_out_one_whole_region() -> None:
    torch.manual_seed(0)
    x, y = torch.rand(30, 1, 48, 48) + 1.0, torch.arange(30)
    regions = torch.zeros(30, 1, 48, 48, dtype=torch.long)
    regions[:, :, 10:20, 10:30], regions[:, :, 30:40, 5:15] = 1, 3  # ids 0 (the rest), 1 and 3; no 2
    erased = KA.ErasedFaces(x, y, p=0.0, value=-1.0, regions=regions, p_region=1.0)
    picked = []
    for i in range(30):
        black = erased[i][0] == -1.0
        ids = regions[i][black].unique().tolist()
        assert len(ids) == 1 and torch.equal(black, regions[i] == ids[0])  # exactly one whole region
        picked += ids
    assert set(picked) == {0, 1, 3}
    assert all(torch.equal(KA.ErasedFaces(x, y, 0.0, -1.0, regions=regions, p_region=0.0)[i][0], x[i])
               for i in range(5))
    with pytest.raises(ValueError, match="p_region needs regions"):
        KA.ErasedFaces(x, y, 0.0, -1.0, regions=regions[:5], p_region=0.5)


def test_erase_trains_on_erased_faces_with_the_models_black(tmp_path: Path, monkeypatch) -> None:
    seen = {}

    class Stop(Exception):
        pass

    def fake_fit(model, train_ds, val_ds, **kwargs):
        seen["train"], seen["val"] = train_ds, val_ds
        raise Stop

    monkeypatch.setattr(T, "fit", fake_fit)
    with pytest.raises(Stop):
        load_or_train("deep_emotion", "mouth_only", tmp_path, QUICK.replace(erase=0.25))
    assert isinstance(seen["train"], KA.ErasedFaces) and not isinstance(seen["val"], KA.ErasedFaces)
    assert seen["train"].erase.p == 0.25 and seen["train"].erase.value == [-1.0]  # black after (0 - 0.5) / 0.5
    assert seen["train"].regions is None
    with pytest.raises(Stop):
        load_or_train("deep_emotion", "mouth_only", tmp_path, QUICK.replace(erase_regions=0.5))
    ds = seen["train"]
    assert ds.p_region == 0.5 and ds.erase.p == 0.0 and ds.regions.shape == (len(ds), 1, 48, 48)
    assert set(ds.regions.unique().tolist()) == set(BASE_FEATURE_IDS)  # region masking's partition


def test_erased_faces_spare_the_kept_pixels() -> None:
    torch.manual_seed(0)
    x, y = torch.rand(30, 1, 48, 48) + 1.0, torch.arange(30)
    keep = torch.zeros(30, 1, 48, 48, dtype=torch.bool)
    keep[:, :, 20:28, 20:28] = True  # the "evidence"
    regions = torch.zeros(30, 1, 48, 48, dtype=torch.long)
    regions[:, :, 16:32, 16:32] = 1  # a region holding the evidence
    erased = KA.ErasedFaces(x, y, p=1.0, value=-1.0, max_side=16, regions=regions, p_region=1.0, keep=keep)
    blacked = 0
    for i in range(30):
        xi = erased[i][0]
        assert torch.equal(xi[keep[i]], x[i][keep[i]])  # the evidence always shows through
        blacked += int((xi == -1.0).sum())
    assert blacked > 30 * 16  # and the rest is still erased
    with pytest.raises(ValueError, match="keep must be"):
        KA.ErasedFaces(x, y, 0.5, -1.0, keep=keep[:3])


def test_erase_keep_key_label_validation_and_training_path(tmp_path: Path, monkeypatch) -> None:
    kept = KnownAnswerSettings(erase=0.5, erase_regions=0.25, erase_keep=True)
    both = KnownAnswerSettings(erase=0.5, erase_regions=0.25)
    assert kept.training_key("vgg_fer") == {**both.training_key("vgg_fer"), "erase_keep": True}
    assert kept.label("vgg_fer") == "vgg_fer+erase0.5+regions0.25+keep"
    assert "erase_keep" not in both.training_key("vgg_fer")
    with pytest.raises(KnownAnswerError, match="erase_keep .* needs erase"):
        KnownAnswerSettings(erase_keep=True)
    seen = {}

    class Stop(Exception):
        pass

    def fake_fit(model, train_ds, val_ds, **kwargs):
        seen["train"] = train_ds
        raise Stop

    monkeypatch.setattr(T, "fit", fake_fit)
    settings = QUICK.replace(erase=0.5, erase_keep=True)
    with pytest.raises(Stop):
        load_or_train("deep_emotion", "mouth_only", tmp_path, settings)
    ds = seen["train"]
    train, _ = KA.render_variant("mouth_only", settings)
    n_val = len(train) - len(ds)
    expected = torch.from_numpy(train.evidence_dilated(settings.evidence_dilate)[n_val:])[:, None]
    assert ds.keep.dtype == torch.bool and torch.equal(ds.keep, expected.bool()) and ds.keep.any()


def test_occlusion_ceiling_is_set_by_the_evidence_geometry() -> None:
    from fer_explain.analysis.known_answer_scores import occlusion_ceiling

    h = w = 24
    blob = torch.zeros(1, h, w)
    blob[0, 8:12, 8:12] = 1  # one compact patch on the window grid: the map peaks on it
    # two thin strokes 5 px apart (an open mouth's lips): an 8 px window's map peaks on the rows between them
    lips = torch.zeros(1, h, w)
    lips[0, 9, 6:18], lips[0, 14, 6:18] = 1, 1
    evidence = torch.cat([blob, lips])
    dilated = evidence.bool()  # scored on the raw strokes (no dilation)
    assert occlusion_ceiling(evidence[:1], dilated[:1], 8) == (1.0, 1.0)
    hit, expected = occlusion_ceiling(evidence[1:], dilated[1:], 8)
    assert hit == 0.0  # the first maximum lies between the lips, off the mask
    assert expected == pytest.approx(2 / 8)  # of the 8 tied rows (8-15) only the 2 stroke rows are on it
    hit4, _ = occlusion_ceiling(evidence[1:], dilated[1:], 2)
    assert hit4 == 1.0  # a window finer than the gap finds a stroke
    both, both_expected = occlusion_ceiling(evidence, dilated, 8)
    assert both == pytest.approx(0.5) and both_expected == pytest.approx((1 + 2 / 8) / 2)
