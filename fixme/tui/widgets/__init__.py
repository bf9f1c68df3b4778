"""The dashboard's widgets: entry table, detail pane, summary strip, status bar, board columns."""
