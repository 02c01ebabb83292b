"""Structure of the synthetic package: no import cycles, small single-purpose renderer modules."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from fer_explain.data import synthetic

PKG = "fer_explain.data.synthetic"
ROOT = Path(synthetic.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for f in ROOT.rglob("*.py"):
        parts = [p for p in f.relative_to(ROOT).with_suffix("").parts if p != "__init__"]
        out[".".join([PKG, *parts])] = f
    return out


def _imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package modules it imports anywhere (top level or inside functions)."""
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            graph[m].update(n for n in names if n in mods and n != m)
    return graph


def test_no_import_cycle_inside_the_package():
    graph = _imports(_modules())

    def reaches(a: str, b: str) -> bool:
        seen, todo = set(), [a]
        while todo:
            for nxt in graph[todo.pop()]:
                if nxt == b:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    cycles = [(a, b) for a in graph for b in graph[a] if reaches(b, a)]
    assert not cycles, f"import cycles: {cycles}"


def test_config_does_not_need_the_renderer():
    graph = _imports(_modules())
    assert f"{PKG}.version" in graph[f"{PKG}.config"]
    assert not any(m.startswith(f"{PKG}.render") for m in graph[f"{PKG}.config"])


def test_renderer_modules_are_small_and_documented():
    for m, f in _modules().items():
        if not m.startswith(f"{PKG}.render"):
            continue
        assert len(f.read_text().splitlines()) <= 600, f"{m} is over 600 lines"
        assert ast.get_docstring(ast.parse(f.read_text())), f"{m} has no docstring"


def test_public_renderer_names_stay_importable():
    render = importlib.import_module(f"{PKG}.render")
    for name in ("render_batch", "RenderOutput", "canonical_landmarks", "RENDERER_VERSION", "FEATURES",
                 "LANDMARK_FEATURE", "HAIR_NAMES", "HAIR_STYLES"):
        assert hasattr(render, name), name
    assert render.RENDERER_VERSION == synthetic.RENDERER_VERSION
