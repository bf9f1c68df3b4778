"""The read side: which files, how their comments and prose say TODO, who wrote
each tag line (git blame), entry identity, and the scan's cache. Knows nothing
of records; `fixme.tracker` builds on it."""
