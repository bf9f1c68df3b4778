"""Notices the config left to say, printed once per command.

Its own module, importing the config: a warm `fixme scan` imports it only in
a repository read through the older tool's `.fixme/config`.
"""

from __future__ import annotations

from pathlib import Path

from ..config import Config, ConfigError, load_config
from ..errors import FixmeError
from .env import Environment


def print_config_notices(config: Config, env: Environment) -> None:
    """What reading the config left to say (the older tool's `.fixme/config`: forms not read).

    Printed where a command opens its tracker, so once per command.
    """
    for notice in config.notices:
        env.stderr.write(f"fixme: {notice}\n")


def print_legacy_config_notices(root: str, env: Environment) -> None:
    """print_config_notices for a command that answers without opening a tracker
    (an unchanged `fixme scan`): only a repository read through `.fixme/config` pays."""
    try:
        config = load_config(Path(root))
    except ConfigError as exc:
        raise FixmeError(str(exc)) from None
    print_config_notices(config, env)
