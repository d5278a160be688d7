"""Tiny, randomly initialised FunASR model directories — for tests and the bench only.

No Chinese speech-recognition weights can be fetched where tests run, so these build the
directory layout the real models ship (config.yaml, model.pt, tokens.json or bpe.model,
am.mvn) with FunASR's own model classes at ~100k parameters. Loading and inference then run
FunASR's real `AutoModel` code; the words they produce are gibberish.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

FRONTEND = {"fs": 16000, "window": "hamming", "n_mels": 80, "frame_length": 25, "frame_shift": 10,
            "lfr_m": 7, "lfr_n": 6}
FEATURES = 80 * 7  # n_mels × lfr_m
ENCODER = {"output_size": 32, "attention_heads": 2, "linear_units": 64, "num_blocks": 2, "input_layer": "pe",
           "pos_enc_class": "SinusoidalPositionEncoder", "normalize_before": True, "kernel_size": 11,
           "sanm_shfit": 0, "selfattention_layer_type": "sanm"}
CHARS = "你好我想办身份证社保卡医在哪里要带什么材料明天上午预约过期了点样换问下系唔"
TAGS = ("<|zh|>", "<|en|>", "<|yue|>", "<|ja|>", "<|ko|>", "<|nospeech|>", "<|NEUTRAL|>", "<|HAPPY|>",
        "<|SAD|>", "<|Speech|>", "<|BGM|>", "<|withitn|>", "<|woitn|>")


def _write_cmvn(path: Path) -> None:
    """Identity mean/variance normalisation in Kaldi nnet text form, as am.mvn ships."""
    zeros, ones = " ".join(["0"] * FEATURES), " ".join(["1"] * FEATURES)
    path.write_text(
        f"<Nnet>\n<Splice> {FEATURES} {FEATURES}\n[ 0 ]\n<AddShift> {FEATURES} {FEATURES}\n"
        f"<LearnRateCoef> 0 [ {zeros} ]\n<Rescale> {FEATURES} {FEATURES}\n<LearnRateCoef> 0 [ {ones} ]\n</Nnet>\n",
        encoding="utf-8",
    )


def _write_config(path: Path, config: dict) -> None:
    import yaml

    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")


def build_paraformer(directory: Path, seed: int = 0) -> Path:
    """A Paraformer (SANM encoder, CIF predictor, SANM decoder) with a character vocabulary."""
    import funasr.models  # noqa: F401  (registers the model classes)
    import torch
    from funasr.register import tables

    directory.mkdir(parents=True, exist_ok=True)
    tokens = ["<blank>", "<s>", "</s>", *sorted(set(CHARS)), "<unk>"]
    (directory / "tokens.json").write_text(json.dumps(tokens, ensure_ascii=False), encoding="utf-8")
    _write_cmvn(directory / "am.mvn")
    config = {
        "model": "Paraformer",
        "model_conf": {"ctc_weight": 0.0, "predictor_bias": 1, "sampling_ratio": 0.75},
        "encoder": "SANMEncoder", "encoder_conf": ENCODER,
        "decoder": "ParaformerSANMDecoder",
        "decoder_conf": {"attention_heads": 2, "linear_units": 64, "num_blocks": 2, "att_layer_num": 2,
                         "kernel_size": 11, "sanm_shfit": 0},
        "predictor": "CifPredictorV2",
        "predictor_conf": {"idim": 32, "threshold": 1.0, "l_order": 1, "r_order": 1, "tail_threshold": 0.45},
        "frontend": "WavFrontend", "frontend_conf": {**FRONTEND, "cmvn_file": "am.mvn"},
        "tokenizer": "CharTokenizer",
        "tokenizer_conf": {"unk_symbol": "<unk>", "split_with_space": True, "token_list": "tokens.json"},
    }
    _write_config(directory / "config.yaml", config)
    torch.manual_seed(seed)
    model = tables.model_classes.get("Paraformer")(
        **config["model_conf"], encoder=config["encoder"], encoder_conf=config["encoder_conf"],
        decoder=config["decoder"], decoder_conf=config["decoder_conf"], predictor=config["predictor"],
        predictor_conf=config["predictor_conf"], input_size=FEATURES, vocab_size=len(tokens),
    )
    torch.save(model.state_dict(), directory / "model.pt")
    return directory


def build_sensevoice(directory: Path, seed: int = 0) -> Path:
    """A SenseVoiceSmall (SANM encoder, CTC) with a small SentencePiece vocabulary that holds
    the language, emotion and event tags, so its output carries tags like the real one."""
    import funasr.models  # noqa: F401
    import sentencepiece as spm
    import torch
    from funasr.register import tables

    directory.mkdir(parents=True, exist_ok=True)
    corpus = [CHARS[i : i + 9] for i in range(0, len(CHARS), 3)] * 20
    bpe = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus), model_writer=bpe, vocab_size=len(set(CHARS)) + len(TAGS) + 2,
        model_type="char", user_defined_symbols=list(TAGS), character_coverage=1.0, bos_id=-1, eos_id=-1,
        unk_id=0, minloglevel=2,
    )
    (directory / "bpe.model").write_bytes(bpe.getvalue())
    _write_cmvn(directory / "am.mvn")
    config = {
        "model": "SenseVoiceSmall", "model_conf": {},
        "encoder": "SenseVoiceEncoderSmall", "encoder_conf": {**ENCODER, "tp_blocks": 1},
        "frontend": "WavFrontend", "frontend_conf": {**FRONTEND, "cmvn_file": "am.mvn"},
        "tokenizer": "SentencepiecesTokenizer",
        "tokenizer_conf": {"bpemodel": "bpe.model", "unk_symbol": "<unk>", "split_with_space": True},
    }
    _write_config(directory / "config.yaml", config)
    vocabulary = spm.SentencePieceProcessor(model_proto=bpe.getvalue()).get_piece_size()
    torch.manual_seed(seed)
    model = tables.model_classes.get("SenseVoiceSmall")(
        encoder=config["encoder"], encoder_conf=config["encoder_conf"], input_size=FEATURES, vocab_size=vocabulary,
    )
    torch.save(model.state_dict(), directory / "model.pt")
    return directory
