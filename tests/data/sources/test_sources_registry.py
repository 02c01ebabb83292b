"""The adapter registry: names, dispatcher errors, layout descriptions, build reports."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from fer_explain.data.manifest import make_manifest
from fer_explain.data.sources import (
    ADAPTERS,
    LAYOUTS,
    adapter_options,
    build_manifest,
    describe_layout,
    source_report,
)


def test_every_adapter_has_a_layout_and_root_first() -> None:
    assert set(ADAPTERS) == {"fer2013", "ferplus", "rafdb", "affectnet", "expw", "ckplus", "jaffe", "ferg",
                             "imagefolder"}
    assert set(LAYOUTS) == set(ADAPTERS)
    for name, fn in ADAPTERS.items():
        assert fn.__name__ == f"build_{name}_manifest"
        assert next(iter(inspect.signature(fn).parameters)) == "root"
        assert fn.__doc__ and LAYOUTS[name].strip()
    text = describe_layout()
    assert all(LAYOUTS[n] in text for n in ADAPTERS)
    assert "list_patition_label.txt" in describe_layout("RAF-DB")


def test_unknown_dataset_and_option(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match=r"unknown dataset 'celeba'; valid: \['affectnet', 'ckplus'"):
        build_manifest("celeba", tmp_path)
    with pytest.raises(TypeError, match=r"rafdb: unknown option\(s\) \['align'\]; valid: \['aligned', 'label_file'\]"):
        build_manifest("rafdb", tmp_path, align=True)
    assert "min_confidence" in adapter_options("expw")


def test_source_report_absent_on_plain_manifest() -> None:
    m = make_manifest([{"dataset": "x", "image": "a.png", "label": "anger", "split": "train"}], "/tmp")
    with pytest.raises(KeyError, match="no source report"):
        source_report(m)
