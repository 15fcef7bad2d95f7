"""Database tables and access."""
