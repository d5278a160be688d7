"""Audio to text, locally (FunASR). Imports nothing else of tongban's.

`voice.audio` decodes any voice message to 16 kHz PCM, `voice.recognizer` and `voice.runtime`
turn PCM into (text, language, confidence), `voice.pipeline.VoicePipeline` runs both in a bounded
pool, `voice.factory` builds them from `TONGBAN_VOICE_*` settings, `voice.models` fetches the
production models for offline use. Heavy packages (torch, funasr) load only when a model does.
"""
