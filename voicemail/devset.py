"""A labelled, reproducible development set for the answering-machine detector.

Every case is what the robot would hear after answer: machines (voicemail greetings composed
from Debian's asterisk-core-sounds recordings, carrier announcements with and without SIT,
short greetings ending in a beep, piper/espeak-ng greetings) and people (short answers then
silence, longer self-introductions, answers over loud background noise), in English and
Russian, passed through a telephone channel (varied initial silence and level, 300-3400 Hz
band-pass, noise at several SNRs, G.711 mu-law round trip).

Text and prompt pools are split in two halves: ``dev`` cases draw from one, ``test`` cases
from the other, so figures on ``test`` are not tuned on the same sentences.

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
    band_pass,
    mulaw_round_trip,
    seconds,
    sit_tones,
    tone,
)

T = TypeVar("T")
#: What a category builder returns: (label, raw 8 kHz audio, language).
Built = tuple[str, np.ndarray, str]
SPLITS = ("dev", "test")
EN_VOICES = ("piper:1.0", "piper:1.25", "espeak:en-us", "espeak:en-gb+f3", "espeak:en-us+m4")
RU_VOICES = ("espeak:ru", "espeak:ru+f2")

MACHINE_TEXTS_EN = (
    "Hi, you've reached John. Leave a message and I'll call you back.",
    "Hello, you have reached the voicemail of Sarah Connor. Please leave a message after the tone.",
    "The person you are calling is not available. Please record your message after the tone.",
    "Hi, this is Mike. I can't come to the phone right now, leave your name and number.",
    "You have reached Acme Plumbing. Our office is closed. Please leave a message.",
    "Hey, it's Anna, sorry I missed you. Leave me a message and I will get back to you soon.",
    "The subscriber you have dialed is not available. Please try again later.",
    "Thank you for calling. Nobody is available to take your call, please leave a message.",
    "Hi, you've reached Tom and Lisa. We're not home, please leave a message.",
    "This is Dr. Brown's office. We are closed, please call back during office hours.",
    "Hello, I'm away from my desk. Leave your name, number and a short message.",
    "Your call has been forwarded to an automatic voice message system.",
)
SHORT_GREETINGS_EN = (
    "Leave a message.",
    "Please leave a message.",
    "It's Sam. Leave a message.",
    "You've reached Dana.",
    "Not available.",
    "Leave your message.",
)
MACHINE_TEXTS_RU = (
    "Здравствуйте, вы позвонили Ивану. Оставьте сообщение после сигнала.",
    "Абонент недоступен. Пожалуйста, оставьте сообщение после звукового сигнала.",
    "Вы позвонили в компанию Ромашка. Сейчас никто не может ответить, оставьте сообщение.",
    "Привет, это Маша. Я не могу ответить, перезвоню позже.",
)
SHORT_ANSWERS_EN = (
    "Hello?",
    "Yes?",
    "Hello, who is this?",
    "Yeah, hello?",
    "Hi.",
    "Speaking.",
    "Hello.",
    "Yes, hello?",
    "Hi there.",
    "Who's calling?",
    "Hello, yes?",
    "Yeah?",
)
SHORT_ANSWERS_RU = ("Алло?", "Да, слушаю.", "Алло, кто это?", "Да?", "Слушаю вас.", "Алло.")
INTROS_EN = (
    "Hello, this is Mark speaking.",
    "Good morning, Sarah speaking.",
    "Hello, Jennifer Adams.",
    "Hi, this is Tom, who's calling?",
    "Hello, Acme Plumbing, how can I help?",
    "Yes, hello, this is David.",
    "Hello, Smith residence.",
    "Hi, Lisa here, who is this?",
    "Hello, yes, this is Peter, who am I speaking to?",
    "Good afternoon, Johnson and Sons, Mary speaking.",
    "Hello? Yes, speaking, what is it about?",
    "Hi, this is Kate, sorry, I was driving.",
    "Hello, Dr. Brown's office, this is Emma.",
    "Yeah, hi, Robert here, what can I do for you?",
    "Hello, this is the Miller family, who is calling please?",
    "Morning, Steve speaking, go ahead.",
)
VM_PROMPTS = (
    ("vm-nobodyavail",),
    ("vm-nobodyavail", "vm-intro"),
    ("vm-theperson", "vm-isunavail", "vm-intro"),
    ("vm-intro",),
    ("vm-theperson", "vm-extension", "digits/4", "digits/2", "digits/7", "vm-isunavail"),
    ("vm-isunavail", "vm-intro"),
)
ANNOUNCEMENTS = (
    ("ss-noservice",),
    ("number-not-answering",),
    ("all-circuits-busy-now",),
    ("cannot-complete-as-dialed", "check-number-dial-again"),
    ("im-sorry", "number-not-answering"),
    ("all-circuits-busy-now", "please-try-call-later"),
)
HUMAN_PROMPTS = (("hello",), ("hello-world",), ("hello", "hello"))


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


def _beep(rng: np.random.Generator) -> np.ndarray:
    return tone(rng.uniform(400, 1000), rng.uniform(0.2, 0.8), rng.uniform(0.15, 0.4))


class DevSetBuilder:
    """Composes cases; each category is a method returning (label, raw audio, language)."""

    def __init__(self, bank: VoiceBank) -> None:
        self.bank = bank

    def vm_prompts(self, rng: np.random.Generator, split: str) -> Built:
        language = "ru" if rng.random() < 0.25 else "en"
        names = pick(rng, half(VM_PROMPTS, split))
        parts = [self.bank.prompt(language, n) for n in names]
        audio = _join(parts, rng, (0.05, 0.3))
        if rng.random() < 0.6:
            audio = np.concatenate([audio, seconds(rng.uniform(0.1, 0.6)), _beep(rng)])
        return "machine", audio, language

    def announcement(self, rng: np.random.Generator, split: str) -> Built:
        language = "ru" if rng.random() < 0.25 else "en"
        names = pick(rng, half(ANNOUNCEMENTS, split))
        audio = _join([self.bank.prompt(language, n) for n in names], rng, (0.1, 0.4))
        if rng.random() < 0.5:
            audio = np.concatenate([sit_tones(rng), audio])
        return "machine", audio, language

    def short_greeting_beep(
        self, rng: np.random.Generator, split: str
    ) -> tuple[str, np.ndarray, str]:
        if rng.random() < 0.25:
            greeting = self.bank.prompt("en", pick(rng, ("vm-isunavail", "vm-nobodyavail")))
        else:
            greeting = self.bank.say(
                pick(rng, EN_VOICES), pick(rng, half(SHORT_GREETINGS_EN, split))
            )
        beep = np.concatenate([greeting, seconds(rng.uniform(0.15, 0.6)), _beep(rng)])
        return "machine", beep, "en"

    def synth_greeting(self, rng: np.random.Generator, split: str) -> Built:
        language = "ru" if rng.random() < 0.25 else "en"
        if language == "ru":
            audio = self.bank.say(pick(rng, RU_VOICES), pick(rng, half(MACHINE_TEXTS_RU, split)))
        else:
            audio = self.bank.say(pick(rng, EN_VOICES), pick(rng, half(MACHINE_TEXTS_EN, split)))
        if rng.random() < 0.5:
            audio = np.concatenate([audio, seconds(rng.uniform(0.1, 0.6)), _beep(rng)])
        return "machine", audio, language

    def short_answer(self, rng: np.random.Generator, split: str) -> Built:
        roll = rng.random()
        if roll < 0.2:
            language = "ru" if rng.random() < 0.3 else "en"
            names = pick(rng, HUMAN_PROMPTS)
            audio = _join([self.bank.prompt(language, n) for n in names], rng, (0.9, 1.5))
        elif roll < 0.4:
            language = "ru"
            audio = self.bank.say(pick(rng, RU_VOICES), pick(rng, half(SHORT_ANSWERS_RU, split)))
        else:
            language = "en"
            audio = self.bank.say(pick(rng, EN_VOICES), pick(rng, half(SHORT_ANSWERS_EN, split)))
        return "human", audio, language

    def long_intro(self, rng: np.random.Generator, split: str) -> Built:
        voice = pick(rng, EN_VOICES)
        intro = self.bank.say(voice, pick(rng, half(INTROS_EN, split)))
        if rng.random() < 0.4:  # "Hello?" ... pause ... introduction
            opener = self.bank.say(voice, pick(rng, ("Hello?", "Yes?", "Hello.")))
            return "human", np.concatenate([opener, seconds(rng.uniform(0.8, 1.4)), intro]), "en"
        return "human", intro, "en"

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
}


def telephone_channel(
    content: np.ndarray, label: str, rng: np.random.Generator, loud_snr_db: tuple | None
) -> np.ndarray:
    """Initial silence, tail, level, background noise, band-pass and mu-law."""
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
    return mulaw_round_trip(audio)


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
