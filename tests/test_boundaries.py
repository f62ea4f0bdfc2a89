"""The house rules on imports, read from every module's source (ast), so they hold from now on:

- services never import each other: nothing under services/worker or services/notifier
  imports services.ingest, and worker and notifier do not import one another;
- shared/ imports services only in the `beacon` command's entry point (shared/cli.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("ingest", "worker", "notifier")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def forbidden_edges() -> list[str]:
    edges = []
    for service in SERVICES:
        others = [f"services.{s}" for s in SERVICES if s != service]
        for path in _modules(f"services/{service}"):
            for name in _imports(path):
                if any(name == o or name.startswith(o + ".") for o in others):
                    edges.append(f"{path.relative_to(ROOT)} imports {name}")
    for path in _modules("shared"):
        if path.relative_to(ROOT) == Path("shared/cli.py"):
            continue
        for name in _imports(path):
            if name == "services" or name.startswith("services."):
                edges.append(f"{path.relative_to(ROOT)} imports {name}")
    return edges


def test_no_service_imports_another_and_shared_imports_no_service() -> None:
    assert forbidden_edges() == []


def test_the_walk_sees_a_forbidden_edge(tmp_path: Path) -> None:
    """The check can fail: an import written the ways code writes them is found."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import services.ingest.main\n"
        "from services.ingest.api import context\n"
        "def f():\n    from services.notifier import engine\n"
    )
    names = _imports(sample)
    assert {"services.ingest.main", "services.ingest.api", "services.notifier"} <= names


def test_every_module_is_walked() -> None:
    walked = {p.relative_to(ROOT).as_posix() for f in ("shared", "services") for p in _modules(f)}
    assert "services/notifier/status_api.py" in walked and "shared/auth/caller.py" in walked
