"""The WeChat official account (公众号) channel's parts; `channels.wechat_oa` wires them up.

`security` checks signatures and opens safe-mode envelopes, `api` talks to Tencent's API
(access token, 客服消息, media), `content` turns WeChat messages into text for the agent and
replies back into WeChat text, `pacing` queues agent turns behind acknowledgements.
"""
