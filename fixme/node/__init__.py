"""The sync node: block store, blobs, signed record logs, keys and transport.

Knows nothing about TODOs. Nothing here imports fixme.tracker, fixme.cli or
fixme.tui (a test checks it).
"""
