"""Where files go: XDG data and cache folders by default, CALLROBOT_DATA_DIR and
CALLROBOT_CACHE_DIR to override, never the folder a command happens to run in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from robot.config import Settings
from robot.speech.registry import SpeechRegistry
from robot.speech.settings import SpeechSettings


def test_defaults_follow_xdg_and_settings_override_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CALLROBOT_DATA_DIR", "CALLROBOT_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    settings = Settings()
    assert settings.data_dir == tmp_path / "data" / "callrobot"
    assert settings.cache_dir == tmp_path / "cache" / "callrobot"
    assert settings.resolved_database_url() == f"sqlite:///{tmp_path}/data/callrobot/callrobot.db"

    # Relative XDG values are ignored (XDG Base Directory specification): the home folder's.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", "relative/data")
    monkeypatch.delenv("XDG_CACHE_HOME")
    settings = Settings()
    assert settings.data_dir == tmp_path / "home" / ".local" / "share" / "callrobot"
    assert settings.cache_dir == tmp_path / "home" / ".cache" / "callrobot"

    monkeypatch.setenv("CALLROBOT_DATA_DIR", str(tmp_path / "srv"))
    monkeypatch.setenv("CALLROBOT_CACHE_DIR", str(tmp_path / "models"))
    settings = Settings()
    assert (settings.data_dir, settings.cache_dir) == (tmp_path / "srv", tmp_path / "models")


def test_model_and_prompt_caches_live_in_the_cache_dir(isolated_settings: Settings) -> None:
    registry = SpeechRegistry(SpeechSettings())
    assert registry.cache_dir == isolated_settings.cache_dir
    assert registry.prompt_cache.directory == isolated_settings.cache_dir / "tts"
    assert not registry.prompt_cache.directory.is_relative_to(isolated_settings.data_dir)


def test_a_command_run_anywhere_writes_only_to_the_data_dir(tmp_path: Path) -> None:
    workdir = tmp_path / "somewhere"
    workdir.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CALLROBOT_DATA_DIR", "CALLROBOT_CACHE_DIR", "CALLROBOT_DATABASE_URL")
    }
    env |= {"XDG_DATA_HOME": str(tmp_path / "xdg-data"), "XDG_CACHE_HOME": str(tmp_path / "xc")}
    executable = Path(sys.executable).parent / "callrobot"
    done = subprocess.run(
        [str(executable), "keys", "create", "--tenant", "acme"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("cr_")
    assert (tmp_path / "xdg-data" / "callrobot" / "callrobot.db").is_file()
    assert list(workdir.iterdir()) == []


def test_tests_never_use_the_real_home_folder(isolated_settings: Settings) -> None:
    home = Path.home()
    for folder in (isolated_settings.data_dir, isolated_settings.cache_dir, *default_folders()):
        assert not folder.is_relative_to(home), folder


def default_folders() -> list[Path]:
    settings = Settings()
    return [settings.data_dir, settings.cache_dir]
