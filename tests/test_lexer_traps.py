"""Constructs that desynchronise a naive comment lexer: regex literals with
quotes, escaped quotes outside strings, heredocs, raw strings, nested block
comments, and damage (a stray quote) that must cost one line, not the file.

These tests look at the lexer's output (which comment lines it finds, with
what text) rather than at entries, so they hold whatever the tag grammar
accepts: a line "counts" here when its comment text starts with a tag word.
"""

from __future__ import annotations

import re
import time

import pytest

from fixme.scan.comments import iter_comments
from fixme.scan.languages import language_for

_TAG_START = re.compile(r"(?:TODO|FIXME|XXX|HACK|BUG)\b")


def tagged(path: str, source: str) -> list[tuple[int, str]]:
    """(line, comment text) of every comment line that starts with a tag word."""
    language = language_for(path)
    assert language is not None, path
    return [(c.line, c.text) for c in iter_comments(source, language) if _TAG_START.match(c.text)]


def lines_of(path: str, source: str) -> list[int]:
    return [line for line, _ in tagged(path, source)]


# -- regex literals ---------------------------------------------------------------


RUBY_REGEXES = [
    # A quote inside a regex literal opens no string.
    ('pattern = /bar"?/\n# TODO: real\nputs "done"  # TODO: after a string\n', [2, 3]),
    ("quote = /'/\n# TODO: after an apostrophe regex\nputs 'x'\n", [2]),
    ('s.gsub!(/"/, "")  # TODO: trailing after a call\nputs "#{s}"  # TODO: next\n', [1, 2]),
    ('case line\nwhen /^"/ then quoted  # TODO: in a when\nend\nputs "x"  # FIXME: later\n', [2, 4]),
    ('ok = line =~ /#"/  # TODO: hash and quote in the regex\nputs "y"  # TODO: fine\n', [1, 2]),
    ('parts = line.split /"/\n# TODO: spaced call\nputs "z"\n', [2]),
    ('re = %r{"}i  # TODO: percent regex\nwords = %w[don\'t stop]  # TODO: word list\n', [1, 2]),
    # Division is not a regex, however it is spaced.
    ("x = a / b  # TODO: y\nratio = total / count / 2  # TODO: z\n", [1, 2]),
    ("w = (a + b)/2 # TODO: paren\nv = list[0] / 3 # TODO: index\nputs 'a/b' # TODO: str\n", [1, 2, 3]),
]


@pytest.mark.parametrize("source, expected", RUBY_REGEXES)
def test_ruby_regex_literals_and_division(source: str, expected: list[int]) -> None:
    assert lines_of("a.rb", source) == expected


PERL_QUOTES = [
    ("$s =~ s/'//g;  # TODO: apostrophe in a substitution\nprint 'x';  # TODO: next\n", [1, 2]),
    ('$s =~ tr/"//d;  # TODO: transliteration\nmy $x = "a";  # TODO: after\n', [1, 2]),
    ('if ($x =~ m{"}) {  # TODO: m with braces\n  print "y";  # TODO: inside\n}\n', [1, 2]),
    ("my @w = qw(it's a list);\n# TODO: after qw\nprint 'z';\n", [2]),
    ("my @f = split /'/, $line;  # TODO: split\nprint 'q';  # TODO: q\n", [1, 2]),
    ('my $q = qq{say "hi"};  # TODO: qq\nmy $r = $a / $b;  # TODO: division\n', [1, 2]),
    ("my %h = (s => 1, y => 2, q => 3);  # TODO: barewords\nmy $n = $#list;  # TODO: n\n", [1, 2]),
    ('print "it\'s";  # TODO: plain strings still work\n$x = -s $file;  # TODO: file test\n', [1, 2]),
]


@pytest.mark.parametrize("source, expected", PERL_QUOTES)
def test_perl_quote_like_operators(source: str, expected: list[int]) -> None:
    assert lines_of("a.pl", source) == expected


JS_REGEXES = [
    ("s = s.replace(/'/g, '')  // TODO: quote regex\nt = 'x'  // TODO: next\n", [1, 2]),
    ('if (/"/.test(s)) go()  // TODO: in a condition\nu = "y"  // TODO: u\n', [1, 2]),
    ("function f(s) {\n  return /'/.test(s)  // TODO: returned\n}\n", [2]),
    ("x = a / b / c  // TODO: division\ny = (a) / 2 / 3  // TODO: more\n", [1, 2]),
    ("const re = /[/'\"]/  // TODO: class with a slash\n", [1]),
]


