"""通办 tongban: government-service conversational agents for messaging apps.

The one import root. Its parts live in the repository's top-level folders and are installed
under this name: `tongban.channels → tongban.agent → tongban.tools → tongban.memory`, with
`tongban.voice` beside the channels.
"""

from pathlib import Path

__version__ = "0.1.0"

# Run from a source checkout (pytest, `python -m tongban` in the repository), this folder is
# found before any installed copy; its parts sit beside it, so the checkout's own code is used.
_checkout = Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and (_checkout / "agent" / "__init__.py").is_file():
    __path__.append(str(_checkout))  # noqa: F821  (the package's own search path)
