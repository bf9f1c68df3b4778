"""The comment table: how each language writes comments and string literals.

The lexer (`comments.py`) only needs to know where comments are, so a
`Language` describes just enough syntax to find them reliably: the comment
markers, and the string literals that could hide a marker (`"http://x"`,
`"# not a comment"`). Everything else about a language is irrelevant here.

Patterns in this table are regular-expression fragments where a field says
so (`not_after`, `not_before`, `skips`, `StringRule.regex`); markers and
string delimiters are plain text.

Which language a file has: `language_for` (whole name, extension, template
suffixes such as `.in`), and for a script without extension
`language_for_shebang` (its `#!` line). Languages outside the table are
Pygments' business (`ForeignLanguage`, foreign.py).
"""

from __future__ import annotations

import posixpath
import re
from collections import namedtuple
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


class StringRule(namedtuple("StringRule", "open close escape doubled multiline not_after single_char regex",
                            defaults=('"', "", "\\", False, False, "", False, ""))):
    """One kind of string (or character) literal.

    `open`/`close` are plain text. A literal that does not fit these fields
    (heredocs, raw strings with a custom delimiter) gives a whole `regex`
    instead; it should start with a literal character so the lexer's search
    stays fast, and may use one named group `D` with back-reference `(?P=D)`.

    open: the opening quote; close: "" means the same as `open`; escape:
    escape character, "" when the literal has none; doubled: the closing
    quote written twice stands for itself ('it''s'); not_after: regex class,
    a quote right after one of these is not a string (x', 'a lifetimes);
    single_char: a character literal, one (maybe escaped) character, else
    not a literal.
    """

    __slots__ = ()

    @property
    def closer(self) -> str:
        return self.close or self.open


class Language(namedtuple("Language", "name line_comments block_comments nested_blocks strings "
                                      "line_start_comments blocks_at_line_start not_after not_before skips",
                          defaults=((), (), False, (), (), False, "", "", ()))):
    """How comments and strings are written in one language.

    line_comments: markers valid anywhere outside strings.
    block_comments: (open, close) pairs; nested_blocks: they nest ({- {- -} -}).
    strings: StringRule tuple.
    line_start_comments: markers that only start a comment as the first thing
      on a line (INI ';', batch REM).
    blocks_at_line_start: block comments whose opener must start a line
      (Ruby =begin, Perl POD).
    not_after: regex class; a line-comment marker right after one of these is
      not a comment (shell `a#b`, Perl `$#x`, Haskell `<--`).
    not_before: regex class; a line-comment marker (and its repetitions)
      followed by one of these is an operator, not a comment (Haskell `-->`).
    skips: regexes for code that looks like a comment or string start but is
      neither (PHP `#[attr]`, Erlang `$"`, OCaml `(*)`); consumed as plain code.
    """

    __slots__ = ()


@dataclass(frozen=True)
class ForeignLanguage:
    """A language outside this table, read by a Pygments lexer (see foreign.py).

    name: the lexer's name ("TableGen"); module, class_name: where Pygments
    keeps the lexer class, imported only when a file is lexed.
    """

    name: str
    module: str
    class_name: str


# -- string rules shared by many languages --------------------------------

DQ = StringRule('"')
SQ = StringRule("'")
DQ_ML = StringRule('"', multiline=True)
SQ_ML = StringRule("'", multiline=True)
BACKTICK_ML = StringRule("`", multiline=True)
TRIPLE_DQ = StringRule('"""', multiline=True)
TRIPLE_SQ = StringRule("'''", multiline=True)
TRIPLE_DQ_RAW = StringRule('"""', escape="", multiline=True)
# C-family character constants: 'a', '\n', 'ab'; never after an identifier
# character (C++14 digit separators 1'000).
C_CHAR = StringRule("'", not_after=r"[\w]")
# ML-family / Rust character literals: exactly one character, so that x' and
# 'a lifetimes or type variables are left alone.
ONE_CHAR = StringRule("'", single_char=True, not_after=r"[\w']")
SQL_SQ = StringRule("'", doubled=True, multiline=True)
SQL_DQ = StringRule('"', doubled=True, multiline=True)
BASIC_DQ = StringRule('"', escape="", doubled=True)
PASCAL_SQ = StringRule("'", escape="", doubled=True)

# Heredocs: <<EOF ... EOF (shell <<-EOF, Ruby <<~EOS, PHP <<<EOT). A line
# at a time, lazily, until a line holding only the delimiter.
_HEREDOC_TAIL = r"[^\n]*\n(?:[^\n]*\n)*?[ \t]*(?P=D)[ \t]*(?=\n|\Z)"
# PHP allows code after the closing identifier: `EOT;`, `EOT)`.
_PHP_HEREDOC_TAIL = r"[^\n]*\n(?:[^\n]*\n)*?[ \t]*(?P=D)(?!\w)"
SHELL_HEREDOC = StringRule(
    regex=r"<<(?<!<<<)-?[ \t]*(?:\\|['\"])?(?P<D>[A-Za-z_]\w*)['\"]?" + _HEREDOC_TAIL
)
# Ruby: <<EOS, <<~EOS, <<-'EOS'; a lower-case id only after ~ or -, since
# `list <<item` could be an append.
RUBY_HEREDOC = StringRule(regex=r"<<['\"`]?(?P<D>[A-Z_][A-Z0-9_]*)['\"`]?" + _HEREDOC_TAIL)
RUBY_SQUIGGLY_HEREDOC = StringRule(regex=r"<<[~-]['\"`]?(?P<D>[A-Za-z_]\w*)['\"`]?" + _HEREDOC_TAIL)
# Perl: <<EOF, <<~EOF, and quoted ids that may follow a blank (<< "EOF").
PERL_HEREDOC = StringRule(regex=r"<<~?(?:[ \t]*['\"])?(?P<D>[A-Za-z_]\w*)['\"]?" + _HEREDOC_TAIL)
PHP_HEREDOC = StringRule(regex=r"<<<[ \t]*['\"]?(?P<D>[A-Za-z_]\w*)['\"]?" + _PHP_HEREDOC_TAIL)
HCL_HEREDOC = StringRule(regex=r"<<-?(?P<D>[A-Za-z_]\w*)" + _HEREDOC_TAIL)


