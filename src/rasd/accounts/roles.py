"""Analyst-set account roles and profile history.

A role says what an account *is* in the eyes of the analyst: a news outlet,
a researcher, an NGO or an official body. Detectors read it (``StoredPost.account_role``):
journalism and research about terrorism are exempt (TCO Art. 1(3)), so these
roles lower the prior that the account's posts are terrorist content.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, func, or_, select, update

from rasd.accounts.listing import id_chunks
from rasd.accounts.names import handle_where, list_all, name_match
from rasd.platforms import PLATFORM_NAME
from rasd.store import Store
from rasd.store import schema as S
from rasd.store.db import key_accounts
from rasd.terminal import shell_unword

ROLES = {
    "news": "a news outlet or journalist",
    "researcher": "a researcher or research institute",
    "ngo": "an NGO, e.g. counter-speech or humanitarian",
    "official": "a government or law-enforcement account",
    "none": "clear the role",
}


# accounts a display name lists at most (names are not unique: thousands may
# share a common one); more is said, not listed
NAME_MATCHES = 100
NAME_PAGES = 10


class Lookup(NamedTuple):
    """What a reference names: ``rows``, and whether they were found by display
    name (``by_name``: no id or handle matched), which several accounts may
    share; ``more``: by name, more accounts than the ``NAME_MATCHES`` listed.
    ``total``: where ``more``, how many accounts bear the name in all, by one
    COUNT query (else None: ``matches`` is ``len(rows)``); for a name of 200
    characters or more folded, whose key is cut (``NameMatch.whole``), it counts the names that begin alike
    too, so at most that many (``total_exact`` false). By name: ``name``, the
    text matched as a name (after its ``PLATFORM:`` or quotes where those were
    read off), and ``platform``, the one it was looked for on (None: on all),
    so that `accounts show` can print the `accounts list --name` command that
    lists every one."""
    rows: list[Any]
    by_name: bool = False
    more: bool = False
    total: int | None = None
    total_exact: bool = True
    name: str | None = None
    platform: str | None = None

    @property
    def matches(self) -> int:
        """``total``, else (not counted: all are listed) ``len(rows)``."""
        return len(self.rows) if self.total is None else self.total

    @property
    def matches_text(self) -> str:
        """``matches`` as lines say it: "up to N" where the count is not exact."""
        return f"{'' if self.total_exact else 'up to '}{self.matches}"


def find_accounts(store: Store, ref: str, platform: str | None = None) -> list[Any]:
    """The accounts ``ref`` names: its platform id, else its handle (with or
    without @), else its display name (a Telegram channel or a forward's
    source has only that); ``platform:ref`` (``x:12345``, ``telegram:@name``,
    as ``rasd show`` names posts and ``account_ref`` prints accounts) names the
    platform too. A platform id is unique on its platform, so ``PLATFORM:ID``
    names one account even where another's handle reads the same; a handle
    may name accounts on several platforms, a name several anywhere (names
    are tried only where no id or handle matches, whatever their case, at
    most ``NAME_MATCHES``). A reference quoted for a shell as lines print it
    (``'telegram:@lions media archive'``, ``$'x:a\\x1bb'``: ``quoted_ref``) but
    passed on with its quotes is read unquoted where nothing matches it as it is.
    Accounts stored without the keys handles and names are found by (written
    by SQL, or by an older rasd) are keyed first (``key_accounts``). See
    ``lookup_accounts`` for whether they were found by name."""
    return lookup_accounts(store, ref, platform).rows


def lookup_accounts(store: Store, ref: str, platform: str | None = None) -> Lookup:
    """``find_accounts``, saying whether the accounts were found by name."""
    key_accounts(store)
    found = _find_ref(store, ref, platform)
    if not found.rows and any(q in ref for q in "'\"\\"):
        word = shell_unword(ref)
        if word and word != ref:
            return _find_ref(store, word, platform)
    return found


def _find_ref(store: Store, ref: str, platform: str | None) -> Lookup:
    plat, sep, rest = ref.partition(":")
    if sep and rest and platform in (None, plat) and PLATFORM_NAME.match(plat):
        found = _find(store, rest, plat)
        if found.rows:
            return found
    return _find(store, ref, platform)


def _find(store: Store, ref: str, platform: str | None) -> Lookup:
    a = S.accounts
    # handle_key: folded by rasd, so "@ärger" finds "Ärger" on SQLite too, whose
    # lower() folds ASCII only (it found nothing there, even typed as stored)
    cond = a.c.platform_id == ref
    if (has := handle_where(ref)) is not None:
        cond = or_(cond, has)
    q = select(a).where(cond)
    if platform:
        q = q.where(a.c.platform == platform)
    with store.connect() as c:
        found = list(c.execute(q.order_by(a.c.platform, a.c.id)))
        if not found:
            return _find_name(c, ref, platform)
    # on a platform where ref is an account's id, that account only: PLATFORM:ID
    # names one account even where another's handle reads the same
    by_id = {r.platform for r in found if r.platform_id == ref}
    return Lookup([r for r in found if r.platform not in by_id or r.platform_id == ref])


def _find_name(c: Any, ref: str, platform: str | None) -> Lookup:
    """Accounts whose display name is ``ref`` whatever its case (``name_match``:
    an index lookup on name_key, folded by rasd, as SQL's lower() folds only
    ASCII on SQLite; then the names compared in full where the key is cut)."""
    a = S.accounts
    match = name_match(ref)
    if match is None:
        return Lookup([], by_name=True, name=ref, platform=platform)
    rows: list[Any] = []
    more, last = False, None
    q = select(a).where(match.where())
    if platform:
        q = q.where(a.c.platform == platform)
    q = q.order_by(a.c.id).limit(NAME_MATCHES + 1)
    for _ in range(NAME_PAGES):  # names longer than a key that only begin alike: skipped
        page = list(c.execute(q if last is None else q.where(a.c.id > last)))
        rows += [r for r in page if match.bears(r.name)]
        if len(rows) > NAME_MATCHES:
            rows, more = rows[:NAME_MATCHES], True
            break
        if len(page) <= NAME_MATCHES:
            break
        last = page[-1].id
    else:  # a bounded lookup: pages of long names that only begin alike
        more = True
    rows.sort(key=lambda r: (r.platform, r.id))
    if not more:
        return Lookup(rows, by_name=True, name=ref, platform=platform)
    # how many there are in all: one COUNT by the index, not a read of each;
    # exact where the key is the whole folded name (a cut key is shared)
    n = select(func.count()).select_from(a).where(match.where())
    if platform:
        n = n.where(a.c.platform == platform)
    total = max(int(c.execute(n).scalar_one()), len(rows))
    return Lookup(rows, by_name=True, more=True, total=total, total_exact=match.whole,
                  name=ref, platform=platform)


def set_role(store: Store, ref: str, role: str, platform: str | None = None) -> list[Any]:
    """Set the role of the one account ``ref`` names; the posts of those whose
    role changed are scanned again by the next ``rasd scan`` (``rescan_posts``).
    A reference that names several accounts is refused (LookupError naming
    each by ``PLATFORM:ID``): a display name several accounts share, and a
    handle (or a platform id) that several platforms know — "@dailyworld_news"
    on X need not be the Telegram channel of that handle. A role set on every
    namesake would lower the prior of an impersonator's posts too."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    found = lookup_accounts(store, ref, platform)
    rows = found.rows
    if not rows:
        raise LookupError(f"no account matches {ref!r}" + (f" on {platform}" if platform else ""))
    from rasd.accounts.listing import account_ref, quoted_ref

    plat, sep, rest = ref.partition(":")
    if (platform is None and sep and rest and PLATFORM_NAME.match(plat)
            and all(r.platform != plat for r in rows)):
        # "telegram:@x" found nothing on Telegram and then matched the whole text
        # elsewhere: a display name "telegram:@x" anyone may take (an impersonator)
        refs = ", ".join(quoted_ref(account_ref(r.platform, r.platform_id)) for r in rows)
        raise LookupError(f"no {plat} account matches {ref!r} (found by the whole text: "
                          f"{refs}); name one by its reference")
    if len(rows) > 1:  # a role for one of them, not for every namesake

        refs = ", ".join(quoted_ref(account_ref(r.platform, r.platform_id)) for r in rows)
        what = "are named" if found.by_name else "match"
        n = found.matches_text
        listed = f" (the first {len(rows)})" if found.more else ""
        every = (f"; all of them: {list_all(found.name or ref, found.platform)}"
                 if found.more and found.by_name else "")
        raise LookupError(f"{n} accounts {what} {ref!r}{listed}: {refs}; "
                          f"name one by its reference{every}")
    new = None if role == "none" else role
    changed = [r.id for r in rows if r.role != new]
    with store.begin() as c:
        c.execute(update(S.accounts).where(S.accounts.c.id.in_([r.id for r in rows]))
                  .values(role=new))
        rescan_posts(c, changed)
    return find_accounts(store, ref, platform)


