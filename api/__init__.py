"""HTTP API service."""