def _slash_regex(enders: str, keywords: str, spaced_call: bool = False) -> StringRule:
    """A /regex/ literal (Ruby, Perl, JavaScript): a `/` where an operand can start.

    After an operand (an identifier, a number, `)`, `]`, `}`, a quote: the
    `enders` class), maybe with blanks between, a `/` divides. After anything
    else (`=`, `(`, `,`, `=~`, the start of a line) or one of `keywords`
    (`when`, `return`, ...) it opens a regex. `spaced_call`: Ruby and Perl
    also read `split /,/` (a blank before the slash, none after) as a regex
    argument. The literal must close on its line; if it does not, the `/`
    was code after all.
    """
    options = [f"(?<=\\b{keyword} /)" for keyword in keywords.split()]
    if spaced_call:
        options.append(r"(?<=\w /)(?=[^\s=])")
    options.append("".join(f"(?<!{enders}[ \\t]{{{blanks}}}/)" for blanks in range(9)))
    body = r"(?:[^/\\\n\[]|\\[^\n]|\[(?:[^\]\\\n]|\\[^\n])*+\])++"
    return StringRule(regex="/(?:" + "|".join(options) + ")" + body + "/")


def _bracketed(open_: str, close: str) -> str:
    """Regex: text between a bracket pair, allowing one level of nested pairs."""
    o, c = re.escape(open_), re.escape(close)
    plain = f"(?:[^{o}{c}\\\\]|\\\\[\\s\\S])"
    return f"{o}(?:{plain}|{o}{plain}*+{c})*+{c}"


_BRACKETS = "|".join(_bracketed(o, c) for o, c in ("{}", "()", "[]", "<>"))
# The text up to a closing delimiter that repeats the opening one (group D).
_TO_DELIMITER = r"(?:(?!(?P=D))[^\\]|\\[\s\S])*+(?P=D)"
# Perl: q qq qw qx qr m (one part) and s tr y (two parts) are quote-like
# operators unless glued to a sigil, `->`, `{` (a hash key) or `-` (file
# tests). The delimiter is a bracket pair or any other character but a word
# character, a blank, or what would make `y => 1`, `s, t` or `q;` plain code.
# Each rule starts with its operator's first letter: a master regex whose
# alternatives all start with a literal lets the regex engine skip ahead.
_PERL_NOT_AFTER = r"[\w$@%&>:{-]"
_PERL_DELIMITER = r"(?P<D>[^\w\s{(\[<)}\]>=,;#])"


def _perl_quote_like(name: str, more: str = "") -> StringRule:
    """`name` (then optionally one of `more`: q -> qq qw ...) with its one delimited part."""
    head = f"{name[0]}(?<!{_PERL_NOT_AFTER}{name[0]}){name[1:]}" + (f"[{more}]?" if more else "")
    return StringRule(regex=f"{head}(?:[ \\t]*(?:{_BRACKETS})|{_PERL_DELIMITER}{_TO_DELIMITER})")


def _perl_substitution(name: str) -> StringRule:
    """s tr y: a pattern part and a replacement part."""
    head = f"{name[0]}(?<!{_PERL_NOT_AFTER}{name[0]}){name[1:]}"
    two_brackets = f"[ \\t]*(?:{_BRACKETS})\\s*(?:{_BRACKETS})"
    return StringRule(regex=f"{head}(?:{two_brackets}|{_PERL_DELIMITER}{_TO_DELIMITER}{_TO_DELIMITER})")


PERL_QUOTE_LIKE = (_perl_quote_like("q", "qwxr"), _perl_quote_like("m"),
                   _perl_substitution("s"), _perl_substitution("tr"), _perl_substitution("y"))
PERL_REGEX = _slash_regex(r"[\w)\]}$@%\"'`]", "if unless and or not return split grep map when while until",
                          spaced_call=True)
RUBY_REGEX = _slash_regex(r"[\w)\]}\"'`]", "if elsif unless and or not return when while until then",
                          spaced_call=True)
# Ruby %w[] %i() %q{} %Q<> %r{} %x() %s[] and bare %() %[] %{}: where an operand can start.
_RUBY_OPERAND = "".join(f"(?<![\\w)\\]}}\"'][ \\t]{{{blanks}}}%)" for blanks in range(9))
RUBY_PERCENT = (
    StringRule(regex=f"%{_RUBY_OPERAND}[qQwWiIrsx]?(?:{_BRACKETS})"),
    StringRule(regex=f"%{_RUBY_OPERAND}[qQwWiIrsx](?P<D>[^\\w\\s(\\[{{<])" + _TO_DELIMITER),
)
JS_REGEX = _slash_regex(r"[\w$)\]}\"'`]",
                        "return typeof case do else in of delete void throw yield await instanceof new")

# C++ R"delim( ... )delim". The guard accepts any R not glued to an identifier
# character other than the encoding prefixes u8 u U L (u8R"(...)").
CPP_RAW = StringRule(
    regex=r'R"(?<![A-KM-TV-Za-km-tv-z0-79_]R")(?P<D>[^()\\\s]{0,16})\([\s\S]*?\)(?P=D)"'
)
# Rust r"..", r#".."#, br#".."#: an r not glued to an identifier character except b.
RUST_RAW = StringRule(regex=r'r(?<![A-Za-ac-z0-9_]r)(?P<D>#*)"[\s\S]*?"(?P=D)')
# Lua long strings [[ ]], [==[ ]==]; CMake bracket arguments use the same form.
LONG_BRACKET = StringRule(regex=r"\[(?P<D>=*)\[[\s\S]*?\](?P=D)\]")
CSHARP_VERBATIM = StringRule('@"', '"', escape="", doubled=True, multiline=True)
CSHARP_VERBATIM_INTERP = StringRule('@$"', '"', escape="", doubled=True, multiline=True)

