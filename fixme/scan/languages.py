"""The comment table: how each language writes comments and string literals.

The lexer (`comments.py`) only needs to know where comments are, so a
`Language` describes just enough syntax to find them reliably: the comment
markers, and the string literals that could hide a marker (`"http://x"`,
`"# not a comment"`). Everything else about a language is irrelevant here.

Patterns in this table are regular-expression fragments where a field says
so (`not_after`, `not_before`, `skips`, `StringRule.regex`); markers and
string delimiters are plain text.
"""

from __future__ import annotations

import posixpath
import re
from collections import namedtuple
from collections.abc import Mapping
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

# (language, extensions) — lower case, without the dot.
_EXTENSION_TABLE: tuple[tuple[Language, str], ...] = (
    (PYTHON, "py pyw pyi pyx pxd pxi bzl star sconstruct sconscript gyp gypi"),
    (SHELL, "sh bash zsh ksh ash dash fish bats command envrc"),
    (RUBY, "rb rbw rake gemspec ru podspec thor jbuilder"),
    (PERL, "pl pm t psgi"),
    (R, "r"),
    (YAML, "yml yaml"),
    (TOML, "toml"),
    (INI, "ini cfg editorconfig gitconfig gitmodules desktop inf"),
    (CONFIG, "conf cnf env pro pri"),
    (PROPERTIES, "properties"),
    (MAKE, "mk mak make"),
    (DOCKERFILE, "dockerfile containerfile"),
    (CMAKE, "cmake"),
    (C, "c h"),
    (CPP, "cc cpp cxx c++ hh hpp hxx h++ ipp tpp inl ino cu cuh mm"),
    (OBJC_MATLAB, "m"),
    (CSHARP, "cs csx"),
    (JAVA, "java"),
    (KOTLIN, "kt kts"),
    (SCALA, "scala sc sbt"),
    (SWIFT, "swift"),
    (GO, "go"),
    (RUST, "rs"),
    (JAVASCRIPT, "js mjs cjs jsx"),
    (TYPESCRIPT, "ts mts cts tsx"),
    (CSS, "css"),
    (SCSS, "scss less sass styl"),
    (PHP, "php phtml php3 php4 php5 phpt"),
    (DART, "dart"),
    (ZIG, "zig"),
    (HASKELL, "hs lhs hsc"),
    (ELM, "elm purs"),
    (LUA, "lua"),
    (SQL, "sql psql pgsql"),
    (ADA, "adb ads ada"),
    (COMMON_LISP, "lisp lsp cl asd"),
    (SCHEME, "scm ss rkt sld"),
    (CLOJURE, "clj cljs cljc edn"),
    (EMACS_LISP, "el"),
    (ERLANG, "erl hrl escript"),
    (ELIXIR, "ex exs"),
    (TEX, "tex sty cls ltx dtx bib"),
    (PROLOG, "prolog"),
    (VISUAL_BASIC, "vb vbs bas frm vba"),
    (BATCH, "bat cmd"),
    (FORTRAN, "f for f77 f90 f95 f03 f08 ftn"),
    (NIM, "nim nims nimble"),
    (JULIA, "jl"),
    (OCAML, "ml mli mll mly"),
    (FSHARP, "fs fsi fsx"),
    (PASCAL, "pas dpr lpr"),
    (HTML, "html htm xhtml"),
    (XML, "xml svg xsd xsl xslt plist csproj vbproj fsproj vcxproj props targets xaml resx wsdl rss atom"),
    (VUE, "vue svelte astro"),
    (POWERSHELL, "ps1 psm1 psd1"),
    (ASSEMBLY, "asm nasm"),
    (GAS, "s"),
    (VHDL, "vhd vhdl"),
    (VERILOG, "v vh sv svh"),
    (GROOVY, "groovy gvy gradle"),
    (HCL, "tf tfvars hcl nomad"),
    (PROTOBUF, "proto"),
    (THRIFT, "thrift"),
    (GRAPHQL, "graphql gql graphqls"),
    (NIX, "nix"),
    (TCL, "tcl tk exp"),
    (AWK, "awk"),
    (D_LANG, "d di"),
    (JSON, "json jsonc json5"),
    (JSONNET, "jsonnet libsonnet"),
    (COFFEESCRIPT, "coffee"),
    (CRYSTAL, "cr"),
    (VIM, "vim"),
    (GN, "gn gni"),
    (SOLIDITY, "sol"),
)

# (language, whole file names) — lower case; these win over extensions.
_NAME_TABLE: tuple[tuple[Language, str], ...] = (
    (MAKE, "makefile gnumakefile bsdmakefile justfile"),
    (DOCKERFILE, "dockerfile containerfile"),
    (CMAKE, "cmakelists.txt"),
    (RUBY, "rakefile gemfile vagrantfile podfile guardfile brewfile fastfile capfile appfile dangerfile"),
    (GROOVY, "jenkinsfile"),
    (PYTHON, "build build.bazel workspace workspace.bazel module.bazel sconstruct sconscript tiltfile"),
    (SHELL, ".bashrc .bash_profile .bash_login .bash_logout .bash_aliases .profile .zshrc .zshenv "
            ".zprofile .zlogin .kshrc .envrc .xinitrc .xprofile pkgbuild apkbuild"),
    (CONFIG, ".gitignore .gitattributes .dockerignore .npmignore .hgignore .eslintignore "
             ".prettierignore .env .npmrc .inputrc .tmux.conf .screenrc codeowners procfile caddyfile"),
    (INI, ".editorconfig .gitconfig .gitmodules .pylintrc .flake8 .coveragerc setup.cfg tox.ini"),
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
# Names that keep their language with any non-prose suffix: Dockerfile.dev, Makefile.am.
_NAME_PREFIXES = ("dockerfile", "containerfile", "makefile", "gnumakefile", "jenkinsfile")


def language_for(path: str) -> Language | None:
    """The language of `path` by file name or extension, or None (prose or unknown).

    Well-known names win over extensions (CMakeLists.txt is CMake although
    .txt is prose); extensions are compared case-insensitively.
    """
    name = posixpath.basename(path.replace("\\", "/")).lower()
    if name in FILE_NAMES:
        return FILE_NAMES[name]
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return None  # no extension, or an unknown dotfile
    if ext in EXTENSIONS:
        return EXTENSIONS[ext]
    if stem in _NAME_PREFIXES and ext not in PROSE_EXTENSIONS:
        return FILE_NAMES[stem]
    return None
