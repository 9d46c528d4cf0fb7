"""The package layout: imports go down the layers and down the rooms inside each layer,
no module imports in a circle, no module over 500 lines.

Read from the source with :mod:`ast` (nothing is imported, so nothing runs):

- *Layers*: ``features`` ← ``training`` ← ``serving`` ← ``churn`` ← ``benchmarks``. A
  module may import from its own package and the packages below it, never above. Every
  import counts here, also one inside a function: a deferred import that runs up is
  still an arrow up. (``benchmarks`` sits on top: it drives the product, nothing in the
  product imports it.)
- *Rooms*: inside a layer, its sub-packages (``serving.policy``, ``training.registry``
  ...) are ranked in :data:`ROOMS`, bottom to top; a room may import the rooms on the
  tiers below its own, never one on its own tier or above. Every import counts, as for
  the layers. A layer's loose modules (``training/train.py``, ``serving/settings.py``)
  are not ranked: the layer and circle rules cover them. Every sub-package must have a
  place in :data:`ROOMS`, so a new one cannot slip past the rule.
- *Circles*: between the modules of one top-level package, counting only the imports that
  run when a module is first imported, i.e. the statements at module level (also inside a
  module-level ``if``/``try``), but not those under ``if TYPE_CHECKING:`` (never run) and
  not those inside a function or method (they run later, once both modules are loaded,
  which is how a heavy or optional dependency is deferred on purpose).
  ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to
  ``pkg`` (its ``__init__``).
- *Size*: no module over :data:`MAX_LINES` lines, ``benchmarks/`` included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("features", "training", "serving", "churn", "benchmarks")
"""Bottom to top: a package may import the ones before it, not the ones after."""
ROOMS: dict[str, tuple[tuple[str, ...], ...]] = {
    # the feature layer's rooms as ARCHITECTURE.md plans them (contract ← families ← io ←
    # synthetic); a planned room that does not exist yet is simply not checked
    "features": (("contract",), ("families",), ("io",), ("synthetic",)),
    "training": (("models",), ("evaluation",), ("registry",), ("monitoring",)),
    "serving": (("policy",), ("api", "batch"), ("report", "evaluation")),
    "churn": (),
    "benchmarks": (),
}
"""Per layer, its sub-packages in tiers, bottom to top: a room imports only lower tiers."""
KNOWN_UP: dict[tuple[str, str], str] = {}
"""Imports up between rooms that are known and have an owner: ``(module, room)``: why.

An entry that no longer matches an import fails too, so the list only shrinks."""
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {
    module_name(path): path
    for package in LAYERS
    for path in sorted((REPO / package).rglob("*.py"))
    if "__pycache__" not in path.parts
}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """Full names of the modules an import statement loads."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative: resolve against this module's package
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join([*base, *([node.module] if node.module else [])])
    else:
        source = node.module or ""
    return [
        f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source
        for alias in node.names
    ]


