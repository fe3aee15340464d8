"""The house's rules (issue 12), checked on the source: imports go down the floors and never in a circle, and no
module outgrows a room. Read from the files with `ast`, so nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PACKAGES = ("selftrain_core", "tasks", "flows", "selftrain_cli", "deployments")
MAX_LINES = 250
FLOORS = {"deployments": 3, "selftrain_cli": 3, "flows": 2, "tasks": 1, "selftrain_core": 0}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imported(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """The project modules a module imports anywhere in its file (top level, TYPE_CHECKING, inside functions)."""
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if is_package else name.split(".")[:-1]
                base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in known:  # `from a.b import c`: the module a.b.c if it is one, else a.b
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(path, name, known) for name, path in known.items()}


def cycle_from(start: str, edges: dict[str, set[str]]) -> list[str] | None:
    stack, on_path, done = [(start, iter(sorted(edges[start])))], [start], set()
    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            on_path.pop()
            done.add(node)
        elif child in on_path:
            return on_path[on_path.index(child) :] + [child]
        elif child not in done:
            stack.append((child, iter(sorted(edges[child]))))
            on_path.append(child)
    return None


def package_of(module: str) -> str:
    return module.split(".")[0]


def test_the_import_graph_has_no_cycle():
    edges = graph()
    # a package's __init__ that re-exports from its own modules is not a cycle its modules can run into
    edges = {m: {t for t in ts if not (m.startswith(t + ".") and t in edges)} for m, ts in edges.items()}
    cycles = [c for m in sorted(edges) if (c := cycle_from(m, edges))]
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles[:5])


def test_imports_go_down_the_floors_and_the_library_never_imports_prefect():
    up = [f"{m} -> {t}" for m, ts in graph().items() for t in ts if FLOORS[package_of(t)] > FLOORS[package_of(m)]]
    assert not up, f"imports that go up a floor: {up}"
    for name, path in modules().items():
        if name.startswith("selftrain_core"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
            assert not any(n == "prefect" or n.startswith("prefect.") for n in names), f"{name} imports prefect"


@pytest.mark.parametrize("folder", [*PACKAGES, "bench"])
def test_no_module_outgrows_a_room(folder):
    big = {
        str(path.relative_to(REPO)): lines
        for path in sorted((REPO / folder).rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_a_stage_folder_holds_its_config_and_its_stage():
    from selftrain_core.stages import STAGES

    for stage in STAGES:
        folder = REPO / "selftrain_core" / "stages" / stage
        assert (folder / "config.py").is_file() and (folder / "stage.py").is_file(), stage
        # the stage package imports nothing, so its config can be imported without the stage's code
        init = ast.parse((folder / "__init__.py").read_text(encoding="utf-8"))
        assert not [n for n in init.body if isinstance(n, ast.Import | ast.ImportFrom)], stage


def test_the_cycle_finder_finds_a_cycle():
    assert cycle_from("a", {"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle_from("a", {"a": {"b"}, "b": set()}) is None
