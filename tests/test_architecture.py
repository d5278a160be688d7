"""Dependencies point one way: channels → agent → tools → memory; voice beside channels."""

from __future__ import annotations

import ast
import importlib
import tomllib
from pathlib import Path

from tests.helpers.imports import cycles, graph

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


# ---------------------------------------------------------------------------- imports


def test_no_import_cycles_not_even_inside_functions() -> None:
    """Every import counts: at the top, inside functions, under TYPE_CHECKING."""
    assert cycles(graph()) == []


def test_the_app_keys_import_nothing_of_ours_at_run_time() -> None:
    """Every channel reads the app through the keys, so they must never be part of a cycle."""
    tree = ast.parse((ROOT / "channels" / "app" / "keys.py").read_text("utf-8"))
    guarded = {id(n) for node in tree.body if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
               for n in ast.walk(node)}
    ours = [ast.unparse(node) for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
            and id(node) not in guarded and "tongban" in ast.unparse(node)]
    assert ours == []


_GRAPH_NAMES = {"graph", "get_state", "aget_state", "update_state", "get_state_history", "checkpointer"}


def test_no_channel_reads_graph_state_or_thread_ids() -> None:
    """Channels get the agent as `agent.interface.Assistant` and never reach into its graph."""
    found = []
    for path in (ROOT / "channels").rglob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in _GRAPH_NAMES:
                found.append(f"{where}:{node.lineno} .{node.attr}")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "thread_id" in node.value:
                found.append(f"{where}:{node.lineno} {node.value!r}")
            elif isinstance(node, ast.ImportFrom) and node.module and (
                    node.module.startswith("langgraph") or node.module in ("tongban.agent.graph", "tongban.agent.service")
                    and any(a.name != "make_agent" for a in node.names)):
                found.append(f"{where}:{node.lineno} imports {node.module}")
    assert found == []


def test_no_test_module_imports_another_test_module() -> None:
    """Shared test code lives in tests/helpers/ or a conftest, never in a test_*.py."""
    found = []
    for path in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{path.relative_to(ROOT)} imports {n}" for n in names
                      if n.startswith("tests.") and n.rpartition(".")[2].startswith("test_")]
    assert found == []


def test_beijing_time_and_weekday_names_are_defined_once() -> None:
    """tongban.memory.clock holds the time zone and the weekday names; everything else imports them."""
    defined = []
    for part in ("agent", "tools", "channels", "memory", "voice"):
        for path in (ROOT / part).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                targets = node.targets if isinstance(node, ast.Assign) else \
                    [node.target] if isinstance(node, ast.AnnAssign) else []
                defined += [f"{path.relative_to(ROOT)} {t.id}" for t in targets
                            if isinstance(t, ast.Name) and t.id in ("SHANGHAI", "WEEKDAYS")]
            text = path.read_text("utf-8")
            if 'ZoneInfo("Asia/Shanghai")' in text or "timedelta(hours=8)" in text:
                defined.append(f"{path.relative_to(ROOT)} builds UTC+8 itself")
    assert sorted(defined) == ["memory/clock.py SHANGHAI", "memory/clock.py WEEKDAYS", "memory/clock.py builds UTC+8 itself"]


def test_the_channel_to_column_map_is_written_once() -> None:
    """memory.channel.Channel knows which Resident column holds each channel's id."""
    found = [str(path.relative_to(ROOT)) for part in ("agent", "tools", "channels", "memory")
             for path in (ROOT / part).rglob("*.py")
             if "migrations" not in path.parts and '"miniprogram_openid"' in path.read_text("utf-8")]
    assert found == ["memory/channel.py"]


def test_every_way_in_has_a_setup_the_app_calls() -> None:
    """The app knows channels only through `setup(app)`: routes, rate-limit policies, delivery."""
    from tongban.channels.app.server import CHANNELS

    for name in CHANNELS:
        module = importlib.import_module(name)
        assert callable(getattr(module, "setup", None)), name


# ---------------------------------------------------------------------------- packaging


def test_the_package_list_covers_every_folder_with_an_init() -> None:
    """pyproject lists packages explicitly (the folders install under tongban.): none may be missing."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
    folders = {f"tongban.{part}": ROOT / part for part in ("agent", "tools", "channels", "memory", "voice")}
    expected = {"tongban"}
    for root_name, folder in folders.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder).parts
            expected.add(".".join([root_name, *rel]))
    assert set(config["packages"]) == expected
    assert config["package-dir"] == {"tongban": "tongban", **{k: str(v.relative_to(ROOT)) for k, v in folders.items()}}


def test_package_data_globs_find_the_static_files() -> None:
    """Every non-Python file a package serves or reads is matched by a package-data glob."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
    for package, globs in config["package-data"].items():
        folder = ROOT / config["package-dir"][package]
        for pattern in globs:
            assert list(folder.glob(pattern)), f"{package}: {pattern} matches nothing"
    static = [p for p in (ROOT / "channels").rglob("static/*") if p.is_file()]
    matched = {p for pattern in config["package-data"]["tongban.channels"] for p in (ROOT / "channels").glob(pattern)}
    assert static and set(static) <= matched
