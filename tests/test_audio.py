import numpy as np

from robot.audio import AudioChunk, StreamResampler, read_wav, resample, write_wav


def test_frames_split_and_pad() -> None:
    chunk = AudioChunk(b"\x01\x00" * 250, 8000, timestamp_ms=100.0)
    frames = chunk.frames(20)
    assert [f.samples for f in frames] == [160, 160]
    assert frames[1].timestamp_ms == 120.0
    assert frames[1].pcm[-2:] == b"\x00\x00"


def test_resample_keeps_duration_and_tone(tmp_path) -> None:
    t = np.arange(8000) / 8000
    tone = AudioChunk.from_array(0.5 * np.sin(2 * np.pi * 440 * t), 8000)
    up = tone.resampled(16000)
    assert abs(up.duration_ms - 1000) < 1
    spectrum = np.abs(np.fft.rfft(up.to_float()))
    assert abs(np.argmax(spectrum) * 16000 / len(up.to_float()) - 440) < 2
    assert len(resample(tone.pcm, 8000, 8000)) == len(tone.pcm)
    path = tmp_path / "tone.wav"
    write_wav(path, up)
    back = read_wav(path, rate=8000)
    assert back.rate == 8000 and abs(back.duration_ms - 1000) < 1


def test_stream_resampler_total_length() -> None:
    rs = StreamResampler(22050, 8000)
    total = b""
    for _ in range(10):
        total += rs.process(b"\x00\x10" * 2205)
    total += rs.process(b"", last=True)
    assert abs(len(total) // 2 - 8000) < 10
