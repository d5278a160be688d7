"""The WeChat official account (公众号) webhook: verify, decrypt, dedupe, passive reply or 客服消息."""
