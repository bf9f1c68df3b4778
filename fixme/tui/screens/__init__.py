"""The dashboard's screens: the main view, the board, and the dialogs (state, input, keys)."""
