"""The comment table: which language a path gets, and that each language's
comment and string syntax finds the right entries on the right lines."""

from __future__ import annotations

import pytest

from fixme.scan.codescan import scan_code
from fixme.scan.languages import EXTENSIONS, FILE_NAMES, LANGUAGES, Language, language_for
from fixme.scan.tags import TagSyntax

TAGS = TagSyntax(["TODO", "FIXME", "XXX", "HACK", "BUG"])


def found(path: str, source: str) -> list[tuple[int, str, str]]:
    language = language_for(path)
    assert language is not None, path
    return [(e.line, e.tag, e.title) for e in scan_code(source, language, TAGS)]


# -- language_for -----------------------------------------------------------


@pytest.mark.parametrize(
    "path, name",
    [
        ("Makefile", "Makefile"),
        ("sub/dir/GNUmakefile", "Makefile"),
        ("makefile", "Makefile"),
        ("rules.mk", "Makefile"),
        ("Dockerfile", "Dockerfile"),
        ("docker/Dockerfile.dev", "Dockerfile"),
        ("Containerfile", "Dockerfile"),
        ("CMakeLists.txt", "CMake"),
        ("cmake/FindFoo.cmake", "CMake"),
        ("Rakefile", "Ruby"),
        ("Gemfile", "Ruby"),
        ("Vagrantfile", "Ruby"),
        ("Jenkinsfile", "Groovy"),
        ("BUILD", "Python"),
        ("third_party/BUILD.bazel", "Python"),
        ("home/.bashrc", "Shell"),
        (".zshrc", "Shell"),
        (".gitignore", "Config"),
        ("setup.cfg", "INI"),
        ("src/main.PY", "Python"),
        ("Widget.Cpp", "C++"),
        ("lib/x.h", "C"),
        ("app.tsx", "TypeScript"),
        ("mod.mjs", "JavaScript"),
        ("Main.hs", "Haskell"),
        ("init.el", "Emacs Lisp"),
        ("run.BAT", "Batch"),
        ("solver.f90", "Fortran"),
        ("page.html", "HTML"),
        ("icon.svg", "XML"),
        ("App.vue", "Vue"),
        ("main.tf", "HCL"),
        ("profile.ps1", "PowerShell"),
    ],
)
def test_language_for_names_and_extensions(path: str, name: str) -> None:
    language = language_for(path)
    assert language is not None
    assert language.name == name


@pytest.mark.parametrize(
    "path",
    ["README.md", "docs/notes.txt", "guide.rst", "plan.org", "LICENSE", "AUTHORS", "photo.jpeg",
     "archive.tar.gz", "Makefile.md"],
)
def test_language_for_prose_and_unknown_is_none(path: str) -> None:
    assert language_for(path) is None


def test_table_is_large_and_read_only() -> None:
    assert len(LANGUAGES) >= 30
    assert len({language.name for language in LANGUAGES}) == len(LANGUAGES)
    assert all(isinstance(language, Language) for language in EXTENSIONS.values())
    with pytest.raises(TypeError):
        EXTENSIONS["zzz"] = LANGUAGES[0]  # type: ignore[index]
    assert "makefile" in FILE_NAMES


# -- one sample per language: markers, strings, and the lines they land on ----

