"""Carriers chosen by URL: ``sim://`` (the simulated network, default),
``sip://user:secret@host:5060;transport=udp`` (a SIP trunk), ``local://`` (sound card)."""

from __future__ import annotations

from urllib.parse import urlsplit

from robot.carriers.base import Carrier
from robot.errors import ConfigError

DEFAULT_CARRIER_URL = "sim://"


def create_carrier(url: str | None = None) -> Carrier:
    url = url or DEFAULT_CARRIER_URL
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sim":
        from robot.carriers.sim import SimCarrier

        return SimCarrier.from_url(url)
    if scheme in ("sip", "sips"):
        from robot.carriers.sip.carrier import SipCarrier

        return SipCarrier.from_url(url)
    if scheme == "local":
        from robot.carriers.local import LocalCarrier

        return LocalCarrier.from_url(url)
    raise ConfigError(f"unknown carrier URL {url!r}: use sim://, sip://... or local://")
