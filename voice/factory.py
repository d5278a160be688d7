"""Build the recogniser and the pipeline that the settings describe."""

from __future__ import annotations

from tongban.voice.audio import missing_tools
from tongban.voice.pipeline import VoicePipeline
from tongban.voice.recognizer import (
    FunASRRecognizer,
    Recognizer,
    RoutedRecognizer,
    VoiceConfigError,
)
from tongban.voice.runtime import RuntimeRecognizer
from tongban.voice.settings import VoiceSettings


def build_recognizer(settings: VoiceSettings) -> Recognizer:
    """A runtime server when its URL is set, else local FunASR models; refuses what cannot work."""
    if settings.voice_runtime_url:
        weights = {word: 20 for word in settings.voice_hotwords}
        return RuntimeRecognizer(settings.voice_runtime_url, timeout_s=settings.voice_runtime_timeout_s,
                                 hotwords=weights, verify_ssl=settings.voice_runtime_verify_ssl)
    if settings.voice_model_dir is None:
        raise VoiceConfigError("voice is off: set TONGBAN_VOICE_MODEL_DIR or TONGBAN_VOICE_RUNTIME_URL")
    common = {"device": settings.voice_device, "threads": settings.voice_threads,
              "hotwords": tuple(settings.voice_hotwords)}
    main = FunASRRecognizer(settings.voice_model_dir, vad_dir=settings.voice_vad_dir,
                            punc_dir=settings.voice_punc_dir,
                            language=settings.voice_language, **common)
    if settings.voice_mandarin_dir is None:
        return main
    if main.kind != "sensevoice":
        raise VoiceConfigError("TONGBAN_VOICE_MANDARIN_DIR needs a SenseVoice model in TONGBAN_VOICE_MODEL_DIR")
    mandarin = FunASRRecognizer(settings.voice_mandarin_dir, vad_dir=settings.voice_vad_dir,
                                punc_dir=settings.voice_punc_dir, **common)
    return RoutedRecognizer(detector=main, mandarin=mandarin)


def build_pipeline(settings: VoiceSettings) -> VoicePipeline:
    """The settings are checked first (a model name instead of a folder is the commonest mistake),
    then the audio tools the pipeline decodes with."""
    recognizer = build_recognizer(settings)
    missing = missing_tools()
    if missing:
        raise VoiceConfigError(f"voice needs {', '.join(missing)} (apt-get install sox libsox-fmt-all ffmpeg; "
                               "pip install 'tongban[voice]')")
    return VoicePipeline(recognizer, workers=settings.voice_workers, max_queue=settings.voice_queue,
                         pcm_rate=settings.voice_pcm_rate, default_max_seconds=settings.voice_max_seconds)
