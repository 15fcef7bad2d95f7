"""ASR accuracy and CPU cost on the Asterisk English sentence prompts (real 8 kHz recordings).

Sentence prompts are those whose transcript has at least 3 words (isolated words, digits and
letters are what the grammar recognizer is for). Text is normalised on both sides (lower
case, no punctuation, digits spelled out) before computing the corpus WER. RTF is decoding
time / audio time with the model already loaded. CPU is ``time.process_time`` (all threads
of this process), which other load on the machine disturbs less than wall time.

Each window (``--window short``, ``full`` or ``both``) is measured on the same prompts; CPU
is given per utterance, per minute of callee speech (``cpu_s_per_speech_min``), and per
utterance for the short (<= 2 s), medium (2-5 s) and long (> 5 s) prompts.

Prints one JSON line: {"engine", "language", "n_files", "audio_s", "windows": {WINDOW: {"wer",
"rtf", "cpu_s", "cpu_s_per_utt", "cpu_s_per_speech_min", "cpu_s_per_utt_by_length",
"decodes", "settings"}}, "cpu_isa"}.
Options: --language ru, --limit N, --beam N, --window both|short|full, --pad-ms MS,
--no-fallback (no full-window redo), --dump FILE (writes the last window's rows).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, replace

from robot.audio import read_wav
from robot.speech.evaluation import asterisk_prompts, word_error_rate
from robot.speech.registry import create_recognizer
from robot.speech.settings import SpeechSettings
from robot.speech.whisper import WhisperOptions, WhisperRecognizer

LENGTH_BUCKETS = (("le_2s", 0.0, 2.0), ("2_5s", 2.0, 5.0), ("gt_5s", 5.0, 1e9))


def measure(recognizer: WhisperRecognizer, audios: list, prompts: list, dump: str | None) -> dict:
    recognizer.transcribe(audios[0])  # warm-up, not timed
    recognizer.decodes.clear()
    pairs = []
    wall_s = cpu_s = audio_s = 0.0
    by_length: dict[str, list[float]] = {name: [] for name, _, _ in LENGTH_BUCKETS}
    for prompt, audio in zip(prompts, audios, strict=True):
        started, cpu_started = time.perf_counter(), time.process_time()
        transcript = recognizer.transcribe(audio)
        cpu = time.process_time() - cpu_started
        wall_s += time.perf_counter() - started
        cpu_s += cpu
        seconds = audio.duration_ms / 1000.0
        audio_s += seconds
        for name, low, high in LENGTH_BUCKETS:
            if low < seconds <= high:
                by_length[name].append(cpu)
        pairs.append((prompt.text, transcript.text))
    if dump:
        with open(dump, "w", encoding="utf-8") as out:
            for prompt, (reference, hypothesis) in zip(prompts, pairs, strict=True):
                out.write(f"{prompt.name}\t{reference}\t{hypothesis}\n")
    return {
        "wer": round(word_error_rate(pairs), 4),
        "rtf": round(wall_s / audio_s, 4),
        "cpu_s": round(cpu_s, 1),
        "cpu_s_per_utt": round(cpu_s / len(prompts), 3),
        "cpu_s_per_speech_min": round(cpu_s / audio_s * 60, 2),
        "cpu_s_per_utt_by_length": {
            name: {"n": len(values), "cpu_s": round(sum(values) / len(values), 3)}
            for name, values in by_length.items()
            if values
        },
        "decodes": dict(recognizer.decodes),
        "settings": asdict(recognizer.options),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--language", default="en")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--beam", type=int, default=WhisperOptions().beam_size)
    parser.add_argument("--window", default="both", choices=["both", "short", "full"])
    parser.add_argument("--pad-ms", type=float, default=WhisperOptions().window_pad_ms)
    parser.add_argument("--no-fallback", action="store_true", help="no full-window redo")
    parser.add_argument("--min-words", type=int, default=3)
    parser.add_argument("--dump", help="Write (name, reference, hypothesis) rows to this TSV.")
    args = parser.parse_args()

    prompts = asterisk_prompts(args.language, min_words=args.min_words)
    if args.limit:
        prompts = prompts[: args.limit]
    audios = [read_wav(prompt.path) for prompt in prompts]
    settings = SpeechSettings(whisper_beam_size=args.beam, whisper_window_pad_ms=args.pad_ms)
    recognizer = create_recognizer("whisper", args.language, settings=settings)
    assert isinstance(recognizer, WhisperRecognizer)
    base = replace(recognizer.options, full_window_fallback=not args.no_fallback)
    windows = ["short", "full"] if args.window == "both" else [args.window]
    results = {}
    for window in windows:
        recognizer.options = replace(base, window=window)
        results[window] = measure(recognizer, audios, prompts, args.dump)
    result = {
        "engine": f"whisper ({recognizer.model_dir.parent.name})",
        "language": args.language,
        "n_files": len(prompts),
        "audio_s": round(sum(a.duration_ms for a in audios) / 1000, 1),
        "windows": results,
        "cpu_isa": os.environ.get("CT2_FORCE_CPU_ISA", "auto"),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
