"""Phone numbers and SIP URIs: their shapes and E.164 normalisation (a leaf of the project)."""

from __future__ import annotations

import re

from robot.errors import ValidationError

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


def normalise_number(value: str, region: str, field: str = "number") -> str:
    """E.164 form of a phone number, or ValidationError naming ``field``."""
    import phonenumbers

    region = region.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(f"region: unknown region {region!r}")
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as e:
        raise ValidationError(f"{field}: not a phone number ({e})") from e
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError(f"{field}: not a valid phone number")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