C_STRINGS = (DQ, C_CHAR)
PY_STRINGS = (TRIPLE_DQ, TRIPLE_SQ, DQ, SQ)
JS_STRINGS = (DQ, SQ, BACKTICK_ML)
SHELL_STRINGS = (SHELL_HEREDOC, StringRule("'", escape="", multiline=True), DQ_ML, BACKTICK_ML)

C_BLOCK = (("/*", "*/"),)
HTML_BLOCK = (("<!--", "-->"),)
ML_BLOCK = (("(*", "*)"),)
# Haskell-style operators: a dash run touching one of these is not a comment.
HASKELL_SYMBOLS = r"[!#$%&*+./<=>?@\\^|~:-]"
HASKELL_AFTER_DASHES = r"[!#$%&*+./<=>?@\\^~:]"  # '|' allowed: `--|` is a haddock comment
SHELL_NOT_AFTER = r"[^\s;&|()]"


PYTHON = Language("Python", line_comments=("#",), strings=PY_STRINGS)
# Outside quotes a backslash makes the next character (a quote, a #) plain.
BACKSLASH_ESCAPE = r"\\[\s\S]"
SHELL = Language("Shell", line_comments=("#",), not_after=SHELL_NOT_AFTER, strings=SHELL_STRINGS,
                 skips=(BACKSLASH_ESCAPE,))
RUBY = Language(
    "Ruby",
    line_comments=("#",),
    block_comments=(("=begin", "=end"),),
    blocks_at_line_start=True,
    strings=(RUBY_HEREDOC, RUBY_SQUIGGLY_HEREDOC, RUBY_REGEX) + RUBY_PERCENT + (DQ_ML, SQ_ML, BACKTICK_ML),
    skips=(r"\?[\"'#]", r"\\[\s\S]"),  # ?" ?# character literals; \" outside a string
)
PERL = Language(
    "Perl",
    line_comments=("#",),
    block_comments=tuple((f"={word}", "=cut") for word in
                         ("pod", "head1", "head2", "head3", "head4", "over", "item", "begin", "for", "encoding")),
    blocks_at_line_start=True,
    not_after=r"[$\\]",  # $#array, \#
    strings=(PERL_HEREDOC, PERL_REGEX) + PERL_QUOTE_LIKE + (DQ_ML, SQ_ML),
    skips=(r"\\[\s\S]",),  # \" \' outside a string: a reference to a literal
)
R = Language("R", line_comments=("#'", "#"), strings=(DQ_ML, SQ_ML, StringRule("`")))
YAML = Language(
    "YAML",
    line_comments=("#",),
    not_after=r"\S",  # `#` only starts a comment after whitespace
    # A quote inside a plain scalar (don't, 5"), i.e. not after a blank or a
    # flow indicator, is just a character.
    strings=(StringRule('"', not_after=r"[^\s\[{,]"),
             StringRule("'", escape="", doubled=True, not_after=r"[^\s\[{,]")),
)
TOML = Language(
    "TOML",
    line_comments=("#",),
    strings=(TRIPLE_DQ, StringRule("'''", escape="", multiline=True), DQ, StringRule("'", escape="")),
)
INI = Language("INI", line_start_comments=(";", "#"))
CONFIG = Language("Config", line_comments=("#",), not_after=r"\S", strings=(DQ, StringRule("'", not_after=r"[\w]")))
PROPERTIES = Language("Properties", line_start_comments=("#", "!"))
MAKE = Language("Makefile", line_comments=("#",), not_after=r"[\\]")
DOCKERFILE = Language("Dockerfile", line_comments=("#",), not_after=SHELL_NOT_AFTER,
                      strings=(StringRule("'", escape=""), DQ), skips=(BACKSLASH_ESCAPE,))
CMAKE = Language(
    "CMake",
    line_comments=("#",),
    block_comments=(("#[[", "]]"), ("#[=[", "]=]"), ("#[==[", "]==]")),
    strings=(DQ_ML, LONG_BRACKET),
)
# .h is C and C++ alike, so C knows C++ raw strings: R"( is no C either way.
C = Language("C", line_comments=("//",), block_comments=C_BLOCK, strings=(CPP_RAW,) + C_STRINGS)
CPP = Language("C++", line_comments=("//",), block_comments=C_BLOCK, strings=(CPP_RAW,) + C_STRINGS)
OBJC_MATLAB = Language(
    # .m is both Objective-C and MATLAB; the union of their comment syntax is
    # harmless for each ('%' is only an operator in C, '//' is not MATLAB).
    name="Objective-C/MATLAB",
    line_comments=("//", "%"),
    block_comments=C_BLOCK + (("%{", "%}"),),
    strings=(StringRule('"', doubled=True), StringRule("'", escape="", doubled=True, not_after=r"[\w)\]}.']")),
)
CSHARP = Language(
    "C#",
    line_comments=("//",),
    block_comments=C_BLOCK,
    strings=(TRIPLE_DQ_RAW, CSHARP_VERBATIM_INTERP, CSHARP_VERBATIM, DQ, C_CHAR),
)
JAVA = Language("Java", line_comments=("//",), block_comments=C_BLOCK, strings=(TRIPLE_DQ, DQ, C_CHAR))
KOTLIN = Language("Kotlin", line_comments=("//",), block_comments=C_BLOCK, nested_blocks=True,
                  strings=(TRIPLE_DQ_RAW, DQ, C_CHAR))
SCALA = Language("Scala", line_comments=("//",), block_comments=C_BLOCK, nested_blocks=True,
                 strings=(TRIPLE_DQ_RAW, DQ, ONE_CHAR))
SWIFT = Language("Swift", line_comments=("//",), block_comments=C_BLOCK, nested_blocks=True,
                 strings=(TRIPLE_DQ, DQ))
