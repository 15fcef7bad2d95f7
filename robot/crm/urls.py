"""Which webhook URLs may be called: http(s) only, and no private networks by default.

A CRM URL that resolves to a loopback, private, link-local or otherwise internal address
could be used to reach services inside our network, so such URLs are refused unless the
operator sets ``webhooks_allow_private``. Host names are resolved and every address checked.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from robot.errors import ValidationError


def _is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def split_webhook_url(url: str) -> tuple[str, int]:
    """``(host, port)`` of a well-formed http(s) URL; raises ValidationError naming ``url``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ValidationError(f"url: malformed URL: {e}") from e
    if parts.scheme not in ("http", "https"):
        raise ValidationError("url: only http:// and https:// URLs can receive webhooks")
    if not parts.hostname:
        raise ValidationError("url: the URL has no host")
    if parts.username or parts.password:
        raise ValidationError("url: credentials in the URL are not allowed; use the secret")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def resolve_addresses(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise ValidationError(f"url: host {host!r} does not resolve: {e}") from e
    return sorted({str(info[4][0]) for info in infos})


def check_webhook_url(url: str, *, allow_private: bool) -> str:
    """Return ``url`` if webhooks may be sent to it; raise ValidationError otherwise."""
    host, port = split_webhook_url(url)
    if allow_private:
        return url
    for address in resolve_addresses(host, port):
        if _is_internal(address):
            raise ValidationError(
                f"url: {host} resolves to {address}, a private or loopback address; "
                "set webhooks_allow_private to allow it"
            )
    return url
