"""Settings: one ``Settings`` object built from ``CALLROBOT_*`` environment variables.

Nested settings use ``__`` (``CALLROBOT_ASR__ENGINE=pocketsphinx``). Nothing is built at
import time: call :func:`get_settings` (cached) and override it in tests with
:func:`override_settings`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from robot.speech.settings import SpeechSettings


def default_data_dir() -> Path:
    return Path.cwd() / "var"


class NluSettings(BaseModel):
    #: Intents scoring below this confidence become ``nlu_fallback``.
    threshold: float = 0.45
    #: Optional Rasa server for ``POST /model/parse`` (used when a script asks for it).
    rasa_url: str | None = None
    rasa_timeout_s: float = 2.0
    rasa_token: SecretStr | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CALLROBOT_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    #: Time zone used when neither the lead nor the campaign gives one.
    default_timezone: str = "UTC"
    nlu: NluSettings = Field(default_factory=NluSettings)
    speech: SpeechSettings = Field(default_factory=SpeechSettings)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'callrobot.db'}"


_override: Settings | None = None


@lru_cache(maxsize=1)
def _from_environment() -> Settings:
    return Settings()


def get_settings() -> Settings:
    """The process-wide settings (built once from the environment, or the override)."""
    return _override if _override is not None else _from_environment()


def override_settings(settings: Settings | None) -> None:
    """Replace the settings (tests, CLI flags); ``None`` goes back to the environment."""
    global _override
    _override = settings
    _from_environment.cache_clear()
