"""fixme: a bug tracker that lives in the code and syncs peer to peer."""

__version__ = "0.1.0"
