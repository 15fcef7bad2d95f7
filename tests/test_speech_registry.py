"""Engine selection per language from settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError as PydanticValidationError

from robot.config import Settings
from robot.errors import ConfigError
from robot.speech.espeak import EspeakSynthesizer
from robot.speech.piper import PiperSynthesizer
from robot.speech.pocketsphinx import PocketsphinxRecognizer
from robot.speech.registry import SpeechRegistry, base_language, create_synthesizer
from robot.speech.settings import SpeechSettings
from robot.speech.vosk import VoskRecognizer
from robot.speech.whisper import WhisperRecognizer


def test_defaults_pick_piper_and_whisper_for_english_and_espeak_for_russian(
    isolated_settings: Settings,
) -> None:
    registry = SpeechRegistry()
    assert isinstance(registry.synthesizer("en-US"), PiperSynthesizer)
    assert isinstance(registry.synthesizer("ru"), EspeakSynthesizer)
    assert isinstance(registry.synthesizer("de"), EspeakSynthesizer)  # fallback
    assert registry.synthesizer("de").language == "de"
    whisper = registry.recognizer("en")
    assert isinstance(whisper, WhisperRecognizer)
    assert registry.recognizer("en_GB") is whisper  # built once, shared
    assert isinstance(registry.grammar_recognizer(), PocketsphinxRecognizer)
    assert registry.prompt_cache.directory == isolated_settings.cache_dir / "tts"


def test_settings_choose_engines_and_model_paths(tmp_path) -> None:
    from robot.speech.packaged import vosk_korean_dir

    settings = SpeechSettings(
        tts={"en": "espeak"}, asr={"ko": "vosk"}, models={"vosk:ko": str(vosk_korean_dir())}
    )
    registry = SpeechRegistry(settings, tmp_path)
    assert isinstance(registry.synthesizer("en"), EspeakSynthesizer)
    assert isinstance(registry.recognizer("ko"), VoskRecognizer)
    assert isinstance(registry.streaming_recognizer("ko"), VoskRecognizer)


def test_environment_configures_speech(monkeypatch) -> None:
    monkeypatch.setenv("CALLROBOT_SPEECH__TTS", '{"EN": "espeak"}')
    monkeypatch.setenv("CALLROBOT_SPEECH__ENDPOINT__TRAILING_SILENCE_MS", "450")
    settings = Settings()
    assert settings.speech.tts == {"en": "espeak"}
    assert settings.speech.endpoint.trailing_silence_ms == 450


def test_unknown_engine_in_settings_names_the_field() -> None:
    with pytest.raises(PydanticValidationError, match=r"speech\.asr\['en'\].*'kaldi'"):
        SpeechSettings(asr={"en": "kaldi"})


def test_engines_that_need_a_model_say_which_setting(tmp_path) -> None:
    registry = SpeechRegistry(SpeechSettings(asr={"en": "vosk"}, tts={"ru": "silero"}), tmp_path)
    with pytest.raises(ConfigError, match=r"speech\.models\['vosk:en'\]"):
        registry.recognizer("en")
    with pytest.raises(ConfigError, match=r"speech\.models\['silero:ru'\]"):
        registry.synthesizer("ru")
    with pytest.raises(ConfigError, match="unknown TTS engine 'festival'"):
        create_synthesizer("festival", "en")
    with pytest.raises(ConfigError, match="only an English model"):
        registry.recognizer("ru", engine="pocketsphinx")


def test_base_language() -> None:
    assert [base_language(x) for x in ("en-US", "ru_RU", "EN", "pt-br")] == ["en", "ru", "en", "pt"]
