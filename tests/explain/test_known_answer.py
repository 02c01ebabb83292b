"""The known-answer acceptance pipeline (benchmarks/known_answer.py) at tiny scale.

The fast tests need no training: on mouth-only synthetic faces an explanation equal to the evidence
mask, and the Grad-CAM / occlusion maps of :class:`EvidenceOracle` (a model that reads only the
evidence pixels), must score what the acceptance expects of a perfect explainer, and a map on the
eyes must fail it. The slow test runs the whole script at its tiniest settings.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fer_explain.data.synthetic import SyntheticFaceConfig, generate
from fer_explain.explain import GradCAM, Occlusion

torch.set_num_threads(1)

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "known_answer.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("known_answer_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ka = _load_script()


@pytest.fixture(scope="module")
def faces():
    """28 mouth-only 64x64 faces, the non-neutral ones kept: images, labels, evidence, landmarks."""
    batch = generate(SyntheticFaceConfig(n=28, size=64, seed=3, evidence_regions=("mouth",)))
    keep = batch.labels != batch.label_space.classes.index("neutral")
    x = ka.to_input(batch.images[keep], [0.5], [0.5])
    return {
        "x": x,
        "y": torch.from_numpy(batch.labels[keep]),
        "evidence": torch.from_numpy(batch.evidence[keep]),
        "dilated": batch.evidence_dilated(2)[keep],
        "landmarks": batch.landmarks[keep],
    }


def test_region_masks_partition_the_image(faces) -> None:
    masks = ka.region_mask_dict(faces["landmarks"], 64, 0)
    assert set(masks) == {"mouth", "nose", "eyes", "rest"}
    stacked = torch.stack([masks[r] for r in ("mouth", "nose", "eyes", "rest")]).int()
    assert (stacked.sum(0) >= 1).all()  # every pixel in some region
    assert masks["mouth"].flatten(1).any(1).all()
    # the mouth grows with the margin
    grown = ka.region_mask_dict(faces["landmarks"], 64, 2)["mouth"]
    assert (grown | masks["mouth"]).equal(grown) and grown.sum() > masks["mouth"].sum()


def test_evidence_map_is_a_perfect_explanation(faces) -> None:
    exp = ka.reference_explanation(faces["evidence"].float(), faces["y"], 7, "evidence")
    r = ka.localisation(exp, faces["dilated"], faces["landmarks"], margins=(0, 2))
    assert r["pointing_game"] == 1.0 and r["pointing_valid"] == len(faces["y"])
    assert r["relevance_mass"] == pytest.approx(1.0)
    assert r["region_share"]["2px"]["mouth"] > 0.9
    assert r["region_share"]["2px"]["eyes"] == 0.0 and r["region_share"]["2px"]["nose"] < 0.05


def test_map_on_the_eyes_fails(faces) -> None:
    eyes = ka.region_mask_dict(faces["landmarks"], 64, 0)["eyes"].float()
    exp = ka.reference_explanation(eyes, faces["y"], 7, "eyes")
    r = ka.localisation(exp, faces["dilated"], faces["landmarks"], margins=(2,))
    assert r["pointing_game"] == 0.0
    assert r["region_share"]["2px"]["mouth"] == 0.0 and r["region_share"]["2px"]["eyes"] == 1.0
    crit = ka.criterion("mouth", r["region_share"]["2px"]["mouth"], ">", 0.5)
    assert not crit["passed"]
    assert not ka.criterion("nan", float("nan"), "<", 0.3)["passed"]


def test_oracle_model_explained_on_the_mouth(faces) -> None:
    oracle = ka.EvidenceOracle(faces["evidence"], faces["y"])
    x, y = faces["x"], faces["y"]
    # the oracle's logit moves only with evidence pixels
    noise = torch.randn_like(x) * (~faces["evidence"][:, None]).float()
    torch.testing.assert_close(oracle(x + noise), oracle(x))
    assert (oracle(x).argmax(1) == y).all()
    gc = ka.explain_in_chunks(GradCAM(oracle, layer="features"), x, y, chunk=len(x))
    r = ka.localisation(gc, faces["dilated"], faces["landmarks"])
    assert r["pointing_game"] == 1.0 and r["region_share"]["2px"]["mouth"] > 0.9
    occ = ka.explain_in_chunks(Occlusion(oracle, window=6, stride=2, perturbations_per_eval=16), x, y, chunk=len(x))
    r = ka.localisation(occ, faces["dilated"], faces["landmarks"])
    assert r["pointing_game"] >= 0.9
    assert r["region_share"]["2px"]["mouth"] > 0.5 > r["region_share"]["0px"]["mouth"]
    with pytest.raises(ValueError, match="copies"):
        oracle(x[:-1])


def test_ideal_map_at_gradcam_resolution(faces) -> None:
    maps = ka.ideal_map(faces["evidence"], 16, 64)
    assert maps.shape == (len(faces["y"]), 64, 64)
    # a map on a 16x16 grid smears the evidence: below half on the margin-0 mouth, above on margin 2
    r = ka.localisation(ka.reference_explanation(maps, faces["y"], 7, "ideal"), faces["dilated"],
                        faces["landmarks"])
    assert r["pointing_game"] >= 0.9
    assert r["region_share"]["0px"]["mouth"] < 0.5 < r["region_share"]["2px"]["mouth"]


def test_layer_groups() -> None:
    assert ka.layer_group("body.block3.layer2.layers.conv1") == "body.block3"
    assert ka.layer_group("classifier") == "classifier"
    import pandas as pd

    curve = pd.DataFrame({"step": [1, 2, 3, 4], "spearman_mean": [0.9, 0.5, 0.4, 0.1],
                          "layer": ["classifier", "body.final.norm", "body.block1.layer1.layers.conv2",
                                    "body.block1.layer1.layers.norm1"]})
    ends = ka.group_ends(curve)
    assert ends["step"].tolist() == [1, 2, 4]
    assert ends["group"].tolist() == ["classifier", "body.final", "body.block1"]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Degrees of freedom")  # nanstd of a single finite value
def test_script_end_to_end_tiny(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ka.json"
    res = ka.main(["--n-train", "140", "--n-test", "70", "--epochs", "1", "--layers-per-block", "1",
                   "--growth-rate", "4", "--max-explain", "6", "--cascade-n", "4", "--occlusion-window", "16",
                   "--occlusion-stride", "16", "--device", "cpu", "--out", str(out)])
    text = capsys.readouterr().out
    names = [c["criterion"] for c in res["criteria"]]
    assert names == ["test_accuracy", "nonneutral_test_faces", "gradcam_pointing_game", "gradcam_mouth_share@2px",
                     "occlusion_pointing_game", "occlusion_mouth_share@2px", "gradcam_randomised_spearman"]
    for name in names:
        assert any(line.startswith(("PASS", "FAIL")) and name in line for line in text.splitlines())
    assert res["n_nonneutral_test"] == 60 and 0 < res["n_explained"] <= 6
    assert not res["passed"]  # 60 non-neutral test faces < 500
    # the cascade randomises every layer with parameters, the classifier first
    curve = res["cascade"]["curve"]
    assert curve[0]["layer"] == "classifier" and curve[-1]["layer"] == "body.stem"
    saved = json.loads(out.read_text())
    assert saved["criteria"][0]["value"] == pytest.approx(res["test_accuracy"])
    assert set(saved["localisation"]) == {"gradcam", "occlusion"}
    for r in saved["localisation"].values():
        shares = r["region_share"]["0px"]
        assert set(shares) >= {"mouth", "nose", "eyes", "rest"}
        assert all(v is None or (0.0 <= v <= 1.0 and not math.isnan(v)) for v in shares.values())
    assert np.isfinite(saved["references"]["ideal@16x16"]["pointing_game"])