# (path, source, expected (line, tag, title)). Every sample also hides a tag
# in that language's string or non-comment syntax, which must not be found.
SAMPLES = [
    ("a.py", 's = "# TODO: no"\n"""\nTODO: docstring\n"""\nx = 1  # TODO: py\n', [(5, "TODO", "py")]),
    ("a.sh", 'echo "# TODO: no" ${#a}\n# FIXME: sh\nx=a#TODO: no\n', [(2, "FIXME", "sh")]),
    ("a.rb", "s = '# TODO: no'\n=begin\nTODO: in begin\n=end\nx # BUG: rb\n",
     [(3, "TODO", "in begin"), (5, "BUG", "rb")]),
    ("a.pl", "my $n = $#list; # TODO: perl\nprint '# FIXME: no';\n", [(1, "TODO", "perl")]),
    ("a.R", "x <- '# TODO: no'\n#' FIXME: roxygen\n", [(2, "FIXME", "roxygen")]),
    ("a.yaml", "k: 'a # TODO: no'\nurl: http://h/#TODO: no\n# XXX: yaml\n", [(3, "XXX", "yaml")]),
    ("a.toml", "s = '''\n# TODO: no\n'''\n# HACK: toml\n", [(4, "HACK", "toml")]),
    ("a.ini", "; TODO: ini\nkey = v ; FIXME: not a comment\n# BUG: hash\n", [(1, "TODO", "ini"), (3, "BUG", "hash")]),
    ("Makefile", "all:\n\t@true # TODO: make\nX = a\\#FIXME: no\n", [(2, "TODO", "make")]),
    ("Dockerfile", "FROM x\n# TODO: docker\nRUN echo '# FIXME: no'\n", [(2, "TODO", "docker")]),
    ("CMakeLists.txt", 'set(X "# TODO: no")\n#[[\nFIXME: bracket\n]]\n', [(3, "FIXME", "bracket")]),
    ("a.c", 'p("/* TODO: no */");\n/* FIXME: c */\n', [(2, "FIXME", "c")]),
    ("a.cpp", 'auto s = R"x(// TODO: no)x";\nint n = 1\'000; // BUG: cpp\n', [(2, "BUG", "cpp")]),
    ("a.cs", 'var s = @"C:\\ // TODO: no";\n// XXX: cs\n', [(2, "XXX", "cs")]),
    ("A.java", 'String s = """\n// TODO: no\n""";\n// FIXME: java\n', [(4, "FIXME", "java")]),
    ("a.kt", "/* a /* nested */ TODO: not at start */\n// TODO: kotlin\n", [(2, "TODO", "kotlin")]),
    ("a.scala", "val c = '\"'\n// TODO: scala\n", [(2, "TODO", "scala")]),
    ("a.swift", 'let s = """\n// TODO: no\n"""\n// FIXME: swift\n', [(4, "FIXME", "swift")]),
    ("a.go", "s := `\n// TODO: no\n`\nc := '\"' // BUG: go\n", [(4, "BUG", "go")]),
    ("a.rs", "fn f<'a>(x: &'a str) {} // TODO: rust\nlet s = r#\"// FIXME: no\"#;\n", [(1, "TODO", "rust")]),
    ("a.js", "x = '// TODO: no'; // FIXME: js\n", [(1, "FIXME", "js")]),
    ("b.js", "if (/https?:\\/\\//.test(u)) go(); // TODO: after a regex\n", [(1, "TODO", "after a regex")]),
    ("a.ts", "const t = `\n// TODO: no\n`; // XXX: ts\n", [(3, "XXX", "ts")]),
    ("a.css", "a { color: #fff; } /* TODO: css */\n#TODO: no {}\n", [(1, "TODO", "css")]),
    ("a.scss", "// TODO: scss\n$u: url('//FIXME: no');\n", [(1, "TODO", "scss")]),
    ("a.php", "#[Attr]\n# TODO: php\n$s = '// FIXME: no';\n", [(2, "TODO", "php")]),
    ("a.dart", "var s = '''\n// TODO: no\n''';\n// FIXME: dart\n", [(4, "FIXME", "dart")]),
    ("a.zig", 'const s = \\\\ // TODO: no\n;\n// FIXME: zig\n', [(3, "FIXME", "zig")]),
    ("a.hs", "f' = x --> y\n{- a {- b -}\n   TODO: nested -}\nmain = g -- FIXME: hs\n",
     [(3, "TODO", "nested"), (4, "FIXME", "hs")]),
    ("a.elm", 's = "-- TODO: no"\n-- FIXME: elm\n', [(2, "FIXME", "elm")]),
    ("a.lua", "s = [[ -- TODO: no ]]\n--[[\nFIXME: lua block\n]]\n-- XXX: lua\n",
     [(3, "FIXME", "lua block"), (5, "XXX", "lua")]),
    ("a.sql", "select 'it''s -- TODO: no';\n/* FIXME: sql */ -- XXX: too\n",
     [(2, "FIXME", "sql"), (2, "XXX", "too")]),
    ("a.adb", "C : Character := '\"'; -- TODO: ada\n", [(1, "TODO", "ada")]),
    ("a.lisp", '(format t "; TODO: no")\n#| FIXME: cl |#\n;;; XXX: lisp\n',
     [(2, "FIXME", "cl"), (3, "XXX", "lisp")]),
    ("a.scm", "(display #\\;) ; TODO: scheme\n", [(1, "TODO", "scheme")]),
    ("a.clj", '(str \\; "; FIXME: no") ; TODO: clojure\n', [(1, "TODO", "clojure")]),
    ("a.el", '(insert ?\\; "; TODO: no") ;; FIXME: elisp\n', [(1, "FIXME", "elisp")]),
    ("a.erl", 'X = $%, S = "% TODO: no", % FIXME: erlang\n', [(1, "FIXME", "erlang")]),
    ("a.ex", 'x = ?#\ns = "# TODO: no" # FIXME: elixir\n', [(2, "FIXME", "elixir")]),
    ("a.tex", "50\\% TODO: no\n% FIXME: tex\n", [(2, "FIXME", "tex")]),
    ("a.m", "a = b'; % TODO: matlab\nc = 'it''s % no';\n", [(1, "TODO", "matlab")]),
    ("a.prolog", "X = '% TODO: no'.\n% FIXME: prolog\n/* XXX: block */\n",
     [(2, "FIXME", "prolog"), (3, "XXX", "block")]),
    ("a.vb", "s = \"it's ' TODO: no\" ' FIXME: vb\nREM XXX: rem\n", [(1, "FIXME", "vb"), (2, "XXX", "rem")]),
    ("a.bat", "echo REM TODO: no\nrem FIXME: batch\n:: XXX: colons\n", [(2, "FIXME", "batch"), (3, "XXX", "colons")]),
    ("a.f90", "s = 'don''t ! TODO: no' ! FIXME: fortran\n", [(1, "FIXME", "fortran")]),
    ("a.nim", 'let s = "# TODO: no"\n#[ FIXME: nim ]#\n', [(2, "FIXME", "nim")]),
    ("a.jl", "a = b' # TODO: julia\n#= FIXME: block =#\n", [(1, "TODO", "julia"), (2, "FIXME", "block")]),
    ("a.ml", "let m = (*) in m (* TODO: ocaml *)\n", [(1, "TODO", "ocaml")]),
    ("a.fs", "let s = \"// TODO: no\"\n// FIXME: fsharp\n(* XXX: ml block *)\n",
     [(2, "FIXME", "fsharp"), (3, "XXX", "ml block")]),
    ("a.pas", "s := '{ TODO: no }';\n{ FIXME: pascal }\n(* XXX: star *)\n",
     [(2, "FIXME", "pascal"), (3, "XXX", "star")]),
    ("a.html", "<p>TODO: no</p>\n<!-- FIXME: html -->\n", [(2, "FIXME", "html")]),
    ("a.xml", "<a>\n  <!--\n    TODO: xml\n  -->\n</a>\n", [(3, "TODO", "xml")]),
    ("a.vue", "<template><!-- TODO: vue --></template>\n<script>\n// FIXME: script\n</script>\n",
     [(1, "TODO", "vue"), (3, "FIXME", "script")]),
    ("a.ps1", "<# TODO: ps #>\n$a = \"# FIXME: no\" # XXX: ps line\n", [(1, "TODO", "ps"), (2, "XXX", "ps line")]),
    ("a.asm", "mov al, ';' ; TODO: asm\n", [(1, "TODO", "asm")]),
    ("a.vhd", "if clk'event then -- TODO: vhdl\n", [(1, "TODO", "vhdl")]),
    ("a.sv", 'string s = "// TODO: no"; // FIXME: verilog\n', [(1, "FIXME", "verilog")]),
    ("a.groovy", "def s = '''\n// TODO: no\n'''\n// FIXME: groovy\n", [(4, "FIXME", "groovy")]),
    ("a.tf", "# TODO: hcl\n// FIXME: slashes\n/* XXX: block */\n",
     [(1, "TODO", "hcl"), (2, "FIXME", "slashes"), (3, "XXX", "block")]),
    ("a.proto", 'option x = "// TODO: no"; // FIXME: proto\n', [(1, "FIXME", "proto")]),
    ("a.graphql", '"""\n# TODO: no\n"""\n# FIXME: graphql\n', [(4, "FIXME", "graphql")]),
    ("a.nix", "s = ''\n  # TODO: no\n'';\n# FIXME: nix\n", [(4, "FIXME", "nix")]),
    ("a.tcl", 'puts "# TODO: no" ;# FIXME: tcl\n', [(1, "FIXME", "tcl")]),
]


def test_samples_cover_more_than_thirty_languages() -> None:
    assert len({language_for(path).name for path, _, _ in SAMPLES}) > 30


@pytest.mark.parametrize("path, source, expected", SAMPLES, ids=[s[0] for s in SAMPLES])
def test_language_sample(path: str, source: str, expected: list[tuple[int, str, str]]) -> None:
    assert found(path, source) == expected
