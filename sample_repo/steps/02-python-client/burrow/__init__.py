"""burrow: a small key-value store with an append-only log."""

__version__ = "0.1.0"
