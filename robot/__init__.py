"""callrobot: outbound conversational voice robot and lead-qualification service."""

__version__ = "0.1.0"
