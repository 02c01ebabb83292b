"""Pinned parameter counts (models are built on the meta device: no memory, no init cost)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from fer_explain.models import count_parameters, create_model


def _count(name: str, **kwargs: Any) -> int:
    with torch.device("meta"):
        return count_parameters(create_model(name, **kwargs))


def test_se_resnet18_matches_paper_count() -> None:
    # seed 001 quotes ~11.27M: torchvision ResNet-18 + bias-free SE (r=16), 3 channels, 7 classes.
    assert _count("se_resnet18", num_classes=7, in_chans=3) == 11_267_143


def test_se_resnet18_biased_se_count() -> None:
    assert _count("se_resnet18", num_classes=7, in_chans=3, se_bias=True) == 11_269_183


def test_se_resnet18_grey_input_only_changes_stem() -> None:
    # conv1 is 64 x C x 7 x 7 without bias: 2 fewer input channels remove 2 * 64 * 49 weights.
    assert _count("se_resnet18", in_chans=1) == 11_267_143 - 2 * 64 * 49


def test_resemotenet_matches_reference_code_count() -> None:
    assert _count("resemotenet", num_classes=7, in_chans=3) == 80_238_599


@pytest.mark.parametrize(
    ("ablation", "expected"),
    [("C1", 80_238_599), ("C2", 80_230_407), ("C3", 80_166_407), ("C4", 79_874_567), ("C5", 73_942_535),
     ("C6", 46_146_055)],
)
def test_resemotenet_ablation_counts(ablation: str, expected: int) -> None:
    assert _count("resemotenet", ablation=ablation) == expected


def test_resemotenet_c2_removes_exactly_the_se_block() -> None:
    assert _count("resemotenet") - _count("resemotenet", use_se=False) == 2 * 256 * (256 // 16)


def test_deep_emotion_count() -> None:
    assert _count("deep_emotion") == 66_877
    assert _count("deep_emotion", batch_norm=False) == 66_857
    with torch.device("meta"):
        model = create_model("deep_emotion")
    stn = count_parameters(model.loc) + count_parameters(model.loc_fc)
    assert stn == 23_120


def test_seed002_model_counts() -> None:
    assert _count("vgg_fer") == 7_064_775
    assert _count("vgg_fer", head="gap") == 7_054_023
    assert _count("densenet_bc") == 753_499


def test_width_multiplier_shrinks_models() -> None:
    assert _count("se_resnet18", width=0.25) < _count("se_resnet18") / 10
    assert _count("resemotenet", width=0.25) < _count("resemotenet") / 10
    assert _count("vgg_fer", width=0.25) < _count("vgg_fer") / 10
