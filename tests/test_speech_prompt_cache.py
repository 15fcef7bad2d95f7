"""Static prompt cache over a real synthesizer (espeak-ng), counting how often it is invoked."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from robot.audio import AudioChunk
from robot.speech.espeak import EspeakSynthesizer
from robot.speech.prompt_cache import PromptCache, prompt_key


class CountingSynthesizer:
    """Wraps a real synthesizer and counts calls to ``synthesize``."""

    def __init__(self, inner: EspeakSynthesizer) -> None:
        self.inner = inner
        self.name = inner.name
        self.language = inner.language
        self.sample_rate = inner.sample_rate
        self.voice_name = inner.voice_name
        self.version = inner.version
        self.calls = 0
        self._lock = threading.Lock()

    def synthesize(self, text: str) -> AudioChunk:
        with self._lock:
            self.calls += 1
        return self.inner.synthesize(text)

    def stream(self, text: str) -> Iterator[AudioChunk]:
        yield self.synthesize(text)


@pytest.fixture()
def engine() -> CountingSynthesizer:
    return CountingSynthesizer(EspeakSynthesizer("en-us"))


def test_second_request_is_served_from_memory(engine, tmp_path: Path) -> None:
    cache = PromptCache(tmp_path / "tts")
    first = cache.get(engine, "Thank you for your time.")
    second = cache.get(engine, "Thank you for your time.")
    assert engine.calls == 1
    assert second.pcm == first.pcm and first.duration_ms > 500
    assert (cache.stats.misses, cache.stats.memory_hits) == (1, 1)


def test_disk_cache_survives_a_restart(engine, tmp_path: Path) -> None:
    first = PromptCache(tmp_path / "tts").get(engine, "Goodbye.")
    restarted = PromptCache(tmp_path / "tts")
    again = restarted.get(engine, "Goodbye.")
    assert engine.calls == 1 and restarted.stats.disk_hits == 1
    assert again.pcm == first.pcm and again.rate == 8000
    assert len(list((tmp_path / "tts").rglob("*.wav"))) == 1


def test_key_changes_with_text_voice_and_version(engine) -> None:
    base = prompt_key(engine, "Hello.")
    assert prompt_key(engine, "Hello!") != base
    engine.voice_name = "en-us+f3"
    assert prompt_key(engine, "Hello.") != base
    engine.voice_name = "en-us"
    engine.version = "espeak-ng 9.9"
    assert prompt_key(engine, "Hello.") != base


def test_corrupt_disk_entry_is_synthesized_again(engine, tmp_path: Path) -> None:
    PromptCache(tmp_path / "tts").get(engine, "Hello.")
    (path,) = (tmp_path / "tts").rglob("*.wav")
    path.write_bytes(b"garbage")
    audio = PromptCache(tmp_path / "tts").get(engine, "Hello.")
    assert engine.calls == 2 and audio.duration_ms > 200
    assert path.read_bytes()[:4] == b"RIFF"


def test_memory_is_bounded_lru(engine) -> None:
    cache = PromptCache(None, max_entries=2)
    for text in ("One.", "Two.", "One.", "Three."):
        cache.get(engine, text)
    assert engine.calls == 3
    cache.get(engine, "One.")  # kept: used recently
    assert engine.calls == 3
    cache.get(engine, "Two.")  # evicted
    assert engine.calls == 4


def test_concurrent_requests_synthesize_once(engine, tmp_path: Path) -> None:
    cache = PromptCache(tmp_path / "tts")
    results: list[AudioChunk] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get(engine, "Please hold.")))
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert engine.calls == 1 and len({r.pcm for r in results}) == 1


async def test_async_get_and_warm(engine, tmp_path: Path) -> None:
    cache = PromptCache(tmp_path / "tts")
    assert cache.warm(engine, ["Hi.", "Bye.", "Hi."]) == 2
    audio = await cache.get_async(engine, "Bye.")
    assert engine.calls == 2 and audio.duration_ms > 100
