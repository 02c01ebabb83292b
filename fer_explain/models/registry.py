"""Explicit name -> model-class registry.

Model families register themselves with :func:`register_model` when their module is
imported (``fer_explain.models`` imports all of them)::

    @register_model("se_resnet18")
    class SEResNet18(FERModel): ...

    model = create_model("se_resnet18", num_classes=7, in_chans=1)
    clone = create_model(**model.config)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fer_explain.models.base import FERModel

__all__ = ["create_model", "get_model_class", "list_models", "register_model"]

_REGISTRY: dict[str, type[FERModel]] = {}

M = TypeVar("M", bound=type[FERModel])


def register_model(name: str) -> Callable[[M], M]:
    """Class decorator registering a :class:`FERModel` subclass under ``name``.

    Sets ``cls.model_name = name``. Registering a second class under a taken name raises
    ``ValueError`` (re-registering the same class, e.g. on module reload, is allowed).
    """
    if not name or not name.isidentifier():
        raise ValueError(f"model names must be non-empty identifiers, got {name!r}")

    def decorator(cls: M) -> M:
        if not (isinstance(cls, type) and issubclass(cls, FERModel)):
            raise TypeError(f"register_model expects a FERModel subclass, got {cls!r}")
        existing = _REGISTRY.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ValueError(f"model name {name!r} is already registered to {existing.__qualname__}")
        cls.model_name = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def list_models() -> list[str]:
    """Sorted names of all registered models."""
    return sorted(_REGISTRY)


def get_model_class(name: str) -> type[FERModel]:
    """The class registered under ``name``; ``KeyError`` listing the valid names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; valid names: {', '.join(list_models())}") from None


def create_model(name: str, num_classes: int = 7, in_chans: int | None = None, **kwargs: Any) -> FERModel:
    """Build a registered model.

    Args:
        name: registry name (see :func:`list_models`).
        num_classes: number of output logits.
        in_chans: input channels; ``None`` keeps the family default (its
            ``input_spec.channels``).
        **kwargs: family-specific options (``width``, ``se_bias``, ``growth_rate``, ...).

    Raises:
        KeyError: unknown ``name`` (the message lists the valid names).
        TypeError: an option the family does not accept.
    """
    cls = get_model_class(name)
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if in_chans is not None:
        kwargs["in_chans"] = in_chans
    factory: Callable[..., FERModel] = cls
    return factory(num_classes=num_classes, **kwargs)
