"""Speech settings (``CALLROBOT_SPEECH__*``): engines per language, model paths, endpointing.

Kept free of engine imports so that :mod:`robot.config` can nest it cheaply. Maps are JSON in
the environment, e.g. ``CALLROBOT_SPEECH__TTS='{"en": "espeak"}'`` or
``CALLROBOT_SPEECH__MODELS='{"vosk:en": "/opt/models/vosk-model-small-en-us-0.15"}'``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

TTS_ENGINES = ("piper", "espeak", "silero")
ASR_ENGINES = ("whisper", "pocketsphinx", "vosk")


class EndpointSettings(BaseModel):
    """Endpointing (``CALLROBOT_SPEECH__ENDPOINT__*``): the one source of these numbers;
    ``robot.speech.endpoint.EndpointerConfig`` takes its defaults from here."""

    #: Barge-in threshold: voiced time needed to interrupt the robot ("uh-huh" stays below).
    min_speech_ms: float = 300.0
    #: Voiced time needed to open an utterance while the robot is silent.
    min_speech_listening_ms: float = 120.0
    #: Silence that ends an utterance.
    trailing_silence_ms: float = 500.0
    #: Silence after which early decoding may start (``maybe_ended``).
    early_silence_ms: float = 200.0
    #: Pause that an unconfirmed start of speech survives.
    candidate_gap_ms: float = 500.0
    #: Speech probability a VAD frame needs in calls (lower than the VAD's default: quiet or
    #: unusual voices score 0.4-0.6 on Silero; noise stays far below).
    vad_threshold: float = 0.35
    #: Audio kept before the first voiced frame of an utterance ...
    pre_roll_ms: float = 200.0
    #: ... and after its last one.
    tail_ms: float = 200.0
    max_utterance_ms: float = 20000.0


class ShortAnswerSettings(BaseModel):
    """Short-answer states (yes/no, digits, choices, a few short intents; see
    ``dialogues/expected.py``) are decoded by a closed grammar first (pocketsphinx)."""

    enabled: bool = True
    #: pocketsphinx mode: ``strict`` (a JSGF grammar and keyword spotting must agree; on the
    #: bundled personas' lines it never disagreed with Whisper, where a plain grammar forced
    #: most off-list speech onto some phrase), ``grammar`` or ``keywords``.
    mode: Literal["grammar", "keywords", "strict"] = "strict"
    #: Utterances with more voiced time than this go straight to the general recognizer.
    max_speech_ms: float = 2000.0
    #: Grammar results less sure than this go to the general recognizer as well.
    min_confidence: float = 0.7
    #: Decode in a worker process: pocketsphinx holds the interpreter lock while it decodes,
    #: which would keep the event loop (every call's audio frames) waiting.
    worker_process: bool = True


class SpeechSettings(BaseModel):
    #: TTS engine per language code; other languages use ``tts_fallback`` (espeak-ng).
    tts: dict[str, str] = Field(default_factory=lambda: {"en": "piper", "ru": "espeak"})
    tts_fallback: str = "espeak"
    #: ASR engine per language code; other languages use ``asr_fallback``.
    asr: dict[str, str] = Field(default_factory=lambda: {"en": "whisper", "ru": "whisper"})
    asr_fallback: str = "whisper"
    #: Operator-supplied model paths by ``"engine:language"`` (``"vosk:en"``, ``"piper:de"``,
    #: ``"whisper:ru"``, ``"silero:ru"``); packaged models are used where none is given.
    models: dict[str, str] = Field(default_factory=dict)
    whisper_beam_size: int = 1
    whisper_cpu_threads: int = 2
    whisper_compute_type: str = "int8"
    #: ``short``: Whisper encodes the utterance plus ``whisper_window_pad_ms`` of silence, so a
    #: "yes" costs a fraction of a sentence; ``full``: the fixed 30 s window (see README).
    whisper_window: Literal["short", "full"] = "short"
    whisper_window_pad_ms: float = 5000.0
    silero_speaker: str = "xenia"
    #: Static prompts kept in memory (the disk cache under cache_dir/tts is unbounded).
    prompt_cache_entries: int = 256
    endpoint: EndpointSettings = Field(default_factory=EndpointSettings)
    #: Longest wait for an utterance's transcript after the end of speech; a later decode
    #: is handled as not understood (the script's no-match reprompt), never as silence.
    decode_timeout_ms: float = Field(default=3000.0, gt=0)
    #: How much longer than its own limit (4 s) a busy answering-machine detector may take
    #: to give its verdict before the robot talks anyway.
    verdict_grace_ms: float = Field(default=3000.0, ge=0)
    short_answers: ShortAnswerSettings = Field(default_factory=ShortAnswerSettings)
    #: Give the current state's expected phrases to the general recognizer where they are a
    #: grammar (Vosk, in short-answer states; the pocketsphinx short-answer grammar always
    #: gets them).
    hints: bool = True
    #: Also give them to Whisper as its initial prompt. Off: on the demo calls' 41 callee
    #: turns a prompt changed 14 transcripts, and Whisper tends to leave out what the prompt
    #: already holds ("Connect me now, please." came out as "please,").
    whisper_prompt_hints: bool = False
    #: Languages whose calls get hints. Whisper base on Russian decoded worse with a prompt of
    #: short expected words (the Russian call test lost the callee's "call me later").
    hint_languages: list[str] = Field(default_factory=lambda: ["en"])

    @field_validator("tts")
    @classmethod
    def _known_tts(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_engines(value, TTS_ENGINES, "tts")

    @field_validator("asr")
    @classmethod
    def _known_asr(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_engines(value, ASR_ENGINES, "asr")


def _check_engines(value: dict[str, str], known: tuple[str, ...], field: str) -> dict[str, str]:
    for language, engine in value.items():
        if engine not in known:
            raise ValueError(
                f"speech.{field}[{language!r}]: unknown engine {engine!r} "
                f"(choose one of {', '.join(known)})"
            )
    return {language.lower(): engine for language, engine in value.items()}