GO = Language("Go", line_comments=("//",), block_comments=C_BLOCK,
              strings=(StringRule("`", escape="", multiline=True), DQ, C_CHAR))
RUST = Language(
    "Rust",
    line_comments=("//",),
    block_comments=C_BLOCK,
    nested_blocks=True,
    strings=(RUST_RAW, DQ_ML, StringRule("'", single_char=True, not_after=r"[A-Za-ac-z0-9_']")),
)
# Outside strings a backslash only occurs in regex literals, where it escapes
# what could otherwise look like a comment (/https?:\/\//).
JS_SKIPS = (r"\\[\s\S]",)
JAVASCRIPT = Language("JavaScript", line_comments=("//",), block_comments=C_BLOCK, strings=(JS_REGEX,) + JS_STRINGS,
                      skips=JS_SKIPS)
TYPESCRIPT = Language("TypeScript", line_comments=("//",), block_comments=C_BLOCK, strings=(JS_REGEX,) + JS_STRINGS,
                      skips=JS_SKIPS)
CSS = Language("CSS", block_comments=C_BLOCK, strings=(DQ, SQ))
SCSS = Language("SCSS", line_comments=("//",), block_comments=C_BLOCK, strings=(DQ, SQ))
PHP = Language(
    "PHP",
    line_comments=("//", "#"),
    block_comments=C_BLOCK,
    strings=(PHP_HEREDOC, DQ_ML, SQ_ML),
    skips=(r"#\[",),  # PHP 8 attributes
)
DART = Language("Dart", line_comments=("//",), block_comments=C_BLOCK, nested_blocks=True,
                strings=(TRIPLE_DQ, TRIPLE_SQ, DQ, SQ))
ZIG = Language("Zig", line_comments=("//",), strings=(StringRule(regex=r"\\\\[^\n]*"), DQ, C_CHAR))
HASKELL = Language(
    "Haskell",
    line_comments=("--",),
    block_comments=(("{-", "-}"),),
    nested_blocks=True,
    not_after=HASKELL_SYMBOLS,
    not_before=HASKELL_AFTER_DASHES,
    strings=(DQ, ONE_CHAR),
)
ELM = Language(
    "Elm",
    line_comments=("--",),
    block_comments=(("{-", "-}"),),
    nested_blocks=True,
    not_after=HASKELL_SYMBOLS,
    not_before=HASKELL_AFTER_DASHES,
    strings=(TRIPLE_DQ, DQ, ONE_CHAR),
)
LUA = Language(
    "Lua",
    line_comments=("--",),
    block_comments=(("--[==[", "]==]"), ("--[=[", "]=]"), ("--[[", "]]")),
    strings=(LONG_BRACKET, DQ, SQ),
)
SQL = Language("SQL", line_comments=("--",), block_comments=C_BLOCK, strings=(SQL_SQ, SQL_DQ))
ADA = Language("Ada", line_comments=("--",),
               strings=(BASIC_DQ, StringRule("'", escape="", single_char=True, not_after=r"[\w)]")))
COMMON_LISP = Language(
    "Common Lisp",
    line_comments=(";",),
    block_comments=(("#|", "|#"),),
    nested_blocks=True,
    strings=(DQ_ML,),
    skips=(r"#\\[\s\S]",),  # #\" #\; character objects
)
SCHEME = Language(
    "Scheme",
    line_comments=(";",),
    block_comments=(("#|", "|#"),),
    nested_blocks=True,
    strings=(DQ_ML,),
    skips=(r"#\\[\s\S]",),
)
CLOJURE = Language("Clojure", line_comments=(";",), strings=(DQ_ML,), skips=(r"\\[\s\S]",))
EMACS_LISP = Language("Emacs Lisp", line_comments=(";",), strings=(DQ_ML,),
                      skips=(r"\?\\?[^\n]", r"\\[\s\S]"))  # ?" ?\; characters, \; escaped symbols
ERLANG = Language("Erlang", line_comments=("%",), strings=(DQ_ML, SQ),
                  skips=(r"\$\\?[^\n]",))  # $" $% character literals
ELIXIR = Language("Elixir", line_comments=("#",), strings=(TRIPLE_DQ, TRIPLE_SQ, DQ_ML, SQ_ML),
                  skips=(r"\?\\?[^\n]",))  # ?# character literals
TEX = Language("TeX", line_comments=("%",), skips=(r"\\[\\%]",))  # \% is a percent sign, \\% a comment
PROLOG = Language("Prolog", line_comments=("%",), block_comments=C_BLOCK,
                  strings=(StringRule('"', doubled=True), StringRule("'", doubled=True, not_after=r"[0-9]")))
VISUAL_BASIC = Language("Visual Basic", line_comments=("'",), line_start_comments=("REM",),
                        strings=(BASIC_DQ,))
BATCH = Language("Batch", line_start_comments=("REM", "@REM", "::"))
FORTRAN = Language("Fortran", line_comments=("!",), strings=(BASIC_DQ, PASCAL_SQ))
NIM = Language("Nim", line_comments=("#",), block_comments=(("#[", "]#"),), nested_blocks=True,
               strings=(TRIPLE_DQ_RAW, DQ, ONE_CHAR))
JULIA = Language(
    "Julia",
    line_comments=("#",),
    block_comments=(("#=", "=#"),),
    nested_blocks=True,
    strings=(TRIPLE_DQ, DQ_ML, StringRule("`", multiline=True),
             StringRule("'", single_char=True, not_after=r"[\w)\]}'.]")),
)
OCAML = Language("OCaml", block_comments=ML_BLOCK, nested_blocks=True, strings=(DQ_ML, ONE_CHAR),
                 skips=(r"\(\*\)",))  # (*) is the multiplication operator
