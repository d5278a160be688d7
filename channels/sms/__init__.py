"""The SMS channel (短信): gateway webhooks in, approved templates out, a numbered menu.

Many elderly residents reach 12345-style services by SMS on phones without WeChat; the
sending number is their identity (proven by the network). See `channel.py` for the flow.
"""

from __future__ import annotations

from tongban.channels.sms.channel import SMS, SMS_SETTINGS, SmsChannel, setup
from tongban.channels.sms.settings import SmsSettings, get_sms_settings

__all__ = ["SMS", "SMS_SETTINGS", "SmsChannel", "SmsSettings", "get_sms_settings", "setup"]
