"""Telephony carriers: simulated network, SIP trunk, local audio device."""