FSHARP = Language(
    "F#",
    line_comments=("//",),
    block_comments=ML_BLOCK,
    nested_blocks=True,
    strings=(TRIPLE_DQ_RAW, StringRule('@"', '"', escape="", doubled=True, multiline=True), DQ_ML, ONE_CHAR),
    skips=(r"\(\*\)",),
)
PASCAL = Language("Pascal", line_comments=("//",), block_comments=ML_BLOCK + (("{", "}"),),
                  strings=(PASCAL_SQ,))
HTML = Language("HTML", block_comments=HTML_BLOCK)
XML = Language("XML", block_comments=HTML_BLOCK)
VUE = Language(
    # Single-file components: markup plus script and style sections.
    name="Vue",
    line_comments=("//",),
    block_comments=HTML_BLOCK + C_BLOCK,
    strings=(StringRule('"', not_after=r"[\w]"), StringRule("'", not_after=r"[\w]"), BACKTICK_ML),
)
POWERSHELL = Language(
    "PowerShell",
    line_comments=("#",),
    not_after=r"[^\s;&|(){}=,]",  # `#` starts a comment only where a token can start
    block_comments=(("<#", "#>"),),
    strings=(
        StringRule(regex=r'@"\n[\s\S]*?\n"@'),
        StringRule(regex=r"@'\n[\s\S]*?\n'@"),
        StringRule('"', escape="`", multiline=True),
        StringRule("'", escape="", doubled=True, multiline=True),
    ),
)
ASSEMBLY = Language("Assembly", line_comments=(";",), strings=(DQ, StringRule("'", not_after=r"[\w]")))
GAS = Language("GNU Assembly", line_comments=("#", ";", "//"), block_comments=C_BLOCK,
               strings=(DQ, StringRule("'", not_after=r"[\w]")))
VHDL = Language("VHDL", line_comments=("--",), block_comments=C_BLOCK,
                strings=(BASIC_DQ, StringRule("'", escape="", single_char=True, not_after=r"[\w)]")))
VERILOG = Language("Verilog", line_comments=("//",), block_comments=C_BLOCK, strings=(DQ,))
GROOVY = Language("Groovy", line_comments=("//",), block_comments=C_BLOCK,
                  strings=(TRIPLE_DQ, TRIPLE_SQ, DQ, SQ))
HCL = Language("HCL", line_comments=("#", "//"), block_comments=C_BLOCK, strings=(HCL_HEREDOC, DQ))
PROTOBUF = Language("Protocol Buffers", line_comments=("//",), block_comments=C_BLOCK, strings=(DQ, SQ))
THRIFT = Language("Thrift", line_comments=("//", "#"), block_comments=C_BLOCK, strings=(DQ, SQ))
GRAPHQL = Language("GraphQL", line_comments=("#",), strings=(TRIPLE_DQ, DQ))
NIX = Language(
    "Nix",
    line_comments=("#",),
    block_comments=C_BLOCK,
    # ''indented strings'' where ''' ''$ ''\ are escapes.
    strings=(StringRule(regex=r"''(?:[^']|'(?!')|''['$\\])*+(?:''|\Z)"), DQ_ML),
)
# A quote only opens a Tcl string at the start of a word (puts 5" is a plain
# character), and \" outside one is an escaped character.
TCL = Language("Tcl", line_comments=("#",), not_after=r"[^\s;{]",
               strings=(StringRule('"', multiline=True, not_after=r"[^\s;{\[]"),), skips=(BACKSLASH_ESCAPE,))
AWK = Language("Awk", line_comments=("#",), strings=(DQ,))
D_LANG = Language("D", line_comments=("//",), block_comments=C_BLOCK + (("/+", "+/"),),
                  strings=(StringRule("`", escape="", multiline=True), DQ_ML, C_CHAR))
JSON = Language("JSON", line_comments=("//",), block_comments=C_BLOCK, strings=(DQ,))
JSONNET = Language("Jsonnet", line_comments=("#", "//"), block_comments=C_BLOCK,
                   strings=(StringRule("|||", multiline=True, escape=""), DQ, SQ))
COFFEESCRIPT = Language("CoffeeScript", line_comments=("#",), block_comments=(("###", "###"),),
                        strings=(TRIPLE_DQ, TRIPLE_SQ, DQ_ML, SQ_ML))
CRYSTAL = Language("Crystal", line_comments=("#",), strings=(DQ_ML, ONE_CHAR))
VIM = Language("Vim script", line_start_comments=('"',), line_comments=("#",), not_after=r"\S")
MESON = Language("Meson", line_comments=("#",), strings=(TRIPLE_SQ, SQ))
GN = Language("GN", line_comments=("#",), strings=(DQ,))
SOLIDITY = Language("Solidity", line_comments=("//",), block_comments=C_BLOCK, strings=(DQ, SQ))
# An apostrophe glued to a word (don't) is prose, not a string: autoconf
# messages, Kconfig help texts, NSIS captions.
APOSTROPHE = StringRule("'", escape="", not_after=r"\w")
# m4 and autoconf: `dnl` discards the rest of the line, `#` is a comment that
# m4 copies (configure.ac holds shell code too). `[#include <x.h>]` is quoted
# text, not a comment.
M4 = Language("M4/Autoconf", line_comments=("#", "dnl"), not_after=SHELL_NOT_AFTER, strings=(DQ, APOSTROPHE))
# Man pages: .\" and \" comments (\# in groff). Quotes are no strings in roff.
ROFF = Language("Roff", line_comments=('\\"', "\\#"), line_start_comments=('.\\"', "'\\\"", ".\\#"))
# Vim test files: a `"` line is a comment; the Given/Expect blocks hold
# arbitrary text, so nothing else is.
VADER = Language("Vader", line_start_comments=('"',))
RPM_SPEC = Language("RPM spec", line_start_comments=("#",))
KCONFIG = Language("Kconfig", line_comments=("#",), strings=(DQ, APOSTROPHE))
# .def: Windows module definitions (; comments) and C X-macro tables (LLVM).
MODULE_DEF = Language("Module definition", line_comments=("//",), block_comments=C_BLOCK,
                      line_start_comments=(";", "#"), strings=(DQ,))
