"""The history walk must attribute every line exactly as `git blame` does."""

from __future__ import annotations

import random

from fixme.scan.blame import blame_file
from fixme.scan.walk import walk_blame
from fixme.scan.gitio import Git


def _all_lines(repo) -> dict[str, set[int]]:
    wanted = {}
    for path in repo.git("ls-files", "-z").split("\0"):
        if not path:
            continue
        data = (repo.root / path).read_bytes()
        if b"\0" in data:
            continue
        count = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
        if count:
            wanted[path] = set(range(1, count + 1))
    return wanted


def _assert_same_as_git_blame(repo) -> int:
    git = Git(repo.root)
    head = git.head()
    wanted = _all_lines(repo)
    walked = walk_blame(git, head, wanted, lambda path: True)
    checked = 0
    for path, lines in wanted.items():
        real = blame_file(git, path, lines, head)
        assert walked.get(path) == real, f"{path} differs from git blame"
        checked += len(lines)
    return checked


def test_linear_history_with_renames_and_moves(repo):
    repo.write("a.py", "one\ntwo\nthree\n")
    repo.write("dir with space/b.c", "x\ny\n")
    repo.commit("start", "ada")
    repo.write("a.py", "zero\none\ntwo\nthree changed\n")
    repo.commit("edit", "grace")
    (repo.root / "src").mkdir()
    repo.git("mv", "a.py", "src/renamed.py")
    repo.commit("rename", "ken")
    repo.write("src/renamed.py", "zero\ntwo\none\nthree changed\nfour\n")  # a line move
    repo.write("dir with space/b.c", "x\n")
    repo.write("ünïcode \"q\".txt", "hello\n")
    repo.commit("move and delete", "ada")
    assert _assert_same_as_git_blame(repo) == 7


MERGER = {"GIT_AUTHOR_NAME": "M", "GIT_AUTHOR_EMAIL": "m@x", "GIT_COMMITTER_NAME": "M", "GIT_COMMITTER_EMAIL": "m@x"}


def test_merges_follow_blame_rules(repo):
    rnd = random.Random(7)
    repo.write("f.txt", "".join(f"base {i}\n" for i in range(20)))
    repo.write("g.txt", "g0\ng1\n")
    repo.commit("base", "ada")
    repo.git("checkout", "-q", "-b", "side")
    lines = (repo.root / "f.txt").read_text().splitlines()
    lines.insert(5, "side five")
    lines[12] = "side twelve"
    repo.write("f.txt", "\n".join(lines) + "\n")
    repo.write("only-side.txt", "s\n")
    repo.commit("side work", "grace")
    repo.git("checkout", "-q", "main")
    lines = (repo.root / "f.txt").read_text().splitlines()
    lines.insert(0, "main zero")
    lines[18] = "main eighteen"
    repo.write("f.txt", "\n".join(lines) + "\n")
    repo.write("g.txt", "g0\ng1 main\n")
    repo.commit("main work", "ken")
    repo.git("merge", "-q", "--no-ff", "--no-edit", "side", env=MERGER)
    # a merge with a hand-made resolution line
    repo.git("checkout", "-q", "-b", "other", "HEAD~1")
    repo.write("g.txt", "g0\ng1 other\n")
    repo.commit("other", "grace")
    repo.git("checkout", "-q", "main")
    try:
        repo.git("merge", "-q", "--no-edit", "other", env=MERGER)
    except AssertionError:
        repo.write("g.txt", "g0\ng1 resolved by hand\n")
        repo.git("add", "g.txt")
        repo.git("commit", "-q", "--no-edit", env=MERGER)
    for n in range(5):  # some more random edits on top
        text = (repo.root / "f.txt").read_text().splitlines()
        text.insert(rnd.randrange(len(text)), f"later {n}")
        repo.write("f.txt", "\n".join(text) + "\n")
        repo.commit(f"later {n}", rnd.choice(["ada", "grace", "ken"]))
    assert _assert_same_as_git_blame(repo) > 25


def test_binary_and_mode_changes_are_walked_as_blame_sees_them(repo):
    repo.write("data.bin", b"\0\1\2")
    repo.write("run.sh", "echo hi\n")
    repo.write("empty.txt", "")
    repo.commit("start")
    (repo.root / "run.sh").chmod(0o755)
    repo.write("data.bin", "now text\n")  # was binary, now text: blame diffs it as text all the same
    repo.write("empty.txt", "filled\n")
    repo.commit("modes")
    git = Git(repo.root)
    head = git.head()
    result = walk_blame(git, head, {"run.sh": {1}, "empty.txt": {1}, "data.bin": {1}}, lambda path: True)
    for path in ("run.sh", "empty.txt", "data.bin"):
        assert result[path] == blame_file(git, path, {1}, head), path
