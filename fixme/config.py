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
LEGACY_CONFIG_FILE = "config"  # the older Haskell tool's settings (legacy_config.py), read when config.toml is absent

# NOTE is not a default: on real code most NOTE comments explain rather than ask
# for work (45-70 % of all entries reported on real projects). Add it in config.
DEFAULT_TAGS = ("TODO", "FIXME", "XXX", "HACK", "BUG", "PR", "REVIEW")
DEFAULT_STATES = ("new", "backlog", "wip", "test", "done", "dropped")


DEFAULT_ATTRIBUTES = ("assigned", "priority")
# Settings that do not change what a scan finds, left out of the fingerprint
# so that trusting a key or adding a state does not force a rescan.
_NOT_SCAN_SETTINGS = ("source_path", "trusted", "attributes", "attribute_values", "network_key", "allow",
                      "peers", "listen", "discovery", "discovery_port", "check")
DEFAULT_LISTEN = "0.0.0.0:47250"
DEFAULT_DISCOVERY_PORT = 47251


class ConfigError(Exception):
    """The config file is unreadable or says something impossible."""


class TrustedKey(namedtuple("_TrustedKey", "key name")):
    """A public key ("ed25519:" + 64 hex digits) whose records apply, with the name shown for it."""

    __slots__ = ()


class CheckRules(namedtuple("_CheckRules", "require_slug forbid_states max_count new_only",
                            defaults=((), (), (), False))):
    """The rules of `fixme check` ([check] in the config); the defaults check nothing.

    require_slug: tags whose entries must have a slug; forbid_states: workflow
    states no open entry may be in; max_count: (tag, most open entries allowed)
    pairs; new_only: require_slug only for entries not committed yet (or, with
    `check --since REV`, introduced after REV).
    """

    __slots__ = ()


_Settings = namedtuple("_Settings", "tags comment_markers include exclude prose devlog fields max_file_size "
                                    "states initial_state closed_states short_id_length trusted attributes "
                                    "attribute_values network_key allow peers listen discovery discovery_port check",
                       defaults=(
    DEFAULT_TAGS,
    (),  # comment_markers: line-comment markers for every file, besides each language's own
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
    (),  # trusted: TrustedKey, ...
    DEFAULT_ATTRIBUTES,  # attributes
    (),  # attribute_values: (attribute, allowed values), ...
    "",  # network_key: 64 hex digits, written by `fixme init`
    (),  # allow: node keys that may connect ("ed25519:..."); empty: any node of the network
    (),  # peers: "host:port", ...
    DEFAULT_LISTEN,  # listen
    True,  # discovery
    DEFAULT_DISCOVERY_PORT,  # discovery_port
    CheckRules(),  # check: the rules of `fixme check`
))


class Config(_Settings):
    """Everything a project can configure, with the defaults written out.

    An immutable value (a namedtuple rather than a frozen dataclass, which
    costs milliseconds to create on every start). `source_path`, the file it
    was read from, and `notices`, what the user should hear about reading it
    (the older tool's `.fixme/config` may say things fixme does not read),
    are not settings: equal settings compare equal whatever their file.
    """

    source_path: Path | None = None
    notices: tuple[str, ...] = ()

    def __new__(cls, *args, source_path: Path | None = None, notices: tuple[str, ...] = (), **kwargs):
        self = super().__new__(cls, *args, **kwargs)
        self.source_path = source_path
        self.notices = notices
        return self

    @property
    def is_legacy(self) -> bool:
        """Read from the older tool's `.fixme/config` (there is no config.toml)."""
        return self.source_path is not None and self.source_path.name == LEGACY_CONFIG_FILE

    def fingerprint(self) -> str:
        """A hash of every setting that changes what a scan finds."""
        import json

        from hashlib import sha256

        data = self._asdict()
        for name in _NOT_SCAN_SETTINGS:
            data.pop(name, None)
        blob = json.dumps(data, sort_keys=True, default=list).encode()
        return sha256(blob).hexdigest()[:16]

    def is_closed(self, state: str) -> bool:
        return state in self.closed_states

    def allowed_values(self, attribute: str) -> tuple[str, ...] | None:
        """The values an attribute may take (workflow: the states), or None for any."""
        if attribute == "workflow":
            return self.states
        return dict(self.attribute_values).get(attribute)

    def network_key_bytes(self) -> bytes | None:
        """The 32-byte network key, or None when `fixme init` has not made one."""
        return bytes.fromhex(self.network_key) if self.network_key else None

    def trusted_name(self, key: str) -> str | None:
        for trusted in self.trusted:
            if trusted.key == key:
                return trusted.name
        return None


