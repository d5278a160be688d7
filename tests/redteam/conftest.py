"""The channels' app fixtures, for scanning what the staff console answers."""

from tests.channels.conftest import channel_settings, make_app  # noqa: F401