def rescan_posts(c: Any, account_ids: list[int]) -> int:
    """Forget that the posts of these accounts were scanned, so that the next
    ``rasd scan`` runs every post detector over them again. Detectors read the
    author's role (the text model's prior, the financing rules' exemption), so
    detections made under the old role are stale; they are kept until the scan
    replaces them. Returns the number of scan records dropped."""
    if not account_ids:
        return 0
    posts = select(S.posts.c.id).where(S.posts.c.account_id.in_(account_ids))
    res = c.execute(delete(S.scans).where(S.scans.c.subject_type == "post",
                                          S.scans.c.subject_id.in_(posts)))
    return int(res.rowcount or 0)


def account_history(store: Store, account_id: int) -> list[dict[str, Any]]:
    """Earlier profile versions, oldest first, then the current one: each with
    when it was collected (``seen``, where known) and superseded (``until``)."""
    return account_histories(store, [account_id])[account_id]


def account_histories(store: Store,
                      account_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """``account_history`` of each of ``account_ids`` (``[]`` for an account
    not stored): two queries for all of them (two per ``ID_CHUNK`` accounts)."""
    ids = sorted(set(account_ids))
    v, a = S.account_versions, S.accounts
    old: dict[int, list[Any]] = {i: [] for i in ids}
    cur: dict[int, Any] = {}
    with store.connect() as c:
        for chunk in id_chunks(ids):
            for r in c.execute(select(v).where(v.c.account_id.in_(chunk)).order_by(v.c.id)):
                old[r.account_id].append(r)
            cur.update((r.id, r) for r in c.execute(select(a).where(a.c.id.in_(chunk))))
    out: dict[int, list[dict[str, Any]]] = {}
    for i in ids:
        hist = [{"handle": r.handle, "name": r.name, "bio": r.bio, "seen": r.observed_at,
                 "until": r.valid_until} for r in sorted(old[i], key=version_order)]
        if (r := cur.get(i)) is not None:
            hist.append({"handle": r.handle, "name": r.name, "bio": r.bio,
                         "seen": r.observed_at, "until": None})
        out[i] = hist
    return out


def version_order(r: Any) -> tuple[datetime, int]:
    """Versions in time order: by when each was collected, else (a copy of no
    known time) by when it was superseded; a version read late (an older crawl
    ingested after a newer one) sits where it belongs, not where it was added."""
    t = r.observed_at or r.valid_until
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return (t, r.id)