# Grammar files: C in the actions, and lex patterns such as \" or [^"\n]
# outside any string: escapes and one-line bracket expressions are plain code.
YACC = Language("Yacc/Lex", line_comments=("//",), block_comments=C_BLOCK, strings=C_STRINGS,
                skips=(r"\\[^\n]", r"\[\^?\]?[^\]\n]*\]"))
SED = Language("sed", line_start_comments=("#",))
NSIS = Language("NSIS", line_comments=(";", "#"), not_after=r"\S", block_comments=C_BLOCK,
                strings=(StringRule('"', escape=""), APOSTROPHE, StringRule("`", escape="")))
APPLESCRIPT = Language("AppleScript", line_comments=("--", "#"), not_after=r"\S", block_comments=ML_BLOCK,
                       nested_blocks=True, strings=(DQ,))
# .inc is included by C, C++, PHP, Pascal, assembly and BitBake alike. `//` and
# `/* */` are comments in all of the C-like ones; `#` is a PHP/BitBake comment
# and, in C, a directive whose text (`include`, `define`) never starts with a
# tag; `;` (assembly) only at the start of a line, since it ends C statements.
INCLUDE = Language("Include file", line_comments=("//", "#"), not_after=r"\w", block_comments=C_BLOCK,
                   line_start_comments=(";",), strings=(DQ, APOSTROPHE))
CABAL = Language("Cabal", line_start_comments=("--",))
LEAN = Language("Lean", line_comments=("--",), block_comments=(("/-", "-/"),), nested_blocks=True,
                strings=(DQ, ONE_CHAR))
# Templates: their own comments plus the HTML around them.
HANDLEBARS = Language("Handlebars", block_comments=(("{{!--", "--}}"), ("{{!", "}}")) + HTML_BLOCK)
JINJA = Language("Jinja/Twig", block_comments=(("{#", "#}"),) + HTML_BLOCK)
ERB = Language("ERB/EJS", block_comments=(("<%#", "%>"),) + HTML_BLOCK)
# Indentation-based markup: `-#` (Haml), `/` (Slim, Haml HTML comments).
HAML = Language("Haml/Slim", line_start_comments=("-#", "/!", "/"))
PUG = Language("Pug", line_start_comments=("//-", "//"))
LINKER_SCRIPT = Language("Linker script", block_comments=C_BLOCK, strings=(DQ,))

# (language, extensions) — lower case, without the dot.
_EXTENSION_TABLE: tuple[tuple[Language, str], ...] = (
    (PYTHON, "py pyw pyi pyx pxd pxi bzl star sconstruct sconscript gyp gypi gd mojo sage vy"),
    (SHELL, "sh bash zsh ksh ash dash fish bats command envrc csh tcsh ebuild eclass"),
    (RUBY, "rb rbw rake gemspec ru podspec thor jbuilder"),
    (PERL, "pl pm t psgi perl ph plx pod"),
    (R, "r"),
    (YAML, "yml yaml"),
    (TOML, "toml"),
    (INI, "ini cfg editorconfig gitconfig gitmodules desktop inf "
          "service socket timer target mount automount swap path slice network netdev link"),
    (CONFIG, "conf cnf env pro pri pc bb bbappend bbclass"),
    (PROPERTIES, "properties"),
    (MAKE, "mk mak make am"),
    (DOCKERFILE, "dockerfile containerfile"),
    (CMAKE, "cmake"),
    (C, "c h xs glsl vert frag geom tesc tese comp hlsl hlsli fx fxh cginc shader"),
    (CPP, "cc cpp cxx c++ hh hpp hxx h++ ipp tpp inl ino cu cuh mm i swg metal"),
    (OBJC_MATLAB, "m"),
    (CSHARP, "cs csx vala vapi"),
    (JAVA, "java pde"),
    (KOTLIN, "kt kts"),
    (SCALA, "scala sc sbt"),
    (SWIFT, "swift"),
    (GO, "go"),
    (RUST, "rs"),
    (JAVASCRIPT, "js mjs cjs jsx es6 qml as gs hx"),
    (TYPESCRIPT, "ts mts cts tsx"),
    (CSS, "css pcss postcss"),
    (SCSS, "scss less sass styl"),
    (PHP, "php phtml php3 php4 php5 phpt"),
    (DART, "dart"),
    (ZIG, "zig zon"),
    (HASKELL, "hs lhs hsc agda idr"),
    (ELM, "elm purs"),
    (LUA, "lua"),
    (SQL, "sql psql pgsql ddl hql pls pks pkb plsql"),
    (ADA, "adb ads ada gpr"),
    (COMMON_LISP, "lisp lsp cl asd"),
    (SCHEME, "scm ss rkt sld"),
    (CLOJURE, "clj cljs cljc edn fnl hy"),
    (EMACS_LISP, "el"),
    (ERLANG, "erl hrl escript"),
    (ELIXIR, "ex exs"),
    (TEX, "tex sty cls ltx dtx bib"),
    (PROLOG, "prolog"),
    (VISUAL_BASIC, "vb vbs bas frm vba"),
    (BATCH, "bat cmd"),
    (FORTRAN, "f for f77 f90 f95 f03 f08 ftn fpp pyf"),
    (NIM, "nim nims nimble"),
    (JULIA, "jl"),
    (OCAML, "ml mli mll mly sml"),
    (FSHARP, "fs fsi fsx"),
    (PASCAL, "pas dpr lpr"),
    (HTML, "html htm xhtml jsp cshtml razor"),
    (XML, "xml svg xsd xsl xslt plist csproj vbproj fsproj vcxproj props targets xaml resx wsdl rss atom "
          "ui qrc glade xib storyboard nuspec pom dtd wxs wxi xliff xlf launch xacro urdf kml gpx"),
    (VUE, "vue svelte astro"),
    (POWERSHELL, "ps1 psm1 psd1 pwsh"),
    (ASSEMBLY, "asm nasm"),
    (GAS, "s"),
    (VHDL, "vhd vhdl"),
    (VERILOG, "v vh sv svh"),
    (GROOVY, "groovy gvy gradle nf"),
    (HCL, "tf tfvars hcl nomad"),
    (PROTOBUF, "proto fbs prisma"),
    (THRIFT, "thrift"),
    (GRAPHQL, "graphql gql graphqls"),
    (NIX, "nix"),
    (TCL, "tcl tk exp tm itcl"),
    (AWK, "awk"),
    (D_LANG, "d di"),
    (JSON, "json jsonc json5"),
    (JSONNET, "jsonnet libsonnet"),
    (COFFEESCRIPT, "coffee"),
    (CRYSTAL, "cr"),
    (VIM, "vim"),
    (GN, "gn gni"),
    (SOLIDITY, "sol"),
    (M4, "m4 ac"),
    (ROFF, "1 2 3 4 5 6 7 8 9 1p 3p man mdoc roff ms me tmac"),
    (VADER, "vader"),
    (RPM_SPEC, "spec"),
    (MODULE_DEF, "def"),
    (YACC, "y yy l lex"),
    (SED, "sed"),
    (NSIS, "nsi nsh"),
    (APPLESCRIPT, "applescript"),
    (INCLUDE, "inc"),
    (CABAL, "cabal"),
    (LEAN, "lean"),
    (HANDLEBARS, "hbs handlebars mustache"),
    (JINJA, "j2 jinja jinja2 twig njk"),
    (ERB, "erb ejs"),
    (HAML, "haml slim"),
    (PUG, "pug jade"),
    (LINKER_SCRIPT, "ld lds"),
)

