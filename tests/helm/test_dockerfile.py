"""The Dockerfile, read as text: a non-root, compiler-free runtime with no model weights inside."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # renders the Helm chart and builds the image spec

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
MODEL_FILES = re.compile(r"\.(gguf|safetensors|bin|onnx|pt|pth|ckpt)\b|\bmodels?/", re.IGNORECASE)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stages(text: str) -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions(text):
        if instruction[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def test_multi_stage_on_python_311_slim() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    built = stages(text)
    assert len(built) >= 2
    assert all(stage[0][1].startswith("${PYTHON_IMAGE}") for stage in built)


def test_the_final_stage_runs_as_uid_10001_without_compilers() -> None:
    final = stages(DOCKERFILE.read_text(encoding="utf-8"))[-1]
    users = [args for word, args in final if word == "USER"]
    assert users and users[-1].split(":")[0] == "10001"
    runs = " ".join(args for word, args in final if word == "RUN")
    for compiler in ("build-essential", "gcc", "g++", "clang", "make "):
        assert compiler not in runs
    assert "pip install" not in runs  # everything comes from the build stage's virtual environment
    assert ("COPY", "--from=build /opt/tongban /opt/tongban") in final


def test_a_regular_install_without_dev_extras() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    installs = [args for word, args in instructions(text) if word == "RUN" and "pip install" in args]
    assert installs
    for args in installs:
        assert "-e " not in args and "--editable" not in args
        assert "dev" not in re.findall(r"\[([^\]]*)\]", args)
    assert "ARG TONGBAN_EXTRAS=llm" in text


def test_no_model_files_are_copied() -> None:
    for word, args in instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if word in ("COPY", "ADD"):
            assert not MODEL_FILES.search(args), args
            assert word != "ADD" or not args.startswith("http"), args
    ignored = DOCKERIGNORE.read_text(encoding="utf-8")
    assert "**" in ignored.splitlines()  # everything is excluded unless listed
    for pattern in ("**/*.gguf", "**/*.safetensors", "**/*.onnx"):
        assert pattern in ignored


def test_serves_on_8080_with_tongban_as_entrypoint_and_no_healthcheck() -> None:
    final = stages(DOCKERFILE.read_text(encoding="utf-8"))[-1]
    words = dict(final)
    assert words["EXPOSE"] == "8080"
    assert words["ENTRYPOINT"] == '["tongban"]'
    assert words["CMD"] == '["serve", "--host", "0.0.0.0"]'
    assert "HEALTHCHECK" not in words  # Kubernetes probes do it
    env = " ".join(args for word, args in final if word == "ENV")
    assert "TONGBAN_DATA_DIR=/var/lib/tongban" in env
