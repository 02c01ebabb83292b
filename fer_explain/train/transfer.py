"""Transfer learning (seed 001): take a trained model or checkpoint, give it a new head, choose what learns.

::

    model = prepare_transfer("ckpt/fer2013_de", num_classes=6, trainable="head")
    fit(model, jaffe_train, jaffe_val, recipe=get_recipe("quick"))

:func:`~fer_explain.train.pipeline.train_from_manifest` with ``init_from=`` does this: pretrain on
one manifest, then fine-tune on another.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from torch import nn

from fer_explain.train import checkpoint as ckpt

__all__ = ["prepare_transfer"]


def prepare_transfer(
    model_or_checkpoint: nn.Module | str | os.PathLike[str],
    num_classes: int | None = None,
    replace_head: bool = True,
    trainable: str | Sequence[str] = "all",
    head_name: str = "classifier",
) -> nn.Module:
    """Prepare a trained model for fine-tuning on another dataset (seed 001's transfer learning).

    Args:
        model_or_checkpoint: a model, or a checkpoint path (loaded with :func:`load_checkpoint`).
        num_classes: output classes of the new head (default: the current head's).
        replace_head: put a freshly initialised ``nn.Linear(in_features, num_classes)`` in place of
            the head; otherwise keep it (``num_classes`` must then match it).
        trainable: ``"all"``, ``"head"`` (only the head learns), or a list of module-name prefixes
            (``["layer4", "classifier"]``) whose parameters learn; all others get
            ``requires_grad=False``. The new head is always trainable when replaced.
        head_name: attribute name of the final linear layer.

    Returns:
        the model (modified in place when a model was given), in train mode.
    """
    if isinstance(model_or_checkpoint, nn.Module):
        model = model_or_checkpoint
    else:
        model, _ = ckpt.load_checkpoint(model_or_checkpoint)
    head = getattr(model, head_name, None)
    if not isinstance(head, nn.Linear):
        raise TypeError(
            f"prepare_transfer: {type(model).__name__}.{head_name} is not an nn.Linear (got {type(head).__name__}); "
            "pass head_name= naming the final linear layer"
        )
    n_out = head.out_features if num_classes is None else int(num_classes)
    if n_out < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if replace_head:
        new_head = nn.Linear(head.in_features, n_out, bias=head.bias is not None).to(
            device=head.weight.device, dtype=head.weight.dtype)
        setattr(model, head_name, new_head)
        config = getattr(model, "_config", None)
        if isinstance(config, dict) and "num_classes" in config:
            config["num_classes"] = n_out  # keep model.config able to rebuild the new shape
    elif n_out != head.out_features:
        raise ValueError(
            f"prepare_transfer: the kept head has {head.out_features} outputs but num_classes={n_out}; "
            "use replace_head=True"
        )
    names = [n for n, _ in model.named_parameters()]
    if trainable == "all":
        prefixes: list[str] | None = None
    elif trainable == "head":
        prefixes = [head_name]
    elif isinstance(trainable, str):
        raise ValueError(f"trainable must be 'all', 'head' or a list of module-name prefixes, got {trainable!r}")
    else:
        prefixes = list(trainable)
        for p in prefixes:
            if not any(n == p or n.startswith(p + ".") for n in names):
                top = sorted({n.split(".")[0] for n in names})
                raise ValueError(f"trainable prefix {p!r} matches no parameter; top-level modules: {top}")
    for name, param in model.named_parameters():
        param.requires_grad_(prefixes is None or any(name == p or name.startswith(p + ".") for p in prefixes))
    if replace_head:
        for param in getattr(model, head_name).parameters():
            param.requires_grad_(True)
    model.train()
    return model
