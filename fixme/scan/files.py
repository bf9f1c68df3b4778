"""Which files are scanned, by which grammar, and how their bytes become text."""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from .globs import GlobSet

BINARY_SNIFF = 8192
# Extensions of files that are never text: a FOREIGN file is opened to see if
# Pygments should read it, and repositories can hold many thousands of these.
BINARY_EXTENSIONS = frozenset(
    "png jpg jpeg gif bmp ico icns tif tiff webp psd xcf avif heic "
    "pdf zip gz tgz bz2 xz zst 7z rar tar jar war ear whl egg apk deb rpm dmg iso "
    "exe dll so dylib a o obj lib pyc pyo class wasm bin db sqlite sqlite3 "
    "woff woff2 ttf otf eot mp3 mp4 m4a ogg oga wav flac avi mov mkv webm "
    "npy npz pkl pickle parquet onnx pt pth h5 hdf5".split()
)


# FileKind.grammar values.
CODE = "code"
PROSE = "prose"
SHEBANG = "shebang"  # a script without extension: its first line decides, once read
FOREIGN = "foreign"  # an extension the table does not know: Pygments may, once read


@dataclass(frozen=True)
class FileKind:
    """grammar: CODE | PROSE | SHEBANG | FOREIGN; language: a languages.Language
    (or ForeignLanguage) for code; markdown / rst: which markup a prose file is
    written in; fallback: for SHEBANG, the FileKind to use when the text has no
    known `#!` line (None: the file holds no entries)."""

    grammar: str
    language: object = None
    markdown: bool = False
    rst: bool = False
    fallback: FileKind | None = None


class FileRules:
    """Decides, from config, whether a path is scanned and with which grammar."""

    def __init__(self, config: Config):
        self.include = GlobSet(config.include)
        self.exclude = GlobSet(config.exclude)
        self.prose = GlobSet(config.prose)
        self.devlog = GlobSet(config.devlog)

    def follows(self, path: str) -> bool:
        """Whether the history walk keeps track of `path` (any file the globs could scan)."""
        return self.include.matches(path) and not self.exclude.matches(path)

    def kind(self, path: str) -> FileKind | None:
        if not self.include.matches(path) or self.exclude.matches(path):
            return None
        name = path.rsplit("/", 1)[-1]
        markdown = name.lower().endswith((".md", ".markdown"))
        rst = name.lower().endswith((".rst", ".rest"))
        if self.devlog.matches(path):
            return FileKind(PROSE, markdown=markdown, rst=rst)
        from . import languages  # only needed when files change

        language = languages.language_for(path)
        if language is not None and name.lower() in languages.FILE_NAMES:
            return FileKind(CODE, language=language)  # CMakeLists.txt is CMake, not prose
        if self.prose.matches(path):
            return FileKind(PROSE, markdown=markdown, rst=rst)
        if language is not None:
            return FileKind(CODE, language=language)
        if languages.has_no_extension(path):
            # deploy, bin/rails: a script if it starts with #!, else README-like prose
            return FileKind(SHEBANG, fallback=FileKind(PROSE))
        if languages.is_template_of_extensionless(path):
            return FileKind(SHEBANG)  # tool.in: only its #! line can say what it is
        if languages.extension_in_table(path):
            return None  # the table declined it (python-build/3.11.1 is no man page)
        if name.rpartition(".")[2].lower() in BINARY_EXTENSIONS:
            return None  # not worth opening to find out
        return FileKind(FOREIGN)  # perhaps a language Pygments knows


def settle(kind: FileKind, path: str, text: str, tags: Iterable[str]) -> FileKind | None:
    """The kind to read `text` with, now that it is known; None: no entries in it.

    A SHEBANG kind becomes code in its `#!` line's language, or its fallback.
    A FOREIGN kind becomes code in a Pygments language if the text mentions
    one of `tags` and Pygments has exactly one lexer for the file's name.
    """
    if kind.grammar == SHEBANG:
        from .languages import language_for_shebang

        language = language_for_shebang(text)
        return kind.fallback if language is None else FileKind(CODE, language=language)
    if kind.grammar == FOREIGN:
        from .foreign import foreign_language

        language = foreign_language(path, text, tags)
        return None if language is None else FileKind(CODE, language=language)
    return kind


@dataclass(frozen=True)
class Skipped:
    """reason: shown to the user, e.g. "binary", "larger than 5 MiB";
    notice: worth telling the user about."""

    reason: str
    notice: bool = False


def read_text(path: Path, max_size: int) -> str | Skipped:
    """Decode a source file: BOM-aware, invalid UTF-8 replaced, CRLF folded to LF.

    Line numbers are kept as git counts them (only '\\n' ends a line).
    """
    try:
        size = os.stat(path).st_size
        if size > max_size:
            return Skipped(f"larger than {_human(max_size)} ({_human(size)})", notice=True)
        with open(path, "rb") as fh:
            # Sniff before reading the rest: most unknown files are images and archives.
            data = fh.read(BINARY_SNIFF)
            utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
            if b"\0" in data and not utf16:
                return Skipped("binary")
            data += fh.read(max_size + 1 - len(data))
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return Skipped("missing")
    except OSError as exc:
        return Skipped(f"unreadable: {exc.strerror}", notice=True)
    if utf16:
        text = data.decode("utf-16", "replace")
    else:
        text = data.decode("utf-8-sig", "replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    return text


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}".replace(".0 ", " ")
        n /= 1024
    return str(n)