# (language, whole file names) — lower case; these win over extensions.
_NAME_TABLE: tuple[tuple[Language, str], ...] = (
    (MAKE, "makefile gnumakefile bsdmakefile justfile kbuild"),
    (DOCKERFILE, "dockerfile containerfile earthfile"),
    (CMAKE, "cmakelists.txt"),
    (RUBY, "rakefile gemfile vagrantfile podfile guardfile brewfile fastfile capfile appfile dangerfile "
           "berksfile puppetfile thorfile .irbrc .pryrc"),
    (GROOVY, "jenkinsfile"),
    (PYTHON, "build build.bazel workspace workspace.bazel module.bazel sconstruct sconscript tiltfile "
             "buck snakefile wscript"),
    (SHELL, ".bashrc .bash_profile .bash_login .bash_logout .bash_aliases .profile .zshrc .zshenv "
            ".zprofile .zlogin .kshrc .envrc .xinitrc .xprofile .cshrc .tcshrc .login .logout "
            "pkgbuild apkbuild configure config.guess config.sub"),
    (CONFIG, ".gitignore .gitattributes .dockerignore .npmignore .hgignore .eslintignore "
             ".prettierignore .helmignore .gcloudignore .ignore .rgignore .agignore .mailmap .htaccess "
             ".env .npmrc .inputrc .tmux.conf .screenrc codeowners procfile caddyfile doxyfile "
             "manifest.in requirements.in requirements.txt requirements-dev.txt dev-requirements.txt "
             "requirements-test.txt test-requirements.txt constraints.txt"),
    (INI, ".editorconfig .gitconfig .gitmodules .pylintrc .flake8 .coveragerc .pypirc .hgrc setup.cfg tox.ini"),
    (YAML, ".clang-format .clang-tidy .yamllint"),
    (KCONFIG, "kconfig"),
    (GO, "go.mod go.work"),
    (ERLANG, "rebar.config"),
    (TOML, "pipfile cargo.lock poetry.lock"),
    (MESON, "meson.build meson_options.txt meson.options"),
    (VIM, ".vimrc _vimrc .gvimrc .exrc"),
    (PERL, ".perltidyrc"),
)


def _index(table: tuple[tuple[Language, str], ...]) -> Mapping[str, Language]:
    index = {key: language for language, keys in table for key in keys.split()}
    return MappingProxyType(index)


EXTENSIONS: Mapping[str, Language] = _index(_EXTENSION_TABLE)
FILE_NAMES: Mapping[str, Language] = _index(_NAME_TABLE)
LANGUAGES: tuple[Language, ...] = tuple(
    dict.fromkeys(language for language, _ in _EXTENSION_TABLE + _NAME_TABLE)
)


# Prose is another module's business, even for Makefile.md-like names.
PROSE_EXTENSIONS = frozenset("md markdown mdown mkd txt text rst org adoc asciidoc textile rdoc".split())
# Names that keep their language with any non-prose suffix: Dockerfile.dev,
# Kconfig.debug, .env.local.
_NAME_PREFIXES = ("dockerfile", "containerfile", "makefile", "gnumakefile", "jenkinsfile", "kconfig", ".env")
# Suffixes of files that are generated from a template or copied into place:
# the language is the one of the name inside (config.h.in is C, Makefile.in a
# Makefile, values.yaml.tpl YAML, .env.example Config).
TEMPLATE_SUFFIXES = frozenset("in src tmpl template tpl j2 jinja jinja2 erb dist example sample".split())
# A template of HTML or XML is read with the template's own language, which
# knows both comment syntaxes (page.html.j2 is Jinja/Twig).
_MARKUP = frozenset(("HTML", "XML"))
# Man page sections, unless the name is a version (python-build/3.11.1).
_MAN_SECTIONS = frozenset("1 2 3 4 5 6 7 8 9 1p 3p".split())


def language_for(path: str) -> Language | None:
    """The language of `path` by file name or extension, or None (prose or unknown).

    Well-known names win over extensions (CMakeLists.txt is CMake although
    .txt is prose); names are compared case-insensitively; template suffixes
    (.in, .tpl, ...) give the language of the name inside them.
    """
    name = _basename(path)
    inner, suffixes = _strip_template_suffixes(name)
    language = _language_of_name(inner)
    templates = [EXTENSIONS[suffix] for suffix in suffixes if suffix in EXTENSIONS]
    if language is None:
        return templates[-1] if templates else None  # macros.j2: a template language of its own
    if language.name in _MARKUP and templates:
        return templates[0]
    return language


