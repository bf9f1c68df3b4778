"""The `fixme` command line: argument parsing and output, no domain logic."""
