"""SIP carrier configuration from a URL.

``sip://user:secret@trunk.example:5060;transport=udp`` with optional parameters:
``transport`` (udp|tcp), ``proxy`` (host:port of an outbound proxy), ``register`` (yes|no),
``expires`` (registration seconds), ``local_host`` / ``local_port`` (where we bind; the
host is also written into Contact and SDP), ``caller_id``, ``display`` (From display name),
``numbers`` (comma-separated numbers accepted inbound; empty accepts all), ``listen``
(host:port where a running service takes inbound calls: ``callrobot serve`` and
``callrobot dialler`` listen there when it is set; each outbound call binds its own port).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field, replace
from urllib.parse import unquote

from robot.errors import ConfigError

_BOOLEAN = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


@dataclass(frozen=True, slots=True)
class SipCarrierConfig:
    host: str
    port: int = 5060
    transport: str = "udp"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    outbound_proxy: tuple[str, int] | None = None
    register: bool = False
    register_expires_s: int = 600
    local_host: str | None = None
    local_port: int = 0
    caller_id: str | None = None
    display_name: str | None = None
    inbound_numbers: tuple[str, ...] = ()
    #: Where the service's inbound listener binds (None: no listener).
    listen: tuple[str, int] | None = None

    @classmethod
    def from_url(cls, url: str) -> SipCarrierConfig:
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.lower() not in ("sip", "sips"):
            raise ConfigError(f"carrier URL must start with sip:// (got {scheme[:10]!r})")
        address, *param_parts = rest.split(";")
        params: dict[str, str] = {}
        for part in param_parts:
            name, _, value = part.partition("=")
            params[name.strip().lower()] = unquote(value.strip())
        userinfo, at, hostport = address.rpartition("@")
        username = password = None
        if at:
            user, _, secret = userinfo.partition(":")
            username, password = unquote(user) or None, unquote(secret) or None
        host, port = _host_port(hostport.rstrip("/"), "carrier URL host")
        known = {
            "transport",
            "proxy",
            "register",
            "expires",
            "local_host",
            "local_port",
            "caller_id",
            "display",
            "numbers",
            "listen",
        }
        unknown = sorted(set(params) - known)
        if unknown:
            raise ConfigError(
                f"carrier URL parameter {unknown[0]!r} is unknown "
                f"(known: {', '.join(sorted(known))})"
            )
        transport = params.get("transport", "udp").lower()
        if transport not in ("udp", "tcp"):
            raise ConfigError(f"carrier URL transport {transport!r} must be udp or tcp")
        register = params.get("register", "no").lower()
        if register not in _BOOLEAN:
            raise ConfigError(f"carrier URL register={register!r} must be yes or no")
        return cls(
            host=host,
            port=port,
            transport=transport,
            username=username,
            password=password,
            outbound_proxy=_host_port(params["proxy"], "proxy") if "proxy" in params else None,
            register=_BOOLEAN[register],
            register_expires_s=_integer(params.get("expires", "600"), "expires"),
            local_host=params.get("local_host") or None,
            local_port=_integer(params.get("local_port", "0"), "local_port"),
            caller_id=params.get("caller_id") or None,
            display_name=params.get("display") or None,
            inbound_numbers=tuple(n for n in params.get("numbers", "").split(",") if n),
            listen=_host_port(params["listen"], "listen") if "listen" in params else None,
        )

    def for_listening(self) -> SipCarrierConfig:
        """This trunk, bound to the ``listen`` address (ConfigError when none is set)."""
        if self.listen is None:
            raise ConfigError("carrier URL has no listen=host:port for inbound calls")
        host, port = self.listen
        return replace(self, local_host=host, local_port=port)

    def resolved_local_host(self, next_hop_ip: str) -> str:
        """The address the trunk can reach us on: configured, or our route towards it."""
        if self.local_host:
            return self.local_host
        target = next_hop_ip
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect((target, 9))
                return str(probe.getsockname()[0])
            except OSError as e:
                raise ConfigError(f"cannot find a local address towards {target}: {e}") from e


def _host_port(text: str, what: str) -> tuple[str, int]:
    if text.startswith("["):
        host, _, tail = text[1:].partition("]")
        port_text = tail.removeprefix(":")
    else:
        host, _, port_text = text.partition(":")
    if not host:
        raise ConfigError(f"{what} is empty")
    return host, _integer(port_text or "5060", f"{what} port")


def _integer(text: str, what: str) -> int:
    if not text.isdigit() or (int(text) > 65535 and "port" in what):
        raise ConfigError(f"carrier URL {what} {text!r} is not a valid number")
    return int(text)
