"""The package's import graph, read from the source (every import statement, function-local
ones included): no cycles, no module reaching into another package's ``_private`` module, and
imports inside functions only for the optional heavy libraries that are deferred on purpose."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "plugin" / "pipetune"
#: Libraries a function may import on first use: optional extras, or heavy ones only some
#: commands need (each such import says why where it is).
DEFERRED = ("kfp", "torch", "kopf", "matplotlib", "sklearn", "joblib", "tensorboard")
#: Imports made on first use, importer -> what it imports then: the root package's attributes
#: (PEP 562: a component process imports ``pipetune`` for ``report()`` and must not pay for
#: the tuner (hyperopt) or fsspec), the controller's I/O (``pipetune pipeline run`` uses its
#: custom-task decisions on a laptop) and the Kubernetes engine (its client takes ~0.3 s to
#: import, which a local run should not pay).
LAZY = {
    "pipetune": ("pipetune.api", "pipetune.checkpoints"),
    "pipetune.controller": ("pipetune.controller._reconcile", "pipetune.controller._engine",
                            "pipetune.controller._operator", "pipetune.controller._queue", "pipetune.controller"),
    "pipetune.engines.select": ("pipetune.engines.kubernetes",),
    "pipetune.ui": ("pipetune.ui._cluster", "pipetune.ui"),
}


@dataclass(frozen=True)
class Import:
    module: str  # the importer
    target: str  # what it imports: a module of the package, or an outside one
    line: int
    local: bool  # inside a function


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(known: dict[str, Path]) -> Iterator[Import]:
    for module, path in known.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        yield from _walk(tree, module, package, known, local=False)


def _walk(node: ast.AST, module: str, package: str, known: dict[str, Path], local: bool) -> Iterator[Import]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            continue  # annotations only: never executed
        inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if isinstance(child, ast.Import):
            for alias in child.names:
                yield Import(module, _owner(alias.name, known), child.lineno, inner)
        elif isinstance(child, ast.ImportFrom):
            base = child.module or ""
            if child.level:
                anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                base = ".".join([*anchor, *([child.module] if child.module else [])])
            for alias in child.names:
                name = f"{base}.{alias.name}"
                yield Import(module, _owner(name if name in known else base, known), child.lineno, inner)
        yield from _walk(child, module, package, known, inner)


def _owner(name: str, known: dict[str, Path]) -> str:
    """The package module ``name`` is (or is inside), or ``name`` itself when outside."""
    probe = name
    while probe not in known and "." in probe:
        probe = probe.rpartition(".")[0]
    return probe if probe in known else name


def graph(found: list[Import], known: dict[str, Path]) -> dict[str, set[str]]:
    """Edges between package modules; importing ``a.b.c`` also runs ``a.b``'s ``__init__``."""
    edges: dict[str, set[str]] = {m: set() for m in known}
    for imp in found:
        if imp.target not in known or imp.target == imp.module:
            continue
        edges[imp.module].add(imp.target)
        parts = imp.target.split(".")
        for i in range(2, len(parts)):
            parent = ".".join(parts[:i])
            if parent in known and not imp.module.startswith(parent + "."):
                edges[imp.module].add(parent)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


KNOWN = modules()
FOUND = list(imports(KNOWN))


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(graph(FOUND, KNOWN)) == []


def test_no_module_reaches_into_another_packages_private_module() -> None:
    reaches = []
    for imp in FOUND:
        if imp.target not in KNOWN:
            continue
        parts = imp.target.split(".")
        for i, part in enumerate(parts):
            if part.startswith("_") and not part.startswith("__"):
                owner = ".".join(parts[:i])
                importer_package = imp.module if KNOWN[imp.module].name == "__init__.py" else imp.module.rpartition(".")[0]
                if importer_package != owner and not importer_package.startswith(owner + "."):
                    reaches.append(f"{imp.module}:{imp.line} imports {imp.target}")
                break
    assert reaches == []


def test_functions_import_only_the_deferred_heavy_libraries() -> None:
    local = [f"{i.module}:{i.line} imports {i.target}" for i in FOUND
             if i.local and i.target.split(".")[0] not in DEFERRED
             and i.target not in LAZY.get(i.module, ())]
    assert local == []


def test_nothing_inside_the_package_imports_its_root() -> None:
    """The root lazily imports the tuner (``pipetune.tune``); a module importing the root
    would tie every layer to the top one. The catalog's component programs are the exception:
    they are written as any user's component is (``import pipetune``) and nothing imports them."""
    assert [f"{i.module}:{i.line}" for i in FOUND if i.target == "pipetune" and i.module != "pipetune"
            and not i.module.startswith("pipetune.catalog.")] == []


def test_the_checker_sees_a_cycle_and_a_local_import() -> None:
    """The rules above can fail: a made-up graph with a cycle through a function-local import."""
    known = {"p": Path("p/__init__.py"), "p.a": Path("p/a.py"), "p.b": Path("p/b.py")}
    found = [Import("p.a", "p.b", 1, False), Import("p.b", "p.a", 5, True)]
    assert cycles(graph(found, known)) == [["p.a", "p.b"]]