def imports(module: str, *, module_level_only: bool) -> set[str]:
    """Modules ``module`` imports; with ``module_level_only``, those run at its import."""
    path = MODULES[module]
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.update(_targets(node, module, is_package))
            elif isinstance(node, ast.If):
                if not _is_type_checking(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                for block in (node.body, node.orelse, node.finalbody):
                    visit(block)
                for handler in node.handlers:
                    visit(handler.body)
            elif isinstance(node, ast.With):
                visit(node.body)
            elif not module_level_only:
                for child in ast.walk(node):
                    if isinstance(child, ast.Import | ast.ImportFrom):
                        found.update(_targets(child, module, is_package))

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_down_the_layers(module):
    rank = LAYERS.index(module.split(".")[0])
    up = sorted(
        name
        for name in imports(module, module_level_only=False)
        if name.split(".")[0] in LAYERS and LAYERS.index(name.split(".")[0]) > rank
    )
    assert up == [], f"{module} imports {up}, above it (layers bottom to top: {LAYERS})"


def room(module: str) -> str | None:
    """The sub-package (``layer.room``) that holds ``module``; None for a loose module."""
    parts = module.split(".")
    if len(parts) < 2 or not (REPO / parts[0] / parts[1]).is_dir():
        return None
    return f"{parts[0]}.{parts[1]}"


def _tier(name: str) -> int | None:
    layer, _, sub = name.partition(".")
    for tier, rooms in enumerate(ROOMS[layer]):
        if sub in rooms:
            return tier
    return None


def _owner(name: str) -> str | None:
    """The module of ours that the import of ``name`` loads."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def rooms_up(module: str) -> list[str]:
    """The rooms on ``module``'s tier or above that ``module`` imports (any import)."""
    own = room(module)
    if own is None:
        return []
    found = set()
    for name in imports(module, module_level_only=False):
        target = room(_owner(name) or "")
        if target is None or target == own or target.split(".")[0] != own.split(".")[0]:
            continue
        below, above = _tier(own), _tier(target)
        if below is not None and above is not None and above >= below:
            found.add(target)
    return sorted(found)


ALL_ROOMS = sorted({r for m in MODULES if (r := room(m))})


@pytest.mark.parametrize("name", ALL_ROOMS)
def test_every_room_has_a_tier(name):
    layer = name.split(".")[0]
    assert _tier(name) is not None, (
        f"{name} is a sub-package with no place in ROOMS[{layer!r}] {ROOMS[layer]}: "
        "add it to the tier it belongs on"
    )


@pytest.mark.parametrize("module", sorted(m for m in MODULES if room(m)))
def test_imports_run_down_the_rooms(module):
    up = [r for r in rooms_up(module) if (module, r) not in KNOWN_UP]
    layer = module.split(".")[0]
    assert up == [], (
        f"{module} imports {up}, on its own tier or above it "
        f"(rooms of {layer}, bottom to top: {ROOMS[layer]})"
    )


def test_known_imports_up_still_exist():
    stale = [key for key in KNOWN_UP if key[1] not in rooms_up(key[0])]
    assert stale == [], f"remove these from KNOWN_UP, they no longer import up: {stale}"


def test_the_room_rule_finds_an_import_up(tmp_path, monkeypatch):
    """policy importing api (a room above it) is reported; api importing policy is not."""
    fake = {
        "serving.policy.fake": tmp_path / "policy_fake.py",
        "serving.api.fake": tmp_path / "api_fake.py",
        "serving.batch.fake": tmp_path / "batch_fake.py",
    }
    fake["serving.policy.fake"].write_text("def f():\n    from serving.api import fake\n")
    fake["serving.api.fake"].write_text("from serving.policy import fake\n")
    fake["serving.batch.fake"].write_text("import serving.api.fake\n")
    monkeypatch.setattr(f"{__name__}.MODULES", {**MODULES, **fake})
    assert rooms_up("serving.policy.fake") == ["serving.api"]
    assert rooms_up("serving.api.fake") == []
    assert rooms_up("serving.batch.fake") == ["serving.api"]  # same tier: not allowed either


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def _graph(package: str) -> dict[str, set[str]]:
    """Module-level import edges between the modules of ``package`` (no self-edges)."""
    inside = [m for m in MODULES if m.split(".")[0] == package]

    return {
        m: {
            t
            for t in (_owner(n) for n in imports(m, module_level_only=True))
            if t and t != m and t.split(".")[0] == package
        }
        for m in inside
    }


@pytest.mark.parametrize("package", LAYERS)
def test_no_import_circles(package):
    found = _cycles(_graph(package))
    assert found == [], f"modules of {package} in a circle: {found}"


def test_the_cycle_finder_finds_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_size(module):
    path = MODULES[module]
    relative = path.relative_to(REPO).as_posix()
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{relative} has {lines} lines, more than {MAX_LINES}"
