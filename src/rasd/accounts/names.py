"""How a display name (and a handle) names accounts, stated once for `rasd
accounts show NAME` (``lookup_accounts``) and `rasd accounts list --name NAME`
(``list_accounts``): a name whatever its case (``fold_name``: NFC, then Python's
casefold, alike on SQLite and PostgreSQL), by an index lookup on
``accounts.name_key``, the names found compared in full where the key is cut.
Written twice, the rules would drift apart and the list page through other
accounts than the lookup counts."""

from __future__ import annotations

from typing import Any, NamedTuple

from rasd.store import schema as S
from rasd.terminal import shell_word


class NameMatch(NamedTuple):
    """A display name as accounts are matched to it: ``key``, the
    ``name_key`` an index finds them by; ``folded``, the whole name folded."""
    key: str
    folded: str

    @property
    def whole(self) -> bool:
        """Whether the key is all of the name: then every account of that key
        bears it. A folded name of ``NAME_KEY_CHARS`` characters or more has
        its key cut, shared with the longer names that begin alike (a name
        of exactly that length too: its key is the whole name, but a longer
        name's key is the same), so each account found is compared in full
        (``bears``)."""
        return len(self.folded) < S.NAME_KEY_CHARS

    def where(self, accounts: Any = None) -> Any:
        """The SQL condition on ``accounts`` (by default the table): its
        name_key is this key (the index). Where not ``whole``, rows it finds
        are kept only where they ``bear`` the name."""
        a = S.accounts if accounts is None else accounts
        return a.c.name_key == self.key

    def bears(self, name: str | None) -> bool:
        """Whether an account of display name ``name`` bears this one."""
        return bool(name) and S.fold_name(name) == self.folded


def name_match(name: str) -> NameMatch | None:
    """How ``name`` is matched; None for an empty name, which names no
    account (an empty name has no key)."""
    key = S.name_key(name)
    return NameMatch(key, S.fold_name(name)) if key else None


def handle_where(handle: str, accounts: Any = None) -> Any:
    """The SQL condition that an account on ``accounts`` (by default the
    table) has handle ``handle``, with or without its @, whatever its case
    (``handle_key``, an index); None where nothing is left of it, which names
    no account."""
    a = S.accounts if accounts is None else accounts
    bare = handle.lstrip("@")
    return a.c.handle_key == S.handle_key(bare) if bare else None


__all__ = ["NameMatch", "handle_where", "list_all", "name_match"]


def list_all(name: str, platform: str | None) -> str:
    """The `rasd accounts list` command that lists every account bearing the
    display name ``name`` (on ``platform``), where `accounts show` lists 100:
    each value one shell word (``shell_word``, as references are quoted:
    names are anyone's to choose, quotes, line breaks and bidi marks too)."""
    words = ["rasd", "accounts", "list", "--name", shell_word(name)]
    if platform:
        words += ["--platform", shell_word(platform)]
    return " ".join([*words, "-n", "0"])
