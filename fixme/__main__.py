"""`python -m fixme` runs the same command line as the `fixme` script."""

import sys

from fixme.cli.main import main

sys.exit(main())
