"""The ``sip`` carrier: calls over a SIP trunk with G.711 RTP audio.

The SIP and RTP subset is written here in asyncio rather than taken from a library: the
pure-Python SIP packages are immature, the libbaresip wrapper hides the response headers
the signalling classifier needs (Reason, Diversion, History-Info), and pjsua2 has no wheel.
A trunk needs only a small part of RFC 3261: one INVITE dialog per call, digest auth,
CANCEL/BYE, re-INVITE answers and G.711 media, which stays small enough to test fully
against real peers (SIPp, baresip).
"""

from __future__ import annotations

from robot.carriers.sip.call import SipCall
from robot.carriers.sip.carrier import SipCarrier
from robot.carriers.sip.config import SipCarrierConfig
from robot.carriers.sip.inbound import InboundSipCall, IncomingCallHandler
from robot.carriers.sip.message import SipMessage, SipParseError, parse_message

__all__ = [
    "InboundSipCall",
    "IncomingCallHandler",
    "SipCall",
    "SipCarrier",
    "SipCarrierConfig",
    "SipMessage",
    "SipParseError",
    "parse_message",
]
