"""Who "me" is: the user as git and their key know them, and whose entries are theirs.

Shared by `fixme list --mine` and the dashboard's "mine" filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..scan.entry import GONE, Entry


def assigned_to(entry: Entry) -> str | None:
    """Who the entry is assigned to: a record wins over an `assigned:` field in the source."""
    return entry.attrs.get("assigned") or entry.fields.get("assigned") or None


# -- who is "me" -------------------------------------------------------------------


@dataclass(frozen=True)
class Me:
    """The user as git knows them: the name and e-mail their commits carry."""

    name: str | None = None
    email: str | None = None
    keys: tuple[str, ...] = ()  # their signing key as text and as its fingerprint

    def owns(self, entry: Entry) -> bool:
        """Whether the entry is the user's: blame names them for a tag line of it, the line is not
        committed yet (it is in their work tree, and will be blamed on them), or it is assigned to them."""
        names = {v.casefold() for v in (self.name, self.email) if v}
        if not names and not self.keys:
            return False
        if entry.uncommitted and entry.status != GONE:
            return True
        for location in entry.locations or ():
            if (location.author or "").casefold() in names or (location.author_email or "").casefold() in names:
                return True
        if (entry.author or "").casefold() in names or (entry.author_email or "").casefold() in names:
            return True
        assigned = (assigned_to(entry) or "").strip().lstrip("@").casefold()
        if not assigned:
            return False
        # "Ada Lovelace <ada@example.org>" is assigned to Ada as much as either half is.
        if assigned in names or bool(self.email and self.email.casefold() in assigned):
            return True
        return assigned in {key.casefold() for key in self.keys}


def who_am_i(root: Path) -> Me:
    """The author identity git would put on a commit here (config or GIT_AUTHOR_* variables);
    `with_keys()` adds the signing key."""
    from ..scan.gitio import Git, GitError

    try:
        ident = Git(root).run("var", "GIT_AUTHOR_IDENT").decode("utf-8", "replace").strip()
    except GitError:
        return Me()
    # "Name <email> 1700000000 +0000"
    name, _, rest = ident.partition("<")
    email = rest.partition(">")[0]
    return Me(name.strip() or None, email.strip() or None)


def with_keys(me: Me, key_text: str | None, fingerprint: str | None) -> Me:
    """`me` who also answers to their signing key (an entry may be assigned to a key)."""
    return Me(me.name, me.email, tuple(k for k in (key_text, fingerprint) if k))
