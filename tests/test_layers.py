"""The layering rules of DESIGN.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fixme"


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module a file imports (relative imports resolved)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def test_the_node_never_imports_the_tracker_the_read_side_cli_or_tui():
    for path in (PACKAGE / "node").rglob("*.py"):
        for name in imported_modules(path):
            assert not name.startswith(("fixme.tracker", "fixme.scan", "fixme.cli", "fixme.tui", "fixme.config")), (path, name)


def test_nothing_outside_tui_imports_textual():
    for path in PACKAGE.rglob("*.py"):
        if "tui" in path.relative_to(PACKAGE).parts:
            continue
        for name in imported_modules(path):
            assert not name.startswith("textual"), (path, name)


def test_the_checker_sees_relative_imports():
    names = imported_modules(PACKAGE / "tracker" / "changes.py")
    assert "fixme.config" in names and "fixme.tracker.workflow" in names


def test_the_read_side_never_imports_the_tracker_cli_or_tui():
    for path in (PACKAGE / "scan").rglob("*.py"):
        for name in imported_modules(path):
            assert not name.startswith(("fixme.tracker", "fixme.cli", "fixme.tui")), (path, name)


def test_the_git_transport_is_node_code_and_list_never_imports_it():
    """The git relay carries any record log: it lives in node/ and knows nothing of the tracker;
    the modules `fixme list` always imports only load it inside functions."""
    for name in ("gitrelay.py", "gitobjects.py"):
        for imported in imported_modules(PACKAGE / "node" / name):
            assert not imported.startswith(("fixme.tracker", "fixme.scan", "fixme.cli", "fixme.config")), imported
    source = (PACKAGE / "tracker" / "gitsync.py").read_text()
    top_level = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert not [line for line in top_level if ".node" in line or "fixme.node" in line], top_level
