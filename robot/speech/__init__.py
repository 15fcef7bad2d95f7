"""Speech engines behind small protocols (ASR, TTS, VAD)."""
