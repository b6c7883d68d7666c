"""The Python package's import structure: no import cycles, lazy imports included, and every
module importable alone in a fresh interpreter.

The graph is read from the sources (python/neuraxon): `import`/`from ... import` at module
level and inside functions alike, skipping `if TYPE_CHECKING:` blocks (they never run); the
package's `__getattr__` loads nn, optim, data and testing on first use, so the package counts
as importing those. A cycle is a strongly connected group of two or more modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "python" / "neuraxon"
LAZY_SUBPACKAGES = ("nn", "optim", "data", "testing", "distributed")  # neuraxon.__getattr__


def _modules() -> dict[str, Path]:
    mods = {}
    for f in SRC.rglob("*.py"):
        parts = list(f.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = f
    return mods


def _targets(mods, here: str, node) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in mods]
    is_pkg = mods[here].name == "__init__.py"
    base = here.split(".") if is_pkg else here.split(".")[:-1]
    if node.level:
        base = base[: len(base) - (node.level - 1)]
        name = ".".join(base + ([node.module] if node.module else []))
    else:
        name = node.module or ""
    subs = [f"{name}.{a.name}" for a in node.names if f"{name}.{a.name}" in mods]
    if subs and len(subs) == len(node.names):
        return subs  # `from pkg import submodule`: only the submodules
    return ([name] if name in mods else []) + subs


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    graph = {m: set() for m in mods}
    for m, f in mods.items():
        tree = ast.parse(f.read_text(), filename=str(f))
        skip = set()
        for n in ast.walk(tree):
            if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test):
                skip.update(id(x) for x in ast.walk(n))
        for n in ast.walk(tree):
            if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) not in skip:
                graph[m].update(t for t in _targets(mods, m, n) if t != m)
    graph["neuraxon"].update(f"neuraxon.{p}" for p in LAZY_SUBPACKAGES)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of >= 2 modules (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_the_cycle_finder_finds_a_cycle():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(g) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles (module-level or lazy): " + "; ".join(" <-> ".join(c) for c in found)


def test_every_module_imports_alone_in_a_fresh_interpreter():
    mods = sorted(m for m in _modules() if not m.endswith("__main__"))

    def run(m):
        r = subprocess.run([sys.executable, "-c", f"import {m}"], capture_output=True, text=True)
        return m, r.returncode, r.stderr[-600:]

    with ThreadPoolExecutor(max_workers=4) as ex:
        failed = [(m, err) for m, rc, err in ex.map(run, mods) if rc != 0]
    if failed:
        pytest.fail("\n".join(f"{m}: {err}" for m, err in failed))
