"""The package's structure, read from the source with ``ast`` (nothing of reelset is imported, so this runs in a blink).

Each test is one rule; a failure lists every offender as ``src/reelset/...py:LINE: ...``. Imports anywhere in a
module count (those inside functions too: a lazy import is still a dependency). Only the import-cycle rule leaves
out ``if TYPE_CHECKING:`` blocks (they never run); the other rules count them, a type-only dependency being one too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "reelset"


@dataclass(frozen=True)
class Module:
    name: str  # ``reelset.x`` for ``reelset/x/__init__.py``, ``reelset.x.y`` for ``reelset/x/y.py``
    path: Path
    is_package: bool
    tree: ast.Module

    @property
    def where(self) -> str:
        return str(self.path.relative_to(SRC.parent))

    def under(self, *folders: str) -> bool:
        """Whether the module lives in one of ``reelset/<folder>`` (a sub-package or a ``<folder>.py`` module)."""
        return len(parts := self.name.split(".")) > 1 and parts[1] in folders


@dataclass(frozen=True)
class Import:
    line: int
    names: tuple[str, ...]  # the modules the statement may name: ``a.b`` and ``a.b.c`` for ``from a.b import c``
    type_checking: bool  # inside an ``if TYPE_CHECKING:`` block


@cache
def modules() -> tuple[Module, ...]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        found.append(Module(name, path, is_package, ast.parse(path.read_text(encoding="utf-8"), str(path))))
    assert found, f"no modules under {PACKAGE}"
    return tuple(found)


@cache
def module_names() -> frozenset[str]:
    return frozenset(module.name for module in modules())


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"
            or isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST, type_checking: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Every node under ``node`` with whether it sits in the body of an ``if TYPE_CHECKING:``."""
    yield node, type_checking
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        yield from _walk(node.test, type_checking)
        for child in node.body:
            yield from _walk(child, True)
        for child in node.orelse:
            yield from _walk(child, type_checking)
        return
    for child in ast.iter_child_nodes(node):
        yield from _walk(child, type_checking)


def _dynamic_import(node: ast.Call) -> str | None:
    """The module of ``importlib.import_module("x")``, ``import_module("x")`` or ``__import__("x")`` (a constant)."""
    func = node.func
    called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    if (called in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str) and not node.args[0].value.startswith(".")):
        return node.args[0].value
    return None


