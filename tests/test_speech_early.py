"""Early decoding on maybe_ended, with real audio, a real VAD and the real Whisper model."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from robot.audio import AudioChunk, read_wav, silence
from robot.speech.base import Transcript
from robot.speech.early import EarlyDecoder
from robot.speech.endpoint import Endpointer, EndpointEvent, EndpointEventKind
from robot.speech.evaluation import ASTERISK_SOUNDS_DIR, normalize_text
from robot.speech.whisper import WhisperRecognizer
from voicemail.vad import create_vad

EN = ASTERISK_SOUNDS_DIR / "en"


def conversation() -> AudioChunk:
    pieces = [
        silence(400),
        read_wav(EN / "ss-noservice.wav"),
        silence(1000),
        read_wav(EN / "vm-nobodyavail.wav"),
        silence(1000),
    ]
    return AudioChunk(b"".join(p.pcm for p in pieces), 8000)


async def run_call(decoder: EarlyDecoder, audio: AudioChunk) -> list[Transcript]:
    endpointer, vad = Endpointer(), create_vad("silero")
    results = []
    for frame in audio.frames(20):
        for event in endpointer.feed(frame, vad.process(frame)):
            transcript = await decoder.on_event(event)
            if transcript is not None:
                results.append(transcript)
    return results


async def test_early_results_are_reused_and_resumed_speech_is_redecoded() -> None:
    decoder = EarlyDecoder(WhisperRecognizer())
    transcripts = await run_call(decoder, conversation())
    assert len(transcripts) == 2
    first = normalize_text(transcripts[0].text)
    assert first[:4] == ["the", "number", "you", "have"] and first[-1] == "again"
    assert "available" in normalize_text(transcripts[1].text)
    # the pause between the two sentences of ss-noservice triggered an early decode that
    # was thrown away; each final result came from an early decode
    assert decoder.reused == 2
    assert decoder.discarded >= 1


class CountingRecognizer:
    name = "counting"
    language = "en"

    def __init__(self) -> None:
        self.seen: list[int] = []

    def transcribe(self, audio: AudioChunk, *, hints: Sequence[str] = ()) -> Transcript:
        self.seen.append(len(audio.pcm))
        return Transcript(f"{len(audio.pcm)} bytes", 1.0, audio.duration_ms)


async def test_final_audio_that_differs_is_decoded_again() -> None:
    recognizer = CountingRecognizer()
    decoder = EarlyDecoder(recognizer)
    early, final = silence(500), silence(700)
    K = EndpointEventKind
    assert await decoder.on_event(EndpointEvent(K.MAYBE_ENDED, 500, early, 0)) is None
    result = await decoder.on_event(EndpointEvent(K.SPEECH_ENDED, 900, final, 0))
    assert result is not None and result.text == f"{len(final.pcm)} bytes"
    assert decoder.reused == 0 and decoder.discarded == 1
    assert await decoder.on_event(EndpointEvent(K.SPEECH_STARTED, 1000)) is None


@pytest.mark.parametrize("resume", [True, False])
async def test_resume_discards_the_early_result(resume: bool) -> None:
    recognizer = CountingRecognizer()
    decoder = EarlyDecoder(recognizer)
    audio = silence(300)
    K = EndpointEventKind
    await decoder.on_event(EndpointEvent(K.MAYBE_ENDED, 300, audio, 0))
    if resume:
        await decoder.on_event(EndpointEvent(K.SPEECH_RESUMED, 350))
    result = await decoder.on_event(EndpointEvent(K.SPEECH_ENDED, 900, audio, 0))
    assert result is not None
    assert (decoder.reused, decoder.discarded) == ((0, 1) if resume else (1, 0))
    decoder.close()
