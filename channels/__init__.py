"""The edge: HTTP in, replies out (WeChat, mini-program, SMS, staff console), and the CLI.

Nothing imports this package.
"""