def config_path(root: Path) -> Path:
    return root / CONFIG_DIR / CONFIG_FILE


def legacy_config_path(root: Path) -> Path:
    return root / CONFIG_DIR / LEGACY_CONFIG_FILE


def load_config(root: Path) -> Config:
    """Read the project's config.toml; without one, the older tool's `.fixme/config`;
    a repository with neither gets defaults."""
    path = config_path(root)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return _load_legacy_config(root)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    import tomllib  # only a repository with a config file pays for the parser

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return _config_from_dict(data, path)


# fixme never edits the older tool's file; a config.toml of its own takes the file's place.
_LEGACY_HINT = f" (fixme reads {CONFIG_DIR}/{CONFIG_FILE} instead when there is one)"


def _load_legacy_config(root: Path) -> Config:
    """The older tool's `.fixme/config` translated (legacy_config.py), or defaults without one.

    Only reached when config.toml is absent, so only such repositories pay for it.
    """
    path = legacy_config_path(root)
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return Config()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}{_LEGACY_HINT}") from None
    from .legacy_config import LegacyConfigError, read_legacy_config

    try:
        legacy = read_legacy_config(raw, Config())
    except LegacyConfigError as exc:
        raise ConfigError(f"{path}: {exc}{_LEGACY_HINT}") from None
    return _config_from_dict(legacy.data, path, legacy.notices)


def _config_from_dict(data: dict, path: Path, notices: tuple[str, ...] = ()) -> Config:
    scan = _table(data, "scan", path)
    workflow = _table(data, "workflow", path)
    display = _table(data, "display", path)
    network = _table(data, "network", path)
    defaults = Config()
    cfg = Config(
        tags=_strings(scan, "tags", defaults.tags, path),
        comment_markers=_strings(scan, "comment_markers", defaults.comment_markers, path, "scan."),
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
        trusted=_trusted(data.get("trust", []), path),
        attributes=_strings(workflow, "attributes", defaults.attributes, path),
        attribute_values=_attribute_values(_table(workflow, "values", path), path),
        network_key=_string(network, "key", defaults.network_key, path).lower(),
        allow=tuple(k.lower() for k in _strings(network, "allow", defaults.allow, path)),
        peers=_peers(data.get("peers", []), path),
        listen=_string(network, "listen", defaults.listen, path),
        discovery=_boolean(network, "discovery", defaults.discovery, path),
        discovery_port=_integer(network, "discovery_port", defaults.discovery_port, path),
        check=_check_rules(_table(data, "check", path), path),
        source_path=path,
        notices=notices,
    )
    _check(cfg, path)
    return cfg


def _check(cfg: Config, path: Path) -> None:
    if not cfg.tags:
        raise ConfigError(f"{path}: scan.tags must name at least one tag")
    for tag in cfg.tags:
        if not tag or not all(c.isalnum() or c == "_" for c in tag):
            raise ConfigError(f"{path}: scan.tags: {tag!r} is not a word")
    for marker in cfg.comment_markers:
        if not marker or any(c.isspace() for c in marker):
            raise ConfigError(f"{path}: scan.comment_markers: {marker!r} must be non-empty, without spaces")
    if cfg.initial_state not in cfg.states:
        raise ConfigError(f"{path}: workflow.initial {cfg.initial_state!r} is not in workflow.states")
    for state in cfg.closed_states:
        if state not in cfg.states:
            raise ConfigError(f"{path}: workflow.closed: {state!r} is not in workflow.states")
    if not 4 <= cfg.short_id_length <= 40:
        raise ConfigError(f"{path}: display.short_id_length must be between 4 and 40")
    if cfg.max_file_size <= 0:
        raise ConfigError(f"{path}: scan.max_file_size must be positive")
    if "workflow" in cfg.attributes:
        raise ConfigError(f"{path}: workflow.attributes: 'workflow' is always there; list the others")
    for name, _ in cfg.attribute_values:
        if name not in cfg.attributes:
            raise ConfigError(f"{path}: workflow.values.{name}: {name!r} is not in workflow.attributes")
    _check_network(cfg, path)
    _check_check_rules(cfg, path)


