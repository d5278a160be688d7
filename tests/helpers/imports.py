"""The project's import graph, read from source: every import, also inside functions."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("agent", "tools", "channels", "memory", "voice")


def modules() -> dict[str, Path]:
    """`tongban.channels.app.keys` → its file, for every module of the five parts and the root."""
    found = {"tongban": ROOT / "tongban" / "__init__.py"}
    for path in (ROOT / "tongban").glob("*.py"):
        if path.name != "__init__.py":
            found[f"tongban.{path.stem}"] = path
    for part in PARTS:
        for path in (ROOT / part).rglob("*.py"):
            if "migrations" in path.parts:
                continue  # Alembic's scripts, run by Alembic, import nothing of ours
            rel = path.relative_to(ROOT).with_suffix("")
            names = list(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
            found[".".join(["tongban", *names])] = path
    return found


def imports_of(path: Path, name: str, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(module imported, line) for each import statement anywhere in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                child = f"{base}.{alias.name}"
                yield (child if child in known else base), node.lineno


def graph() -> dict[str, set[str]]:
    """Module → the project's modules it imports (from any line of it)."""
    known = modules()
    return {name: {target for target, _ in imports_of(path, name, known) if target in known and target != name}
            for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found