@pytest.mark.parametrize("source, expected", JS_REGEXES)
def test_javascript_regex_literals(source: str, expected: list[int]) -> None:
    assert lines_of("a.js", source) == expected
    assert lines_of("a.ts", source) == expected


# -- escaped quotes outside strings ------------------------------------------------


@pytest.mark.parametrize(
    "path, source, expected",
    [
        ("a.tcl", 'puts \\"\n# TODO: after an escaped quote\nset x "a" ;# TODO: two\n', [2, 3]),
        ("a.tcl", 'set x \\"a\\"\n# TODO: t1\nputs "hi" ;# TODO: t2\n', [2, 3]),
        ("a.tcl", 'puts 5"\n# TODO: quote inside a word\nputs "b" ;# TODO: t3\n', [2, 3]),
        ("a.sh", 'echo \\"hi\n# TODO: sh1\necho "a # b"\n# TODO: sh2\n', [2, 4]),
        ("a.sh", "echo it\\'s\n# TODO: escaped apostrophe\necho 'x # y'\n# TODO: sh3\n", [2, 4]),
        ("Dockerfile", "RUN echo \\\"x\n# TODO: docker\nRUN echo \"a # b\"\n", [2]),
    ],
)
def test_escaped_quotes_outside_strings_open_nothing(path: str, source: str, expected: list[int]) -> None:
    assert lines_of(path, source) == expected


def test_quoted_text_stays_hidden_after_an_escaped_quote() -> None:
    source = 'puts \\"\nset x "# TODO: in a string"\n# FIXME: real\n'
    assert tagged("a.tcl", source) == [(3, "FIXME: real")]


# -- heredocs --------------------------------------------------------------------


HEREDOCS = [
    ("a.sh", "cat <<EOF\n# TODO: no\nEOF\n# TODO: yes\n", [4]),
    ("a.sh", "cat <<-EOF\n\t# TODO: no\n\tEOF\n# TODO: yes\n", [4]),
    ("a.sh", "cat <<'EOF'\n# TODO: no $x\nEOF\n# TODO: yes\n", [4]),
    ("a.sh", 'cat <<"EOF"\nit\'s # TODO: no\nEOF\n# TODO: yes\n', [4]),
    ("a.sh", "cat << EOF > out\n# TODO: no\nEOF\n# TODO: yes\n", [4]),
    ("a.sh", "cat <<\\EOF\n# TODO: no\nEOF\n# TODO: yes\n", [4]),
    ("a.sh", "x=$((1 << 2))  # TODO: a shift is no heredoc\n", [1]),
    ("a.sh", "tr a b <<< \"$x\"  # TODO: here-string\n", [1]),
    ("a.rb", "x = <<~EOS\n  # TODO: no\n  EOS\n# TODO: yes\n", [4]),
    ("a.rb", "x = <<-'EOS'\n  # TODO: no\n  EOS\n# TODO: yes\n", [4]),
    ("a.rb", "q = <<~sql\n  -- it's # TODO: no\nsql\n# TODO: yes\n", [4]),
    ("a.rb", "class << self  # TODO: singleton class\nend\n", [1]),
    ("a.pl", 'print <<"EOF";\n# TODO: no\nEOF\n# TODO: yes\n', [4]),
    ("a.pl", "print << 'EOF';\nit's # TODO: no\nEOF\n# TODO: yes\n", [4]),
    ("a.pl", "print <<~EOT;\n    # TODO: no\n    EOT\n# TODO: yes\n", [4]),
    ("a.php", "<?php\n$x = <<<EOT\n# TODO: no\nEOT;\n# TODO: yes\n", [5]),
    ("a.php", "<?php\n$x = <<<'EOT'\n  // TODO: no\n  EOT;\n// TODO: yes\n", [5]),
]


@pytest.mark.parametrize("path, source, expected", HEREDOCS)
def test_heredoc_bodies_are_strings(path: str, source: str, expected: list[int]) -> None:
    assert lines_of(path, source) == expected


