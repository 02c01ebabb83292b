"""Manifests load back as saved: text that pandas would read as missing ("NA", "null", "None"...) stays text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas._libs.parsers import STR_NA_VALUES

from fer_explain.data.manifest import Manifest, ManifestError, make_manifest

TOKENS = sorted(STR_NA_VALUES)  # "", "#N/A", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null", ...


def _as_text(values: pd.Series) -> list[str | None]:
    """Column values with every missing value as None (NaN, pd.NA, None alike)."""
    return [v if isinstance(v, str) else None for v in values.tolist()]


def _token_manifest(root: Path) -> Manifest:
    """One row per token used as the image name, one per token used as the subject id, plus numeric
    columns (box, valence, pixel_row) holding real missing values."""
    rows: list[dict[str, object]] = []
    for i, tok in enumerate(t for t in TOKENS if t):  # an empty image name is invalid in any manifest
        rows.append({"dataset": "toy", "image": tok, "label": "anger", "split": "train", "subject": f"s{i}"})
    for i, tok in enumerate(TOKENS):
        rows.append({"dataset": "toy", "image": f"b{i}.png", "label": "happiness", "split": "test", "subject": tok})
    for i, row in enumerate(rows):
        has_box = i % 3 != 0
        row.update(box_x=float(i) if has_box else np.nan, box_y=1.0 if has_box else np.nan,
                   box_w=10.0 if has_box else np.nan, box_h=12.0 if has_box else np.nan,
                   valence=0.5 * i if i % 2 else np.nan, pixel_row=i if i % 4 == 0 else None,
                   note=TOKENS[i % len(TOKENS)])  # a free text column the schema does not know
    return make_manifest(rows, root, name="tokens")


def test_tokens_cover_pandas_missing_value_list() -> None:
    assert {"", "NA", "N/A", "n/a", "null", "NULL", "nan", "NaN", "-nan", "None", "#N/A", "<NA>", "1.#IND"} <= set(
        TOKENS)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_missing_value_tokens_round_trip(tmp_path: Path, fmt: str) -> None:
    m = _token_manifest(tmp_path)
    path = m.save(tmp_path / "manifests" / "tokens", parquet=fmt == "parquet")
    back = Manifest.load(path.with_suffix(f".{fmt}"))  # verifies the sidecar's content hash
    assert back.content_hash() == m.content_hash()
    assert back.df.columns.tolist() == m.df.columns.tolist()

    assert back.df["image"].tolist() == m.df["image"].tolist()  # "NA", "null", "None", "nan"... as file names
    n_image_rows = len(TOKENS) - 1
    subjects = _as_text(back.df["subject"])[n_image_rows:]
    notes = _as_text(back.df["note"])
    if fmt == "parquet":  # Parquet stores strings and missing values apart: everything is exact
        assert subjects == TOKENS
        assert notes == m.df["note"].tolist()
    else:  # CSV cannot tell "" from missing (both are an empty field): "" loads back as missing
        assert subjects == [t or None for t in TOKENS]
        assert notes == [t or None for t in m.df["note"].tolist()]

    # numeric columns keep their real missing values and their types
    for col in ("box_x", "box_y", "box_w", "box_h", "valence"):
        assert back.df[col].dtype.kind == "f"
        np.testing.assert_array_equal(np.isnan(back.df[col].to_numpy(np.float64)),
                                      np.isnan(m.df[col].to_numpy(np.float64)))
    assert str(back.df["pixel_row"].dtype) == "Int64"
    assert back.df["pixel_row"].isna().tolist() == m.df["pixel_row"].isna().tolist()
    assert back.df["pixel_row"].dropna().tolist() == m.df["pixel_row"].dropna().tolist()

    again = back.save(tmp_path / "again" / "tokens", parquet=fmt == "parquet")
    assert Manifest.load(again.with_suffix(f".{fmt}")).content_hash() == m.content_hash()


def test_subject_na_loads_with_hash_check(tmp_path: Path) -> None:
    """The original report: a subject id "NA" made loading fail with "content hash differs"."""
    m = make_manifest([{"dataset": "toy", "image": "a.png", "label": "anger", "split": "train", "subject": "NA"}],
                      tmp_path)
    back = Manifest.load(m.save(tmp_path / "m"))
    assert back.df["subject"].tolist() == ["NA"]


def test_bad_csv_row_and_pixel_row_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("dataset,image,label,split\ntoy,a.png,anger,train\ntoy,b.png,anger,train,extra\n")
    with pytest.raises(ManifestError, match=r"m\.csv: cannot parse the CSV .*line 3"):
        Manifest.load(path)
    path.write_text("dataset,image,label,split,pixel_row\ntoy,a.csv,anger,train,0\ntoy,a.csv,anger,train,x\n")
    with pytest.raises(ManifestError, match=r"m\.csv, line 3 \(data row 2\), column 'pixel_row': pixel_row 'x'"):
        Manifest.load(path)


def test_unknown_split_is_a_key_error_listing_present_splits(tmp_path: Path) -> None:
    from fer_explain.data.errors import UnknownNameError, UserError

    m = make_manifest([{"dataset": "toy", "image": "a.png", "label": "anger", "split": "train"}], tmp_path, name="t")
    with pytest.raises(KeyError) as err:
        m.select("publictest")
    assert isinstance(err.value, UnknownNameError) and isinstance(err.value, UserError)
    assert str(err.value) == "split(s) ['publictest'] not in manifest 't'; present: ['train']"
