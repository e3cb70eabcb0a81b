"""The layout: imports run one way, down the pipeline (docs/architecture.md), and modules stay small.

Every import of every module is read from its source with `ast` (module level, inside
functions and under TYPE_CHECKING alike), so a lazy import cannot hide an arrow that
runs back up the pipeline.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("synthetic", "probekit")
MAX_MODULE_LINES = 400

# Stage of a module: the longest prefix listed here. A module may import its own stage
# or a lower one, never a higher one. docs/architecture.md explains each entry.
STAGES: dict[str, int] = {
    "synthetic": 0,
    # The Hub conversation (download, errors) imports nothing of probekit, so any stage
    # may load a checkpoint from the Hub; pushing a run is the last stage.
    "probekit.hub.client": 1,
    "probekit.models": 2,
    "probekit.config": 3,
    # The token roles a probe reads (ids in, positions out); config checks probe.position
    # against them, so they are named once.
    "probekit.probing.positions": 3,
    # Probing's array-level estimators, metrics and controls know nothing of checkpoints;
    # training uses them for its in-training recovery probe.
    "probekit.probing.solvers": 4,
    "probekit.probing.estimators": 4,
    "probekit.probing.probes": 4,
    "probekit.probing.metrics": 4,
    "probekit.probing.controls": 4,
    "probekit.probing.intervals": 4,
    "probekit.training": 5,
    "probekit.probing": 6,
    "probekit.theory": 7,
    "probekit.sweeps": 8,
    "probekit.report": 9,
    "probekit.hub": 10,
    "probekit.commands": 11,
    "probekit.cli": 11,
    "probekit.demo": 11,
    "probekit.train": 11,
    "probekit": 11,
}


def stage_of(module: str) -> int:
    """The stage of a dotted module name (longest matching prefix of STAGES)."""
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in STAGES:
            return STAGES[prefix]
    raise KeyError(f"{module} has no stage; add its package to STAGES and docs/architecture.md")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every project module `path` imports (`from a import b` counts a.b when it is a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in found if m.split(".")[0] in PACKAGES}


def project_modules() -> dict[str, Path]:
    return {
        module_name(p): p
        for pkg in PACKAGES
        for p in sorted((ROOT / pkg).rglob("*.py"))
        if "__pycache__" not in p.parts
    }


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (names that are not modules are dropped)."""
    modules = project_modules()
    return {name: {m for m in imports_of(p) if m in modules} for name, p in modules.items()}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every arrow from a lower stage to a higher one, as readable lines."""
    bad = []
    for src, targets in sorted(graph.items()):
        for dst in sorted(targets):
            if stage_of(dst) > stage_of(src):
                bad.append(f"{src} (stage {stage_of(src)}) imports {dst} (stage {stage_of(dst)})")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles between distinct modules (a package and its own __init__ excluded)."""
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt == node or node.startswith(nxt + ".") or nxt.startswith(node + "."):
                continue  # `import probekit.models` from inside the models package
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def test_every_module_has_a_stage():
    for name in project_modules():
        stage_of(name)  # raises with the fix when a new package is missing from STAGES


def test_imports_run_down_the_pipeline():
    bad = upward_imports(import_graph())
    assert not bad, "imports that run back up the pipeline:\n" + "\n".join(bad)


def test_synthetic_imports_nothing_of_probekit():
    graph = import_graph()
    bad = [
        f"{src} imports {dst}"
        for src, targets in graph.items()
        if src.startswith("synthetic")
        for dst in targets
        if dst.startswith("probekit")
    ]
    assert not bad


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_checks_flag_a_bad_arrow_and_a_cycle():
    # The checks themselves can fail: a metric importing the report, and a two-module cycle.
    graph = import_graph()
    graph["probekit.probing.metrics"] = graph["probekit.probing.metrics"] | {
        "probekit.report.document"
    }
    assert upward_imports(graph) == [
        "probekit.probing.metrics (stage 4) imports probekit.report.document (stage 9)"
    ]
    graph["synthetic.bits"] = graph["synthetic.bits"] | {"synthetic.fourier"}
    assert ["synthetic.bits", "synthetic.fourier", "synthetic.bits"] in cycles(graph)


def test_top_level_of_probekit_is_only_the_entry_points():
    top = sorted(p.name for p in (ROOT / "probekit").glob("*.py"))
    assert top == ["__init__.py", "cli.py", "config.py", "demo.py", "train.py"]


@pytest.mark.parametrize("name", sorted(project_modules()))
def test_modules_stay_small(name):
    lines = project_modules()[name].read_text().count("\n")
    assert lines <= MAX_MODULE_LINES, f"{name} has {lines} lines; split it by concept"


def test_subpackages_say_what_they_take_and_give():
    for init in sorted((ROOT / "probekit").glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and "first" in doc, (
            f"{init} needs a docstring: what the stage takes in, gives out, which module to read first"
        )