@cache
def imports(module: Module, dynamic: bool = False) -> tuple[Import, ...]:
    """The module's import statements (relative ones resolved); with ``dynamic``, constant ``import_module`` calls."""
    package = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
    found = []
    for node, type_checking in _walk(module.tree):
        if isinstance(node, ast.Import):
            found.extend(Import(node.lineno, (alias.name,), type_checking) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[:len(package) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            members = (f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
            found.append(Import(node.lineno, (base, *members), type_checking))
        elif dynamic and isinstance(node, ast.Call) and (name := _dynamic_import(node)):
            found.append(Import(node.lineno, (name,), type_checking))
    return tuple(found)


def _top(name: str) -> str:
    return name.split(".")[0]


def _reelset_part(name: str) -> str | None:
    """``yt8m`` for ``reelset.yt8m.records``; None for ``reelset`` itself and for other packages."""
    parts = name.split(".")
    return parts[1] if parts[0] == "reelset" and len(parts) > 1 else None


def _offenders(check, *, dynamic: bool = False, only=lambda module: True) -> list[str]:
    """``file:line: imports NAME`` for each name of an import statement that ``check(module, name)`` rejects."""
    found = []
    for module in modules():
        if not only(module):
            continue
        for imported in imports(module, dynamic):
            for name in imported.names:
                if check(module, name):
                    found.append(f"{module.where}:{imported.line}: imports {name}")
                    break
    return found


def _report(found: list[str], rule: str) -> str:
    return f"{len(found)} violation(s) of: {rule}\n" + "\n".join(found)


# --- 1. import cycles ------------------------------------------------------------------------------------------


def _target(name: str) -> str | None:
    """The most specific reelset module file that ``name`` names (``reelset.a.b`` for ``reelset.a.b.attribute``)."""
    parts = name.split(".")
    while parts and parts[0] == "reelset":
        if (candidate := ".".join(parts)) in module_names():
            return candidate
        parts.pop()
    return None


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {reelset module it imports explicitly: first line}; ``TYPE_CHECKING`` blocks left out.

    ``from a.b import c`` names ``a.b.c`` when that is a module, else ``a.b``. Importing ``reelset.x.y`` also runs
    ``reelset/x/__init__.py``; that implicit edge is left out (else every ``__init__`` re-exporting its submodules
    would be a cycle)."""
    graph: dict[str, dict[str, int]] = {}
    for module in modules():
        edges = graph.setdefault(module.name, {})
        for imported in imports(module):
            if imported.type_checking:
                continue
            base, *members = imported.names
            # ``from a.b import c, d``: ``a.b.c`` if a module, else ``a.b``; ``import a.b``: ``a.b`` (or its parent)
            targets = {_target(member) for member in members} or {_target(base)}
            for target in targets - {None}:
                edges.setdefault(target, imported.line)
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
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
                    components.append(sorted(component))
    return components


def test_no_import_cycles():
    """No module of src/reelset reaches itself through reelset imports (lazy ones inside functions count;
    ``if TYPE_CHECKING:`` blocks and the implicit run of a parent package's ``__init__`` do not)."""
    graph = import_graph()
    where = {module.name: module.where for module in modules()}
    found = []
    for component in strongly_connected(graph):
        if len(component) == 1 and component[0] not in graph[component[0]]:
            continue
        members = set(component)
        edges = [f"    {where[source]}:{line}: {source} -> {target}"
                 for source in component for target, line in sorted(graph[source].items()) if target in members]
        found.append(f"cycle among {', '.join(component)}:\n" + "\n".join(edges))
    assert not found, f"{len(found)} import cycle(s) in src/reelset:\n" + "\n".join(found)


# --- 2. layers ------------------------------------------------------------------------------------------------


def test_features_do_not_import_yt8m():
    """``reelset.features`` is below ``reelset.yt8m``: yt8m may use features, never the reverse."""
    found = _offenders(lambda module, name: _reelset_part(name) == "yt8m", only=lambda module: module.under("features"))
    assert not found, _report(found, "reelset/features imports nothing from reelset.yt8m")


BOTTOM = {"core", "formats", "__version__"}  # what the bottom layers may use of reelset (the root: its version)


def test_core_and_formats_are_the_bottom_layers():
    """``reelset.core`` and ``reelset.formats`` import no ``click`` (options live in ``reelset/cli``) and no reelset
    package but ``reelset.core``, ``reelset.formats`` (and ``reelset.__version__``)."""
    found = _offenders(lambda module, name: _top(name) == "click" or _reelset_part(name) not in BOTTOM | {None},
                       only=lambda module: module.under("core", "formats"))
    assert not found, _report(found, "reelset/core and reelset/formats import no click, and of reelset only "
                                     "reelset.core, reelset.formats, reelset.__version__")


def test_scale_uses_only_core():
    """``reelset.scale`` (the executors: threads or a Dask cluster) imports of reelset only ``reelset.core`` and
    itself, so every pipeline can use it without a cycle."""
    found = _offenders(lambda module, name: _reelset_part(name) not in {"core", "scale", None},
                       only=lambda module: module.under("scale"))
    assert not found, _report(found, "reelset/scale imports of reelset only reelset.core and reelset.scale")


def test_only_cli_imports_click():
    """``click`` is the command line's business: only ``reelset/cli`` imports it."""
    found = _offenders(lambda module, name: _top(name) == "click", dynamic=True,
                       only=lambda module: not module.under("cli"))
    assert not found, _report(found, "only reelset/cli imports click")


# --- 3. Dask stays in reelset.scale ----------------------------------------------------------------------------


def test_only_scale_imports_dask():
    """Dask is an optional extra behind ``reelset.scale``: no module outside ``reelset/scale`` imports ``dask`` or
    ``distributed`` (``import``, ``from ... import``, lazily in a function, or ``importlib.import_module("...")``)."""
    found = _offenders(lambda module, name: _top(name) in {"dask", "distributed"}, dynamic=True,
                       only=lambda module: not module.under("scale"))
    assert not found, _report(found, "only reelset/scale imports dask or distributed")


def _names_scheduler(node: ast.AST) -> bool:
    return any(isinstance(sub, ast.Name) and sub.id == "scheduler"
               or isinstance(sub, ast.Attribute) and sub.attr == "scheduler" for sub in ast.walk(node))


def test_only_scale_and_cli_branch_on_a_scheduler():
    """Pipelines take an executor (``reelset.scale.executor_for``) and never choose between threads and Dask
    themselves: outside ``reelset/scale`` and ``reelset/cli`` no ``if``/``while``/``x if ... else y`` test names
    ``scheduler``, and no function has a parameter called ``scheduler``."""
    offenders: list[str] = []
    found: list[tuple[int, str]] = []
    for module in modules():
        if module.under("scale", "cli"):
            continue
        for node in ast.walk(module.tree):
            if isinstance(node, (ast.If, ast.IfExp, ast.While)) and _names_scheduler(node.test):
                kind = {ast.If: "an `if`", ast.IfExp: "a conditional expression's", ast.While: "a `while`"}[type(node)]
                found.append((node.lineno, f"{module.where}:{node.lineno}: `scheduler` in {kind} test"))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                arguments = node.args
                every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                         *filter(None, (arguments.vararg, arguments.kwarg))]
                found.extend((arg.lineno, f"{module.where}:{arg.lineno}: parameter `scheduler` of "
                                          f"{getattr(node, 'name', 'a lambda')}()")
                             for arg in every if arg.arg == "scheduler")
        offenders.extend(line for _, line in sorted(found))
        found.clear()
    assert not offenders, _report(offenders, "only reelset/scale and reelset/cli branch on, or take, a `scheduler`")


# --- 4. test-only code stays out of the package ----------------------------------------------------------------


def test_package_does_not_import_test_code():
    """The installed package never needs the tests: nothing under src/reelset imports ``pytest`` (or ``_pytest``)
    or ``tests`` (test-only helpers live in ``tests/support``)."""
    found = _offenders(lambda module, name: _top(name) in {"pytest", "_pytest", "tests"}, dynamic=True)
    assert not found, _report(found, "nothing under src/reelset imports pytest or tests")
