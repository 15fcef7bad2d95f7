"""ASR accuracy and speed on the Asterisk English sentence prompts (real 8 kHz recordings).

Sentence prompts are those whose transcript has at least 3 words (isolated words, digits and
letters are what the grammar recognizer is for). Text is normalised on both sides (lower
case, no punctuation, digits spelled out) before computing the corpus WER. RTF is decoding
time / audio time with the model already loaded.

Prints one JSON line: {"engine", "n_files", "wer", "rtf", "audio_s", "decode_s", "settings"}.
Options: --language ru, --limit N, --beam N, --no-vad (decode without the VAD filter).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

from robot.audio import read_wav
from robot.speech.evaluation import asterisk_prompts, word_error_rate
from robot.speech.registry import create_recognizer
from robot.speech.settings import SpeechSettings
from robot.speech.whisper import WhisperOptions, WhisperRecognizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--language", default="en")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--beam", type=int, default=WhisperOptions().beam_size)
    parser.add_argument("--no-vad", action="store_true")
    parser.add_argument("--min-words", type=int, default=3)
    parser.add_argument("--dump", help="Write (name, reference, hypothesis) rows to this TSV.")
    args = parser.parse_args()

    prompts = asterisk_prompts(args.language, min_words=args.min_words)
    if args.limit:
        prompts = prompts[: args.limit]
    settings = SpeechSettings(whisper_beam_size=args.beam)
    recognizer = create_recognizer("whisper", args.language, settings=settings)
    assert isinstance(recognizer, WhisperRecognizer)
    if args.no_vad:
        recognizer.options = WhisperOptions(**{**asdict(recognizer.options), "vad_filter": False})
    recognizer.transcribe(read_wav(prompts[0].path))  # warm-up, not timed

    pairs = []
    audio_s = decode_s = 0.0
    for prompt in prompts:
        audio = read_wav(prompt.path)
        started = time.perf_counter()
        transcript = recognizer.transcribe(audio)
        decode_s += time.perf_counter() - started
        audio_s += audio.duration_ms / 1000.0
        pairs.append((prompt.text, transcript.text))
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as out:
            for prompt, (reference, hypothesis) in zip(prompts, pairs, strict=True):
                out.write(f"{prompt.name}\t{reference}\t{hypothesis}\n")
    result = {
        "engine": f"whisper ({recognizer.model_dir.parent.name})",
        "language": args.language,
        "n_files": len(prompts),
        "wer": round(word_error_rate(pairs), 4),
        "rtf": round(decode_s / audio_s, 4),
        "audio_s": round(audio_s, 1),
        "decode_s": round(decode_s, 1),
        "settings": asdict(recognizer.options),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
