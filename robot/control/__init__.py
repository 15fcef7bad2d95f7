"""Call control driven by the customer's CRM: actions, number routing, masking, conferences.

- :mod:`robot.control.actions` — the action vocabulary (``say``, ``dial``, ``gather``...).
- :mod:`robot.control.numbers` — checks of a tenant's numbers; the inbound number lookup.
- :mod:`robot.control.routing` — the signed routing request for an inbound call, with its
  retry, ``fallback_url`` and default actions.
- :mod:`robot.control.masking` — masking sessions and :func:`resolve_masked`.
- :mod:`robot.control.runner` — runs actions on a call (say, play, pause, gather, hangup,
  dial with a bridge).
- :mod:`robot.control.inbound` — an answered inbound call: masking bridge or routed actions.
- :mod:`robot.control.mixer` — conference arithmetic: mix-minus, jitter buffer, speaking, DTMF.
- :mod:`robot.control.conference` — a conference room: members, its 20 ms clock, the relay.
- :mod:`robot.control.conference_rooms` — the rooms of a process per tenant, dialling in,
  their events in the webhook outbox.
- :mod:`robot.control.callback` — callbacks A -> B (announcement, ringback, whisper, bridge).
- :mod:`robot.control.outbound` — outbound calls that run actions (``POST /v1/calls``).
- :mod:`robot.control.events` — each leg's progress as ordered webhook events.
- :mod:`robot.control.tones` — ringback.
- :mod:`robot.control.service` — a process's call control: the inbound listener, callbacks,
  outbound calls.
"""
