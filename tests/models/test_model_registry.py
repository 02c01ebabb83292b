"""Registry, InputSpec and config round-trips."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from fer_explain.models import FERModel, InputSpec, create_model, list_models, register_model
from fer_explain.models.registry import get_model_class

EXPECTED = ["deep_emotion", "densenet_bc", "resemotenet", "se_resnet18", "vgg_fer"]


def test_list_models_has_every_family() -> None:
    assert set(EXPECTED) <= set(list_models())
    assert list_models() == sorted(list_models())


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(KeyError) as info:
        create_model("resnet9000")
    message = str(info.value)
    assert "resnet9000" in message
    for name in EXPECTED:
        assert name in message


def test_unknown_option_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        create_model("deep_emotion", no_such_option=1)


def test_duplicate_registration_rejected() -> None:
    with pytest.raises(ValueError, match="already registered"):

        @register_model("se_resnet18")
        class Impostor(FERModel):
            pass


def test_register_requires_fermodel() -> None:
    with pytest.raises(TypeError):
        register_model("not_a_model")(torch.nn.Linear)  # type: ignore[type-var]


@pytest.mark.parametrize("name", EXPECTED)
def test_model_name_and_class(name: str) -> None:
    with torch.device("meta"):
        model = create_model(name)
    assert isinstance(model, FERModel)
    assert model.model_name == name
    assert get_model_class(name) is type(model)


@pytest.mark.parametrize(
    ("name", "size", "channels"),
    [("se_resnet18", 224, 3), ("resemotenet", 64, 3), ("deep_emotion", 48, 1), ("vgg_fer", 64, 1),
     ("densenet_bc", 64, 1)],
)
def test_native_input_spec(name: str, size: int, channels: int) -> None:
    with torch.device("meta"):
        spec = create_model(name).input_spec
    assert (spec.size, spec.channels) == (size, channels)
    assert len(spec.mean) == len(spec.std) == channels


def test_in_chans_override_changes_spec_and_stem() -> None:
    model = create_model("se_resnet18", in_chans=1, width=0.125, input_size=48)
    assert model.input_spec == InputSpec(48, 1, (0.5,), (0.5,))
    assert model.conv1.in_channels == 1
    assert model.config["in_chans"] == 1


def test_input_spec_is_frozen_and_validated() -> None:
    spec = InputSpec(size=64, channels=3, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    assert spec.shape == (3, 64, 64)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.size = 32  # type: ignore[misc]
    with pytest.raises(ValueError):
        InputSpec(size=64, channels=3, mean=(0.5,), std=(0.5,))


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("se_resnet18", {"width": 0.125, "in_chans": 1, "se_bias": True, "input_size": 48}),
     ("resemotenet", {"width": 0.0625, "ablation": "C5"}),
     ("deep_emotion", {"batch_norm": False, "dropout": 0.3}),
     ("vgg_fer", {"width": 0.125, "head": "gap"}),
     ("densenet_bc", {"growth_rate": 4, "layers_per_block": 3, "num_classes": 6})],
)
def test_config_round_trip(name: str, kwargs: dict) -> None:
    model = create_model(name, **kwargs)
    config = model.config
    assert config["name"] == name
    assert json.loads(json.dumps(config)) == config  # checkpoints store it as JSON
    clone = create_model(**config)
    assert clone.config == config
    ref = {k: v.shape for k, v in model.state_dict().items()}
    got = {k: v.shape for k, v in clone.state_dict().items()}
    assert ref == got
    clone.load_state_dict(model.state_dict())


def test_resemotenet_ablation_is_resolved_in_config() -> None:
    with torch.device("meta"):
        model = create_model("resemotenet", ablation="C3")
    assert "ablation" not in model.config
    assert (model.config["cnn_stages"], model.config["res_blocks"], model.config["use_se"]) == (2, 3, True)
    with pytest.raises(KeyError, match="C1"):
        create_model("resemotenet", ablation="C9")
