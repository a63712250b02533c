"""Batched, idempotent, historical writes of parsed records into the store.

Two halves, so that they can run in two processes (``rasd.ingest.pipeline``):

- ``Prep`` (no database): collects a batch of records, drops in-batch
  duplicates and profiles already sent unchanged earlier in the run, computes
  content hashes, builds the rows (tuples), compresses the raw bytes and
  finds the accounts the batch refers to. ``Prep.take()`` returns a ``Batch`` of plain
  data (tuples, dicts, strings, datetimes) that pickles cheaply.
- ``Writer.apply(batch)``: everything that needs the store, in one
  transaction: raw bytes, accounts, posts, their hashtags, URLs, media and
  edges, events and compliance notices of a batch commit together or not at
  all, so a crash loses at most the batch in flight and a re-run completes the
  file (every write is an upsert keyed on (platform, platform id)).

``Writer.add`` / ``flush`` run both halves in this process.

How a record is counted:
- new: its key was not in the store;
- updated: the key was there with a different content hash (the old profile or
  text is kept in ``account_versions`` / ``post_versions``);
- unchanged: same key, same content hash. Re-ingesting a file changes nothing.
Referenced-only records (a retweeted original in ``includes``, a mentioned
account known only by id) are stored when new and never overwrite.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from itertools import chain
from types import SimpleNamespace
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection, and_, bindparam, delete, func, or_, select, update

from rasd.ingest.base import CONTROL, add_raw, bounded_ints, clean_metrics
from rasd.model import (
    Account,
    Compliance,
    Edge,
    Event,
    Post,
    PostKind,
    Record,
)
from rasd.store import Store
from rasd.store import schema as S
from rasd.store.db import LOOKUP_TABLES, chunks, compress, key_accounts, now
from rasd.store.upsert import (
    fast_delete_in,
    fast_insert,
    fast_insert_rows,
    fast_select_in,
    fast_update,
    fast_update_rows,
    insert_ignore,
    pg_update_from,
)

log = logging.getLogger("rasd.ingest")

IN_CHUNK = 900
CACHE_MAX = 150_000  # entries a run cache holds before it is cleared (~200 B each)
STALE_MAX = 20_000  # ~1 KB each
PROFILE_FIELDS = ("handle", "name", "bio", "location", "url")

Key = tuple[str, str]  # (platform, platform id)


def _hash(obj: Any) -> str:
    data = orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS,
                        default=str)
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _hashed(rec: Account | Post, fn: Any) -> str:
    """``fn(rec)``; where a JSON field of the record holds an integer past 64
    bits (orjson refuses it: TypeError), those integers are made None first
    (``bounded_ints``), so that one hostile number costs its value, not the
    ingest."""
    try:
        return fn(rec)
    except TypeError:
        rec.extra = bounded_ints(rec.extra)
        if isinstance(rec, Post):
            rec.metrics = clean_metrics(rec.metrics)
            rec.withheld = bounded_ints(rec.withheld)
        return fn(rec)


def _profile(a: Any) -> tuple[Any, ...]:
    """What a version of a profile keeps (``PROFILE_FIELDS``), of an Account or
    a stored accounts row."""
    return (a.handle, a.name, a.bio, a.location, a.url)


Since = tuple[datetime, bool]  # first sighting, and whether that copy was counted moved


def _since(since: dict[Key, Since], key: Key, old: Any, new: Any, moved: bool) -> None:
    """Note that ``new`` replaced an identical ``old`` seen earlier (Prep.since):
    the first sighting of the profile, and how that copy was counted (unchanged
    as a duplicate, or ``moved``)."""
    if key in since:
        return
    t = old.observed_at
    if t is not None and is_older(t, new.observed_at):
        since[key] = (t, moved)


def _counters(a: Account) -> tuple[Any, ...]:
    """The rest of what ``account_hash`` covers."""
    return (a.created_at, a.kind, a.followers, a.following, a.post_count, a.verified, a.extra)


def account_hash(a: Account) -> str:
    return _hash((a.handle, a.name, a.bio, a.created_at, a.kind, a.followers, a.following,
                  a.post_count, a.location, a.url, a.verified, a.extra))


def _version_profile(r: dict[str, Any]) -> tuple[Any, ...]:
    """PROFILE_FIELDS of an account version row (stored or about to be)."""
    snap = r["snapshot"] if isinstance(r["snapshot"], dict) else {}
    return (r["handle"], r["name"], r["bio"], snap.get("location"), snap.get("url"))


def _version_text(r: dict[str, Any]) -> tuple[Any, ...]:
    """What a post version row keeps (as ``_text_kept``)."""
    return (r["text"], _utc_naive(r["edited_at"]) if r["edited_at"] else None)


_MOVED = ("valid_until", "observed_at", "first_observed_at", "raw_sha256")  # of a version


class _Period:
    """One state of a record's history: a version row (stored, with its id,
    or about to be inserted: changed in place) or the current copy (a
    version-shaped row with the record's id). It holds ``kept`` from when
    it was first seen (``first_observed_at``, else ``observed_at``; a post
    version from its edit, where it has one) to when it was last seen
    (``observed_at``), and ends at ``valid_until`` (the current: never)."""

    __slots__ = ("current", "dirty", "kept", "row", "stored")

    def __init__(self, row: dict[str, Any], kept: Any, stored: bool = False,
                 current: bool = False):
        self.row, self.kept, self.stored, self.current = row, kept, stored, current
        self.dirty = False

    @property
    def first(self) -> datetime | None:
        return self.row["first_observed_at"] or self.row["observed_at"]

    @property
    def last(self) -> datetime | None:
        return self.row["observed_at"]  # type: ignore[no-any-return]

    @property
    def start(self) -> datetime | None:
        return self.row.get("edited_at") or self.first

    @property
    def until(self) -> datetime | None:
        return None if self.current else self.row["valid_until"]


class _History:
    """The states one record held, for placing copies read late (``_late``):
    its versions and its current copy in time order, each from its first
    sighting to its last, so that a late copy costs a bisection, not a pass
    over every version (one account's 20,000 bios read newest first took
    over 12 minutes). A copy that adds no version still leaves its time: the
    state it keeps is then known to have begun (``first_observed_at``) or
    lasted (``observed_at``) that far, so a copy of another state read after
    it is placed as in time order, in one batch as across batches — except
    against sightings between a state's first and last, which leave no trace
    (only those two are kept: docs/ingest.md, "Still lost")."""

    def __init__(self, ident: Callable[[dict[str, Any]], Any]):
        self.ident = ident
        self.kept: set[Any] = set()  # what any state keeps (for copies of no known time)
        self.untimed: set[Any] = set()  # what versions of no known time keep
        self.periods: list[_Period] = []  # the timed ones, by start …
        self.starts: list[datetime] = []  # … and their starts (naive UTC)
        self.all: list[_Period] = []  # timed or not, stored and new

    def add(self, row: dict[str, Any], stored: bool = False, current: bool = False) -> _Period:
        p = _Period(row, self.ident(row), stored, current)
        self.all.append(p)
        self.kept.add(p.kept)
        s = p.start
        if s is None:
            if not current:
                self.untimed.add(p.kept)
            return p
        sn = _utc_naive(s)
        i = bisect.bisect_right(self.starts, sn)
        self.starts.insert(i, sn)
        self.periods.insert(i, p)
        return p

    def place(self, kept: Any, t: datetime | None, seen: datetime | None,
              raw_sha256: str | None, make: Callable[[datetime | None], dict[str, Any]],
              out: list[dict[str, Any]]) -> bool:
        """Place a copy keeping ``kept`` of time ``t`` (a post's edit, else
        when it was collected: ``seen``); whether it gave a version of its own
        (``make(until)``, appended to ``out``). Within a state of the same it
        widens that state's sightings; within one of another state, seen
        before and after ``t``, it splits that state there (its sightings
        either side are taken as the first and the last known); after the
        last sighting of the state in effect it ends that state at ``t``, and
        then begins the next one if it keeps the same (moved back to ``t``)
        or is a version until the next one begins (none: ``make(None)``; a
        post's text without an edit time seen after the current edit)."""
        if t is None:  # when it was is unknown: anything held
            if kept in self.kept:
                return False
            self._new(make(self.periods[0].start if self.periods else None), out)
            return True
        if kept in self.untimed:  # (versions from before their times were kept)
            return False
        tn = _utc_naive(t)
        i = bisect.bisect_right(self.starts, tn) - 1
        while i >= 0 and self.starts[i] == tn and self.periods[i].kept != kept:
            i -= 1  # another state seen first at the same time: this one before it
        if i >= 0:
            p = self.periods[i]
            if p.kept == kept and p.first is not None and p.last is not None and not is_older(
                    t, p.first) and not is_older(p.last, t):
                # a sighting this state has already (first ≤ t ≤ last): nothing to
                # add, even where the state ended at t (a state another began at
                # the same instant). Placed again, a copy gives what it gave once:
                # a re-run after a kill applies again the records of a page a
                # batch had applied whose bytes went with the next (Prep.take),
                # and one of two profiles of the same instant moved the current
                # profile's first sighting back (A and B of the 1st, B of the 2nd)
                return False
            if p.current or p.until is None or tn < _utc_naive(p.until):  # in effect at t
                if p.kept == kept:
                    self._widen(i, seen, raw_sha256)
                    return False
                if p.last is not None and tn < _utc_naive(p.last) and not p.row.get(
                        "edited_at"):  # (an edit is when its text began: not split)
                    self._split(i, t, make, out)
                    return True
                if not p.current:
                    self._end(p, t)
        if i + 1 < len(self.periods) and self.periods[i + 1].kept == kept:
            self._widen(i + 1, seen, raw_sha256)
            return False
        self._new(make(self.periods[i + 1].start if i + 1 < len(self.periods) else None), out)
        return True

    def _new(self, row: dict[str, Any], out: list[dict[str, Any]]) -> None:
        out.append(row)
        self.add(row)

    def _restart(self, i: int) -> None:
        s = self.periods[i].start
        if s is not None:
            self.starts[i] = _utc_naive(s)

    def _widen(self, i: int, seen: datetime | None, raw_sha256: str | None) -> None:
        """State ``i`` was seen at ``seen`` too: earlier than its first
        sighting (a version takes that copy's raw record, as a state read in
        time order keeps its first copy's), or later than its last (a
        version; the current copy's last sighting is the stored copy's)."""
        p = self.periods[i]
        if seen is None:
            return
        row, first = p.row, p.first
        if first is None or is_older(seen, first):
            row["first_observed_at"] = seen
            if not p.current:
                row["raw_sha256"] = raw_sha256
            p.dirty = True
            self._restart(i)
        elif not p.current and is_older(p.last, seen):
            row["first_observed_at"], row["observed_at"] = first, seen
            p.dirty = True

    def _end(self, p: _Period, t: datetime) -> None:
        """Version ``p`` ended by ``t`` at the latest."""
        if is_older(t, p.until):
            p.row["valid_until"] = t
            p.dirty = True

    def _split(self, i: int, t: datetime, make: Callable[[datetime | None], dict[str, Any]],
               out: list[dict[str, Any]]) -> None:
        """A copy of time ``t`` and of another state falls between the first
        and the last sighting of state ``i``: that state is two periods, up to
        ``t`` (last seen, as known, at its first sighting) and from its last
        sighting on, and the copy a version between them."""
        p = self.periods[i]
        first, last = p.first, p.last
        left = {k: v for k, v in p.row.items() if k != "id"}
        left.update(first_observed_at=first, observed_at=first, valid_until=t)
        if p.current:  # the current copy now begins at its last sighting
            p.row["first_observed_at"] = last
            p.dirty = True
            self._restart(i)
            self._new(left, out)
            self._new(make(p.start), out)
            return
        right = {k: v for k, v in p.row.items() if k != "id"}
        right.update(first_observed_at=last, observed_at=last)
        p.row.update(left)
        p.dirty = True
        self._new(right, out)
        self._new(make(right.get("edited_at") or last), out)


def _account_time(r: Any) -> datetime | None:
    """When an account copy was collected."""
    return r.observed_at  # type: ignore[no-any-return]


def _post_time(r: Any) -> datetime | None:
    """When a post copy's text began: its edit, else its collection."""
    return r.edited_at or r.observed_at  # type: ignore[no-any-return]


def _text_kept(r: Any) -> tuple[Any, ...]:
    """What a post version keeps, comparable whatever the store's time zones."""
    return (r.text, _utc_naive(r.edited_at) if r.edited_at else None)


def _account_version(account_id: int, p: Any, content_hash: str | None,
                     raw_sha256: str | None, observed_at: datetime | None,
                     until: datetime | None, first: datetime | None) -> dict[str, Any]:
    """An account_versions row holding profile ``p`` (a row or a mapping),
    seen from ``first`` to ``observed_at``."""
    get = p.get if isinstance(p, dict) else partial(getattr, p)
    return {"account_id": account_id, "handle": get("handle"), "name": get("name"),
            "bio": get("bio"), "content_hash": content_hash,
            "snapshot": {"location": get("location"), "url": get("url")},
            "raw_sha256": raw_sha256, "observed_at": observed_at, "valid_until": until,
            "first_observed_at": first}


def _post_version(post_id: int, text: str | None, edited_at: datetime | None,
                  content_hash: str | None, raw_sha256: str | None,
                  observed_at: datetime | None, until: datetime | None,
                  first: datetime | None) -> dict[str, Any]:
    return {"post_id": post_id, "text": text, "edited_at": edited_at,
            "content_hash": content_hash, "raw_sha256": raw_sha256,
            "observed_at": observed_at, "valid_until": until, "first_observed_at": first}


def _superseded(first: datetime | None, stored: datetime | None,
                newest: datetime | None) -> datetime | None:
    """When the stored copy (collected ``stored``) was superseded by the
    batch's newest copy (collected ``newest``, the same seen first at
    ``first``, Batch.since): at its first sighting after the stored one (a
    file of one profile's repeats kept only the last one's time)."""
    if first is not None and not is_older(first, stored):
        return first
    return newest


def _last_seen(row: Any, touched: tuple[Any, ...] | None) -> datetime | None:
    """When the stored profile ``row`` was last seen: its time, or a newer one
    that the batch saw it at (Batch.touched: a repeat sent only as a time, which
    is applied after the profile is replaced and was lost for its version)."""
    if touched is not None and touched[1] == row.content_hash and (
            row.observed_at is None or is_older(row.observed_at, touched[0])):
        return touched[0]
    return row.observed_at


def _by_round(rounds: list[list[Any]], since: dict[tuple[Key, int], Since]
              ) -> list[dict[Key, Since]]:
    """``since`` (Batch.since) by round: the n-th copy of a key is in round n."""
    out: list[dict[Key, Since]] = [{} for _ in rounds]
    for (k, n), v in since.items():
        if n < len(out):
            out[n][k] = v
    return out


def _rounds(items: list[Any]) -> list[list[Any]]:
    """``items`` (posts, profiles) in rounds that hold each key once, in order:
    the first copy of every one, then the second copies, …; one round where no
    key repeats."""
    seen: dict[Key, int] = {}
    rounds: list[list[Any]] = [[]]
    for it in items:
        n = seen.get(it.key, 0)
        seen[it.key] = n + 1
        while len(rounds) <= n:
            rounds.append([])
        rounds[n].append(it)
    return rounds


def post_hash(p: Post) -> str:
    return _hash((p.account_id, p.text, p.created_at, p.kind, p.lang, p.conversation_id,
                  p.chat_id, p.edited_at, p.edit_of,
                  [(lk.kind, lk.target_post_id, lk.target_account_id, lk.target_account_name)
                   for lk in p.links] if p.links else [],
                  p.mentions, p.hashtags, p.urls,
                  [m.media_key for m in p.media] if p.media else [],
                  p.metrics, p.withheld, p.extra))


def _utc_naive(dt: datetime) -> datetime:
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


_EPOCH = datetime(1970, 1, 1)


def _driver_time(v: Any) -> datetime | None:
    """A time column as the DBAPI driver returns it (``fast_select_in``:
    SQLite's text, PostgreSQL's datetime) as a datetime."""
    if v is None or isinstance(v, datetime):
        return v
    return datetime.fromisoformat(v)


def is_older(new: datetime | None, current: datetime | None) -> bool:
    """True when ``new`` is known to be strictly earlier than ``current``."""
    if new is None or current is None:
        return False
    tz = new.tzinfo
    if tz is current.tzinfo and (tz is None or tz is UTC):
        # both naive or both UTC (what parsers give): compared as they are,
        # without two conversions (``replace`` alone costs ~1 us; this ran
        # for every repeated profile and post)
        return new < current
    return _utc_naive(new) < _utc_naive(current)


def _by_platform(keys: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, list[Any]]]:
    """``(platform, ids)`` for ``(platform, id)`` keys, the ids in chunks of
    ``IN_CHUNK``: what a lookup ``WHERE platform = ? AND id IN (…)`` takes."""
    by_plat: dict[str, list[Any]] = {}
    for plat, pid in keys:
        by_plat.setdefault(plat, []).append(pid)
    for plat, pids in by_plat.items():
        for chunk in chunks(pids, IN_CHUNK):
            yield plat, list(chunk)


@dataclass
class Counts:
    """new / updated / unchanged per record kind, plus rejected records."""

    by_kind: dict[str, Counter] = field(default_factory=dict)
    rejected: int = 0
    stubs: int = 0

    def add(self, kind: str, outcome: str, n: int = 1) -> None:
        if n:
            self.by_kind.setdefault(kind, Counter())[outcome] += n

    def total(self, outcome: str) -> int:
        return sum(c[outcome] for c in self.by_kind.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "new": self.total("new"), "updated": self.total("updated"),
            "unchanged": self.total("unchanged"), "rejected": self.rejected,
            "referenced_accounts": self.stubs,
            "by_kind": {k: dict(v) for k, v in sorted(self.by_kind.items())},
        }


# ------------------------------------------------------------------ the batch
# Row layouts of what ``Prep`` hands over: tuples, not dicts (a batch holds
# thousands; tuples pickle and convert faster). The writer appends source_id
# (and account_id for posts, and the id where it numbers rows itself).
ACCOUNT_COLS = ("platform", "platform_id", "handle", "handle_key", "name", "name_key", "bio",
                "created_at", "kind",
                "followers", "following", "post_count", "location", "url", "verified", "stub",
                "extra", "content_hash", "raw_sha256", "raw_path", "first_seen", "last_seen",
                "observed_at", "first_observed_at")
POST_COLS = ("platform", "platform_id", "chat_id", "kind", "text", "lang", "created_at",
             "conversation_id", "reply_to", "repost_of", "quote_of", "forward_of",
             "edited_at", "edit_of", "metrics", "withheld", "extra", "content_hash",
             "raw_sha256", "raw_path", "first_seen", "last_seen", "observed_at",
             "first_observed_at")
_A_PROFILE = tuple(ACCOUNT_COLS.index(c) for c in PROFILE_FIELDS)


def _row_value(cols: tuple[str, ...], name: str) -> Any:
    """An item's read-only view of one column of its row."""
    i = cols.index(name)
    return property(lambda self: self.row[i], doc=f"The row's {name}.")


# Items carry each value once: what the row holds is read from the row.
class AccountItem(NamedTuple):
    """A profile (or a stub record) of the batch, ready to write."""

    key: Key
    stub: bool
    row: tuple[Any, ...]  # accounts row: the values of ACCOUNT_COLS

    hash = _row_value(ACCOUNT_COLS, "content_hash")  # None for stubs
    observed_at = _row_value(ACCOUNT_COLS, "observed_at")
    raw_sha256 = _row_value(ACCOUNT_COLS, "raw_sha256")
    handle = _row_value(ACCOUNT_COLS, "handle")

    @property
    def profile(self) -> tuple[str | None, ...]:  # PROFILE_FIELDS, for the history
        r = self.row
        return tuple(r[i] for i in _A_PROFILE)


class PostItem(NamedTuple):
    """A post of the batch with what its children (hashtags, URLs, media,
    edges) need."""

    key: Key
    reference: bool
    author: str | None  # the author's platform id
    row: tuple[Any, ...]  # posts row: the values of POST_COLS
    tags: tuple[str, ...]
    urls: tuple[str, ...]
    media: tuple[dict[str, Any], ...]
    links: tuple[tuple[str, str | None, str | None, str | None], ...]  # kind, post, account, name
    mentions: tuple[tuple[str | None, str | None], ...]  # (account id, handle)

    hash = _row_value(POST_COLS, "content_hash")
    text = _row_value(POST_COLS, "text")
    created_at = _row_value(POST_COLS, "created_at")
    observed_at = _row_value(POST_COLS, "observed_at")
    edited_at = _row_value(POST_COLS, "edited_at")
    raw_sha256 = _row_value(POST_COLS, "raw_sha256")


class EventItem(NamedTuple):
    key: Key
    actor: str | None
    row: dict[str, Any]  # events row without actor_id and source_id


@dataclass
class Batch:
    """One transaction's worth of prepared records: plain data only, so that
    a ``Prep`` in another process can hand it over cheaply."""

    ts: datetime
    raw: list[tuple[str, str, int, bytes]] = field(default_factory=list)  # sha, fmt, size, zstd
    # raw records of this batch's records whose bytes went with an earlier batch
    # of the run (a batch that ended inside a page): read before where they were
    raw_earlier: list[str] = field(default_factory=list)
    # … and whose bytes go with a later batch (``Prep.take(hold=True)``: the page
    # goes on in it): read before only where the store holds them already
    raw_later: list[str] = field(default_factory=list)
    accounts: list[AccountItem] = field(default_factory=list)
    seen_accounts: int = 0  # profiles identical to one already sent in this run
    # copies of posts another copy in the batch equalled or superseded (counted
    # unchanged); and, by kind and raw record, copies that another one changed
    # without a version to keep: a referenced post completed by a whole copy, a
    # profile whose counters alone moved (updated, unless their raw record was
    # stored before: a file read again)
    repeats: int = 0
    # (kind, raw sha256 of the copy that replaced it, and for a profile its key
    # and its own content hash: one the store holds already counts unchanged)
    moved: list[tuple[str, str | None, Key | None, str | None]] = field(default_factory=list)
    # of those, the ones seen in a newer snapshot than sent: key → (that time,
    # their content hash, and the raw record (sha256, JSON path) of that copy)
    touched: dict[Key, tuple[datetime, str, str | None, str | None]] = field(
        default_factory=dict)
    stubs: dict[Key, str | None] = field(default_factory=dict)  # referenced by id → handle
    # referenced by handle or name only (a dict: ordered, so ids are reproducible)
    names: dict[Key, None] = field(default_factory=dict)
    posts: list[PostItem] = field(default_factory=list)
    # older copies read after newer ones, to keep as versions (Prep.late_*)
    late_accounts: list[AccountItem] = field(default_factory=list)
    late_posts: list[PostItem] = field(default_factory=list)
    # (key, its copy's round) → first sighting of that copy's profile or text
    # in the batch, and whether that sighting was counted moved (Prep.since)
    since: dict[tuple[Key, int], Since] = field(default_factory=dict)
    post_since: dict[tuple[Key, int], Since] = field(default_factory=dict)
    events: list[EventItem] = field(default_factory=list)
    compliance: list[dict[str, Any]] = field(default_factory=list)
    # edges read as such (follows): platform, kind, src id, dst id, observed, raw sha256
    edges: list[tuple[str, str, str, str, datetime | None, str | None]] = field(
        default_factory=list)

    def __len__(self) -> int:
        return len(self.accounts) + self.seen_accounts + len(self.posts) + self.repeats + len(
            self.moved) + len(self.events) + len(self.compliance) + len(self.edges) + len(
            self.late_accounts) + len(self.late_posts)

    def __reduce__(self) -> tuple[Any, ...]:
        # items cross the pipe as plain tuples, turned back into items in C
        # (``tuple.__new__``): a per-item reduce cost ~0.5 us per post on
        # each side, more than the rows' own strings
        return _batch, (self.ts, self.raw, list(map(tuple, self.accounts)), self.seen_accounts,
                        self.touched, self.stubs, self.names, list(map(tuple, self.posts)),
                        list(map(tuple, self.events)), self.compliance, self.edges,
                        self.repeats, self.moved, list(map(tuple, self.late_accounts)),
                        list(map(tuple, self.late_posts)), self.since, self.post_since,
                        self.raw_earlier, self.raw_later)


_new_post_item = partial(tuple.__new__, PostItem)


def _items(cls: type, rows: list[tuple]) -> list[Any]:
    return list(map(partial(tuple.__new__, cls), rows))


def _batch(ts: datetime, raw: list, accounts: list[tuple], seen: int, touched: dict,
           stubs: dict, names: dict, posts: list[tuple], events: list[tuple],
           compliance: list, edges: list, repeats: int, moved: list, late_accounts: list,
           late_posts: list, since: dict, post_since: dict, raw_earlier: list,
           raw_later: list) -> Batch:
    """Unpickle a ``Batch`` (see ``Batch.__reduce__``)."""
    return Batch(ts=ts, raw=raw, accounts=_items(AccountItem, accounts), seen_accounts=seen,
                 touched=touched, stubs=stubs, names=names, posts=_items(PostItem, posts),
                 events=_items(EventItem, events), compliance=compliance, edges=edges,
                 repeats=repeats, moved=moved, late_accounts=_items(AccountItem, late_accounts),
                 late_posts=_items(PostItem, late_posts), since=since, post_since=post_since,
                 raw_earlier=raw_earlier, raw_later=raw_later)


_A_INDEX = {c: i for i, c in enumerate(ACCOUNT_COLS)}
_P_INDEX = {c: i for i, c in enumerate(POST_COLS)}


def _with(row: tuple[Any, ...], _index: dict[str, int] = _A_INDEX,
          **values: Any) -> tuple[Any, ...]:
    """An accounts row (with ``_P_INDEX``: a posts row) with some columns
    replaced."""
    out = list(row)
    for name, v in values.items():
        out[_index[name]] = v
    return tuple(out)


_LINK_SLOT = {PostKind.REPLY: 0, PostKind.REPOST: 1, PostKind.QUOTE: 2, PostKind.FORWARD: 3}
_KINDS = {k: k for k in PostKind}  # a kind (or its value) -> the member


def _post_kind(kind: Any) -> PostKind:
    """``PostKind(kind)`` (ValueError for no kind), without the enum's call
    (~3k instructions, twice for each link of every post)."""
    try:
        return _KINDS[kind]
    except (KeyError, TypeError):
        return PostKind(kind)


def _account_row(acc: Account, ts: Any, h: str | None) -> tuple[Any, ...]:
    raw = acc.raw
    return (acc.platform, acc.platform_id, acc.handle, S.handle_key(acc.handle), acc.name,
            S.name_key(acc.name), acc.bio, acc.created_at,
            acc.kind, acc.followers, acc.following, acc.post_count, acc.location, acc.url,
            acc.verified, acc.stub, acc.extra or None, None if acc.stub else h,
            raw.sha256 if raw else None, _rpath(raw), ts, ts, acc.observed_at, None)


def _stub_row(plat: str, pid: str, handle: str | None, ts: Any) -> tuple[Any, ...]:
    return _account_row(Account(platform=plat, platform_id=pid, handle=handle, stub=True),
                        ts, None)


def _post_row(p: Post, ts: Any, h: str) -> tuple[Any, ...]:
    links: list[str | None] = [None, None, None, None]  # reply_to … forward_of
    for lk in p.links:
        slot = _LINK_SLOT.get(_post_kind(lk.kind))
        if slot is not None:
            target = (_ref_id(lk.target_post_id) or _ref_id(lk.target_account_id)
                      or lk.target_account_name)
            # a target longer than any stored id can name nothing: not kept
            links[slot] = _nul(target) if target is not None and len(target) <= 200 else None
    raw = p.raw
    return (p.platform, p.platform_id, p.chat_id, str(p.kind), p.text, p.lang, p.created_at,
            p.conversation_id, links[0], links[1], links[2], links[3], p.edited_at,
            p.edit_of, p.metrics or None, p.withheld, p.extra or None, h,
            raw.sha256 if raw else None, _rpath(raw), ts, ts,
            # a referenced copy (includes.tweets) is a part of the post, whenever it
            # was seen: stored without a time, any whole copy completes it (a whole
            # copy collected before a newer page referenced it was counted older)
            None if p.reference else p.observed_at, None)


def _nul(s: Any) -> Any:
    """A string PostgreSQL can store (no NUL byte), for strings parsers take
    from input without a field check (entity texts, names in links, media)."""
    return s.replace("\x00", "\ufffd") if isinstance(s, str) and "\x00" in s else s


def _rpath(raw: Any) -> str | None:
    """Where in its raw record a record was (``channel123.messages[4]``), as the
    store's 200 characters hold it: a chat id near the id limit plus the
    message's index would not fit whole (the end, the index, is kept)."""
    path = raw.path if raw else None
    return path if path is None or len(path) <= 200 else "…" + path[-199:]


def _ref_id(s: str | None) -> str | None:
    """An id a link names, if it can be one (no stored id is longer than 200
    characters or holds a control character); else None: the link names nothing."""
    return s if s is None or (len(s) <= 200 and not CONTROL.search(s)) else None


def _media_row(m: Any, ts: Any) -> dict[str, Any]:
    return {"platform": m.platform, "media_key": _nul(m.media_key), "type": _nul(m.type),
            "url": _nul(m.url), "local_path": m.local_path, "mime_type": _nul(m.mime_type),
            "width": m.width, "height": m.height, "duration_ms": m.duration_ms,
            "extra": m.extra or None, "first_seen": ts}


class RawOrderError(RuntimeError):
    """A parser gave records of a raw record after the raw record had been
    written with an earlier batch (``Prep.take``, ``ordered``): a bug of the
    parser, not of its input. Raised rather than written on: a run killed in
    between would have lost those records' versions (the raw record in the
    store counts them applied)."""


class Prep:
    """The database-free half of the writer: batches records and prepares
    them (see the module docstring). One per ingest run, in whichever process
    parses."""

    def __init__(self, batch_size: int = 2000, ordered: bool = False):
        self.batch_size = batch_size
        # content hash and newest snapshot time of every full profile sent in
        # this run: a profile that a page repeats is counted unchanged without
        # being sent again (a newer snapshot of it only advances its time:
        # Batch.touched) — unless collected before the newest copy sent: the
        # writer places it in the history (a name that came back; a sighting
        # between two that a copy of another state read later may fall
        # between), as it does a copy the batch itself holds (Prep._keep_late)
        self.sent: dict[Key, tuple[str, datetime | None]] = {}
        self.raw: dict[str, tuple[str, bytes]] = {}
        self.raw_size = 0  # bytes in ``raw``
        # ``ordered``: every raw record the batch's records name must be in ``raw``
        # (take raises RawOrderError): set where the raw records come from a
        # parser through a RawSink (pipeline.produce), whose records come in
        # the order of their raw records, each raw record's together
        self.ordered = ordered
        self._reset()

    def _reset(self) -> None:
        self.accounts: dict[Key, Account] = {}
        self.posts: dict[Key, Post] = {}
        # earlier copies of posts a later copy in this batch changed (an edit read
        # twice in one file): written first, so that the later one keeps them as
        # versions — as when the two fall in different batches
        self.earlier: list[Post] = []
        # … and of profiles (a handle changed twice in one file)
        self.accounts_earlier: list[Account] = []
        # copies older than the batch's newest of their key, read after it (a
        # file written newest first, crawls merged out of order), whose text or
        # profile the batch holds in no other copy: written after the rounds,
        # as the versions they are (only their version rows, as across batches)
        self.late_posts: list[Post] = []
        self.late_accounts: list[Account] = []
        # (is post, key) → (what a version keeps, when) → that copy's place in late_*
        self.late_seen: dict[tuple[bool, Key], dict[Any, int]] = {}
        # earliest time a batch's newest copy was seen unchanged before (an
        # identical newer copy replaced it): a profile or text seen before the
        # stored one and after it is a version at that time too, as when the
        # two copies fall in different batches
        self.since: dict[Key, Since] = {}
        self.post_since: dict[Key, Since] = {}
        # … and of the earlier copies (one each, in step with earlier /
        # accounts_earlier): a profile changed twice in a batch kept its middle
        # copy's first sighting otherwise (its predecessor's version overlapped)
        self.earlier_since: list[Since | None] = []
        self.accounts_earlier_since: list[Since | None] = []
        # copies that another copy in this batch equalled or superseded: counted
        # unchanged, as they are when they fall in different batches (the counts
        # of a file depended on --batch)
        self.dup_accounts = 0
        self.dup_posts = 0
        self.moved: list[tuple[str, str | None, Key | None, str | None]] = []
        self.events: dict[Key, Event] = {}
        self.compliance: list[Compliance] = []
        self.edges: dict[tuple[str, str, str, str], Edge] = {}  # read as such: follows
        # raw records to write with the batch: those held back by the last take
        # (``take(hold=True)``) stay
        self.raw = {}
        self.raw_refs: set[str] = set()  # the raw records the batch's records name
        self._added = 0

    def __len__(self) -> int:  # earlier copies too: a file of one profile changing
        return len(self.accounts) + len(self.accounts_earlier) + len(self.posts) + len(
            self.earlier) + len(self.late_accounts) + len(self.late_posts) + len(
            self.events) + len(self.compliance) + len(self.edges)

    def add(self, rec: Record) -> None:
        self._added += 1
        if rec.raw is not None:
            self.raw_refs.add(rec.raw.sha256)
        if isinstance(rec, Post):
            key = (rec.platform, rec.platform_id)
            old = self.posts.get(key)
            if old is None or (not rec.reference and (
                    old.reference or not is_older(rec.observed_at, old.observed_at))):
                if old is not None:
                    if _hashed(old, post_hash) == _hashed(rec, post_hash):
                        self.dup_posts += 1  # the same post again: unchanged
                        _since(self.post_since, key, old, rec, False)
                    elif old.reference:  # a referenced copy, now whole: updated
                        self.moved.append(("posts", rec.raw.sha256 if rec.raw else None,
                                           None, None))
                    else:
                        self.earlier.append(old)
                        self.earlier_since.append(self.post_since.pop(key, None))
                self.posts[key] = rec
            elif rec.reference or not self._keep_late(self.late_posts, True, key, rec, old,
                                                      _text_kept):
                # a referenced copy, or an older one that the batch already
                # holds: unchanged, as in another batch
                self.dup_posts += 1
        elif isinstance(rec, Account):
            key = (rec.platform, rec.platform_id)
            old = self.accounts.get(key)
            if old is None or old.stub or (
                    not rec.stub and not is_older(rec.observed_at, old.observed_at)):
                if old is not None and not old.stub and not rec.stub:
                    # compared field by field, not hashed: a page repeats its users
                    if _profile(old) != _profile(rec):  # kept as a version, as across
                        self.accounts_earlier.append(old)  # batches (a round of its own)
                        self.accounts_earlier_since.append(self.since.pop(key, None))
                    elif _counters(old) != _counters(rec):  # updated, no version
                        self.moved.append(("accounts", rec.raw.sha256 if rec.raw else None,
                                           key, _hashed(old, account_hash)))
                        _since(self.since, key, old, rec, True)
                    else:  # the same profile again: unchanged, as in another batch
                        self.dup_accounts += 1
                        _since(self.since, key, old, rec, False)
                self.accounts[key] = rec
            elif not rec.stub and not self._keep_late(self.late_accounts, False, key, rec,
                                                      old, _profile):
                self.dup_accounts += 1  # an older copy the batch holds: unchanged
        elif isinstance(rec, Event):
            self.events[(rec.platform, rec.platform_id)] = rec
        elif isinstance(rec, Compliance):
            self.compliance.append(rec)
        elif isinstance(rec, Edge) and rec.post_id is None:
            key4 = (rec.platform, rec.kind, rec.src_account_id, rec.dst_account_id)
            old_e = self.edges.get(key4)
            if old_e is None or is_older(old_e.created_at, rec.created_at):
                self.edges[key4] = rec
        else:
            raise TypeError(f"cannot write {type(rec).__name__}"
                            + (" with a post id (derived from posts' links)"
                               if isinstance(rec, Edge) else ""))

    def _keep_late(self, late: list[Any], is_post: bool, key: Key, rec: Any, old: Any,
                   version: Callable[[Any], Any]) -> bool:
        """Keep ``rec``, a copy older than ``old`` (the newest of its key in the
        batch), to be written after the batch's rounds: the writer places it in
        the record's history (a version, or only a sighting of a state it
        holds; a run of copies keeping the same state is one version from its
        earliest copy to its last). Every copy but one keeping the same (``version``) at
        the same time: a state may return between two copies of it (C, B,
        C), and a copy keeping what ``old`` keeps may be when it began."""
        seen = self.late_seen.setdefault((is_post, key), {})
        k = (version(rec), rec.observed_at)
        if k in seen:
            return False
        seen[k] = len(late)
        late.append(rec)
        return True

    def add_raw(self, items: dict[str, tuple[str, bytes]]) -> None:
        self.raw_size += add_raw(self.raw, items)

    def full(self) -> bool:
        # records added, duplicates included: a cheap upper bound of len(self)
        # checked first, as this runs once per record
        return self._added >= self.batch_size and len(self) >= self.batch_size

    def take(self, hold: bool = False, ahead: str | None = None) -> Batch:
        """The prepared batch; the buffer starts empty again.

        ``hold``: more records of the input follow (a full batch), the next of
        them of raw record ``ahead``. A raw record in the store means that its
        records were applied (``Writer._write_raw``): written with a batch that
        held only some of them, a run killed after that batch committed had the
        next run take the rest for applied, and skip them (a profile's or a
        text's versions lost). So raw records whose records are still to come
        are held back for a later batch: the last record's where the next
        record is of it too (a page that goes on), ``ahead`` and those read
        after it (standard input hands raw records over 256 records at a
        time, read ahead of theirs). The others go now, those no record named
        included: records come in the order of their raw records, each one's
        together (``ordered``), so one read before ``ahead`` that no record
        named has none (a line that gives no record). (They were held while
        fewer than 1,024: lines of no record, big ones, piled up in memory.)"""
        ts = now()
        b = Batch(ts=ts)
        held: dict[str, tuple[str, bytes]] = {}
        raw = self.raw
        refs = self.raw_refs
        if hold and raw:
            if ahead is not None and ahead in raw:
                order = list(raw)
                held = {h: raw[h] for h in order[order.index(ahead):]}
            else:  # (the next record names no raw record: those after the last named)
                last = max((i for i, h in enumerate(raw) if h in refs), default=-1)
                held = {h: raw[h] for h in list(raw)[last + 1:]}
            b.raw_later = [h for h in refs if h in held]
        # compressed here: smaller to hand over (pickling the raw bytes cost
        # more than compressing them)
        b.raw = [(h, fmt, len(data), compress(data)) for h, (fmt, data) in raw.items()
                 if h not in held]
        b.raw_earlier = [h for h in refs if h not in raw]
        if b.raw_earlier and self.ordered:
            raise RawOrderError(
                f"{len(b.raw_earlier)} raw record(s) named by records after their bytes "
                f"went with an earlier batch (e.g. {b.raw_earlier[0]}): the parser gave a "
                "raw record's records apart, or before its bytes (a run killed between "
                "the two batches would lose the later records' versions)")
        sent = self.sent
        accounts: dict[Key, Account] = {}
        items = b.accounts
        b.seen_accounts, b.repeats, b.moved = self.dup_accounts, self.dup_posts, self.moved
        b.late_accounts = [AccountItem((a.platform, a.platform_id), False,
                                       _account_row(a, ts, _hashed(a, account_hash)))
                           for a in self.late_accounts]
        b.late_posts = [PostItem((p.platform, p.platform_id), False, p.account_id,
                                 _post_row(p, ts, _hashed(p, post_hash)), (), (), (), (), ())
                        for p in self.late_posts]
        earlier = (((a.platform, a.platform_id), a, s)
                   for a, s in zip(self.accounts_earlier, self.accounts_earlier_since,
                                   strict=True))
        current = ((k, a, self.since.get(k)) for k, a in self.accounts.items())
        nth: Counter = Counter()  # copies of a key sent: its round (``_rounds``)
        for key, acc, first in chain(earlier, current):
            if acc.stub:
                accounts[key] = acc
                items.append(AccountItem(key, True, _account_row(acc, ts, None)))
                nth[key] += 1
                continue
            h = _hashed(acc, account_hash)
            got = sent.get(key)
            if got is not None and got[0] == h and not is_older(acc.observed_at, got[1]):
                b.seen_accounts += 1
                if acc.observed_at is not None and (
                        got[1] is None or is_older(got[1], acc.observed_at)):
                    raw = acc.raw
                    b.touched[key] = (acc.observed_at, h, raw.sha256 if raw else None,
                                      _rpath(raw))
                    sent[key] = (h, acc.observed_at)
                continue
            if got is None or got[0] != h:  # (else the same, collected before the newest)
                sent[key] = (h, acc.observed_at)
            accounts[key] = acc
            row = _account_row(acc, ts, h)
            if first is not None:  # (its first sighting in the batch)
                b.since[(key, nth[key])] = first
                row = _with(row, first_observed_at=first[0])
            nth[key] += 1
            items.append(AccountItem(key, False, row))
        self._refs(b, accounts)
        posts = b.posts
        nth.clear()
        for p, first in chain(zip(self.earlier, self.earlier_since, strict=True),
                              ((p, self.post_since.get(k)) for k, p in self.posts.items())):
            pkey = (p.platform, p.platform_id)
            prow = _post_row(p, ts, _hashed(p, post_hash))
            if first is not None:  # (its first sighting in the batch)
                b.post_since[(pkey, nth[pkey])] = first
                prow = _with(prow, _P_INDEX, first_observed_at=first[0])
            nth[pkey] += 1
            posts.append(_new_post_item((  # (PostItem's own __new__ is a Python call)
                pkey, p.reference, p.account_id, prow,
                tuple({_nul(t.casefold()[:300]): None for t in p.hashtags if t})
                if p.hashtags else (),
                tuple({_nul(u[:2000]): None for u in p.urls}) if p.urls else (),
                tuple(_media_row(m, ts) for m in p.media) if p.media else (),
                tuple((_post_kind(lk.kind)._value_, _ref_id(lk.target_post_id),
                       _ref_id(lk.target_account_id), _nul(lk.target_account_name))
                      for lk in p.links) if p.links else (),
                tuple((mid, _nul(h)) for mid, h in p.mentions) if p.mentions else ())))
        for key, ev in self.events.items():
            b.events.append(EventItem(key, ev.actor_id, {
                "platform": ev.platform, "platform_id": ev.platform_id,
                "chat_id": ev.chat_id, "actor_id": None, "action": ev.action, "at": ev.at,
                "extra": ev.extra or None, "raw_sha256": ev.raw.sha256 if ev.raw else None,
                "raw_path": _rpath(ev.raw), "source_id": None}))
        rows: dict[str, dict[str, Any]] = {}
        for n in self.compliance:
            ckey = f"{n.platform}:{n.subject_type}:{n.platform_id}:{n.action}:{n.at}"[:400]
            rows[ckey] = {"platform": n.platform, "subject_type": n.subject_type,
                          "platform_id": n.platform_id, "action": n.action,
                          "reason": n.reason, "at": n.at,
                          "raw_sha256": n.raw.sha256 if n.raw else None, "dedup_key": ckey}
        b.compliance = list(rows.values())
        b.edges = [(e.platform, e.kind, e.src_account_id, e.dst_account_id, e.created_at,
                    e.raw.sha256 if e.raw else None) for e in self.edges.values()]
        self._reset()
        self.raw = held
        self.raw_size = sum(len(v[1]) for v in held.values())
        if len(sent) > CACHE_MAX:
            sent.clear()
        return b

    def _refs(self, b: Batch, accounts: dict[Key, Account]) -> None:
        """Accounts that the batch refers to without a profile in it: authors,
        link targets and mentions by id (stubs), and by handle or name only."""
        stubs = b.stubs
        names = b.names

        def by_id(plat: str, pid: str | None, handle: str | None = None) -> None:
            # an id named by reference (a mention's, a link target's) is input like
            # any other: one that is no id is not made an account
            if pid and (plat, pid) not in accounts and (plat, pid) not in stubs and \
                    len(pid) <= 190 and (pid.isdigit() or not CONTROL.search(pid)):
                stubs[(plat, pid)] = _nul(handle[:200]) if handle else handle

        for e in self.edges.values():
            by_id(e.platform, e.src_account_id)
            by_id(e.platform, e.dst_account_id)
        for p in self.posts.values():
            if (p.platform, p.account_id) not in accounts:  # usually in the batch
                by_id(p.platform, p.account_id)
            for lk in p.links:
                if lk.target_account_id:
                    by_id(p.platform, lk.target_account_id, None)
                elif lk.target_account_name:
                    names[(p.platform, _nul(lk.target_account_name))] = None
            for mid, handle in p.mentions:
                if mid:
                    by_id(p.platform, mid, handle)
                elif handle:
                    names[(p.platform, _nul(handle))] = None
        for e in self.events.values():
            by_id(e.platform, e.actor_id)


@dataclass(frozen=True)
class _Kind:
    """How copies of one kind of record read late are placed in its history
    (``Writer._late``): accounts keep a profile, posts a text and edit time."""

    name: str  # the counts' kind
    table: Any  # the records' table …
    versions: Any  # … and their versions'
    owner: str  # the versions' column naming the record
    cols: tuple[str, ...]  # what a version keeps
    ident: Callable[[dict[str, Any]], Any]  # what a version row keeps, comparable
    kept: Callable[[Any], Any]  # … and a copy (an item)
    time_of: Callable[[Any], datetime | None]  # when a copy's state began at the latest
    version: Callable[[Any, int, datetime], dict[str, Any]]  # (copy, record id, until) → row
    current: Callable[[Any], dict[str, Any]]  # a stored row as a version row


def _now(cols: tuple[str, ...], row: tuple[Any, ...], rid: int, first: datetime | None) -> Any:
    """A record as a write of item row ``row`` leaves it (seen first at
    ``first``): the current copy against which a copy of the same seen
    before the stored one is placed (``_write_accounts``' seen_before)."""
    return SimpleNamespace(**{**dict(zip(cols, row, strict=True)), "first_observed_at": first,
                              "id": rid})


class _FullAccount(NamedTuple):
    """A stored account as ``Writer._full_accounts`` reads it."""

    id: int
    platform_id: str
    content_hash: str | None
    stub: bool
    handle: str | None
    name: str | None
    bio: str | None
    location: str | None
    url: str | None
    raw_sha256: str | None
    observed_at: datetime | None
    first_observed_at: datetime | None


class _FullPost(NamedTuple):
    """A stored post as ``Writer._full_posts`` reads it."""

    id: int
    platform_id: str
    content_hash: str | None
    text: str | None
    edited_at: datetime | None
    raw_sha256: str | None
    observed_at: datetime | None
    first_observed_at: datetime | None


_ACCOUNTS = _Kind(
    "accounts", S.accounts, S.account_versions, "account_id", ("handle", "name", "bio", "snapshot"),
    _version_profile, lambda it: it.profile, _account_time,
    lambda it, rid, until: _account_version(
        rid, dict(zip(ACCOUNT_COLS, it.row, strict=True)), it.hash, it.raw_sha256,
        it.observed_at, until, it.observed_at),
    lambda r: _account_version(r.id, r, r.content_hash, r.raw_sha256, r.observed_at, None,
                               r.first_observed_at))
_POSTS = _Kind(
    "posts", S.posts, S.post_versions, "post_id", ("text", "edited_at"), _version_text,
    _text_kept, _post_time,
    lambda it, rid, until: _post_version(rid, it.text, it.edited_at, it.hash, it.raw_sha256,
                                         it.observed_at, until, it.observed_at),
    lambda r: _post_version(r.id, r.text, r.edited_at, r.content_hash, r.raw_sha256,
                            r.observed_at, None, r.first_observed_at))


class Writer:
    """The store half: ``apply`` writes a prepared ``Batch`` in one
    transaction. ``add`` / ``flush`` prepare and write in this process;
    call ``flush()`` at the end."""

    def __init__(self, store: Store, source_id: int, batch_size: int = 2000):
        self.store = store
        self.source_id = source_id
        self.prep = Prep(batch_size)
        self.counts = Counts()
        self.acc_cache: dict[Key, int] = {}
        self.handle_cache: dict[Key, int] = {}
        self.updated_posts: list[int] = []  # ids of stored posts the batch changed
        # … and the run: a post whose author a later copy brings may be the
        # target of waiting links (None past UPDATED_MAX: link_pending looks at all)
        self.updated_all: list[int] | None = []
        self.post_author: dict[Key, int | None] = {}
        self.known_raw: set[str] = set()
        # profiles of this run found older than the stored version: if the run
        # brings the same profile again in a newer snapshot (only its time is
        # sent then, Batch.touched), it is applied from here
        self.stale: dict[Key, AccountItem] = {}
        # called in each batch's transaction, after its writes: the run records
        # its counts there, so that a run killed hard says what it had committed
        self.on_commit: Callable[[Connection], None] | None = None
        self.has_compliance: bool | None = None  # the store holds compliance events
        self.committed = 0  # batches committed (what a run that failed kept)
        # PostgreSQL: the lookup tables without planner statistics when last
        # looked at, because they were empty (None: not looked at yet)
        self.unanalyzed: list[str] | None = None
        self.denied = False  # some of them this role may not analyze (warned)

    def __len__(self) -> int:
        return len(self.prep)

    def add(self, rec: Record) -> None:
        self.prep.add(rec)

    def add_raw(self, items: dict[str, tuple[str, bytes]]) -> None:
        self.prep.add_raw(items)

    def full(self) -> bool:
        return self.prep.full()

    def flush(self) -> None:
        if len(self.prep) or self.prep.raw:
            self.apply(self.prep.take())

    # ------------------------------------------------------------------ apply
    def apply(self, b: Batch) -> None:
        """Write one prepared batch in one transaction."""
        if not len(b) and not b.raw:
            return
        # the counts as committed: a batch that fails (a full disk, a lost
        # connection, Ctrl-C) counts nothing, in the report and in the run
        # recorded (a failed run recorded twice the posts it had stored)
        saved = ({k: Counter(v) for k, v in self.counts.by_kind.items()}, self.counts.stubs)
        try:
            self._apply(b)
        except BaseException:
            self.counts.by_kind, self.counts.stubs = saved
            raise
        self.committed += 1

    def _apply(self, b: Batch) -> None:
        with self.store.write() as c:
            unanalyzed = self._analyze(c)
            self._write_raw(c, b)
            self.counts.add("posts", "unchanged", b.repeats)
            self._count_moved(c, b)
            profiles = _rounds(b.accounts)  # a profile that changed within the batch
            since = _by_round(profiles, b.since)  # (for each key's last copy)
            if len(profiles) > 1:
                b.accounts = profiles[0]
            self._write_accounts(c, b, since[0])
            for i, later in enumerate(profiles[1:], 1):  # its later copies, each keeping
                self._write_accounts(c, Batch(ts=b.ts, accounts=later), since[i])  # the last
            self._write_late(c, _ACCOUNTS, b.late_accounts, b.ts)
            rounds = _rounds(b.posts)
            since = _by_round(rounds, b.post_since)
            new_posts = self._write_posts(c, b, rounds[0], since[0])
            for i, later in enumerate(rounds[1:], 1):  # later copies of posts held twice
                self._write_children(c, new_posts)
                new_posts = self._write_posts(c, b, later, since[i])
            self._write_late(c, _POSTS, b.late_posts, b.ts)
            self._write_events(c, b)
            self._write_compliance(c, b)
            self._write_children(c, new_posts)
            self._write_edges(c, b)
            if self.on_commit is not None:
                self.on_commit(c)
        self.unanalyzed = unanalyzed  # (committed: the statistics too)
        if len(self.acc_cache) > CACHE_MAX:
            self.acc_cache.clear()
            self.handle_cache.clear()
        if len(self.post_author) > CACHE_MAX:
            self.post_author.clear()

    def _analyze(self, c: Connection) -> list[str]:
        """Before the batch's lookups: ANALYZE the lookup tables that hold rows
        but were never analyzed (``Store.analyze_new``): from the second batch
        into a fresh store on (the first found them empty), or the first into a
        store that autovacuum never analyzed. Each table once a run; those
        still empty (returned) are looked at again by the next batch, a
        catalog query. Those this role may not analyze (not their owner) are
        said once a run, in one warning (logged: ``rasd.ingest``; tables found
        so later, as they get their first rows, are not named), and not
        looked at again: their lookups go on without statistics (on a big
        table never analyzed, a scan of the table's platform each)."""
        tables = LOOKUP_TABLES if self.unanalyzed is None else self.unanalyzed
        if not tables:
            return []
        got = self.store.analyze_new(c, tables)
        if got.denied and not self.denied:
            self.denied = True
            log.warning(
                "the store's tables %s have no planner statistics, and this database "
                "role may not ANALYZE them (not their owner): the ingest's lookups by "
                "key may read the whole table each; their owner can run ANALYZE once "
                "(this run goes on without)", ", ".join(got.denied))
        return got.empty

    def _count_moved(self, c: Connection, b: Batch) -> None:
        """Count the copies another copy of the batch replaced without a version
        (Batch.moved), as they count when the two fall in different batches:
        unchanged where their raw record was read before (a file read again) or
        the store holds that very profile (the copy was the stored one seen
        again), else updated. (A copy equal to the stored profile counted
        updated, then the one replacing it updated again: the Kaggle file
        sorted by time counted 135, 155 or 144 profiles updated by --batch.)
        Called after _write_raw (known_raw is this batch's), before the writes."""
        keys = [m[2] for m in b.moved if m[2] is not None]
        stored = self._lookup_accounts(c, keys) if keys else {}
        for kind, sha, key, h in b.moved:
            same = key is not None and h is not None and key in stored and (
                stored[key][1] == h and not stored[key][2])
            self.counts.add(kind, "unchanged" if same or self._applied_before(sha)
                            else "updated")

    def _number(self, c: Connection, table: Any, rows: list[tuple]) -> list[tuple] | None:
        """The rows with their ids appended, where the store holds the write
        lock for the whole batch (SQLite), which saves reading them back; None
        elsewhere."""
        if not self.store.exclusive_writes or not rows:
            return None
        start = int(c.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1
        return [r + (start + i,) for i, r in enumerate(rows)]

    def _write_raw(self, c: Connection, b: Batch) -> None:
        """Store the batch's raw records; remember which were already stored.

        A record whose raw bytes are already in the store was ingested before:
        it has been applied, and re-applying it could only revert a newer copy
        (a file that holds two versions of a post, or an older export read again).
        """
        # records whose bytes went with the previous batch (it ended inside
        # their page): read before if those bytes were (a file read again in
        # small batches gave versions of what it had read)
        self.known_raw = {h for h in b.raw_earlier if h in self.known_raw}
        if not b.raw and not b.raw_later:
            return
        rr = S.raw_records
        # (records whose bytes come with a later batch: read before if the
        # store holds those bytes — a file read again)
        for chunk in chunks([r[0] for r in b.raw] + b.raw_later, IN_CHUNK):  # (by the primary key)
            self.known_raw.update(r[0] for r in fast_select_in(
                c, rr, ("sha256",), None, "sha256", list(chunk)))
        rows = [{"sha256": h, "fmt": fmt, "size": size, "data": data, "first_seen": b.ts}
                for h, fmt, size, data in b.raw if h not in self.known_raw]
        fast_insert(c, S.raw_records, rows)

    def _applied_before(self, raw_sha256: str | None) -> bool:
        return raw_sha256 is not None and raw_sha256 in self.known_raw

    # ---------------------------------------------------------------- accounts
    def _before_stored(self, it: Any, stored_at: Any) -> bool:
        """Whether ``it``, identical to the stored copy, was collected before it
        (``stored_at``, as the driver gives it: ``_driver_time``) and not read
        before: it may predate a version (a name that came back, a text edited
        back), so the history places it."""
        return stored_at is not None and it.observed_at is not None and \
            not self._applied_before(it.raw_sha256) and is_older(
                it.observed_at, _driver_time(stored_at))

    def _lookup_accounts(self, c: Connection, keys: Iterable[Key]
                         ) -> dict[Key, tuple[int, str | None, Any, Any]]:
        """(platform, platform_id) → (id, content_hash, stub, observed_at as the
        driver gives it: ``_driver_time``) of stored accounts."""
        found: dict[Key, tuple[int, str | None, Any, Any]] = {}
        for plat, chunk in _by_platform(keys):
            for rid, pid, h, stub, obs in fast_select_in(
                    c, S.accounts, ("id", "platform_id", "content_hash", "stub", "observed_at"),
                    ("platform", plat), "platform_id", chunk):
                found[(plat, pid)] = (rid, h, stub, obs)
        return found

    def _full_accounts(self, c: Connection, keys: list[Key]) -> dict[Key, _FullAccount]:
        """Stored profiles (for the history of those about to be updated, and
        copies read late), typed as a select gives them (by the unique index)."""
        found: dict[Key, _FullAccount] = {}
        for plat, chunk in _by_platform(keys):
            for r in fast_select_in(c, S.accounts, _FullAccount._fields, ("platform", plat),
                                    "platform_id", chunk, typed=True):
                row = _FullAccount._make(r)
                found[(plat, row.platform_id)] = row
        return found

    def _write_accounts(self, c: Connection, b: Batch,
                        since: dict[Key, Since] | None = None) -> None:
        self.counts.add("accounts", "unchanged", b.seen_accounts)
        batch = {it.key: it for it in b.accounts}
        touched = dict(b.touched)
        for k, (seen, h, rsha, rpath) in b.touched.items():
            st = self.stale.pop(k, None)
            if st is not None and st.hash == h and k not in batch:
                # a profile found older than the stored version, now seen again
                # later: judged afresh as that later copy (counted once: it was
                # counted unchanged as a repeat)
                batch[k] = st._replace(row=_with(st.row, observed_at=seen, raw_sha256=rsha,
                                                 raw_path=rpath, first_observed_at=None))
                del touched[k]
                self.counts.add("accounts", "unchanged", -1)
        stubs = dict(b.stubs)
        # handle/name references: known handle → that account; else a stub "@name"
        self._resolve_names(c, b, stubs)
        acc_cache = self.acc_cache
        missing = list(batch) + [k for k in stubs if k not in acc_cache]
        existing = self._lookup_accounts(c, missing) if missing else {}
        inserts: list[tuple] = []
        updates: list[dict] = []
        versions: list[dict] = []
        touches: list[dict] = []  # unchanged, seen in a newer snapshot
        changed: list[AccountItem] = []  # stored full profile differs
        sid = self.source_id
        for key, it in batch.items():
            got = existing.get(key)
            if got is None:
                inserts.append(it.row + (sid,))
                if it.stub:
                    self.counts.stubs += 1
                else:
                    self.counts.add("accounts", "new")
                continue
            rid, old_hash, old_stub, old_seen = got
            acc_cache[key] = rid
            if it.stub:
                continue  # a stub never overwrites
            if old_hash == it.hash and not old_stub:
                if self._before_stored(it, old_seen):  # (a name that came back)
                    changed.append(it)
                    continue
                self.counts.add("accounts", "unchanged")
                if self._applied_before(it.raw_sha256) and it.observed_at is not None and \
                        old_seen is not None and len(self.stale) < STALE_MAX and \
                        is_older(it.observed_at, _driver_time(old_seen)):
                    # read before (the run again after a kill): kept as when it was
                    # first read, older than the stored copy, so that a later
                    # repeat of it that this run applies is judged afresh
                    self.stale[key] = it
                self._seen_again(touches, rid, it.observed_at, it.hash, it.raw_sha256)
                continue
            if old_stub:
                updates.append(self._update_row(ACCOUNT_COLS, it.row, rid))
                self.counts.add("accounts", "new")
            else:
                changed.append(it)
        full = self._full_accounts(c, [it.key for it in changed]) if changed else {}
        late: list[tuple[AccountItem, Any]] = []
        seen_before: list[tuple[AccountItem, Any]] = []  # (Batch.since)
        for it in changed:
            row = full[it.key]
            older = is_older(it.observed_at, row.observed_at)
            if older or self._applied_before(it.raw_sha256):
                # an older snapshot than the current view: it does not replace it
                # (kept as a version if its profile is new to the history)
                if older and not self._applied_before(it.raw_sha256):
                    late.append((it, row))
                else:
                    self.counts.add("accounts", "unchanged")
                if it.observed_at is not None and len(self.stale) < STALE_MAX:
                    self.stale[it.key] = it
                continue
            new = self._update_row(ACCOUNT_COLS, it.row, row.id)
            updates.append(new)
            self.counts.add("accounts", "updated")
            if it.profile != _profile(row):
                got_since = since.get(it.key) if since else None
                first = got_since[0] if got_since else None
                # the new profile's first sighting after the stored one: when that ended
                new["first_observed_at"] = begun = _superseded(first, row.observed_at,
                                                               it.observed_at)
                versions.append(_account_version(
                    row.id, row, row.content_hash, row.raw_sha256,
                    _last_seen(row, b.touched.get(it.key)), begun or b.ts,
                    row.first_observed_at or row.observed_at))
                if got_since and first is not None and is_older(first, row.observed_at):
                    # the same profile was seen before the stored one too (a copy
                    # counted in Prep): a version at that time, placed against
                    # the history as this write leaves it
                    seen_before.append((it._replace(row=_with(it.row, observed_at=first)),
                                        _now(ACCOUNT_COLS, it.row, row.id, begun),
                                        got_since[1]))
            else:  # the same profile: seen since its first sighting still
                new["first_observed_at"] = row.first_observed_at or row.observed_at
        self._versions_read_late(c, _ACCOUNTS, late, seen_before, versions, b.ts)
        for key, handle in stubs.items():
            if key in acc_cache or key in existing:
                if key in existing:
                    acc_cache[key] = existing[key][0]
                continue
            inserts.append(_stub_row(key[0], key[1], handle, b.ts) + (sid,))
            self.counts.stubs += 1
        if inserts:
            uniq = {(r[0], r[1]): r for r in inserts}
            inserts = list(uniq.values())
            numbered = self._number(c, S.accounts, inserts)
            if numbered is not None:
                fast_insert_rows(c, S.accounts, (*ACCOUNT_COLS, "source_id", "id"), numbered,
                                 ignore=False)
                for r in numbered:
                    acc_cache[(r[0], r[1])] = r[-1]
            else:
                for rid, plat, pid in fast_insert_rows(
                        c, S.accounts, (*ACCOUNT_COLS, "source_id"), inserts,
                        returning=("id", "platform", "platform_id")):
                    acc_cache[(plat, pid)] = rid
                missing = [k for k in uniq if k not in acc_cache]
                for k, r in (self._lookup_accounts(c, missing) if missing else {}).items():
                    acc_cache[k] = r[0]
        if updates:
            fast_update(c, S.accounts, updates)
        if versions:
            c.execute(S.account_versions.insert(), versions)
        if touched:  # repeats of profiles sent in an earlier batch of this run
            todo = [k for k in touched if k not in acc_cache]
            for k, r in (self._lookup_accounts(c, todo) if todo else {}).items():
                acc_cache[k] = r[0]
            for k, (seen, h, _, _) in touched.items():
                if k in acc_cache:
                    self._seen_again(touches, acc_cache[k], seen, h, None)
        self._touch(c, S.accounts, touches, b.ts)
        for key in batch:
            if key not in acc_cache:
                got = self._lookup_accounts(c, [key])
                if key in got:
                    acc_cache[key] = got[key][0]
        for key, it in batch.items():
            handle = it.handle
            if handle and key in acc_cache:
                self.handle_cache[(key[0], S.handle_key(handle))] = acc_cache[key]

    def _late(self, c: Connection, kind: _Kind, late: list[tuple[Any, Any]],
              versions: list[dict], ts: datetime, count: bool = True) -> list[bool]:
        """Copies collected before the stored one (with the stored row of
        their record, or what this write makes it: ``_now``), read after it,
        placed in their records' histories in the order read (each against
        what the copies read before it left, as across batches): a version
        each (counted updated) unless what it keeps was in effect at its time
        or began what came next (``_History.place``: then it only moves when
        that state was first or last seen; unchanged). ``versions`` holds the
        versions this write adds (those of these records are part of their
        histories); a new one is valid until the next state began (else
        ``ts``). Whether each gave a version; counted where ``count``."""
        v = kind.versions
        held = {row.id: _History(kind.ident) for _, row in late}
        names = ("id", kind.owner, *kind.cols, "content_hash", "raw_sha256", "observed_at",
                 "valid_until", "first_observed_at")
        stored: list[tuple] = []
        for chunk in chunks(sorted(held), IN_CHUNK):  # (by the versions' index on their record)
            stored += fast_select_in(c, v, names, None, kind.owner, list(chunk), typed=True)
        stored.sort()  # by id: a record's versions in the order they were stored
        for r in stored:
            held[r[1]].add(dict(zip(names, r, strict=True)), stored=True)
        for new in versions:  # this write's, not stored yet
            if new[kind.owner] in held:
                held[new[kind.owner]].add(new)
        current: dict[int, _Period] = {}
        for _, row in late:
            if row.id not in current:
                current[row.id] = held[row.id].add({**kind.current(row), "id": row.id},
                                                   current=True)
        gave: list[bool] = []
        for it, row in late:
            placed = held[row.id].place(
                kind.kept(it), kind.time_of(it), it.observed_at, it.raw_sha256,
                lambda until, it=it, rid=row.id: kind.version(it, rid, until or ts), versions)
            gave.append(placed)
            if count:
                self.counts.add(kind.name, "updated" if placed else "unchanged")
        # stored versions whose sightings or end moved (on PostgreSQL one
        # UPDATE … FROM unnest: fast_update_rows)
        fast_update_rows(c, v, _MOVED, [
            (p.row["id"], *(p.row[n] for n in _MOVED))
            for h in held.values() for p in h.all if p.stored and p.dirty])
        # current copies first seen earlier (or, split, later)
        fast_update_rows(c, kind.table, ("first_observed_at",), [
            (p.row["id"], p.row["first_observed_at"]) for p in current.values() if p.dirty])
        return gave

    def _versions_read_late(self, c: Connection, kind: _Kind, late: list[tuple[Any, Any]],
                            seen_before: list[tuple[Any, Any, bool]],
                            versions: list[dict], ts: datetime) -> None:
        """The versions of copies older than the stored one (``late``: counted
        here) and of copies seen before it that a newer identical copy
        replaced in the batch (``seen_before``, with whether Prep counted them
        moved), placed by ``_late``."""
        if late:
            self._late(c, kind, late, versions, ts)
        if seen_before:
            added = self._late(c, kind, [(i, r) for i, r, _ in seen_before], versions, ts,
                               count=False)
            self._recount(kind.name, [m for *_, m in seen_before], added)

    def _recount(self, kind: str, moved: list[bool], added: list[bool]) -> None:
        """Copies seen before the stored one and counted in Prep (unchanged as
        a duplicate, or updated as moved): recounted as they count across
        batches — updated where they gave a version, else unchanged."""
        for was_moved, gave in zip(moved, added, strict=True):
            if gave and not was_moved:
                self.counts.add(kind, "unchanged", -1)
                self.counts.add(kind, "updated")
            elif not gave and was_moved:
                self.counts.add(kind, "updated", -1)
                self.counts.add(kind, "unchanged")

    def _seen_again(self, touches: list[dict], rid: int, observed_at: datetime | None,
                    content_hash: str | None, raw_sha256: str | None) -> None:
        """Note an unchanged record (content ``content_hash``) seen in a
        snapshot that may be newer than the stored one (bytes already ingested
        are not: re-reading a file writes nothing)."""
        if observed_at is not None and content_hash and not self._applied_before(raw_sha256):
            touches.append({"b_id": rid, "obs": observed_at, "h": content_hash})

    @staticmethod
    def _touch(c: Connection, table: Any, touches: list[dict], ts: datetime) -> None:
        """Advance ``observed_at`` (and ``last_seen``) of unchanged records to a
        newer snapshot's time, so that a differing copy collected between the
        two is recognised as older and does not replace the current view. The
        stored time and content are compared in SQL: no read; a time is never
        moved back, nor given to a stored version other than the one seen."""
        if not touches:
            return
        t = table
        # on PostgreSQL one UPDATE … FROM unnest (pg_update_from; the same
        # conditions), unless a record is touched twice
        if pg_update_from(c, t, ("id", "content_hash", "observed_at", "last_seen"),
                          [(r["b_id"], r["h"], r["obs"], ts) for r in touches],
                          {"observed_at": "v.observed_at", "last_seen": "v.last_seen",
                           "first_observed_at": f"coalesce({t.name}.first_observed_at, "
                                                f"{t.name}.observed_at)"},
                          f"{t.name}.content_hash = v.content_hash AND "
                          f"({t.name}.observed_at IS NULL OR "
                          f"{t.name}.observed_at < v.observed_at)"):
            return
        obs = bindparam("obs", type_=t.c.observed_at.type)
        c.execute(update(t).where(t.c.id == bindparam("b_id"),
                                  t.c.content_hash == bindparam("h"),
                                  or_(t.c.observed_at.is_(None), t.c.observed_at < obs))
                  .values(observed_at=obs, last_seen=bindparam("seen", type_=t.c.last_seen.type),
                          # (first seen: where not kept, it was the time moved from)
                          first_observed_at=func.coalesce(t.c.first_observed_at,
                                                          t.c.observed_at)),
                  [{**r, "seen": ts} for r in touches])

    def _update_row(self, cols: tuple[str, ...], row: tuple[Any, ...],
                    rid: int) -> dict[str, Any]:
        new = dict(zip(cols, row, strict=True))
        new.pop("first_seen")
        new["source_id"] = self.source_id
        new["b_id"] = rid
        return new

    def _resolve_names(self, c: Connection, b: Batch, stubs: dict[Key, str | None]) -> None:
        for it in b.accounts:  # profiles in this batch first
            handle = it.handle
            if handle and it.key in self.acc_cache:
                self.handle_cache[(it.key[0], S.handle_key(handle))] = self.acc_cache[it.key]
        todo = [(p, n) for p, n in b.names if (p, S.handle_key(n)) not in self.handle_cache]
        keys = sorted({(p, S.handle_key(n)) for p, n in todo})
        for plat, chunk in _by_platform(keys):  # (by the index on (platform, handle_key))
            # the accounts with these handles, not "@name" stubs: a full profile
            # first, then the lowest id
            found = sorted((bool(stub), rid, key) for rid, key, stub, pid in fast_select_in(
                c, S.accounts, ("id", "handle_key", "stub", "platform_id"), ("platform", plat),
                "handle_key", chunk) if not pid.startswith("@"))
            for _, rid, key in found:
                self.handle_cache.setdefault((plat, key), rid)
        batch_handles = {(it.key[0], S.handle_key(it.handle)) for it in b.accounts
                         if it.handle}
        for p, n in todo:
            k = (p, S.handle_key(n))
            if k in self.handle_cache or k in batch_handles:
                continue
            stubs.setdefault((p, S.stub_key(n)), n[:200])

    def _account_id(self, plat: str, pid: str | None) -> int | None:
        return self.acc_cache.get((plat, pid)) if pid else None

    def _name_id(self, plat: str, name: str | None) -> int | None:
        if not name:
            return None
        # every profile of the batch is in handle_cache once its accounts are written
        got = self.handle_cache.get((plat, S.handle_key(name)))
        if got is None:
            got = self.acc_cache.get((plat, S.stub_key(name)))
        return got

    # ------------------------------------------------------------------- posts
    def _write_posts(self, c: Connection, b: Batch, posts: list[PostItem],
                     since: dict[Key, Since] | None = None) -> list[tuple[int, PostItem]]:
        """Insert/update ``posts`` (each key once); return (id, post) for new and
        updated ones."""
        t = S.posts
        items = {it.key: it for it in posts}
        # (id, content_hash, observed_at as the driver gives it) of stored posts;
        # full old rows only for those that change
        existing: dict[Key, tuple[int, str | None, Any]] = {}
        for plat, chunk in _by_platform(items):
            for rid, pid, h, obs in fast_select_in(
                    c, t, ("id", "platform_id", "content_hash", "observed_at"),
                    ("platform", plat), "platform_id", chunk):
                existing[(plat, pid)] = (rid, h, obs)
        inserts, updates, versions = [], [], []
        touches: list[dict] = []  # unchanged, seen in a newer snapshot
        moved: list[dict] = []  # media files of unchanged posts, where they are now
        changed: list[PostItem] = []
        modified: list[PostItem] = []
        acc_cache, sid = self.acc_cache, self.source_id
        for key, it in items.items():
            got = existing.get(key)
            if got is None:
                inserts.append(it.row + (
                    acc_cache.get((key[0], it.author)) if it.author else None, sid))
                changed.append(it)
                continue
            if got[1] == it.hash and not it.reference and self._before_stored(it, got[2]):
                modified.append(it)  # (a text edited back)
                continue
            if it.reference or got[1] == it.hash:
                self.counts.add("posts", "unchanged")
                if not it.reference:
                    self._seen_again(touches, got[0], it.observed_at, it.hash, it.raw_sha256)
                    for m in it.media:  # the same export read from where it is now
                        if m["local_path"]:
                            moved.append({"p": m["platform"], "k": m["media_key"],
                                          "l": m["local_path"]})
                continue
            modified.append(it)
        old_rows = self._full_posts(c, [it.key for it in modified])
        late: list[tuple[PostItem, Any]] = []
        seen_before: list[tuple[PostItem, Any]] = []  # (Batch.post_since)
        for it in modified:
            row = old_rows[it.key]
            if self._applied_before(it.raw_sha256):
                self.counts.add("posts", "unchanged")
                continue
            if is_older(it.observed_at, row.observed_at) or (row.edited_at is not None and (
                    it.edited_at is None or is_older(it.edited_at, row.edited_at))):
                # an older copy (earlier crawl, or the text before an edit we
                # hold): kept as a version if its text is new to the history
                late.append((it, row))
                continue
            new = self._update_row(POST_COLS, it.row, row.id)
            new["account_id"] = acc_cache.get((it.key[0], it.author)) if it.author else None
            updates.append(new)
            changed.append(it)
            self.counts.add("posts", "updated")
            if row.text != it.text or (it.edited_at and row.edited_at != it.edited_at):
                edit = it.edited_at if it.edited_at and (
                    row.edited_at is None or is_older(row.edited_at, it.edited_at)) else None
                got_since = since.get(it.key) if since else None
                first = got_since[0] if got_since else None
                new["first_observed_at"] = begun = _superseded(first, row.observed_at,
                                                               it.observed_at)
                versions.append(_post_version(
                    row.id, row.text, row.edited_at, row.content_hash, row.raw_sha256,
                    row.observed_at, edit or begun or b.ts,
                    row.first_observed_at or row.observed_at))
                if got_since and first is not None and is_older(first, row.observed_at):
                    seen_before.append((it._replace(row=_with(it.row, _P_INDEX, observed_at=first)),
                                        _now(POST_COLS, it.row, row.id, begun), got_since[1]))
            else:  # the same text: seen since its first sighting still
                new["first_observed_at"] = row.first_observed_at or row.observed_at
        self._versions_read_late(c, _POSTS, late, seen_before, versions, b.ts)
        self.counts.add("posts", "new", len(inserts))
        numbered = self._number(c, t, inserts)
        returned: list[tuple] = []
        if numbered is not None:
            fast_insert_rows(c, t, (*POST_COLS, "account_id", "source_id", "id"), numbered,
                             ignore=False)
        elif inserts:
            returned = fast_insert_rows(c, t, (*POST_COLS, "account_id", "source_id"), inserts,
                                        returning=("id", "platform", "platform_id"))
        if updates:
            fast_update(c, t, updates)
        if inserts:
            self._deleted_before(c, [(r[0], r[1]) for r in inserts])
        self.updated_posts = [u["b_id"] for u in updates]
        if self.updated_all is not None and self.updated_posts:
            self.updated_all.extend(self.updated_posts)
            if len(self.updated_all) > UPDATED_MAX:
                self.updated_all = None
        if versions:
            c.execute(S.post_versions.insert(), versions)
        self._touch(c, t, touches, b.ts)
        self._relocate(c, moved)
        ids: dict[Key, int] = {k: r[0] for k, r in existing.items()}
        if numbered is not None:
            ids.update(((r[0], r[1]), r[-1]) for r in numbered)
        ids.update(((plat, pid), rid) for rid, plat, pid in returned)
        new_keys = [it.key for it in changed if it.key not in ids]
        for plat, chunk in _by_platform(new_keys):  # (by the unique index)
            for rid, pid in fast_select_in(c, t, ("id", "platform_id"), ("platform", plat),
                                           "platform_id", chunk):
                ids[(plat, pid)] = rid
        post_author = self.post_author
        for key, it in items.items():
            post_author[key] = acc_cache.get((key[0], it.author)) if it.author else None
        return [(ids[it.key], it) for it in changed if it.key in ids]

    def _full_posts(self, c: Connection, keys: Iterable[Key]) -> dict[Key, _FullPost]:
        """Stored posts (for the history of those about to be updated, and
        copies read late), typed as a select gives them (by the unique index)."""
        found: dict[Key, _FullPost] = {}
        for plat, chunk in _by_platform(keys):
            for r in fast_select_in(c, S.posts, _FullPost._fields, ("platform", plat),
                                    "platform_id", chunk, typed=True):
                row = _FullPost._make(r)
                found[(plat, row.platform_id)] = row
        return found

    def _write_late(self, c: Connection, kind: _Kind, items: list[Any], ts: datetime) -> None:
        """The batch's copies read after a newer copy of theirs (Prep.late_*),
        once its rounds are written, against their stored rows: unchanged
        where none is stored, the bytes were read before or (a profile) the
        copy is not older than the stored one; the others placed (``_late``)."""
        if not items:
            return
        full = self._full_accounts if kind is _ACCOUNTS else self._full_posts
        rows = full(c, list({it.key for it in items}))
        late, versions = [], []
        for it in items:
            row = rows.get(it.key)
            if row is None or self._applied_before(it.raw_sha256) or (
                    kind is _ACCOUNTS and not is_older(it.observed_at, row.observed_at)):
                self.counts.add(kind.name, "unchanged")
            else:
                late.append((it, row))
        self._late(c, kind, late, versions, ts)
        if versions:
            c.execute(kind.versions.insert(), versions)

    def _deleted_before(self, c: Connection, keys: list[Key]) -> None:
        """Mark new posts deleted where a compliance event stored earlier says so
        (a ``delete`` read before its tweet: a folder read in name order, another
        batch). Looked up only in a store that holds compliance events."""
        if self.has_compliance is None:
            self.has_compliance = c.execute(
                select(S.compliance_events.c.id).limit(1)).first() is not None
        if not self.has_compliance:
            return
        t = S.posts
        found: dict[Key, datetime | None] = {}
        for plat, chunk in _by_platform(keys):
            # (by the index on the events' subject; a post's earliest deletion
            # time, or None where none has one, as SQL's min() gives it)
            for pid, at in fast_select_in(c, S.compliance_events, ("platform_id", "at"),
                                          ("platform", plat), "platform_id", chunk,
                                          where={"subject_type": "post", "action": DELETING},
                                          typed=True):
                was = found.get((plat, pid))
                found[(plat, pid)] = at if was is None or (at is not None and at < was) else was
        if not found:
            return
        rows = [(plat, pid, at or now()) for (plat, pid), at in found.items()]
        # on PostgreSQL one UPDATE … FROM unnest, by the unique index
        if not pg_update_from(c, t, ("platform", "platform_id", "deleted_at"), rows,
                              {"deleted_at": "v.deleted_at"}, "posts.deleted_at IS NULL",
                              keys=2):
            c.execute(update(t).where(t.c.platform == bindparam("plat"),
                                      t.c.platform_id == bindparam("pid"),
                                      t.c.deleted_at.is_(None))
                      .values(deleted_at=bindparam("at", type_=t.c.deleted_at.type)),
                      [{"plat": plat, "pid": pid, "at": at} for plat, pid, at in rows])

    @staticmethod
    def _relocate(c: Connection, moved: list[dict]) -> None:
        """Point media (``{"p": platform, "k": media_key, "l": local_path}``)
        at where their files are now: the latest copy read names them (parsers
        name a local file only where one is) — of a new or changed post, or of
        one read again unchanged from another place (an export moved, zipped)."""
        if not moved:
            return
        m = S.media
        # a medium stored without a file was scanned (if at all) without one, so
        # never hashed: with its file here now, the next `rasd scan --media` reads it
        # (by the unique index; the test of local_path here, not in the lookup)
        had_none = [i for plat, keys in _by_platform((d["p"], d["k"]) for d in moved)
                    for i, local in fast_select_in(c, m, ("id", "local_path"), ("platform", plat),
                                                   "media_key", keys) if local is None]
        for chunk in chunks(had_none, IN_CHUNK):
            c.execute(delete(S.scans).where(S.scans.c.subject_type == "media",
                                            S.scans.c.subject_id.in_(list(chunk))))
        # on PostgreSQL one UPDATE … FROM unnest, by the unique index: a
        # medium's last place holds, as in the executemany (each names a file)
        last = {(d["p"], d["k"]): d["l"] for d in moved}
        if pg_update_from(c, m, ("platform", "media_key", "local_path"),
                          [(p, k, local) for (p, k), local in last.items()],
                          {"local_path": "v.local_path"},
                          "media.local_path IS NULL OR media.local_path != v.local_path",
                          keys=2):
            return
        c.execute(update(m).where(m.c.platform == bindparam("p"),
                                  m.c.media_key == bindparam("k"),
                                  or_(m.c.local_path.is_(None), m.c.local_path != bindparam("l")))
                  .values(local_path=bindparam("l")), moved)

    def _target_authors(self, c: Connection, posts: list[tuple[int, PostItem]]) -> None:
        """Fill ``post_author`` for link targets named only by post id."""
        need = {(it.key[0], lk[1]) for _, it in posts for lk in it.links
                if lk[1] and not lk[2] and (it.key[0], lk[1]) not in self.post_author}
        for plat, chunk in _by_platform(need):  # (probing the unique index: fast_select_in)
            for pid, account_id in fast_select_in(c, S.posts, ("platform_id", "account_id"),
                                                  ("platform", plat), "platform_id", chunk):
                self.post_author[(plat, pid)] = account_id

    def _write_children(self, c: Connection, posts: list[tuple[int, PostItem]]) -> None:
        if not posts:
            return
        # their links as they are now, below (by the index that post_id leads;
        # on PostgreSQL one DELETE of one array: fast_delete_in)
        fast_delete_in(c, S.pending_links, "post_id", self.updated_posts)
        self._target_authors(c, posts)
        tags, urls, edges, media_rows, pm_pairs, waiting = [], [], [], {}, [], []
        account_id, name_id, post_author = self._account_id, self._name_id, self.post_author
        for pid, it in posts:
            plat = it.key[0]
            for tag in it.tags:
                tags.append((pid, tag))
            for u in it.urls:
                urls.append((pid, u))
            for m in it.media:
                mk = (m["platform"], m["media_key"])
                media_rows[mk] = m
                pm_pairs.append((pid, mk))
            src = account_id(plat, it.author)
            if src is None:
                continue
            created = it.created_at
            for kind, tpost, tacc, tname in it.links:
                dst = account_id(plat, tacc) or name_id(plat, tname)
                if dst is None and tpost:
                    dst = post_author.get((plat, tpost))
                    if dst is None and not tacc and not tname:
                        # its target (or the target's author) is not stored yet
                        waiting.append((plat, pid, kind, tpost))
                if dst is not None and dst != src:
                    edges.append(_edge(plat, kind, src, dst, pid, created))
            for mid, handle in it.mentions:
                dst = account_id(plat, mid) if mid else name_id(plat, handle)
                if dst is not None and dst != src:
                    edges.append(_edge(plat, "mention", src, dst, pid, created))
        fast_insert_rows(c, S.hashtags, ("post_id", "tag"), tags)
        fast_insert_rows(c, S.urls, ("post_id", "url"), urls)
        if media_rows:
            fast_insert(c, S.media, list(media_rows.values()))
            mid_of: dict[Key, int] = {}
            moved: list[dict] = []  # stored before, its file found somewhere else now
            for plat, chunk in _by_platform(media_rows):  # (by the unique index)
                for rid, key, local in fast_select_in(c, S.media, ("id", "media_key", "local_path"),
                                                      ("platform", plat), "media_key", chunk):
                    mid_of[(plat, key)] = rid
                    new_local = media_rows[(plat, key)]["local_path"]
                    if new_local and local != new_local:
                        moved.append({"p": plat, "k": key, "l": new_local})
            self._relocate(c, moved)
            pm = [(pid, mid_of[k]) for pid, k in pm_pairs if k in mid_of]
            fast_insert_rows(c, S.post_media, ("post_id", "media_id"), pm)
        if edges:
            uniq = {e[-1]: e for e in edges}  # dedup_key
            fast_insert_rows(c, S.edges, EDGE_COLS, list(uniq.values()))
        if waiting:
            fast_insert_rows(c, S.pending_links, PENDING_COLS, waiting)
            self.counts.add("links", "waiting", len(waiting))

    # ---------------------------------------------------------- events, notices
    def _write_events(self, c: Connection, b: Batch) -> None:
        if not b.events:
            return
        e = S.events
        have: set[Key] = set()
        for plat, chunk in _by_platform(it.key for it in b.events):  # (by the unique index)
            have.update((plat, pid) for pid, in fast_select_in(
                c, e, ("platform_id",), ("platform", plat), "platform_id", chunk))
        rows = []
        for it in b.events:
            if it.key in have:
                self.counts.add("events", "unchanged")
                continue
            self.counts.add("events", "new")
            it.row["actor_id"] = self._account_id(it.key[0], it.actor)
            it.row["source_id"] = self.source_id
            rows.append(it.row)
        if rows:
            c.execute(insert_ignore(c, e), rows)

    def _write_compliance(self, c: Connection, b: Batch) -> None:
        if not b.compliance:
            return
        rows = {r["dedup_key"]: r for r in b.compliance}
        ce = S.compliance_events
        fresh = self._fresh(c, ce.c.dedup_key, rows, "compliance")
        if fresh:
            c.execute(insert_ignore(c, ce), fresh)
            t = S.posts
            self.has_compliance = True
            for r in fresh:
                if r["subject_type"] == "post" and r["action"] in DELETING:
                    c.execute(update(t).where(and_(
                        t.c.platform == r["platform"], t.c.platform_id == r["platform_id"],
                        t.c.deleted_at.is_(None))).values(deleted_at=r["at"] or now()))


    def _write_edges(self, c: Connection, b: Batch) -> None:
        """Edges read as such (follows): new ones are stored, with the raw record
        they came from; one seen before is unchanged (a follow has no history
        here: a later list without it does not end it)."""
        if not b.edges:
            return
        rows: dict[str, tuple[Any, ...]] = {}
        for plat, kind, src_id, dst_id, seen, rsha in b.edges:
            src, dst = self._account_id(plat, src_id), self._account_id(plat, dst_id)
            if src is None or dst is None or src == dst:
                continue
            key = f"{kind}:{src}:{dst}:"
            rows[key] = (plat, kind, src, dst, None, seen, key, rsha)
        fresh = self._fresh(c, S.edges.c.dedup_key, rows, "follows")
        fast_insert_rows(c, S.edges, EDGE_COLS + ("raw_sha256",), fresh)

    def _fresh(self, c: Connection, key_col: Any, rows: dict[str, Any], kind: str) -> list[Any]:
        """The rows whose unique key is not stored yet (counted new); the others
        are counted unchanged. (Looked up by the key's unique index.)"""
        have: set[str] = set()
        for chunk in chunks(list(rows), IN_CHUNK):
            have.update(r[0] for r in fast_select_in(c, key_col.table, (key_col.name,), None,
                                                     key_col.name, list(chunk)))
        fresh = [r for k, r in rows.items() if k not in have]
        self.counts.add(kind, "new", len(fresh))
        self.counts.add(kind, "unchanged", len(rows) - len(fresh))
        return fresh


DELETING = ("delete", "unavailable")  # compliance actions that mark a post deleted
EDGE_COLS = ("platform", "kind", "src_account_id", "dst_account_id", "post_id", "created_at",
             "dedup_key")
PENDING_COLS = ("platform", "post_id", "kind", "target_post_id")
LINK_PAGE = 5000
UPDATED_MAX = 100_000  # updated post ids a run remembers for link_pending


def _edge(plat: str, kind: str, src: int, dst: int, post_id: int,
          created_at: Any) -> tuple[Any, ...]:
    return (plat, kind, src, dst, post_id, created_at, f"{kind}:{src}:{dst}:{post_id}")


def link_marks(store: Store) -> tuple[int, int]:
    """The highest post id and waiting-link id stored now: what an ingest run
    starts from, so that ``link_pending`` can look only at what it wrote."""
    with store.connect() as c:
        return (int(c.execute(select(func.coalesce(func.max(S.posts.c.id), 0))).scalar_one()),
                int(c.execute(select(func.coalesce(func.max(S.pending_links.c.id), 0)))
                    .scalar_one()))


def link_pending(store: Store, since: tuple[int, int] | None = None,
                 updated: list[int] | None = None) -> int:
    """Draw the edges of links that waited for their target post (a reply read
    before the post it answers: a later file, a newest-first crawl, another
    ingest running at the same time), now that the post and its author are
    stored; return how many were drawn. A link to a post of its own author
    draws nothing and waits no more; one whose target is still unknown keeps
    waiting.

    ``since`` (``link_marks`` before a run; the runner passes the lowest of
    every unfinished run's) limits the work to what was written since: new
    posts as targets — and ``updated``, ids of stored posts the run changed
    (one may have got its author) — plus the waiting links added since, or
    else every waiting link, whichever is fewer lookups. A store with millions
    of links waiting for posts never collected costs an ingest of one file
    nothing more; the later of two concurrent runs sees what the earlier one
    committed. Without ``since`` (or with ``updated`` None: too many to keep)
    every waiting link is looked at (``rasd links --draw``). Pages of
    ``LINK_PAGE``, a transaction each."""
    pl, p, t = S.pending_links, S.posts.alias("p"), S.posts.alias("t")
    q = (select(pl.c.id, pl.c.platform, pl.c.kind, pl.c.post_id, p.c.account_id,
                p.c.created_at, t.c.account_id)
         .join(p, p.c.id == pl.c.post_id)
         .join(t, and_(t.c.platform == pl.c.platform, t.c.platform_id == pl.c.target_post_id))
         .where(t.c.account_id.is_not(None), p.c.account_id.is_not(None)))
    top_post, top_link = link_marks(store)
    with store.connect() as c:
        low_link = int(c.execute(select(func.coalesce(func.min(pl.c.id), 0))).scalar_one())
    if not top_link:
        return 0
    drawn = 0
    if since is None or updated is None or \
            top_link - low_link < top_post - since[0] + len(set(updated)):
        # fewer waiting links (at most) than new posts: look at each waiting link
        return _draw_pages(store, q, pl.c.id, 0)
    # new posts as targets, a range of ids at a time, and changed ones …
    for lo in range(since[0] + 1, top_post + 1, LINK_PAGE):
        with store.begin() as c:
            drawn += _draw(c, c.execute(q.where(t.c.id.between(lo, lo + LINK_PAGE - 1))).all())
    for chunk in chunks(sorted(set(updated)), IN_CHUNK):
        with store.begin() as c:
            drawn += _draw(c, c.execute(q.where(t.c.id.in_(chunk))).all())
    # … and the waiting links added since, whatever their targets
    return drawn + _draw_pages(store, q, pl.c.id, since[1])


def _draw_pages(store: Store, q: Any, key: Any, after: int) -> int:
    """``_draw`` the rows of ``q`` with ``key`` past ``after``, a page at a time."""
    drawn, last = 0, after
    while True:
        with store.begin() as c:
            rows = c.execute(q.where(key > last).order_by(key).limit(LINK_PAGE)).all()
            if not rows:
                return drawn
            last = rows[-1][0]
            drawn += _draw(c, rows)


def _draw(c: Connection, rows: Sequence[Any]) -> int:
    """Edges for waiting links whose post and target author are known (rows of
    ``link_pending``'s query); those links wait no more."""
    if not rows:
        return 0
    edges = {}
    for _, plat, kind, post_id, src, created, dst in rows:
        if src != dst:
            e = _edge(plat, kind, src, dst, post_id, created)
            edges[e[-1]] = e
    fast_insert_rows(c, S.edges, EDGE_COLS, list(edges.values()))
    # (on PostgreSQL one DELETE of one array; on SQLite INs of IN_CHUNK)
    fast_delete_in(c, S.pending_links, "id", [r[0] for r in rows])
    return len(edges)


def waiting_links(store: Store, *, platform: str | None = None, limit: int | None = None,
                  kinds: bool = True) -> Iterator[dict[str, Any]]:
    """The posts that links wait for (``link_pending``), most awaited first:
    ``{"platform", "post_id" (the missing post's id on its platform), "links",
    "kinds": {"reply": n, ...}}`` (without ``kinds``: ``{}``, one query, rows
    streamed as the database sorts them: millions of ids in little memory).
    What to collect next to complete the network (for X: ``twarc2 hydrate``
    these ids, then ingest what it writes)."""
    pl = S.pending_links
    n = func.count().label("n")
    q = select(pl.c.platform, pl.c.target_post_id, n).group_by(
        pl.c.platform, pl.c.target_post_id).order_by(
        n.desc(), pl.c.platform, pl.c.target_post_id)
    if platform:
        q = q.where(pl.c.platform == platform)
    if limit:
        q = q.limit(limit)
    with store.connect() as c:
        rows = c.execution_options(yield_per=LINK_PAGE).execute(q)
        for page in rows.partitions():
            out = [{"platform": plat, "post_id": tid, "links": int(cnt), "kinds": {}}
                   for plat, tid, cnt in page]
            if kinds:
                _kinds_of(store, out)
            yield from out


def _kinds_of(store: Store, out: list[dict[str, Any]]) -> None:
    """Fill ``kinds`` of ``waiting_links`` rows (a page of them)."""
    pl = S.pending_links
    index = {(r["platform"], r["post_id"]): r for r in out}
    with store.connect() as c:
        for plat, chunk in _by_platform(index):
            for tid, kind, cnt in c.execute(
                    select(pl.c.target_post_id, pl.c.kind, func.count())
                    .where(pl.c.platform == plat, pl.c.target_post_id.in_(chunk))
                    .group_by(pl.c.target_post_id, pl.c.kind)):
                index[(plat, tid)]["kinds"][kind] = int(cnt)


def merge_name_stubs(store: Store, *, keyed: bool = False) -> int:
    """Fold "@handle" stubs into the real account with that handle, once known.

    A forward or mention can name an account before its profile is ingested;
    the placeholder is then merged: its edges and posts move to the real account
    (a full profile before a stub, then the lowest id). One query finds them,
    an index lookup a stub (on its handle_key); stubs with no real account yet
    cost nothing more. Accounts stored without a handle_key (written by SQL,
    or by an older rasd on an upgraded store) are keyed first
    (``key_accounts``: a probe of a partial index where there are none), or
    the stubs of their handles were never merged into them — unless ``keyed``:
    the caller keyed them already (an ingest run does before its first write,
    and its writer keys every account it writes).
    """
    if not keyed:
        key_accounts(store)
    a = S.accounts
    real_a = a.alias("r")
    merged = 0
    with store.begin() as c:
        # per stub, the real account by the index on (platform, handle_key)
        real = (select(real_a.c.id).where(
            real_a.c.platform == a.c.platform,
            real_a.c.handle_key == func.coalesce(a.c.handle_key, func.substr(a.c.platform_id, 2)),
            ~real_a.c.platform_id.startswith("@"))
            .order_by(real_a.c.stub, real_a.c.id).limit(1)
            .correlate(a).scalar_subquery())
        target = {sid: rid for sid, rid in c.execute(
            select(a.c.id, real).where(a.c.platform_id.startswith("@")).order_by(a.c.id))
            if rid is not None}
        for sid, rid in target.items():
            e = S.edges
            for r in c.execute(select(e.c.id, e.c.kind, e.c.src_account_id, e.c.dst_account_id,
                                      e.c.post_id).where((e.c.src_account_id == sid)
                                                         | (e.c.dst_account_id == sid))).all():
                src = rid if r.src_account_id == sid else r.src_account_id
                dst = rid if r.dst_account_id == sid else r.dst_account_id
                key = f"{r.kind}:{src}:{dst}:{r.post_id}"
                dup = c.execute(select(e.c.id).where(e.c.dedup_key == key)).first()
                if dup or src == dst:
                    c.execute(e.delete().where(e.c.id == r.id))
                else:
                    c.execute(update(e).where(e.c.id == r.id).values(
                        src_account_id=src, dst_account_id=dst, dedup_key=key))
            c.execute(update(S.posts).where(S.posts.c.account_id == sid).values(account_id=rid))
            c.execute(update(S.events).where(S.events.c.actor_id == sid).values(actor_id=rid))
            c.execute(a.delete().where(a.c.id == sid))
            merged += 1
    return merged
