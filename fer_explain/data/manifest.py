"""The Manifest: the one data format everything in fer_explain reads.

A manifest is a pandas DataFrame with one row per face, saved as CSV (optionally Parquet) with a
JSON sidecar that records its root folder, label space and a content hash.

Columns
-------
Required:
    ``dataset``  source dataset name (``fer2013``, ``rafdb``, ``synthetic``, ...)
    ``image``    path of the image relative to the manifest's root, or of a pixel CSV when
                 ``pixel_row`` is set
    ``label``    canonical emotion name (see :mod:`fer_explain.labels`)
    ``split``    split name, lower case: ``train``, ``val``, ``test`` or a dataset's own
                 (FER2013 keeps ``publictest`` and ``privatetest``)
Optional:
    ``pixel_row``                 0-based data row in the pixel CSV named by ``image``
    ``subject``                   subject / identity id (CK+, JAFFE, FERG, synthetic)
    ``box_x box_y box_w box_h``   face box in pixels
    ``landmarks``                 68 iBUG points as ``"x1;y1;x2;y2;...;x68;y68"`` (136 numbers)
    ``landmark_source``           ``detected`` / ``fallback`` / ``dataset`` / ``synthetic``
    ``votes_<emotion>``           soft labels (vote counts, e.g. FER+)
Any other column is carried along untouched (AffectNet valence/arousal, synthetic AU intensities...).

Text round-trips exactly: values such as ``"NA"`` or ``"null"`` are never read back as missing (see
:func:`read_manifest_csv`). Errors name rows as ``line L (data row R)`` of the manifest CSV. The
column schema and the validation live in :mod:`fer_explain.data.schema`, the error classes in
:mod:`fer_explain.data.errors`; their public names are importable from here too.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fer_explain._atomic import atomic_path, atomic_write_bytes
from fer_explain.data.errors import ManifestError, Problem, UnknownNameError, csv_problem
from fer_explain.data.schema import (
    BOX_COLUMNS,
    LANDMARK_SOURCES,
    N_LANDMARKS,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    SCHEMA_VERSION,
    STRING_COLUMNS,
    VOTE_PREFIX,
    find_problems,
    format_landmarks,
    parse_landmarks,
)
from fer_explain.labels import EMOTIONS, LabelSpace, get_label_space


@dataclass
class Manifest:
    """A table of faces plus the root folder its image paths are relative to."""

    df: pd.DataFrame
    root: Path
    label_space: LabelSpace = field(default_factory=lambda: get_label_space("basic7"))
    name: str = ""

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.label_space = get_label_space(self.label_space)
        self.df = self.df.reset_index(drop=True)

    # --- basic access ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.df)

    def __repr__(self) -> str:
        splits = ", ".join(f"{k}={v}" for k, v in self.df["split"].value_counts().sort_index().items())
        return (
            f"Manifest(name={self.name!r}, rows={len(self)}, label_space={self.label_space.name}, "
            f"splits: {splits or 'none'}, root={str(self.root)!r})"
        )

    @property
    def classes(self) -> tuple[str, ...]:
        return self.label_space.classes

    def label_indices(self) -> np.ndarray:
        """Integer labels in the manifest's label space (validated)."""
        lut = {c: i for i, c in enumerate(self.label_space.classes)}
        try:
            return self.df["label"].map(lambda c: lut[c]).to_numpy(dtype=np.int64)
        except KeyError as exc:
            raise ManifestError(
                [Problem(f"label {exc.args[0]!r} not in label space {self.label_space.classes}", column="label")]
            ) from None

    def has_landmarks(self) -> np.ndarray:
        if "landmarks" not in self.df:
            return np.zeros(len(self), dtype=bool)
        col = self.df["landmarks"]
        return np.asarray(col.notna(), dtype=bool) & np.asarray(col.astype(str) != "", dtype=bool)

    def landmarks(self, rows: Iterable[int] | None = None) -> np.ndarray:
        """``(N, 68, 2)`` float32 landmarks, NaN where a row has none."""
        idx = range(len(self)) if rows is None else list(rows)
        if "landmarks" not in self.df:
            return np.full((len(idx), N_LANDMARKS, 2), np.nan, dtype=np.float32)
        col = self.df["landmarks"]
        return np.stack([parse_landmarks(col.iat[i], row=i) for i in idx]) if len(idx) else np.zeros(
            (0, N_LANDMARKS, 2), np.float32
        )

    def boxes(self) -> np.ndarray:
        """``(N, 4)`` float boxes (x, y, w, h), NaN where a row has none."""
        if not all(c in self.df for c in BOX_COLUMNS):
            return np.full((len(self), 4), np.nan)
        return self.df[list(BOX_COLUMNS)].to_numpy(dtype=np.float64)

    def vote_columns(self) -> list[str]:
        return [c for c in self.df.columns if c.startswith(VOTE_PREFIX)]

    def soft_labels(self) -> np.ndarray | None:
        """Vote shares ``(N, C)`` in the label space's order, or None without vote columns."""
        cols = [f"{VOTE_PREFIX}{c}" for c in self.label_space.classes]
        if not all(c in self.df for c in cols):
            return None
        v = self.df[cols].to_numpy(dtype=np.float64)
        return v / np.clip(v.sum(axis=1, keepdims=True), 1e-12, None)

    # --- derived manifests ----------------------------------------------------------------------
    def replace(self, df: pd.DataFrame, **kw: object) -> Manifest:
        """A new manifest with another table (same root, label space and name unless given)."""
        args: dict[str, object] = {"root": self.root, "label_space": self.label_space, "name": self.name}
        args.update(kw)
        return Manifest(df.reset_index(drop=True), **args)  # type: ignore[arg-type]

    def select(self, split: str | Sequence[str] | None = None, labels: Sequence[str] | None = None) -> Manifest:
        """Rows of the given split(s) and/or labels."""
        mask = np.ones(len(self), dtype=bool)
        if split is not None:
            splits = [split] if isinstance(split, str) else list(split)
            present = set(self.df["split"].unique())
            missing = [s for s in splits if s not in present]
            if missing:
                raise UnknownNameError(f"split(s) {missing} not in manifest {self.name!r}; "
                                       f"present: {sorted(map(str, present))}")
            mask &= self.df["split"].isin(splits).to_numpy()
        if labels is not None:
            mask &= self.df["label"].isin(list(labels)).to_numpy()
        return self.replace(self.df[mask])

    def with_label_space(self, label_space: LabelSpace | str | Sequence[str], drop_others: bool = True) -> Manifest:
        """Restrict to another label space (e.g. drop contempt to go from basic8 to basic7)."""
        ls = get_label_space(label_space)
        keep = self.df["label"].isin(ls.classes)
        if not drop_others and not keep.all():
            bad = sorted(set(self.df.loc[~keep, "label"]))
            raise ManifestError([Problem(f"labels {bad} not in label space {ls.classes}", column="label")])
        return self.replace(self.df[keep], label_space=ls)

    def class_distribution(self, normalize: bool = False) -> pd.DataFrame:
        """Class x split counts (the seeds' Table 1), with a total row and column."""
        table = pd.crosstab(self.df["label"], self.df["split"])
        table = table.reindex([c for c in self.label_space.classes], fill_value=0)
        table.index.name = "emotion"
        table["total"] = table.sum(axis=1)
        table.loc["total"] = table.sum(axis=0)
        if normalize:
            table = table / table.loc["total"]
        return table

    # --- validation ----------------------------------------------------------------------------
    def problems(self, check_files: bool = False) -> list[Problem]:
        """Every problem with the table (and, with ``check_files``, with the images it names)."""
        return find_problems(self, check_files=check_files)

    def validate(self, check_files: bool = False) -> Manifest:
        """Raise :class:`ManifestError` listing every problem; return self when there is none."""
        found = self.problems(check_files=check_files)
        if found:
            raise ManifestError(found, source=f"manifest {self.name or '(unnamed)'}")
        return self

    # --- hashing and files -------------------------------------------------------------------
    def content_hash(self) -> str:
        """SHA-256 over the table's content (column names and values, in order), not the images."""
        h = hashlib.sha256()
        h.update(json.dumps([str(c) for c in self.df.columns]).encode())
        h.update(self.df.to_csv(index=False, lineterminator="\n").encode())
        h.update(json.dumps(self.label_space.classes).encode())
        return h.hexdigest()

    def metadata(self) -> dict[str, object]:
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "root": str(self.root),
            "label_space": {"name": self.label_space.name, "classes": list(self.label_space.classes)},
            "rows": len(self),
            "content_hash": self.content_hash(),
        }

    def save(self, path: str | os.PathLike[str], parquet: bool = False, relative_root: bool = True) -> Path:
        """Write ``<path>.csv`` (+ ``.parquet``) and a ``.json`` sidecar, each atomically.

        With ``relative_root`` the root is stored relative to the manifest file when it lies under
        the same parent tree, so a manifest moves with its data.
        """
        path = Path(path)
        if path.suffix in (".csv", ".parquet", ".json"):
            path = path.with_suffix("")
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = self.metadata()
        if relative_root:
            try:
                meta["root"] = os.path.relpath(self.root.resolve(), path.parent.resolve())
                meta["root_is_relative"] = True
            except ValueError:  # other drive on Windows
                meta["root_is_relative"] = False
        atomic_write_bytes(path.with_suffix(".csv"), self.df.to_csv(index=False, lineterminator="\n").encode())
        if parquet:
            with atomic_path(path.with_suffix(".parquet")) as tmp:
                self.df.to_parquet(tmp, index=False)
        atomic_write_bytes(path.with_suffix(".json"), (json.dumps(meta, indent=2) + "\n").encode())
        return path.with_suffix(".csv")

    @classmethod
    def load(cls, path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None,
             verify_hash: bool = True) -> Manifest:
        """Read a manifest written by :meth:`save` (CSV or Parquet), checking its content hash."""
        path = Path(path)
        base = path.with_suffix("") if path.suffix in (".csv", ".parquet", ".json") else path
        meta_path = base.with_suffix(".json")
        meta: dict[str, object] = {}
        if meta_path.is_file():
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ManifestError([Problem(f"sidecar is not valid JSON ({exc})", file=str(meta_path))]) from None
        data_path = path if path.suffix in (".csv", ".parquet") else base.with_suffix(".csv")
        if not data_path.is_file():
            hint = ""
            if path.is_dir():
                found = sorted(p.name for p in path.iterdir() if p.suffix in (".csv", ".parquet"))[:10]
                hint = f"; {path} is a folder, give a manifest file in it ({found or 'it holds none'})"
            raise FileNotFoundError(f"{data_path}: manifest file not found{hint}")
        if data_path.suffix == ".parquet":
            try:
                df = pd.read_parquet(data_path)
            except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
                raise ManifestError([Problem(f"cannot read the Parquet file ({exc})", file=str(data_path))]) from None
        else:
            df = read_manifest_csv(data_path)
        missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
        if missing:
            raise ManifestError(
                [Problem(f"missing required column(s) {missing}; found {list(df.columns)}", file=str(data_path))]
            )
        if root is None:
            stored = meta.get("root")
            if stored is None:
                root = data_path.parent
            elif meta.get("root_is_relative"):
                root = (data_path.parent / str(stored)).resolve()
            else:
                root = Path(str(stored))
        ls_meta = meta.get("label_space")
        label_space = (
            get_label_space(list(ls_meta["classes"])) if isinstance(ls_meta, dict) else _infer_space(df)
        )
        m = cls(df, root=Path(root), label_space=label_space, name=str(meta.get("name", base.name)))
        expected = meta.get("content_hash")
        if verify_hash and expected and m.content_hash() != expected:
            raise ManifestError(
                [Problem("content hash differs from the one recorded in the sidecar JSON: the table was "
                         "edited after it was saved (load with verify_hash=False, or fer-explain check-manifest "
                         "--ignore-hash, to accept it)",
                         file=str(data_path))]
            )
        return m


