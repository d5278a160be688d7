"""Fetch the production models once, on a machine with internet, for offline deployment.

    tongban voice models DIR      →  DIR/sensevoice, DIR/paraformer-zh, DIR/fsmn-vad, DIR/ct-punc

Then copy DIR to the servers and point TONGBAN_VOICE_MODEL_DIR (and _MANDARIN_DIR, _VAD_DIR,
_PUNC_DIR) at its folders: at run time tongban loads only local directories.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tongban.voice.recognizer import INSTALL_HINT, FunASRRecognizer, VoiceConfigError

log = logging.getLogger(__name__)

# ModelScope ids, as FunASR's own name map resolves them (funasr.download.name_maps_from_hub)
MODELS: dict[str, str] = {
    "sensevoice": "iic/SenseVoiceSmall",
    "paraformer-zh": "iic/speech_seaco_paraformer_large_asr_nat-zh-cn-16k-common-vocab8404-pytorch",
    "fsmn-vad": "iic/speech_fsmn_vad_zh-cn-16k-common-pytorch",
    "ct-punc": "iic/punc_ct-transformer_cn-en-common-vocab471067-large",
}


def download_models(target: Path, names: tuple[str, ...] = tuple(MODELS), *, verify: bool = True) -> dict[str, Path]:
    """Download each model into `target/NAME` with ModelScope; with `verify`, load the speech
    models from those directories the way the server will (no hub), to prove they are complete."""
    try:
        from modelscope import snapshot_download
    except ImportError as exc:
        raise VoiceConfigError(INSTALL_HINT) from exc
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ValueError(f"unknown models {unknown}; choose from {sorted(MODELS)}")
    target.mkdir(parents=True, exist_ok=True)
    found: dict[str, Path] = {}
    for name in names:
        folder = target / name
        log.info("voice: downloading %s (%s) into %s", name, MODELS[name], folder)
        snapshot_download(MODELS[name], local_dir=str(folder))
        found[name] = folder
    if verify:
        for name in ("sensevoice", "paraformer-zh"):
            if name in found:
                FunASRRecognizer(found[name], vad_dir=found.get("fsmn-vad")).load()
    return found
