"""Project configuration: `.fixme/config.toml`.

Reading uses the standard library's tomllib (cheap, so every command can
afford it); writing the commented default file uses tomlkit, imported only
by `fixme init`, so comments and layout survive later edits.
"""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path

CONFIG_DIR = ".fixme"
CONFIG_FILE = "config.toml"

DEFAULT_TAGS = ("TODO", "FIXME", "XXX", "HACK", "BUG", "PR", "REVIEW", "NOTE")
DEFAULT_STATES = ("new", "backlog", "wip", "test", "done", "dropped")


class ConfigError(Exception):
    """The config file is unreadable or says something impossible."""


_Settings = namedtuple("_Settings", "tags include exclude prose devlog fields max_file_size states initial_state "
                                    "closed_states short_id_length", defaults=(
    DEFAULT_TAGS,
    ("**",),  # include
    (".fixme/**",),  # exclude
    ("*.md", "*.markdown", "*.txt", "*.rst", "*.org"),  # prose
    ("devlog*", "DEVLOG*"),  # devlog
    ("branch", "commit", "assigned", "priority", "due"),  # fields
    5 * 1024 * 1024,  # max_file_size
    DEFAULT_STATES,  # states
    "new",  # initial_state
    ("done", "dropped"),  # closed_states
    7,  # short_id_length
))


class Config(_Settings):
    """Everything a project can configure, with the defaults written out.

    An immutable value (a namedtuple rather than a frozen dataclass, which
    costs milliseconds to create on every start). `source_path`, the file it
    was read from, is not a setting: equal settings compare equal whatever
    their file.
    """

    def __new__(cls, *args, source_path: Path | None = None, **kwargs):
        self = super().__new__(cls, *args, **kwargs)
        self.source_path = source_path
        return self

    def fingerprint(self) -> str:
        """A hash of every setting that changes what a scan finds."""
        import json

        from .sha import sha256

        blob = json.dumps(self._asdict(), sort_keys=True, default=list).encode()
        return sha256(blob).hexdigest()[:16]

    def is_closed(self, state: str) -> bool:
        return state in self.closed_states


def config_path(root: Path) -> Path:
    return root / CONFIG_DIR / CONFIG_FILE


def load_config(root: Path) -> Config:
    """Read the project's config; a repository never initialised gets defaults."""
    path = config_path(root)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    import tomllib  # only a repository with a config file pays for the parser

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return _config_from_dict(data, path)


def _config_from_dict(data: dict, path: Path) -> Config:
    scan = _table(data, "scan", path)
    workflow = _table(data, "workflow", path)
    display = _table(data, "display", path)
    defaults = Config()
    cfg = Config(
        tags=_strings(scan, "tags", defaults.tags, path),
        include=_strings(scan, "include", defaults.include, path),
        exclude=_strings(scan, "exclude", defaults.exclude, path),
        prose=_strings(scan, "prose", defaults.prose, path),
        devlog=_strings(scan, "devlog", defaults.devlog, path),
        fields=_strings(scan, "fields", defaults.fields, path),
        max_file_size=_integer(scan, "max_file_size", defaults.max_file_size, path),
        states=_strings(workflow, "states", defaults.states, path),
        initial_state=_string(workflow, "initial", defaults.initial_state, path),
        closed_states=_strings(workflow, "closed", defaults.closed_states, path),
        short_id_length=_integer(display, "short_id_length", defaults.short_id_length, path),
        source_path=path,
    )
    _check(cfg, path)
    return cfg


def _check(cfg: Config, path: Path) -> None:
    if not cfg.tags:
        raise ConfigError(f"{path}: scan.tags must name at least one tag")
    for tag in cfg.tags:
        if not tag or not all(c.isalnum() or c == "_" for c in tag):
            raise ConfigError(f"{path}: scan.tags: {tag!r} is not a word")
    if cfg.initial_state not in cfg.states:
        raise ConfigError(f"{path}: workflow.initial {cfg.initial_state!r} is not in workflow.states")
    for state in cfg.closed_states:
        if state not in cfg.states:
            raise ConfigError(f"{path}: workflow.closed: {state!r} is not in workflow.states")
    if not 4 <= cfg.short_id_length <= 40:
        raise ConfigError(f"{path}: display.short_id_length must be between 4 and 40")
    if cfg.max_file_size <= 0:
        raise ConfigError(f"{path}: scan.max_file_size must be positive")


def _table(data: dict, name: str, path: Path) -> dict:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    return value


def _strings(table: dict, key: str, default: tuple[str, ...], path: Path) -> tuple[str, ...]:
    value = table.get(key, default)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: {key} must be a list of strings")
    return tuple(value)


def _string(table: dict, key: str, default: str, path: Path) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {key} must be a string")
    return value


def _integer(table: dict, key: str, default: int, path: Path) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{path}: {key} must be an integer")
    return value


def default_config_document() -> str:
    """The commented config that `fixme init` writes, every default spelled out."""
    import tomlkit  # only `init` pays for tomlkit

    d = Config()
    doc = tomlkit.document()
    doc.add(tomlkit.comment("fixme project configuration. Commit this file: every peer reads it."))
    doc.add(tomlkit.comment("Local state (cache, block store, search index) lives beside it and is git-ignored."))
    doc.add(tomlkit.nl())

    scan = tomlkit.table()
    scan.add(tomlkit.comment("Words that start an entry when followed by ':' (case-sensitive)."))
    scan.add("tags", _array(d.tags))
    scan.add(tomlkit.comment("Which files are scanned: git's tracked and untracked-not-ignored files,"))
    scan.add(tomlkit.comment("kept when they match an include glob and no exclude glob."))
    scan.add(tomlkit.comment("'*' stays inside one directory, '**' crosses directories; a glob"))
    scan.add(tomlkit.comment("without '/' matches the file name or the name of any directory above it."))
    scan.add("include", _array(d.include))
    scan.add("exclude", _array(d.exclude))
    scan.add(tomlkit.comment("Prose files: entries are 'TAG: title' at the start of a line, and task lists."))
    scan.add("prose", _array(d.prose))
    scan.add(tomlkit.comment("Devlogs: read as prose whatever their extension. In every prose file,"))
    scan.add(tomlkit.comment("'## YYYY-MM-DD' headings date the entries below them."))
    scan.add("devlog", _array(d.devlog))
    scan.add(tomlkit.comment("Body lines 'key: value' with one of these keys become fields of the entry."))
    scan.add("fields", _array(d.fields))
    scan.add(tomlkit.comment("Files larger than this many bytes are skipped with a notice."))
    scan.add("max_file_size", d.max_file_size)
    doc.add("scan", scan)

    workflow = tomlkit.table()
    workflow.add(tomlkit.comment("The states an entry moves through, the one it starts in, and the closed ones."))
    workflow.add("states", _array(d.states))
    workflow.add("initial", d.initial_state)
    workflow.add("closed", _array(d.closed_states))
    doc.add("workflow", workflow)

    display = tomlkit.table()
    display.add(tomlkit.comment("Shortest id shown; longer where needed to stay unique, as git does."))
    display.add("short_id_length", d.short_id_length)
    doc.add("display", display)
    return tomlkit.dumps(doc)


def _array(values: tuple[str, ...]):
    import tomlkit

    arr = tomlkit.array()
    arr.extend(values)
    return arr