def read_manifest_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a manifest CSV so that it round-trips: text stays text, only empty fields are missing.

    The text columns (:data:`~fer_explain.data.schema.STRING_COLUMNS`) are read as strings, and no
    column treats pandas' missing-value tokens (``"NA"``, ``"null"``, ``"None"``, ``"nan"``...) as
    missing: a subject or file called ``NA`` loads back as ``"NA"``. An empty field is missing
    (NaN), as :meth:`Manifest.save` writes missing values. ``pixel_row`` becomes ``Int64``; a value
    that is not a whole number is an error naming its line.
    """
    path = Path(path)
    dtypes: dict[str, object] = {c: str for c in (*STRING_COLUMNS, "pixel_row")}
    try:
        df = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[""])  # type: ignore[arg-type]
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise ManifestError([Problem(f"cannot parse the CSV ({exc})", file=str(path))]) from None
    if "pixel_row" in df.columns:
        raw = df["pixel_row"]
        num = pd.to_numeric(raw.str.strip(), errors="coerce")
        bad = (raw.notna() & (num.isna() | (num < 0) | (num % 1 != 0))).to_numpy(dtype=bool)
        if bad.any():
            raise ManifestError([csv_problem(f"pixel_row {raw.iat[i]!r} is not a non-negative integer", int(i),
                                             file=str(path), column="pixel_row") for i in np.flatnonzero(bad)])
        df["pixel_row"] = num.astype("Int64")
    return df


def _infer_space(df: pd.DataFrame) -> LabelSpace:
    return get_label_space("basic8" if (df["label"] == "contempt").any() else "basic7")


def make_manifest(
    rows: Sequence[dict[str, object]] | pd.DataFrame,
    root: str | os.PathLike[str],
    label_space: LabelSpace | str = "basic7",
    name: str = "",
) -> Manifest:
    """Build a Manifest from row dicts (or a DataFrame), putting known columns first, and validate it."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if len(df) == 0:
        raise ManifestError([Problem(f"no faces found under {root}", file=str(root))], source=name or "manifest")
    order = [c for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c in df.columns]
    votes = [f"{VOTE_PREFIX}{e}" for e in EMOTIONS if f"{VOTE_PREFIX}{e}" in df.columns]
    rest = [c for c in df.columns if c not in order and c not in votes]
    df = df[order + votes + rest]
    if "pixel_row" in df:
        df["pixel_row"] = df["pixel_row"].astype("Int64")
    return Manifest(df, root=Path(root), label_space=get_label_space(label_space), name=name).validate()


__all__ = [
    "BOX_COLUMNS",
    "LANDMARK_SOURCES",
    "N_LANDMARKS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "SCHEMA_VERSION",
    "STRING_COLUMNS",
    "VOTE_PREFIX",
    "Manifest",
    "ManifestError",
    "Problem",
    "format_landmarks",
    "make_manifest",
    "parse_landmarks",
    "read_manifest_csv",
]
