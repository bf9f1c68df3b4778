"""`fixme tui`: open the dashboard. Textual is imported only when the command runs."""

from __future__ import annotations

from ..errors import EXIT_OK, FixmeError
from .env import Environment

DESCRIPTION = """\
Open the dashboard in the terminal: a summary of the entries by state, tag
and author; the entry table, sortable and filtered live by a search box and
quick filters; the selected entry's locations, blame, body, highlighted
source lines and signed history; and a board with one column per workflow
state. Keys change an entry's state (w), assign it (a), comment (c), open
the editor at its line (o), rescan (r) and sync with peers (s); ? lists
them all, q quits. Changes are written as signed records, as by the
commands. The entries already scanned show at once; a rescan follows unless
--no-scan is given.
"""


def register(sub) -> None:
    import argparse

    p = sub.add_parser("tui", help="the dashboard: browse, filter, search and change entries",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--no-scan", action="store_true",
                   help="show the last scan's entries without rescanning first (r rescans later)")
    p.set_defaults(run=cmd_tui)


def cmd_tui(args, env: Environment) -> int:
    if not env.stdout_isatty:
        raise FixmeError("tui: standard output is not a terminal (use 'fixme list' for text)")
    from pathlib import Path

    from ..node.keys import fixme_home
    from ..tracker.tracker import Tracker
    from .notices import print_config_notices

    tracker = Tracker.open(Path(env.start_dir(args.directory)), home=fixme_home(env.environ))
    print_config_notices(tracker.config, env)  # before the dashboard takes the screen; still there after
    from ..tui.app import FixmeApp

    app = FixmeApp(tracker, scan=not args.no_scan, environ=env.environ)
    code = app.run()
    return EXIT_OK if code is None else code
