"""通办 tongban: government-service conversational agents for messaging apps.

The one import root. Its parts live in the repository's top-level folders and are installed
under this name: `tongban.channels → tongban.agent → tongban.tools → tongban.memory`, with
`tongban.voice` beside the channels.
"""

__version__ = "0.1.0"
