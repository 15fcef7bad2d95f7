"""Phone number and SIP URI shapes: a leaf with no imports from the rest of the project."""

from __future__ import annotations

import re

#: ``+`` then 7 to 15 digits, the first not 0 (ITU-T E.164).
E164_PATTERN = re.compile(r"^\+[1-9]\d{6,14}$")
#: ``sip:`` or ``sips:``, an optional user part, a host and optional port and parameters.
SIP_URI_PATTERN = re.compile(
    r"^sips?:(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+@)?(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])"
    r"(?::\d{1,5})?(?:;[A-Za-z0-9\-_.!~*'()%=]+)*$"
)


def is_e164(number: str) -> bool:
    return E164_PATTERN.match(number) is not None


def is_sip_uri(uri: str) -> bool:
    return len(uri) <= 256 and SIP_URI_PATTERN.match(uri) is not None
