"""Dataset adapters: each translates one dataset's on-disk layout into a :class:`~fer_explain.data.manifest.Manifest`.

Every adapter is a function ``build_<name>_manifest(root, ...) -> Manifest``; image paths in the
manifest are relative to ``root``. :func:`build_manifest` dispatches by name::

    from fer_explain.data.sources import build_manifest, describe_layout
    print(describe_layout("rafdb"))
    m = build_manifest("rafdb", "/data/RAF-DB/basic", aligned=True)

Label files are parsed at build time (errors name the file and row or line); images are *not*
opened — :func:`fer_explain.data.check.check_manifest` does that. What an adapter dropped or skipped
is in its build report, :func:`source_report` (also logged at INFO level).

Where a dataset lives can also be given by one environment variable per layout,
``FER_EXPLAIN_<NAME>_DIR`` (:data:`DATASET_ENV`): :func:`dataset_dirs` lists them and
:func:`real_manifests` builds the manifest of every dataset whose variable is set.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from typing import Any

from fer_explain.data.errors import OptionError, UnknownNameError
from fer_explain.data.manifest import Manifest
from fer_explain.data.sources import (
    affectnet,
    ckplus,
    expw,
    fer2013,
    ferg,
    ferplus,
    imagefolder,
    jaffe,
    rafdb,
)
from fer_explain.data.sources._common import IMAGE_EXTENSIONS, SourceError, source_report
from fer_explain.data.sources.affectnet import build_affectnet_manifest
from fer_explain.data.sources.ckplus import build_ckplus_manifest
from fer_explain.data.sources.expw import build_expw_manifest
from fer_explain.data.sources.fer2013 import build_fer2013_manifest
from fer_explain.data.sources.ferg import build_ferg_manifest
from fer_explain.data.sources.ferplus import build_ferplus_manifest
from fer_explain.data.sources.imagefolder import build_imagefolder_manifest
from fer_explain.data.sources.jaffe import build_jaffe_manifest
from fer_explain.data.sources.rafdb import build_rafdb_manifest
from fer_explain.env import env_path

ADAPTERS: dict[str, Callable[..., Manifest]] = {
    "fer2013": build_fer2013_manifest,
    "ferplus": build_ferplus_manifest,
    "rafdb": build_rafdb_manifest,
    "affectnet": build_affectnet_manifest,
    "expw": build_expw_manifest,
    "ckplus": build_ckplus_manifest,
    "jaffe": build_jaffe_manifest,
    "ferg": build_ferg_manifest,
    "imagefolder": build_imagefolder_manifest,
}
"""Dataset name -> adapter function."""

LAYOUTS: dict[str, str] = {
    "fer2013": fer2013.LAYOUT,
    "ferplus": ferplus.LAYOUT,
    "rafdb": rafdb.LAYOUT,
    "affectnet": affectnet.LAYOUT,
    "expw": expw.LAYOUT,
    "ckplus": ckplus.LAYOUT,
    "jaffe": jaffe.LAYOUT,
    "ferg": ferg.LAYOUT,
    "imagefolder": imagefolder.LAYOUT,
}
"""Dataset name -> a short description of the on-disk layout its adapter expects."""


def _resolve(dataset: str) -> str:
    key = dataset.strip().lower().replace("-", "").replace("_", "").replace("+", "plus")
    aliases = {"ferplus": "ferplus", "fer2013plus": "ferplus", "raf": "rafdb", "ck": "ckplus", "ckplus48": "ckplus",
               "fergdb": "ferg"}
    key = aliases.get(key, key)
    if key not in ADAPTERS:
        raise UnknownNameError(f"unknown dataset {dataset!r}; valid: {sorted(ADAPTERS)}")
    return key


def describe_layout(dataset: str | None = None) -> str:
    """The expected layout of one dataset, or of every dataset when ``dataset`` is None."""
    if dataset is None:
        return "\n\n".join(LAYOUTS[k] for k in ADAPTERS)
    return LAYOUTS[_resolve(dataset)]


def adapter_options(dataset: str) -> list[str]:
    """The keyword options one adapter accepts (besides ``root``)."""
    sig = inspect.signature(ADAPTERS[_resolve(dataset)])
    return [p for p in sig.parameters if p != "root"]


def build_manifest(dataset: str, root: str | os.PathLike[str], /, **options: object) -> Manifest:
    """Build the manifest of ``dataset`` (a key of :data:`ADAPTERS`) from the folder ``root``.

    ``options`` go to the adapter (e.g. ``aligned=False`` for rafdb, ``classes=7`` for affectnet);
    an unknown option, or a required one left out, is an :class:`~fer_explain.data.errors.OptionError`
    (a ``TypeError``) listing the adapter's valid ones. An unknown dataset name is an
    :class:`~fer_explain.data.errors.UnknownNameError` (a ``KeyError``).
    """
    key = _resolve(dataset)
    valid = adapter_options(key)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise OptionError(f"{key}: unknown option(s) {unknown}; valid: {valid}")
    params = inspect.signature(ADAPTERS[key]).parameters
    required = [n for n, p in params.items() if n != "root" and p.default is inspect.Parameter.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and n not in options]
    if required:
        raise OptionError(f"{key}: missing required option(s) {required} (e.g. --opt {required[0]}=... on the "
                          f"command line); valid: {valid}")
    return ADAPTERS[key](root, **options)


DATASET_ENV: dict[str, str] = {name: f"FER_EXPLAIN_{name.upper()}_DIR" for name in ADAPTERS}
"""Dataset layout (a key of :data:`ADAPTERS`) -> the environment variable naming its root folder,
e.g. ``FER_EXPLAIN_FER2013_DIR``."""


def dataset_dirs() -> Any:
    """A table (pandas DataFrame) of the supported datasets: the environment variable of each and the
    folder it names (empty when unset). A set variable naming a missing folder is an error."""
    import pandas as pd

    rows = []
    for name, var in DATASET_ENV.items():
        path = env_path(var)
        rows.append({"dataset": name, "variable": var, "folder": "" if path is None else str(path)})
    return pd.DataFrame(rows)


def real_manifests(options: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Manifest]:
    """Manifests of every dataset whose ``FER_EXPLAIN_<NAME>_DIR`` is set (none when no variable is set).

    ``options`` maps a dataset to adapter options (``{"rafdb": {"aligned": False}}``). FER+ reads its
    pixels from ``fer2013.csv``: when its folder lacks that file and ``FER_EXPLAIN_FER2013_DIR`` holds
    it, that one is used.
    """
    out: dict[str, Manifest] = {}
    for name, var in DATASET_ENV.items():
        root = env_path(var)
        if root is None:
            continue
        opts = dict((options or {}).get(name, {}))
        if name == "ferplus" and "fer2013_csv" not in opts and not (root / "fer2013.csv").is_file():
            fer_root = env_path(DATASET_ENV["fer2013"])
            if fer_root is not None and (fer_root / "fer2013.csv").is_file():
                opts["fer2013_csv"] = fer_root / "fer2013.csv"
        out[name] = build_manifest(name, root, **opts)
    return out


__all__ = [
    "ADAPTERS",
    "DATASET_ENV",
    "IMAGE_EXTENSIONS",
    "LAYOUTS",
    "SourceError",
    "adapter_options",
    "build_affectnet_manifest",
    "build_ckplus_manifest",
    "build_expw_manifest",
    "build_fer2013_manifest",
    "build_ferg_manifest",
    "build_ferplus_manifest",
    "build_imagefolder_manifest",
    "build_jaffe_manifest",
    "build_manifest",
    "build_rafdb_manifest",
    "dataset_dirs",
    "describe_layout",
    "real_manifests",
    "source_report",
]
