"""`fixme tui`: the Textual dashboard. Only this package imports textual.

The dashboard holds no domain logic: it calls the same Tracker methods as
the CLI, and fixme.tracker.dashboard for counts, filters, order and ages.
"""
