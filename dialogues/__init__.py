"""Dialogue scripts: format, loader, NLU and the dialogue manager."""