# -- raw strings -------------------------------------------------------------------


RAW_STRINGS = [
    # In a Python raw string a backslash still keeps the next quote inside.
    ("a.py", 'x = r"a\\"b"  # TODO: raw\ny = "q"  # TODO: next\n', [1, 2]),
    ("a.py", "x = r'\\d+\"'  # TODO: raw2\ny = \"#\"  # TODO: raw3\n", [1, 2]),
    ("a.py", 'x = rb"\\\\"  # TODO: raw bytes\n', [1]),
    ("a.py", 'x = f"{d["k"]}"  # TODO: nested quotes in an f-string\n', [1]),
    ("a.cpp", 'auto s = R"(a " // TODO: no)";  // TODO: yes\n', [1]),
    ("a.cpp", 'auto s = R"sql(\nSELECT ")" -- // TODO: no\n)sql";  // TODO: yes\n', [3]),
    ("a.h", 'const char *s = R"(it\'s " // TODO: no)";  // TODO: a C++ header\n', [1]),
    ("a.rs", 'let s = r#"a "q" // TODO: no"#; // TODO: yes\n', [1]),
    ("a.rs", 'let b = br##"x"#y // TODO: no"##; // TODO: yes\n', [1]),
    ("a.go", "s := `\" // TODO: no`  // TODO: yes\n", [1]),
]


@pytest.mark.parametrize("path, source, expected", RAW_STRINGS)
def test_raw_strings(path: str, source: str, expected: list[int]) -> None:
    assert lines_of(path, source) == expected


# -- nested block comments ------------------------------------------------------------


@pytest.mark.parametrize(
    "path, source",
    [
        ("a.rs", "/* /* TODO: inner */ still comment */ code(); // TODO: after\n"),
        ("a.kt", "/* /* TODO: inner */ still comment */ code(); // TODO: after\n"),
        ("a.scala", "/* /* TODO: inner */ still comment */ code(); // TODO: after\n"),
        ("a.swift", "/* /* TODO: inner */ still comment */ code(); // TODO: after\n"),
        ("a.dart", "/* /* TODO: inner */ still comment */ code(); // TODO: after\n"),
        ("a.hs", "{- {- TODO: inner -} still comment -} code -- TODO: after\n"),
        ("a.ml", "(* (* TODO: inner *) still comment *) code (* TODO: after *)\n"),
        ("a.jl", "#= #= TODO: inner =# still comment =# code # TODO: after\n"),
    ],
)
def test_nested_block_comment_and_the_code_after_it(path: str, source: str) -> None:
    assert tagged(path, source) == [(1, "TODO: inner"), (1, "TODO: after")]


def test_nested_comment_inside_a_multiline_block() -> None:
    source = (
        "/*\n"
        " * outer\n"
        " * /* TODO: inner\n"
        " *    still inner */\n"
        " * FIXME: back in the outer comment\n"
        " */\n"
        "fn x() {} // TODO: after\n"
        "let s = \"/* // TODO: no */\";\n"
    )
    assert tagged("a.rs", source) == [(3, "TODO: inner"), (5, "FIXME: back in the outer comment"),
                                      (7, "TODO: after")]


def test_inner_comment_after_text_in_a_nesting_language() -> None:
    source = "/* see below /* TODO: inner one */ and more */\n"
    assert tagged("a.rs", source) == [(1, "TODO: inner one")]
    assert tagged("a.c", source) == []  # C does not nest: that /* is only text


def test_c_comment_ends_at_the_first_closer() -> None:
    source = "/* /* TODO: inner */ still(); // TODO: after\n"
    assert tagged("a.c", source) == [(1, "TODO: inner"), (1, "TODO: after")]


# -- containment: damage costs a line, not the file --------------------------------------


