"""Caps on what callrobot accepts where input is parsed (scripts, lead files, audio, answers).

One :class:`InputLimits` group in :class:`robot.config.Settings` (``input_limits``), so every
cap is a ``CALLROBOT_INPUT_LIMITS__NAME`` environment variable. Errors at a limit name the
setting with :func:`setting_name`, so whoever hits one knows which knob it is.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

#: Environment prefix of this group (``Settings.input_limits``).
ENV_PREFIX = "CALLROBOT_INPUT_LIMITS__"


def setting_name(field: str) -> str:
    """The environment variable that sets ``field`` (``script_max_bytes`` -> ``CALLROBOT_...``)."""
    return ENV_PREFIX + field.upper()


class InputLimits(BaseModel):
    """Every parse-time cap; defaults fit real scripts, lead lists and call recordings."""

    #: A dialogue script (YAML), in bytes of UTF-8, before any parsing.
    script_max_bytes: int = Field(1_000_000, ge=1)
    #: Nodes in a script with every alias expanded (what later stages would walk).
    script_max_nodes: int = Field(100_000, ge=1)
    #: Nesting of mappings and lists in a script.
    script_max_depth: int = Field(50, ge=2)
    #: Characters in one YAML scalar (a key or a value).
    script_max_scalar_chars: int = Field(100_000, ge=1)
    #: Seconds the YAML parse of one script may take.
    script_parse_timeout_s: float = Field(10.0, gt=0)

    #: Data rows in one lead import; the rest of the file is reported and not read.
    leads_max_rows: int = Field(1_000_000, ge=1)
    #: Fields (columns) in one lead row, header included.
    leads_max_fields: int = Field(200, ge=1)
    #: Characters in one lead field.
    leads_max_field_chars: int = Field(10_000, ge=1)
    #: Nesting of a JSON lead file.
    leads_max_json_depth: int = Field(32, ge=2)

    #: Seconds of audio in one WAV file read by replay, asr, voicemail detect or an upload.
    audio_max_seconds: float = Field(4 * 3600.0, gt=0)
    audio_max_channels: int = Field(2, ge=1)
    audio_min_rate_hz: int = Field(8000, ge=1)
    audio_max_rate_hz: int = Field(48000, ge=1)
    #: Bytes in one uploaded media file (``/v1/media``), or one fetched by ``play`` of a
    #: ``url``, before any parsing.
    media_max_bytes: int = Field(50_000_000, ge=1)
    #: Seconds to fetch the file of ``play`` of a ``url``, connect to last byte.
    media_fetch_timeout_s: float = Field(10.0, gt=0)

    #: Bytes in an answer from a customer's server (routing webhook, redirect, Rasa server).
    answer_max_bytes: int = Field(1_000_000, ge=1)
    #: Seconds for the whole answer, headers to last byte (a trickling server is cut here).
    answer_timeout_s: float = Field(4.0, gt=0)
    #: Nesting of a JSON answer from a customer's server.
    answer_max_json_depth: int = Field(32, ge=2)

    #: Bytes in one SIP message (UDP datagram or TCP frame).
    sip_max_message_bytes: int = Field(65_535, ge=256)
    #: Header lines in one SIP message.
    sip_max_headers: int = Field(128, ge=8)
