"""Carriers chosen by URL: ``sim://`` (the simulated network, default),
``sip://user:secret@host:5060;transport=udp`` (a SIP trunk), ``local://`` (this machine's
microphone and speaker)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from robot.carriers.base import Carrier
from robot.errors import ConfigError

DEFAULT_CARRIER_URL = "sim://"


def create_carrier(url: str | None = None) -> Carrier:
    url = url or DEFAULT_CARRIER_URL
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sim":
        return _sim_carrier(url)
    if scheme in ("sip", "sips"):
        from robot.carriers.sip.carrier import SipCarrier

        return SipCarrier.from_url(url)
    if scheme == "local":
        from robot.carriers.local import LocalCarrier

        return LocalCarrier.from_url(url)
    raise ConfigError(f"unknown carrier URL {url!r}: use sim://, sip://... or local://")


def _sim_carrier(url: str) -> Carrier:
    """``sim://?speed=2&personas=/dir/one,/dir/two``: speed factor and extra persona folders."""
    from robot.carriers.sim import SimCarrier

    query = parse_qs(urlsplit(url).query)
    try:
        speed = float(query.get("speed", ["1"])[0])
    except ValueError as e:
        raise ConfigError(f"sim carrier URL {url!r}: speed must be a number") from e
    dirs = [d for value in query.get("personas", []) for d in value.split(",") if d]
    return SimCarrier(persona_dirs=dirs, speed=speed)
