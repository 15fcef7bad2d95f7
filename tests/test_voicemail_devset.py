"""The development set builder: reproducible, labelled, telephone-like; and a small bench run."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from voicemail.detector import VoicemailDetector
from voicemail.devset import CATEGORIES, DevCase, build_devset, half, write_devset
from voicemail.devset_audio import RATE_HZ, alaw_round_trip, band_pass, mulaw_round_trip, tone
from voicemail.devset_texts import (
    EN_VOICES,
    INTROS_EN,
    LONG_INTROS_EN,
    PERSONAL_GREETINGS_RU,
    RU_VOICES,
)
from voicemail.recordings import detect_with

HUMAN_CATEGORIES = {"short_answer", "long_intro", "noisy_human", "intro_ru"}


@pytest.fixture(scope="module")
def small_set() -> list[DevCase]:
    return build_devset(2, splits=("test",))


def test_every_category_is_built_with_its_label(small_set: list[DevCase]) -> None:
    assert {c.category for c in small_set} == set(CATEGORIES)
    for case in small_set:
        expected = "human" if case.category in HUMAN_CATEGORIES else "machine"
        assert case.label == expected
        assert case.split == "test"
        assert case.audio.rate == RATE_HZ
        assert 1000 < case.audio.duration_ms < 15000


def test_same_seed_same_audio_other_seed_other_audio(small_set: list[DevCase]) -> None:
    again = build_devset(2, splits=("test",))
    assert [c.audio.pcm for c in again] == [c.audio.pcm for c in small_set]
    other = build_devset(2, splits=("test",), seed=99, categories=["vm_prompts"])
    assert other[0].audio.pcm != small_set[0].audio.pcm


def test_channel_effects() -> None:
    low_hum = tone(100.0, 0.5, 0.3)
    assert np.sqrt(np.mean(band_pass(low_hum) ** 2)) < 0.01
    voice_band = tone(1000.0, 0.5, 0.3)
    assert np.sqrt(np.mean(band_pass(voice_band) ** 2)) > 0.2
    for law in (mulaw_round_trip, alaw_round_trip):
        decoded = law(voice_band)
        assert np.max(np.abs(decoded - voice_band)) < 0.02
        assert not np.array_equal(decoded, voice_band)
    assert not np.array_equal(alaw_round_trip(voice_band), mulaw_round_trip(voice_band))


def test_splits_share_no_voice_and_no_sentence() -> None:
    for pool in (EN_VOICES, RU_VOICES, INTROS_EN, LONG_INTROS_EN, PERSONAL_GREETINGS_RU):
        assert not set(half(pool, "dev")) & set(half(pool, "test"))
        assert len(half(pool, "dev")) >= 2


def test_written_set_has_labels_and_wavs(small_set: list[DevCase], tmp_path: Path) -> None:
    labels = write_devset(small_set[:3], tmp_path / "set")
    rows = list(csv.DictReader(labels.open()))
    assert [r["file"] for r in rows] == [f"{c.case_id}.wav" for c in small_set[:3]]
    assert all((tmp_path / "set" / r["file"]).stat().st_size > 1000 for r in rows)


def test_detector_gets_most_of_a_small_sample_right(small_set: list[DevCase]) -> None:
    detector = VoicemailDetector()
    right = [detect_with(detector, c.audio).verdict == c.label for c in small_set]
    assert sum(right) / len(right) >= 0.8