DAMAGE = [
    ("Makefile", 'all:\n\techo "unterminated\n# TODO: mk1\n\techo "x" # TODO: mk2\n', [3, 4]),
    ("a.sh", 'echo 5" tall\n# TODO: sh1\necho "a # b"\n# TODO: sh2\n', [2, 4]),
    ("a.sh", "echo a#b's\n# TODO: after a glued hash\necho 'x # y'\n# TODO: later\n", [2, 4]),
    ("a.sh", "echo don't\n# TODO: sh1\nx='a'  # TODO: sh2\necho 'b # c'\n# TODO: sh3\n", [2, 3, 5]),
    ("a.tcl", 'puts "unterminated\n# TODO: t1\nset x "a # b"\n# TODO: t2\n', [2, 4]),
    ("a.rb", "puts 'don\n# TODO: r1\nputs 'x # y'\n# TODO: r2\n", [2, 4]),
    ("a.pl", 'print "oops\n# TODO: p1\nprint "a # b";\n# TODO: p2\n', [2, 4]),
    ("a.php", '<?php\necho "oops\n# TODO: php1\necho "a # b";\n# TODO: php2\n', [3, 5]),
    ("a.ps1", "Write-Host it's\n# TODO: ps1\n$a = 'x # y'\n# TODO: ps2\n", [2, 4]),
    ("a.sql", "select 'oops\n-- TODO: q1\nselect 'a -- b';\n-- TODO: q2\n", [2, 4]),
    ("a.r", 'x <- "oops\n# TODO: r1\ny <- "a # b"\n# TODO: r2\n', [2, 4]),
    ("a.lisp", '(format t "oops)\n; TODO: l1\n(format t "a ; b")\n; TODO: l2\n', [2, 4]),
]


@pytest.mark.parametrize("path, source, expected", DAMAGE, ids=[d[0] + str(i) for i, d in enumerate(DAMAGE)])
def test_a_stray_quote_costs_its_own_line_only(path: str, source: str, expected: list[int]) -> None:
    assert lines_of(path, source) == expected


@pytest.mark.parametrize(
    "path, source, expected",
    [
        # Real multi-line strings still hide what they hold.
        ("a.sh", 'MSG="line one\nline # TODO: no"\n# TODO: after\n', [3]),
        ("a.sh", 'x="a\n# TODO: no\nb" y="c"  # TODO: yes\n', [3]),
        ("a.sh", "echo 'one\n# TODO: no\ntwo' >&2  # TODO: yes\n", [3]),
        ("a.rb", 'sql = "SELECT 1\n  # TODO: no\n  FROM t".freeze  # TODO: yes\n', [3]),
        ("a.sql", "select 'a\n-- TODO: no\nb' from t; -- TODO: yes\n", [3]),
        ("a.lisp", '(defun f ()\n  "Docstring.\n; TODO: no"\n  1) ; TODO: yes\n', [4]),
    ],
)
def test_multiline_strings_still_span_lines(path: str, source: str, expected: list[int]) -> None:
    assert lines_of(path, source) == expected


def test_damaged_files_stay_fast() -> None:
    source = ('echo 5" tall\n# TODO: x\necho "a # b"\n' * 3000) + "echo don't\n" * 3000
    started = time.perf_counter()
    found = lines_of("a.sh", source)
    assert time.perf_counter() - started < 2.0
    assert found == list(range(2, 3 * 3000, 3))


def test_unterminated_regex_and_quote_like_operators_are_code() -> None:
    assert lines_of("a.rb", "x = y.split /\n# TODO: a\n") == [2]
    assert lines_of("a.pl", "my $x = q{never closed;\n# TODO: b\n") == [2]
    assert lines_of("a.js", "x = /never closed\n// TODO: c\n") == [2]


@pytest.mark.parametrize(
    "path, chunk",
    [
        ("a.pl", "my @w = qw(a b); $s =~ s/'//g; my $r = $a / $b; print \"x\"; # TODO: p\n"),
        ("a.rb", "x = line =~ /\"/ ? a / b : %w[c d]  # TODO: r\nputs \"#{x}\"\n"),
        ("a.js", "s = s.replace(/'/g, '') / 2; t = `${s}` // TODO: j\n"),
        ("a.sh", "echo \\\"x $((1 << 2)) 'y' \"z\" # TODO: s\n"),
    ],
)
def test_regex_and_quote_like_rules_keep_lexing_fast(path: str, chunk: str) -> None:
    source = chunk * 20000  # ~1-1.5 MB
    started = time.perf_counter()
    found = lines_of(path, source)
    assert time.perf_counter() - started < 2.0
    assert len(found) == 20000
