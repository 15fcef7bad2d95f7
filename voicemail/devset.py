"""A labelled, reproducible development set for the answering-machine detector.

Every case is what the robot would hear after answer: machines (voicemail greetings composed
from Debian's asterisk-core-sounds recordings, carrier announcements with and without SIT,
short greetings ending in a beep in English and Russian, personal greetings, greetings read
with pauses between sentences, any greeting followed by a beep of 350-2500 Hz, 0.1-2 s, down
to -30 dBFS) and people (short answers then silence, self-introductions of over 4 s, Russian
introductions, answers over loud background noise), in English and Russian, passed through a
telephone channel (varied initial silence and level, 300-3400 Hz band-pass, noise at several
SNRs, a G.711 mu-law or A-law round trip).

Text, prompt and voice pools (:mod:`voicemail.devset_texts`) are split in two halves:
``dev`` cases draw from one, ``test`` cases from the other, so figures on ``test`` come from
sentences and voices the detector was never tuned on.

``callrobot voicemail devset OUT_DIR`` writes the WAV files and ``labels.csv``.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from robot.audio import AudioChunk, write_wav
from voicemail.devset_audio import (
    RATE_HZ,
    VoiceBank,
    add_noise,
    alaw_round_trip,
    band_pass,
    mulaw_round_trip,
    seconds,
    sit_tones,
    tone_at_dbfs,
)
from voicemail.devset_texts import (
    ANNOUNCEMENTS,
    EN_VOICES,
    HUMAN_PROMPTS,
    INTROS_EN,
    INTROS_RU,
    LONG_INTROS_EN,
    MACHINE_TEXTS_EN,
    MACHINE_TEXTS_RU,
    PAUSED_GREETINGS,
    PERSONAL_GREETINGS_RU,
    RU_VOICES,
    SHORT_ANSWERS_EN,
    SHORT_ANSWERS_RU,
    SHORT_GREETINGS_EN,
    SHORT_GREETINGS_RU,
    VM_PROMPTS,
)

T = TypeVar("T")
#: What a category builder returns: (label, raw 8 kHz audio, language).
Built = tuple[str, np.ndarray, str]
SPLITS = ("dev", "test")


@dataclass(frozen=True, slots=True)
class DevCase:
    case_id: str
    label: str  # "human" | "machine"
    category: str
    split: str
    audio: AudioChunk
    #: Language of the words in the case ("en" or "ru").
    language: str = "en"


def half(pool: Sequence[T], split: str) -> Sequence[T]:
    """The half of a pool reserved for a split (alternating items; tiny pools are shared)."""
    if len(pool) < 4:
        return pool
    return pool[SPLITS.index(split) :: 2]


def pick(rng: np.random.Generator, pool: Sequence):
    return pool[int(rng.integers(len(pool)))]


def _join(
    parts: list[np.ndarray], rng: np.random.Generator, gap_s: tuple[float, float]
) -> np.ndarray:
    out: list[np.ndarray] = []
    for i, part in enumerate(parts):
        if i:
            out.append(seconds(rng.uniform(*gap_s)))
        out.append(part)
    return np.concatenate(out)


#: Beep frequencies answering machines use most (Hz); others are drawn from 350-2500 Hz.
COMMON_BEEPS_HZ = (440.0, 600.0, 850.0, 1000.0, 1400.0, 2000.0)


def _beep(rng: np.random.Generator) -> np.ndarray:
    """A beep of any frequency (350-2500 Hz), 0.1-2 s long, at -18..-6 dBFS RMS (the channel
    then lowers the whole case by up to 12 dB: beeps end between -30 and -6 dBFS)."""
    if rng.random() < 0.4:
        freq = float(pick(rng, COMMON_BEEPS_HZ))
    else:
        freq = float(rng.uniform(350, 2500))
    duration = float(np.exp(rng.uniform(np.log(0.1), np.log(2.0))))
    return tone_at_dbfs(freq, duration, float(rng.uniform(-18, -6)))


def _with_beep(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.concatenate([audio, seconds(rng.uniform(0.05, 1.0)), _beep(rng)])


class DevSetBuilder:
    """Composes cases; each category is a method returning (label, raw audio, language)."""

    def __init__(self, bank: VoiceBank) -> None:
        self.bank = bank

    def say(
        self, rng: np.random.Generator, split: str, language: str, texts: Sequence[str]
    ) -> np.ndarray:
        """A text of the split's half said by a voice of the split's half."""
        voices = EN_VOICES if language == "en" else RU_VOICES
        return self.bank.say(pick(rng, half(voices, split)), pick(rng, half(texts, split)))

    def vm_prompts(self, rng: np.random.Generator, split: str) -> Built:
        language = "ru" if rng.random() < 0.25 else "en"
        names = pick(rng, half(VM_PROMPTS, split))
        parts = [self.bank.prompt(language, n) for n in names]
        audio = _join(parts, rng, (0.05, 0.3))
        if rng.random() < 0.6:
            audio = _with_beep(audio, rng)
        return "machine", audio, language

    def announcement(self, rng: np.random.Generator, split: str) -> Built:
        language = "ru" if rng.random() < 0.25 else "en"
        names = pick(rng, half(ANNOUNCEMENTS, split))
        audio = _join([self.bank.prompt(language, n) for n in names], rng, (0.1, 0.4))
        if rng.random() < 0.5:
            audio = np.concatenate([sit_tones(rng), audio])
        return "machine", audio, language

    def short_greeting_beep(self, rng: np.random.Generator, split: str) -> Built:
        if rng.random() < 0.25:
            greeting = self.bank.prompt("en", pick(rng, ("vm-isunavail", "vm-nobodyavail")))
        else:
            greeting = self.say(rng, split, "en", SHORT_GREETINGS_EN)
        return "machine", _with_beep(greeting, rng), "en"

    def short_greeting_beep_ru(self, rng: np.random.Generator, split: str) -> Built:
        greeting = self.say(rng, split, "ru", SHORT_GREETINGS_RU)
        return "machine", _with_beep(greeting, rng), "ru"

    def synth_greeting(self, rng: np.random.Generator, split: str) -> Built:
        language = "ru" if rng.random() < 0.25 else "en"
        texts = MACHINE_TEXTS_RU if language == "ru" else MACHINE_TEXTS_EN
        audio = self.say(rng, split, language, texts)
        if rng.random() < 0.5:
            audio = _with_beep(audio, rng)
        return "machine", audio, language

    def personal_greeting_ru(self, rng: np.random.Generator, split: str) -> Built:
        audio = self.say(rng, split, "ru", PERSONAL_GREETINGS_RU)
        if rng.random() < 0.5:
            audio = _with_beep(audio, rng)
        return "machine", audio, "ru"

    def paused_greeting(self, rng: np.random.Generator, split: str) -> Built:
        """Sentences with 0.5-1.0 s pauses between them (a person recorded them slowly)."""
        language = "ru" if rng.random() < 0.35 else "en"
        voices = EN_VOICES if language == "en" else RU_VOICES
        voice = pick(rng, half(voices, split))
        sentences = pick(rng, half(PAUSED_GREETINGS[language], split))
        audio = _join([self.bank.say(voice, x) for x in sentences], rng, (0.5, 1.0))
        if rng.random() < 0.3:
            audio = _with_beep(audio, rng)
        return "machine", audio, language

    def beep_after_greeting(self, rng: np.random.Generator, split: str) -> Built:
        """Any greeting, then a beep of any frequency, length and level."""
        language = "ru" if rng.random() < 0.35 else "en"
        if language == "ru":
            texts = pick(rng, (SHORT_GREETINGS_RU, PERSONAL_GREETINGS_RU, MACHINE_TEXTS_RU))
        else:
            texts = pick(rng, (SHORT_GREETINGS_EN, MACHINE_TEXTS_EN))
        return "machine", _with_beep(self.say(rng, split, language, texts), rng), language

    def short_answer(self, rng: np.random.Generator, split: str) -> Built:
        roll = rng.random()
        if roll < 0.2:
            language = "ru" if rng.random() < 0.3 else "en"
            names = pick(rng, HUMAN_PROMPTS)
            audio = _join([self.bank.prompt(language, n) for n in names], rng, (0.9, 1.5))
        elif roll < 0.4:
            language = "ru"
            audio = self.say(rng, split, "ru", SHORT_ANSWERS_RU)
        else:
            language = "en"
            audio = self.say(rng, split, "en", SHORT_ANSWERS_EN)
        return "human", audio, language

    def long_intro(self, rng: np.random.Generator, split: str) -> Built:
        voice = pick(rng, half(EN_VOICES, split))
        texts = LONG_INTROS_EN if rng.random() < 0.5 else INTROS_EN
        intro = self.bank.say(voice, pick(rng, half(texts, split)))
        if rng.random() < 0.4:  # "Hello?" ... pause ... introduction
            opener = self.bank.say(voice, pick(rng, ("Hello?", "Yes?", "Hello.")))
            return "human", np.concatenate([opener, seconds(rng.uniform(0.8, 1.4)), intro]), "en"
        return "human", intro, "en"

    def intro_ru(self, rng: np.random.Generator, split: str) -> Built:
        return "human", self.say(rng, split, "ru", INTROS_RU), "ru"

    def noisy_human(self, rng: np.random.Generator, split: str) -> Built:
        return self.short_answer(rng, split)


#: Category -> (builder method name, background noise SNR range in dB or None).
CATEGORIES: dict[str, tuple[str, tuple[float, float] | None]] = {
    "vm_prompts": ("vm_prompts", None),
    "announcement": ("announcement", None),
    "short_greeting_beep": ("short_greeting_beep", None),
    "synth_greeting": ("synth_greeting", None),
    "short_answer": ("short_answer", None),
    "long_intro": ("long_intro", None),
    "noisy_human": ("noisy_human", (0.0, 10.0)),
    "short_greeting_beep_ru": ("short_greeting_beep_ru", None),
    "personal_greeting_ru": ("personal_greeting_ru", None),
    "paused_greeting": ("paused_greeting", None),
    "beep_after_greeting": ("beep_after_greeting", None),
    "intro_ru": ("intro_ru", None),
}


def telephone_channel(
    content: np.ndarray, label: str, rng: np.random.Generator, loud_snr_db: tuple | None
) -> np.ndarray:
    """Initial silence, tail, level, background noise, band-pass and G.711 (mu- or A-law)."""
    lead = seconds(rng.uniform(0.1, 1.2))
    tail = seconds(rng.uniform(3.0, 4.0) if label == "human" else rng.uniform(0.5, 1.5))
    audio = np.concatenate([lead, content * (10 ** (rng.uniform(-12, 0) / 20)), tail])
    if loud_snr_db is not None:
        kind = pick(rng, ("white", "pink", "street"))
        audio = add_noise(audio, rng.uniform(*loud_snr_db), kind, rng)
    elif rng.random() < 0.7:
        audio = add_noise(audio, rng.uniform(15, 35), pick(rng, ("white", "pink")), rng)
    audio = band_pass(audio)
    peak = float(np.max(np.abs(audio))) or 1.0
    if peak > 0.99:
        audio = audio * (0.99 / peak)
    return alaw_round_trip(audio) if rng.random() < 0.5 else mulaw_round_trip(audio)


def default_cache_dir() -> Path:
    env = os.environ.get("CALLROBOT_VOICEMAIL_DEVSET_CACHE")
    return Path(env) if env else Path(tempfile.gettempdir()) / "callrobot-voicemail-devset"


def build_devset(
    per_category: int = 30,
    *,
    seed: int = 4,
    splits: Sequence[str] = SPLITS,
    categories: Sequence[str] | None = None,
    cache_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[DevCase]:
    """``per_category`` cases per category and split, the same for the same seed."""
    builder = DevSetBuilder(VoiceBank(cache_dir or default_cache_dir()))
    cases = []
    for split in splits:
        for name in categories or CATEGORIES:
            method, loud = CATEGORIES[name]
            for index in range(per_category):
                rng = np.random.default_rng(
                    [seed, SPLITS.index(split), list(CATEGORIES).index(name), index]
                )
                label, content, language = getattr(builder, method)(rng, split)
                audio = telephone_channel(content, label, rng, loud)
                chunk = AudioChunk.from_array(audio, RATE_HZ)
                case_id = f"{split}-{name}-{index:03d}"
                cases.append(DevCase(case_id, label, name, split, chunk, language))
                if progress:
                    progress(len(cases))
    return cases


def write_devset(cases: Sequence[DevCase], out_dir: Path) -> Path:
    """Write ``<case_id>.wav`` files and ``labels.csv`` (file,label,category,split)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = out_dir / "labels.csv"
    with labels.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label", "category", "split"])
        for case in cases:
            write_wav(out_dir / f"{case.case_id}.wav", case.audio)
            writer.writerow([f"{case.case_id}.wav", case.label, case.category, case.split])
    return labels
