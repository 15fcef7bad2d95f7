"""Voicemail, answering-machine and dead-number detection."""
