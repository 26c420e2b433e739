"""The modules of lm_gym import each other without a cycle, counting imports inside functions.

An import cycle can be hidden by moving one of its imports into a function; this test parses
every module of the source tree (the folders ``setup.cfg`` maps into the ``lm_gym`` namespace),
collects every ``import`` and ``from ... import`` statement wherever it stands, and fails on
any cycle between lm_gym modules, naming it. Package faces re-export lazily (by module name
strings), so they add no edges.
"""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def source_modules() -> dict[str, Path]:
    """Module name -> file, for every module of the packages ``setup.cfg`` maps."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    modules = {}
    for line in config["options"]["package_dir"].strip().splitlines():
        package, folder = (part.strip() for part in line.split("="))
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def import_graph() -> dict[str, set[str]]:
    """Module -> the lm_gym modules it imports (anywhere in its body)."""
    modules = source_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _absolute(name, path.name == "__init__.py", node)
                targets = [
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                    for alias in node.names
                ]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_imports_inside_functions():
    """The CLI imports its commands inside functions (to start fast): those count."""
    assert "lm_gym.agents.run" in import_graph()["lm_gym.cli"]


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_lazy_export_is_named_like_a_submodule_of_its_package():
    """Importing a submodule binds its name on the package, so a lazily exported function of
    the same name would turn into the module once anything imports that submodule (``from
    lm_gym.evaluation import text_metrics`` returned a module after ``evaluate`` ran)."""
    modules = source_modules()
    clashes = []
    for name, path in modules.items():
        if path.name != "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        exported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "_EXPORTS" for target in node.targets
            ):
                exported |= {key.value for key in node.value.keys if isinstance(key, ast.Constant)}
        clashes += sorted(
            f"{name}.{export}" for export in exported if f"{name}.{export}" in modules
        )
    assert clashes == []
