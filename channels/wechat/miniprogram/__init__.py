"""The WeChat mini-program: login, chat API, voice, uploads and the message push."""
