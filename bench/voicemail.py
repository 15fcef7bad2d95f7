"""Benchmark the answering-machine detector on the generated development set.

Prints one JSON line: figures on the held-out ``test`` split (accuracy, human-as-machine and
machine-as-human rates, median/p95 decision time after answer, accuracy and median decision
per category, the worst category, VAD engine) plus the same figures for the ``dev`` split the
defaults were tuned on. The two splits share no sentence and no voice.

    python bench/voicemail.py [--per-category 30] [--vad silero] [--no-phrases] [--seed 4]
        [--phrase-engine whisper|pocketsphinx] [--phrase-language en,ru] [--language en]
        [--call-language]
        [--set read_every_ms=800 ...] [--split dev|test|both] [--category NAME ...]
        [--errors [--explain]]

``--language`` keeps the cases spoken in that language (silent and tone-only parts count as
English). CPU is ``time.process_time`` of this process (all threads), which other load on the
machine disturbs less than wall time: ``cpu_s_per_case`` for the whole detection,
``read_cpu_s_per_case`` for the greeting reads alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

# This file is named like the package it measures: keep its folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

from voicemail.detector import DetectorSettings, VoicemailDetector  # noqa: E402
from voicemail.devset import DevCase, build_devset  # noqa: E402
from voicemail.recordings import detect_with  # noqa: E402


def figures(cases: list[DevCase], verdicts: dict[str, tuple[str, float]]) -> dict:
    humans = [c for c in cases if c.label == "human"]
    machines = [c for c in cases if c.label == "machine"]
    correct = [c for c in cases if verdicts[c.case_id][0] == c.label]
    decision = [verdicts[c.case_id][1] for c in cases]
    per_category: dict[str, list[bool]] = defaultdict(list)
    per_category_ms: dict[str, list[float]] = defaultdict(list)
    for case in cases:
        per_category[case.category].append(verdicts[case.case_id][0] == case.label)
        per_category_ms[case.category].append(verdicts[case.case_id][1])
    return {
        "n": len(cases),
        "accuracy": round(len(correct) / len(cases), 4),
        "human_as_machine_rate": round(
            sum(verdicts[c.case_id][0] == "machine" for c in humans) / max(1, len(humans)), 4
        ),
        "machine_as_human_rate": round(
            sum(verdicts[c.case_id][0] == "human" for c in machines) / max(1, len(machines)), 4
        ),
        "unknown_rate": round(
            sum(verdicts[c.case_id][0] == "unknown" for c in cases) / len(cases), 4
        ),
        "median_decision_ms": round(statistics.median(decision)),
        "p95_decision_ms": round(float(np.percentile(decision, 95))),
        "per_category_accuracy": {
            name: round(sum(hits) / len(hits), 4) for name, hits in sorted(per_category.items())
        },
        "per_category_median_decision_ms": {
            name: round(statistics.median(ms)) for name, ms in sorted(per_category_ms.items())
        },
        "min_category_accuracy": round(min(sum(h) / len(h) for h in per_category.values()), 4),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-category", type=int, default=30)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--vad", default="silero")
    parser.add_argument("--phrases", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--phrase-engine", default="whisper", choices=["whisper", "pocketsphinx"])
    parser.add_argument("--phrase-language", default=DetectorSettings().phrase_language)
    parser.add_argument("--language", choices=["en", "ru"], help="only cases in this language")
    parser.add_argument(
        "--call-language",
        action="store_true",
        help="as the call engine does: read each case in its language "
        "(DetectorSettings.for_call_language: tiny.en for English, Russian for Russian)",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="a DetectorSettings field"
    )
    parser.add_argument("--errors", action="store_true", help="list misread cases on stderr")
    parser.add_argument("--explain", action="store_true", help="with --errors: their evidence")
    parser.add_argument("--cases", type=Path, help="write one JSON line per case to this file")
    parser.add_argument(
        "--split", choices=["dev", "test", "both"], default="both", help="splits to run"
    )
    parser.add_argument("--category", action="append", help="only these categories")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    splits = ("dev", "test") if args.split == "both" else (args.split,)
    cases = build_devset(args.per_category, seed=args.seed, splits=splits, categories=args.category)
    if args.language:
        cases = [c for c in cases if c.language == args.language]
    built = time.perf_counter()
    overrides = dict(item.split("=", 1) for item in args.set)
    settings = DetectorSettings(
        vad_engine=args.vad,
        phrases=args.phrases,
        phrase_engine=args.phrase_engine,
        phrase_language=args.phrase_language,
        **overrides,
    )
    detectors: dict[str, VoicemailDetector] = {}

    def detector_for(case: DevCase) -> VoicemailDetector:
        wanted = settings.for_call_language(case.language) if args.call_language else settings
        if wanted.phrase_language not in detectors:
            detectors[wanted.phrase_language] = VoicemailDetector(wanted)
        return detectors[wanted.phrase_language]

    verdicts: dict[str, tuple[str, float]] = {}
    audio_ms = 0.0
    cpu_started = time.process_time()
    per_case: list[dict] = []
    for case in cases:
        detector = detector_for(case)
        verdict = detect_with(detector, case.audio)
        verdicts[case.case_id] = (verdict.verdict, verdict.decision_ms)
        if args.cases:
            per_case.append(
                {
                    "case": case.case_id,
                    "label": case.label,
                    "language": case.language,
                    "verdict": verdict.verdict,
                    "decision_ms": verdict.decision_ms,
                    "reason": verdict.reason,
                    "evidence": detector.timeline.lines(),
                }
            )
        audio_ms += min(case.audio.duration_ms, verdict.decision_ms)
        if args.errors and verdict.verdict != case.label:
            sys.stderr.write(f"{case.case_id} {case.label} -> {verdict}\n")
            if args.explain:
                sys.stderr.write("".join(f"    {x}\n" for x in detector.timeline.lines()))
    detected = time.perf_counter()
    cpu_s = time.process_time() - cpu_started
    readers = [d.reader for d in detectors.values() if d.reader is not None]
    reads = sum(r.reads for r in readers)
    read_ms = sum(r.read_ms for r in readers)
    read_cpu_s = sum(r.read_cpu_s for r in readers)
    result = {
        "bench": "voicemail",
        "split": "test",
        "vad": args.vad,
        "phrases": args.phrases,
        "phrase_engine": args.phrase_engine if args.phrases else None,
        "phrase_language": args.phrase_language if args.phrases else None,
        "call_language": args.call_language,
        "language": args.language or "all",
        "settings": overrides,
        **(figures([c for c in cases if c.split == "test"], verdicts) if "test" in splits else {}),
        "dev": figures([c for c in cases if c.split == "dev"], verdicts)
        if "dev" in splits
        else None,
        "build_s": round(built - started, 2),
        "detect_rtf": round((detected - built) / (audio_ms / 1000), 4),
        # Greeting reads (Whisper) per case, and the CPU share of detection they take.
        "reads_per_case": round(reads / len(cases), 2),
        "read_ms_mean": round(read_ms / reads, 1) if reads else None,
        "cpu_s_per_case": round(cpu_s / len(cases), 3),
        "read_cpu_s_per_case": round(read_cpu_s / len(cases), 3) if readers else None,
        "cpu_isa": os.environ.get("CT2_FORCE_CPU_ISA", "auto"),
    }
    if args.cases:
        args.cases.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in per_case))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
