"""The ways residents reach us, and which column of `Resident` holds their id on each.

One place for the channel names and the channel-to-column map: resolving a resident, reading
their history, delivering to them and checking who owns a form all read it from here.
"""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    WECHAT = "wechat"  # 公众号: the openid
    MINIPROGRAM = "miniprogram"  # 小程序: its own openid (a unionid links it to the 公众号)
    WEB = "web"  # web chat: a random id in a signed cookie
    SMS = "sms"  # the phone number, stored encrypted with a blind index

    @property
    def column(self) -> str | None:
        """The `Resident` column holding the plain channel id; None for SMS (the phone is sealed)."""
        return _COLUMNS.get(self)


_COLUMNS = {Channel.WECHAT: "wechat_openid", Channel.MINIPROGRAM: "miniprogram_openid", Channel.WEB: "web_id"}


def column_of(channel: str) -> str | None:
    """The column for a channel name; None for SMS and for names that are not channels."""
    try:
        return Channel(channel).column
    except ValueError:
        return None