def _strip_template_suffixes(name: str) -> tuple[str, list[str]]:
    """`page.html.j2` -> ("page.html", ["j2"]); well-known names stay whole (MANIFEST.in)."""
    suffixes = []
    while name not in FILE_NAMES:
        stem, _, suffix = name.rpartition(".")
        if suffix not in TEMPLATE_SUFFIXES or not stem.strip("."):
            break
        suffixes.append(suffix)
        name = stem
    return name, suffixes


def _language_of_name(name: str) -> Language | None:
    """The language of one lower-case file name, template suffixes not stripped."""
    if name in FILE_NAMES:
        return FILE_NAMES[name]
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return None  # no extension, or an unknown dotfile
    if ext in EXTENSIONS and not (ext in _MAN_SECTIONS and stem[-1].isdigit()):
        return EXTENSIONS[ext]
    if stem in _NAME_PREFIXES and ext not in PROSE_EXTENSIONS:
        return FILE_NAMES[stem]
    return None


def has_no_extension(path: str) -> bool:
    """True for `deploy`, `bin/rails`, `.bashrc`-like names: no extension at all."""
    return "." not in _basename(path).lstrip(".")


def extension_in_table(path: str) -> bool:
    """True if the table lists the extension of `path`, whatever it decided for the name."""
    stem, dot, ext = _basename(path).rpartition(".")
    return bool(dot and stem) and ext in EXTENSIONS


def is_template_of_extensionless(path: str) -> bool:
    """True for `tool.in`, `run.tmpl`: only template suffixes after a name without extension."""
    inner, suffixes = _strip_template_suffixes(_basename(path))
    return bool(suffixes) and "." not in inner.lstrip(".")


def _basename(path: str) -> str:
    return posixpath.basename(path.replace("\\", "/")).lower()


# -- scripts: the language a #! line names -------------------------------------------

# (language, interpreter names) — lower case, without a version suffix.
_INTERPRETER_TABLE: tuple[tuple[Language, str], ...] = (
    (SHELL, "sh bash zsh ksh mksh pdksh dash ash yash posh fish csh tcsh rc bats shell"),  # @SHELL@
    (PYTHON, "python pypy jython ipython micropython uv"),  # uv: `env -S uv run --script`
    (PERL, "perl raku rakudo"),
    (RUBY, "ruby jruby truffleruby"),
    (JAVASCRIPT, "node nodejs bun zx"),
    (TYPESCRIPT, "deno ts-node tsx"),
    (LUA, "lua luajit"),
    (TCL, "tclsh wish expect jimsh"),
    (PHP, "php php-cgi"),
    (AWK, "awk gawk mawk nawk"),
    (R, "rscript r"),
    (MAKE, "make gmake bmake"),
    (SED, "sed gsed"),
    (ELIXIR, "elixir"),
    (ERLANG, "escript"),
    (JULIA, "julia"),
    (CRYSTAL, "crystal"),
    (HASKELL, "runghc runhaskell stack"),
    (SWIFT, "swift"),
    (SCALA, "scala scala-cli"),
    (GROOVY, "groovy"),
    (KOTLIN, "kotlin kscript"),
    (JAVA, "java"),
    (POWERSHELL, "pwsh powershell"),
    (SCHEME, "guile racket csi gosh chibi-scheme scheme"),
    (COMMON_LISP, "sbcl clisp ecl"),
    (EMACS_LISP, "emacs"),
    (CLOJURE, "clojure clj bb"),
    (OCAML, "ocaml"),
    (DART, "dart"),
    (NIM, "nim"),
    (APPLESCRIPT, "osascript"),
    (M4, "m4"),
)
INTERPRETERS: Mapping[str, Language] = _index(_INTERPRETER_TABLE)

# env's options that take a value: `env -u NAME python`, `env -C DIR sh`.
_ENV_OPTIONS_WITH_VALUE = frozenset(("-u", "--unset", "-C", "--chdir"))
_VERSION_SUFFIX = re.compile(r"[\d.]+$")  # python3.11 perl5.36 tclsh8.6 lua5.4
_NIX_SHELL_INTERPRETER = re.compile(r"^#![ \t]*nix-shell\b[^\n]*?[ \t]-i[ \t]+(\S+)", re.MULTILINE)


def language_for_shebang(text: str) -> Language | None:
    """The language of a script whose first line is `#!` and a known interpreter.

    `#!/bin/sh`, `#!/usr/bin/env -S python3 -u`, `#!/usr/bin/perl -w`,
    `#!@PYTHON@` (a configure template); None without such a line.
    """
    if not text.startswith("#!"):
        return None
    end = text.find("\n")
    interpreter = _interpreter(text[2:end if end >= 0 else len(text)].split())
    if interpreter == "nix-shell":  # the real one is named by `#!nix-shell -i X` below
        named = _NIX_SHELL_INTERPRETER.search(text, 0, 4096)
        interpreter = _interpreter([named.group(1)]) if named else None
    if interpreter is None:
        return None
    if interpreter in INTERPRETERS:
        return INTERPRETERS[interpreter]
    return INTERPRETERS.get(_VERSION_SUFFIX.sub("", interpreter))


def _interpreter(words: list[str]) -> str | None:
    """The program a shebang runs, lower case, past `env` and its options."""
    words = list(words)
    while words:
        program = posixpath.basename(words.pop(0).replace("\\", "/")).lower().strip("@")
        program = program.removesuffix(".exe")
        if program not in ("env", "busybox"):
            return program or None
        while words and (words[0].startswith("-") or "=" in words[0]):
            option = words.pop(0)
            if option in _ENV_OPTIONS_WITH_VALUE and words:
                words.pop(0)
    return None
