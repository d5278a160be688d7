"""Dependencies point one way: channels → agent → tools → memory; voice beside channels."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {
    "memory": set(),
    "voice": set(),
    "tools": {"memory"},
    "agent": {"tools", "memory"},
    "channels": {"agent", "tools", "memory", "voice"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(_layer(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(_layer(node.module))
    return found


def _layer(module: str) -> str:
    """`tongban.agent.service` → `agent`; anything else → its top-level name."""
    parts = module.split(".")
    return parts[1] if parts[0] == "tongban" and len(parts) > 1 else parts[0]


def test_layers_import_only_downwards() -> None:
    violations = []
    for package, allowed in ALLOWED.items():
        for path in (ROOT / package).rglob("*.py"):
            for imported in _imports(path) & set(ALLOWED):
                if imported != package and imported not in allowed:
                    violations.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert violations == []


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    command = next(line for line in ci.splitlines() if line.startswith("python3 -m venv"))
    assert f"\n{command}\n" in readme, "the README shows the command .ci/run runs"