def _check_rules(table: dict, path: Path) -> CheckRules:
    counts = table.get("max_count", {})
    if not isinstance(counts, dict):
        raise ConfigError(f"{path}: check.max_count must be a table of tag = number (e.g. TODO = 100)")
    limits = []
    for tag in sorted(counts):
        limit = counts[tag]
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ConfigError(f"{path}: check.max_count.{tag} must be a whole number, 0 or more")
        limits.append((tag, limit))
    return CheckRules(
        require_slug=_strings(table, "require_slug", (), path, "check."),
        forbid_states=_strings(table, "forbid_states", (), path, "check."),
        max_count=tuple(limits),
        new_only=_boolean(table, "new_only", False, path, "check."),
    )


def _check_check_rules(cfg: Config, path: Path) -> None:
    """A rule naming a tag or state the project does not have would silently pass: refuse it."""
    rules = cfg.check
    for tag in rules.require_slug + tuple(tag for tag, _ in rules.max_count):
        if tag not in cfg.tags:
            raise ConfigError(f"{path}: check: {tag!r} is not in scan.tags")
    for state in rules.forbid_states:
        if state not in cfg.states:
            raise ConfigError(f"{path}: check.forbid_states: {state!r} is not in workflow.states")


def _check_network(cfg: Config, path: Path) -> None:
    from .node.keys import parse_key_text

    if cfg.network_key and (len(cfg.network_key) != 64 or any(c not in "0123456789abcdef" for c in cfg.network_key)):
        raise ConfigError(f"{path}: network.key must be 64 hex digits (32 bytes); 'fixme init' writes one")
    for key in cfg.allow:
        try:
            parse_key_text(key)
        except ValueError as exc:
            raise ConfigError(f"{path}: network.allow: {exc}") from None
    if not 0 < cfg.discovery_port < 65536:
        raise ConfigError(f"{path}: network.discovery_port must be a port number")


def _peers(value: object, path: Path) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{path}: peers must be an array of tables ([[peers]])")
    addresses = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("address"), str) or not item["address"].strip():
            raise ConfigError(f"{path}: every [[peers]] needs address = \"host:port\"")
        addresses.append(item["address"].strip())
    return tuple(addresses)


def _boolean(table: dict, key: str, default: bool, path: Path, prefix: str = "") -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: {prefix}{key} must be true or false")
    return value


def _trusted(value: object, path: Path) -> tuple[TrustedKey, ...]:
    from .node.keys import parse_key_text

    if not isinstance(value, list):
        raise ConfigError(f"{path}: trust must be an array of tables ([[trust]])")
    keys = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise ConfigError(f"{path}: every [[trust]] needs key = \"ed25519:...\"")
        try:
            parse_key_text(item["key"])
        except ValueError as exc:
            raise ConfigError(f"{path}: trust: {exc}") from None
        name = item.get("name", "")
        if not isinstance(name, str):
            raise ConfigError(f"{path}: trust: name must be a string")
        keys.append(TrustedKey(item["key"].lower(), name))
    return tuple(keys)


def _attribute_values(table: dict, path: Path) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((name, _strings(table, name, (), path)) for name in sorted(table))


def _table(data: dict, name: str, path: Path) -> dict:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    return value


def _strings(table: dict, key: str, default: tuple[str, ...], path: Path, prefix: str = "") -> tuple[str, ...]:
    value = table.get(key, default)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: {prefix}{key} must be a list of strings")
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


