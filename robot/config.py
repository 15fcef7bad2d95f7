"""Settings: one ``Settings`` object built from ``CALLROBOT_*`` environment variables.

Nested settings use ``__`` (``CALLROBOT_ASR__ENGINE=pocketsphinx``). Nothing is built at
import time: call :func:`get_settings` (cached) and override it in tests with
:func:`override_settings`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from robot.input_limits import InputLimits
from robot.speech.settings import SpeechSettings


def _xdg_home(variable: str, fallback: str) -> Path:
    """An XDG base directory: the variable when it holds an absolute path, else the fallback
    under the home folder (the XDG Base Directory specification ignores relative paths)."""
    value = os.environ.get(variable, "")
    if value and Path(value).is_absolute():
        return Path(value)
    return Path.home() / fallback


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/callrobot`` (``~/.local/share/callrobot``): database, recordings."""
    return _xdg_home("XDG_DATA_HOME", ".local/share") / "callrobot"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/callrobot`` (``~/.cache/callrobot``): models joined or copied from
    packages and synthesized prompts; anything in it can be deleted and is made again."""
    return _xdg_home("XDG_CACHE_HOME", ".cache") / "callrobot"


class NluSettings(BaseModel):
    #: Intents scoring below this confidence become ``nlu_fallback``.
    threshold: float = 0.45
    #: Optional Rasa server for ``POST /model/parse`` (used when a script asks for it).
    rasa_url: str | None = None
    rasa_timeout_s: float = 2.0
    rasa_token: SecretStr | None = None


class WebhookSettings(BaseModel):
    """CRM webhook delivery (robot.crm)."""

    timeout_s: float = 10.0
    #: A failing delivery is retried for at least this long, then marked dead.
    retry_for_s: float = 24 * 3600.0
    backoff_base_s: float = 5.0
    backoff_max_s: float = 3600.0
    #: Requests in flight at once, all endpoints together.
    max_in_flight: int = 64
    poll_interval_s: float = 1.0


class DiallerSettings(BaseModel):
    """The dialler worker (``callrobot dialler``, ``serve``; ``CALLROBOT_DIALLER__*``)."""

    #: Calls at once from one worker, all campaigns together.
    max_concurrent_calls: int = Field(default=20, ge=1)
    #: Call starts per second from one worker (trunks enforce CPS).
    calls_per_second: float = Field(default=5.0, gt=0)
    #: How long a claimed lead stays this worker's without a heartbeat; keep it longer than
    #: the longest call a dead worker may leave up, so a lead is never rung twice at once.
    lease_s: float = Field(default=60.0, gt=0)
    #: How often leases of running calls are extended (unset: a third of the lease).
    heartbeat_s: float | None = Field(default=None, gt=0)
    #: How long to wait before looking for due leads again when nothing is due.
    poll_interval_s: float = Field(default=1.0, gt=0)
    #: How long a finished call's result is retried while the database is unreachable.
    store_retry_s: float = Field(default=300.0, ge=0)


class AdmissionSettings(BaseModel):
    """When the engine takes one more call (``robot.load``; ``CALLROBOT_ADMISSION__*``).

    A call starts only while recent turns and decodes are within their targets; above
    ``start_calls`` the limit grows one call at a time, each step only after the last admitted
    call has had a turn within target, and shrinks by a quarter when a newer call's turn is slow.
    """

    enabled: bool = True
    #: End of callee speech -> first robot audio (endpoint silence included), p95, in ms.
    target_turn_ms: float = Field(default=1200.0, gt=0)
    #: Time an utterance waits for a decoding thread, p95, in ms.
    max_decode_wait_ms: float = Field(default=300.0, gt=0)
    #: Share of this machine's cores the process may use before it stops taking calls.
    max_cpu: float = Field(default=0.9, gt=0)
    #: Calls admitted before anything has been measured.
    start_calls: int = Field(default=2, ge=1)
    #: Calls always admitted, however slow recent turns were (so leads keep moving).
    min_calls: int = Field(default=1, ge=1)
    #: Static upper bound on simultaneous calls (None: only the learned limit and the
    #: dialler's ``max_concurrent_calls``).
    max_calls: int | None = Field(default=None, ge=1)
    #: Recent measurements: those of the last ``window_s`` seconds, at most ``window_samples``.
    window_s: float = Field(default=20.0, gt=0)
    window_samples: int = Field(default=40, ge=1)
    #: After a cut, this many turns in a row within target before the limit grows again.
    recovery_turns: int = Field(default=6, ge=0)


class QuotaSettings(BaseModel):
    """Per-tenant API limits and abuse protections (``CALLROBOT_QUOTAS__...``).

    Rates are kept in each API process: with several processes or hosts, each one applies
    them on its own (a tenant may reach N times the rate across N processes).
    """

    #: Requests a tenant may make per second, sustained (token bucket refill rate).
    rate_per_s: float = Field(default=50.0, gt=0)
    #: Requests a tenant may make at once above the sustained rate (bucket size).
    burst: float = Field(default=200.0, ge=1)
    #: Campaigns of one tenant in status ``running`` at once (a further start gets 409).
    max_running_campaigns: int = Field(default=20, ge=1)
    #: Calls waiting or in progress: pending leads plus API calls not ended (beyond: 409).
    max_queued_calls: int = Field(default=100_000, ge=1)
    #: Call recordings a tenant stores; new calls are refused (409) once it is reached.
    max_stored_recordings: int = Field(default=100_000, ge=1)
    #: Uploaded media files (``/v1/media``) a tenant stores; a further upload gets 409.
    max_stored_media: int = Field(default=1_000, ge=1)
    #: Active (not revoked) API keys of one tenant; creating another gets 409.
    max_api_keys: int = Field(default=100, ge=1)
    #: Bad keys from one address answered at full speed; each later one waits longer.
    auth_failures_free: int = Field(default=5, ge=0)
    #: Wait after the first slowed bad key (seconds); it doubles with each further one.
    auth_delay_base_s: float = Field(default=0.05, ge=0)
    #: Longest wait before a bad key's 401 (seconds).
    auth_delay_max_s: float = Field(default=0.5, ge=0)
    #: Bad keys from one address (decaying) beyond which it gets 429 without a key check.
    auth_failures_block: int = Field(default=50, ge=1)
    #: How fast an address's bad-key count decays (failures forgiven per second).
    auth_failures_decay_per_s: float = Field(default=0.1, gt=0)


class ConsoleSettings(BaseModel):
    """The web console (``api.console``): its session cookie."""

    #: Key that signs session cookies. Unset: a random key per process (sessions end when it
    #: restarts, and several processes behind one address do not share them): set it then.
    secret_key: SecretStr | None = None
    #: A session ends this long after sign-in (seconds).
    session_max_age_s: int = Field(default=8 * 3600, ge=60)


class MigrationSettings(BaseModel):
    """How ``callrobot db upgrade`` (and every service at start) waits for running processes'
    locks (``CALLROBOT_MIGRATIONS__*``; README "Schema changes while workers run")."""

    #: Longest one schema change waits for a table lock before it gives up and is retried;
    #: workers queue behind a waiting change at most this long (PostgreSQL ``lock_timeout``).
    lock_timeout_ms: int = Field(default=2000, ge=1)
    #: Keep retrying a change that could not get its lock for this long, then fail.
    retry_for_s: float = Field(default=300.0, ge=0)
    #: Pause between two tries.
    retry_interval_s: float = Field(default=2.0, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CALLROBOT_", env_nested_delimiter="__", extra="ignore"
    )

    #: Database, recordings and turn logs (``CALLROBOT_DATA_DIR``).
    data_dir: Path = Field(default_factory=default_data_dir)
    #: Where every recording is written and served from (``CALLROBOT_RECORDINGS_DIR``);
    #: unset: ``recordings`` under ``data_dir``. With several hosts it must be one shared
    #: folder (e.g. NFS) that every host mounts: the database stores paths relative to it.
    recordings_dir: Path | None = None
    #: Model copies and synthesized prompts, kept apart from data (``CALLROBOT_CACHE_DIR``).
    cache_dir: Path = Field(default_factory=default_cache_dir)
    database_url: str | None = None
    #: Time zone used when neither the lead nor the campaign gives one.
    default_timezone: str = "UTC"
    nlu: NluSettings = Field(default_factory=NluSettings)
    speech: SpeechSettings = Field(default_factory=SpeechSettings)
    #: Carrier for calls placed through the API (``sim://``, ``sip://...``).
    carrier_url: str = "sim://"
    #: Base URL of the API as CRMs reach it (recording links in webhooks).
    public_base_url: str = "http://127.0.0.1:8000"
    #: Allow webhook URLs that resolve to private, loopback or link-local addresses.
    webhooks_allow_private: bool = False
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    #: Caps where input is parsed (``CALLROBOT_INPUT_LIMITS__*``; README "Limits").
    input_limits: InputLimits = Field(default_factory=InputLimits)
    admission: AdmissionSettings = Field(default_factory=AdmissionSettings)
    dialler: DiallerSettings = Field(default_factory=DiallerSettings)
    #: Tell answering machines from people on answered calls (off: every answer is a person).
    voicemail_detection: bool = True
    quotas: QuotaSettings = Field(default_factory=QuotaSettings)
    #: Bearer token a Prometheus scraper sends for ``GET /metrics``; unset: no metrics route.
    metrics_token: SecretStr | None = None
    #: ``text`` (human lines) or ``json`` (one object per line, call/lead/campaign ids).
    log_format: Literal["text", "json"] = "text"
    #: Lowest level logged (``DEBUG`` ... ``ERROR``); unset: INFO for ``serve`` and
    #: ``dialler``, WARNING for one-off commands.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = None
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    migrations: MigrationSettings = Field(default_factory=MigrationSettings)

    def recordings_root(self) -> Path:
        """The recordings folder: ``recordings_dir``, else ``data_dir/recordings``."""
        return self.recordings_dir or self.data_dir / "recordings"

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
