"""SILK → PCM in a child process (`python -m voice._silk RATE MAX_BYTES` < silk > pcm).

Kept out of the server process on purpose: a malformed SILK file can corrupt the native
decoder's heap and abort the interpreter. Here that only ends this child.
"""

from __future__ import annotations

import io
import sys


def main() -> int:
    import pysilk

    rate, cap = int(sys.argv[1]), int(sys.argv[2])
    data = sys.stdin.buffer.read()
    out = io.BytesIO()
    try:
        pysilk.decode(io.BytesIO(data), out, rate)
    except Exception as exc:  # SilkError and friends: a clear message for the parent
        print(f"silk: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(out.getvalue()[:cap])
    return 0


if __name__ == "__main__":
    sys.exit(main())
