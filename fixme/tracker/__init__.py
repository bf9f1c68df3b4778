"""The domain: scanning, entry identity, blame, lifecycle. `Tracker` is the facade."""