def default_config_document(settings: Config | None = None) -> str:
    """The commented config that `fixme init` writes, every setting spelled out.

    `settings` fills in the values (those read from the older tool's
    `.fixme/config`); without it, every default. Only what the document
    shows is carried over: trust, network and peers are added by later edits.
    """
    import tomlkit  # only `init` pays for tomlkit

    d = settings if settings is not None else Config()
    doc = tomlkit.document()
    doc.add(tomlkit.comment("fixme project configuration. Commit this file: every peer reads it."))
    doc.add(tomlkit.comment("Local state (cache, block store, search index) lives beside it and is git-ignored."))
    doc.add(tomlkit.nl())

    scan = tomlkit.table()
    scan.add(tomlkit.comment("Words that start an entry; docs/formats.md (Tags) has every spelling: TODO: x, TODO x, todo: x, @todo x."))
    scan.add("tags", _array(d.tags))
    scan.add(tomlkit.comment("Line-comment markers for every file, besides each language's own (e.g. [\"--\"])."))
    scan.add("comment_markers", _array(d.comment_markers))
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
    workflow.add(tomlkit.comment("Other attributes 'fixme set ID ATTR VALUE' may change. To limit an"))
    workflow.add(tomlkit.comment("attribute to some values, add e.g. [workflow.values] priority = [\"low\", \"high\"]."))
    workflow.add("attributes", _array(d.attributes))
    if d.attribute_values:
        values = tomlkit.table()
        for name, allowed in d.attribute_values:
            values.add(name, _array(allowed))
        workflow.add("values", values)
    doc.add("workflow", workflow)

    display = tomlkit.table()
    display.add(tomlkit.comment("Shortest id shown; longer where needed to stay unique, as git does."))
    display.add("short_id_length", d.short_id_length)
    doc.add("display", display)

    check = tomlkit.table()
    check.add(tomlkit.comment("Rules of 'fixme check' (for CI and pre-commit); the defaults check nothing."))
    check.add(tomlkit.comment("Tags whose entries must have a slug ('FIXME: some-slug'), e.g. [\"FIXME\"]."))
    check.add("require_slug", _array(d.check.require_slug))
    check.add(tomlkit.comment("true: require_slug only for entries not committed yet. (With"))
    check.add(tomlkit.comment("'fixme check --since REV': only for entries changed after REV.)"))
    check.add("new_only", d.check.new_only)
    check.add(tomlkit.comment("Workflow states no open entry may be in."))
    check.add("forbid_states", _array(d.check.forbid_states))
    check.add(tomlkit.comment("At most N open entries of a tag: add e.g. [check.max_count] TODO = 100."))
    doc.add("check", check)
    doc.add(tomlkit.nl())
    doc.add(tomlkit.comment("Keys whose signed records apply ('fixme trust add KEY --name NAME')."))
    doc.add(tomlkit.comment("Sync refuses records by other keys; your own are kept but do not apply."))
    return tomlkit.dumps(doc)


# -- edits that keep the file's comments and layout (tomlkit) ----------------


def add_trusted_key(path: Path, key: str, name: str) -> bool:
    """Add `key` to the trust list (or rename it); False when it was there with that name."""
    import tomlkit

    doc = _read_document(path)
    entries = doc.get("trust")
    if entries is None:
        entries = tomlkit.aot()
        doc.append("trust", entries)
    for item in entries:
        if str(item.get("key", "")).lower() == key:
            if item.get("name") == name:
                return False
            item["name"] = name
            break
    else:
        table = tomlkit.table()
        table.add("key", key)
        table.add("name", name)
        entries.append(table)
    _write_document(path, doc)
    return True


def set_network_key(path: Path, key_hex: str) -> bool:
    """Write network.key unless the config has one already; True when written."""
    import tomlkit

    doc = _read_document(path)
    network = doc.get("network")
    if network is None:
        network = tomlkit.table()
        network.add(tomlkit.comment("Peers need the same key to sync: it keeps other networks out."))
        network.add(tomlkit.comment("Also: allow = [node keys], listen = \"host:port\", discovery = true|false,"))
        network.add(tomlkit.comment("discovery_port = N. Peers to dial: [[peers]] address = \"host:port\"."))
        doc.add("network", network)
    elif network.get("key"):
        return False
    network["key"] = key_hex
    _write_document(path, doc)
    return True


def remove_trusted_key(path: Path, key: str) -> bool:
    """Remove `key` from the trust list; False when it was not there."""
    doc = _read_document(path)
    entries = doc.get("trust")
    if entries is None:
        return False
    keep = [item for item in entries if str(item.get("key", "")).lower() != key]
    if len(keep) == len(entries):
        return False
    for index in reversed(range(len(entries))):
        if str(entries[index].get("key", "")).lower() == key:
            del entries[index]
    if not keep:
        del doc["trust"]
    _write_document(path, doc)
    return True


def _read_document(path: Path):
    import tomlkit

    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist; run 'fixme init' first") from None
    except (OSError, UnicodeDecodeError, tomlkit.exceptions.TOMLKitError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _write_document(path: Path, doc) -> None:
    import tomlkit

    from .fsutil import atomic_write_bytes

    text = tomlkit.dumps(doc)
    _config_from_dict(tomlkit.parse(text).unwrap(), path)  # never write a config we could not read
    atomic_write_bytes(path, text.encode("utf-8"))


def _array(values: tuple[str, ...]):
    import tomlkit

    arr = tomlkit.array()
    arr.extend(values)
    return arr
