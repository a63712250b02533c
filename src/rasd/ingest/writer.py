"""Batched, idempotent, historical writes of parsed records into the store.

One ``flush`` is one transaction: raw bytes, accounts, posts, their hashtags,
URLs, media and edges, events and compliance notices of a batch commit together
or not at all, so a crash loses at most the batch in flight and a re-run
completes the file (every write is an upsert keyed on (platform, platform id)).

How a record is counted:
- new: its key was not in the store;
- updated: the key was there with a different content hash (the old profile or
  text is kept in ``account_versions`` / ``post_versions``);
- unchanged: same key, same content hash. Re-ingesting a file changes nothing.
Referenced-only records (a retweeted original in ``includes``, a mentioned
account known only by id) are stored when new and never overwrite.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, and_, func, select, update

from rasd.model import (
    Account,
    Compliance,
    Event,
    Post,
    PostKind,
    Record,
)
from rasd.store import Store
from rasd.store import schema as S
from rasd.store.db import compress, now
from rasd.store.upsert import fast_insert, fast_select_in, fast_update, insert_ignore

IN_CHUNK = 900
CACHE_MAX = 400_000
PROFILE_FIELDS = ("handle", "name", "bio", "location", "url")
LINK_COLUMN = {PostKind.REPLY: "reply_to", PostKind.REPOST: "repost_of",
               PostKind.QUOTE: "quote_of", PostKind.FORWARD: "forward_of"}


def _hash(obj: Any) -> str:
    data = orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS,
                        default=str)
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def account_hash(a: Account) -> str:
    return _hash((a.handle, a.name, a.bio, a.created_at, a.kind, a.followers, a.following,
                  a.post_count, a.location, a.url, a.verified, a.extra))


def post_hash(p: Post) -> str:
    return _hash((p.account_id, p.text, p.created_at, p.kind, p.lang, p.conversation_id,
                  p.chat_id, p.edited_at, p.edit_of,
                  [(lk.kind, lk.target_post_id, lk.target_account_id, lk.target_account_name)
                   for lk in p.links],
                  p.mentions, p.hashtags, p.urls, [m.media_key for m in p.media],
                  p.metrics, p.withheld, p.extra))


def _utc_naive(dt: datetime) -> datetime:
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def is_older(new: datetime | None, current: datetime | None) -> bool:
    """True when ``new`` is known to be strictly earlier than ``current``."""
    if new is None or current is None:
        return False
    return _utc_naive(new) < _utc_naive(current)


def _chunks(seq: Sequence[Any], n: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


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


class Writer:
    """Buffers records and writes them in batches. Use as a context manager or
    call ``flush()`` at the end."""

    def __init__(self, store: Store, source_id: int, batch_size: int = 2000):
        self.store = store
        self.source_id = source_id
        self.batch_size = batch_size
        self.counts = Counts()
        self.acc_cache: dict[tuple[str, str], int] = {}
        # content hash of full profiles written or seen in this run: a profile
        # repeated on every page is recognised as unchanged without a query
        self.acc_hash: dict[tuple[str, str], str] = {}
        self.handle_cache: dict[tuple[str, str], int] = {}
        self.post_author: dict[tuple[str, str], int | None] = {}
        self.known_raw: set[str] = set()
        self._reset()

    def _reset(self) -> None:
        self.accounts: dict[tuple[str, str], Account] = {}
        self.posts: dict[tuple[str, str], Post] = {}
        self.events: dict[tuple[str, str], Event] = {}
        self.compliance: list[Compliance] = []
        self.raw: dict[str, tuple[str, bytes]] = {}

    def __len__(self) -> int:
        return len(self.accounts) + len(self.posts) + len(self.events) + len(self.compliance)

    def add(self, rec: Record) -> None:
        if isinstance(rec, Post):
            key = (rec.platform, rec.platform_id)
            old = self.posts.get(key)
            if old is None or (not rec.reference and (
                    old.reference or not is_older(rec.observed_at, old.observed_at))):
                self.posts[key] = rec
        elif isinstance(rec, Account):
            key = (rec.platform, rec.platform_id)
            old = self.accounts.get(key)
            if old is None or old.stub or (
                    not rec.stub and not is_older(rec.observed_at, old.observed_at)):
                self.accounts[key] = rec
        elif isinstance(rec, Event):
            self.events[(rec.platform, rec.platform_id)] = rec
        elif isinstance(rec, Compliance):
            self.compliance.append(rec)
        else:
            raise TypeError(f"cannot write {type(rec).__name__}")

    def add_raw(self, items: dict[str, tuple[str, bytes]]) -> None:
        self.raw.update(items)

    def full(self) -> bool:
        return len(self) >= self.batch_size

    # ------------------------------------------------------------------ flush
    def flush(self) -> None:
        if not len(self) and not self.raw:
            return
        ts = now()
        with self.store.write() as c:
            self._write_raw(c, ts)
            self._write_accounts(c, ts)
            new_posts = self._write_posts(c, ts)
            self._write_events(c, ts)
            self._write_compliance(c)
            self._write_children(c, new_posts, ts)
        self._reset()
        if len(self.acc_cache) > CACHE_MAX:
            self.acc_cache.clear()
            self.acc_hash.clear()
            self.handle_cache.clear()
        if len(self.post_author) > CACHE_MAX:
            self.post_author.clear()

    def _number(self, c: Connection, table: Any, rows: list[dict]) -> bool:
        """Give new rows their ids up front where the store holds the write lock
        for the whole batch (SQLite), which saves reading them back."""
        if not self.store.exclusive_writes or not rows:
            return False
        start = int(c.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1
        for i, r in enumerate(rows):
            r["id"] = start + i
        return True

    def _write_raw(self, c: Connection, ts: Any) -> None:
        """Store the batch's raw records; remember which were already stored.

        A record whose raw bytes are already in the store was ingested before:
        it has been applied, and re-applying it could only revert a newer copy
        (a file that holds two versions of a post, or an older export read again).
        """
        self.known_raw = set()
        if not self.raw:
            return
        keys = list(self.raw)
        rr = S.raw_records
        for chunk in _chunks(keys):
            self.known_raw.update(r[0] for r in c.execute(
                select(rr.c.sha256).where(rr.c.sha256.in_(chunk))))
        rows = [{"sha256": h, "fmt": fmt, "size": len(data), "data": compress(data),
                 "first_seen": ts} for h, (fmt, data) in self.raw.items()
                if h not in self.known_raw]
        fast_insert(c, S.raw_records, rows)

    def _applied_before(self, rec: Account | Post) -> bool:
        return rec.raw is not None and rec.raw.sha256 in self.known_raw

    # ---------------------------------------------------------------- accounts
    def _lookup_accounts(self, c: Connection, keys: Iterable[tuple[str, str]]
                         ) -> dict[tuple[str, str], tuple[int, str | None, Any]]:
        """(platform, platform_id) → (id, content_hash, stub) of stored accounts."""
        by_plat: dict[str, list[str]] = {}
        for plat, pid in keys:
            by_plat.setdefault(plat, []).append(pid)
        found: dict[tuple[str, str], tuple[int, str | None, Any]] = {}
        for plat, pids in by_plat.items():
            for chunk in _chunks(pids):
                for rid, pid, h, stub in fast_select_in(
                        c, S.accounts, ("id", "platform_id", "content_hash", "stub"),
                        ("platform", plat), "platform_id", list(chunk)):
                    found[(plat, pid)] = (rid, h, stub)
        return found

    def _full_accounts(self, c: Connection, keys: list[tuple[str, str]]) -> dict:
        """Stored profiles (for the history of those about to be updated)."""
        by_plat: dict[str, list[str]] = {}
        for plat, pid in keys:
            by_plat.setdefault(plat, []).append(pid)
        found: dict[tuple[str, str], Any] = {}
        a = S.accounts
        for plat, pids in by_plat.items():
            for chunk in _chunks(pids):
                q = select(a.c.id, a.c.platform_id, a.c.content_hash, a.c.stub, a.c.handle,
                           a.c.name, a.c.bio, a.c.location, a.c.url, a.c.raw_sha256,
                           a.c.observed_at,
                           ).where(a.c.platform == plat, a.c.platform_id.in_(chunk))
                for r in c.execute(q):
                    found[(plat, r.platform_id)] = r
        return found

    def _account_row(self, acc: Account, ts: Any, h: str | None = None) -> dict[str, Any]:
        return {
            "platform": acc.platform, "platform_id": acc.platform_id, "handle": acc.handle,
            "name": acc.name, "bio": acc.bio, "created_at": acc.created_at, "kind": acc.kind,
            "followers": acc.followers, "following": acc.following,
            "post_count": acc.post_count, "location": acc.location, "url": acc.url,
            "verified": acc.verified, "stub": acc.stub, "extra": acc.extra or None,
            "content_hash": None if acc.stub else (h or account_hash(acc)),
            "raw_sha256": acc.raw.sha256 if acc.raw else None,
            "raw_path": acc.raw.path if acc.raw else None,
            "source_id": self.source_id, "first_seen": ts, "last_seen": ts,
            "observed_at": acc.observed_at,
        }

    def _stub_refs(self) -> tuple[dict[tuple[str, str], Account], set[tuple[str, str]]]:
        """Accounts that the batch refers to without a profile: authors, link
        targets and mentions by id (stubs), and by handle or name only."""
        stubs: dict[tuple[str, str], Account] = {}
        names: set[tuple[str, str]] = set()

        accounts = self.accounts

        def by_id(plat: str, pid: str | None, handle: str | None = None) -> None:
            if pid and (plat, pid) not in accounts and (plat, pid) not in stubs:
                stubs[(plat, pid)] = Account(platform=plat, platform_id=pid, handle=handle,
                                             stub=True)

        for p in self.posts.values():
            if (p.platform, p.account_id) not in accounts:  # usually in the batch
                by_id(p.platform, p.account_id)
            for lk in p.links:
                if lk.target_account_id:
                    by_id(p.platform, lk.target_account_id, None)
                elif lk.target_account_name:
                    names.add((p.platform, lk.target_account_name))
            for mid, handle in p.mentions:
                if mid:
                    by_id(p.platform, mid, handle)
                elif handle:
                    names.add((p.platform, handle))
        for e in self.events.values():
            by_id(e.platform, e.actor_id)
        return stubs, names

    def _write_accounts(self, c: Connection, ts: Any) -> None:
        # each full profile of the batch is hashed once (a page repeats its users)
        hashes = {k: account_hash(acc) for k, acc in self.accounts.items() if not acc.stub}
        seen = [k for k, h in hashes.items() if self.acc_hash.get(k) == h and k in self.acc_cache]
        for key in seen:
            del self.accounts[key]
        self.counts.add("accounts", "unchanged", len(seen))
        stubs, names = self._stub_refs()
        # handle/name references: known handle → that account; else a stub "@name"
        self._resolve_names(c, names, stubs)
        wanted = list(self.accounts) + list(stubs)
        missing = [k for k in wanted if k not in self.acc_cache or k in self.accounts]
        existing = self._lookup_accounts(c, missing) if missing else {}
        inserts: list[dict] = []
        updates: list[dict] = []
        versions: list[dict] = []
        changed: list[tuple[tuple[str, str], Account]] = []  # stored full profile differs
        for key, acc in self.accounts.items():
            got = existing.get(key)
            if got is None:
                inserts.append(self._account_row(acc, ts, hashes.get(key)))
                if acc.stub:
                    self.counts.stubs += 1
                else:
                    self.counts.add("accounts", "new")
                continue
            rid, old_hash, old_stub = got
            self.acc_cache[key] = rid
            if acc.stub:
                continue  # a stub never overwrites
            h = hashes[key]
            if old_hash == h and not old_stub:
                self.counts.add("accounts", "unchanged")
                continue
            if old_stub:
                new = self._account_row(acc, ts, h)
                new.pop("first_seen")
                new["b_id"] = rid
                updates.append(new)
                self.counts.add("accounts", "new")
            else:
                changed.append((key, acc))
        full = self._full_accounts(c, [k for k, _ in changed]) if changed else {}
        for key, acc in changed:
            row = full[key]
            if is_older(acc.observed_at, row.observed_at) or self._applied_before(acc):
                # an older snapshot than the current view: it does not replace it
                self.counts.add("accounts", "unchanged")
                continue
            new = self._account_row(acc, ts, hashes[key])
            new.pop("first_seen")
            new["b_id"] = row.id
            updates.append(new)
            self.counts.add("accounts", "updated")
            if any(getattr(acc, f) != getattr(row, f) for f in PROFILE_FIELDS):
                versions.append({
                    "account_id": row.id, "handle": row.handle, "name": row.name,
                    "bio": row.bio, "content_hash": row.content_hash,
                    "snapshot": {"location": row.location, "url": row.url},
                    "raw_sha256": row.raw_sha256, "valid_until": ts})
        for key, acc in stubs.items():
            if key in self.acc_cache or key in existing:
                if key in existing:
                    self.acc_cache[key] = existing[key][0]
                continue
            inserts.append(self._account_row(acc, ts))
            self.counts.stubs += 1
        if inserts:
            uniq = {(r["platform"], r["platform_id"]): r for r in inserts}
            inserts = list(uniq.values())
            if self._number(c, S.accounts, inserts):
                fast_insert(c, S.accounts, inserts, ignore=False)
                for r in inserts:
                    self.acc_cache[(r["platform"], r["platform_id"])] = r["id"]
            else:
                fast_insert(c, S.accounts, inserts)
                got = self._lookup_accounts(c, list(uniq))
                for k, r in got.items():
                    self.acc_cache[k] = r[0]
        if updates:
            fast_update(c, S.accounts, updates)
        if versions:
            c.execute(S.account_versions.insert(), versions)
        for key in self.accounts:
            if key not in self.acc_cache:
                got = self._lookup_accounts(c, [key])
                if key in got:
                    self.acc_cache[key] = got[key][0]
        for key, acc in self.accounts.items():
            if acc.handle and key in self.acc_cache:
                self.handle_cache[(acc.platform, acc.handle.lower())] = self.acc_cache[key]
            if not acc.stub:
                self.acc_hash[key] = hashes[key]

    def _resolve_names(self, c: Connection, names: set[tuple[str, str]],
                       stubs: dict[tuple[str, str], Account]) -> None:
        for acc in self.accounts.values():  # profiles in this batch first
            if acc.handle and (acc.platform, acc.platform_id) in self.acc_cache:
                self.handle_cache[(acc.platform, acc.handle.lower())] = self.acc_cache[
                    (acc.platform, acc.platform_id)]
        todo = [(p, n) for p, n in names if (p, n.lower()) not in self.handle_cache]
        by_plat: dict[str, list[str]] = {}
        for p, n in todo:
            by_plat.setdefault(p, []).append(n)
        a = S.accounts
        for plat, ns in by_plat.items():
            for chunk in _chunks(sorted(set(ns))):
                q = select(a.c.id, a.c.handle).where(a.c.platform == plat, a.c.handle.in_(chunk),
                                                     ~a.c.platform_id.startswith("@"))
                for r in c.execute(q):
                    self.handle_cache.setdefault((plat, r.handle.lower()), r.id)
        batch_handles = {(x.platform, x.handle.lower()) for x in self.accounts.values()
                         if x.handle}
        for p, n in todo:
            if (p, n.lower()) in self.handle_cache or (p, n.lower()) in batch_handles:
                continue
            key = (p, "@" + n.lower()[:180])
            stubs.setdefault(key, Account(platform=p, platform_id=key[1], handle=n[:200],
                                          stub=True))

    def _account_id(self, plat: str, pid: str | None) -> int | None:
        return self.acc_cache.get((plat, pid)) if pid else None

    def _name_id(self, plat: str, name: str | None) -> int | None:
        if not name:
            return None
        # every profile of the batch is in handle_cache once its accounts are written
        got = self.handle_cache.get((plat, name.lower()))
        if got is None:
            got = self.acc_cache.get((plat, "@" + name.lower()[:180]))
        return got

    # ------------------------------------------------------------------- posts
    def _post_row(self, p: Post, ts: Any, h: str | None = None) -> dict[str, Any]:
        row = {
            "platform": p.platform, "platform_id": p.platform_id,
            "account_id": self.acc_cache.get((p.platform, p.account_id)) if p.account_id
            else None, "chat_id": p.chat_id,
            "kind": str(p.kind), "text": p.text, "lang": p.lang, "created_at": p.created_at,
            "conversation_id": p.conversation_id, "reply_to": None, "repost_of": None,
            "quote_of": None, "forward_of": None, "edited_at": p.edited_at,
            "edit_of": p.edit_of, "metrics": p.metrics or None, "withheld": p.withheld,
            "extra": p.extra or None, "content_hash": h or post_hash(p),
            "raw_sha256": p.raw.sha256 if p.raw else None,
            "raw_path": p.raw.path if p.raw else (
                f"line {p.raw.line}" if p.raw and p.raw.line else None),
            "source_id": self.source_id, "first_seen": ts, "last_seen": ts,
            "observed_at": p.observed_at,
        }
        for lk in p.links:
            col = LINK_COLUMN.get(PostKind(lk.kind))
            if col:
                row[col] = (lk.target_post_id or lk.target_account_id
                            or lk.target_account_name)
        return row

    def _write_posts(self, c: Connection, ts: Any) -> list[tuple[int, Post]]:
        """Insert/update posts; return (id, post) for new and updated ones."""
        t = S.posts
        # (id, content_hash) of stored posts; full old rows only for those that change
        existing: dict[tuple[str, str], tuple[int, str | None]] = {}
        by_plat: dict[str, list[str]] = {}
        for plat, pid in self.posts:
            by_plat.setdefault(plat, []).append(pid)
        for plat, pids in by_plat.items():
            for chunk in _chunks(pids):
                for rid, pid, h in fast_select_in(c, t, ("id", "platform_id", "content_hash"),
                                                  ("platform", plat), "platform_id", list(chunk)):
                    existing[(plat, pid)] = (rid, h)
        inserts, updates, versions = [], [], []
        changed: list[tuple[tuple[str, str], Post]] = []
        modified: list[tuple[tuple[str, str], Post]] = []
        for key, p in self.posts.items():
            got = existing.get(key)
            if got is None:
                inserts.append(self._post_row(p, ts))
                changed.append((key, p))
                continue
            if p.reference:
                self.counts.add("posts", "unchanged")
                continue
            h = post_hash(p)
            if got[1] == h:
                self.counts.add("posts", "unchanged")
                continue
            modified.append((key, p))
        old_rows: dict[tuple[str, str], Any] = {}
        for plat in {k[0] for k, _ in modified}:
            for chunk in _chunks([k[1] for k, _ in modified if k[0] == plat]):
                for r in c.execute(select(t.c.id, t.c.platform_id, t.c.content_hash, t.c.text,
                                          t.c.edited_at, t.c.raw_sha256, t.c.observed_at).where(
                        t.c.platform == plat, t.c.platform_id.in_(chunk))):
                    old_rows[(plat, r.platform_id)] = r
        for key, p in modified:
            row = old_rows[key]
            if is_older(p.observed_at, row.observed_at) or self._applied_before(p) or (
                    row.edited_at is not None and (p.edited_at is None
                                                   or is_older(p.edited_at, row.edited_at))):
                # an older copy (earlier crawl, or the text before an edit we hold)
                self.counts.add("posts", "unchanged")
                continue
            new = self._post_row(p, ts, post_hash(p))
            new.pop("first_seen")
            new["b_id"] = row.id
            updates.append(new)
            changed.append((key, p))
            self.counts.add("posts", "updated")
            if row.text != p.text or (p.edited_at and row.edited_at != p.edited_at):
                versions.append({"post_id": row.id, "text": row.text, "edited_at": row.edited_at,
                                 "content_hash": row.content_hash, "raw_sha256": row.raw_sha256,
                                 "valid_until": ts})
        self.counts.add("posts", "new", len(inserts))
        numbered = self._number(c, t, inserts)
        if inserts:
            fast_insert(c, t, inserts, ignore=not numbered)
        if updates:
            fast_update(c, t, updates)
        if versions:
            c.execute(S.post_versions.insert(), versions)
        ids: dict[tuple[str, str], int] = {k: r[0] for k, r in existing.items()}
        if numbered:
            ids.update(((r["platform"], r["platform_id"]), r["id"]) for r in inserts)
        new_keys = [k for k, _ in changed if k not in ids]
        by_plat = {}
        for plat, pid in new_keys:
            by_plat.setdefault(plat, []).append(pid)
        for plat, pids in by_plat.items():
            for chunk in _chunks(pids):
                for r in c.execute(select(t.c.id, t.c.platform_id).where(
                        t.c.platform == plat, t.c.platform_id.in_(chunk))):
                    ids[(plat, r.platform_id)] = r.id
        acc_cache, post_author = self.acc_cache, self.post_author
        for key, p in self.posts.items():
            post_author[key] = acc_cache.get((p.platform, p.account_id)) if p.account_id else None
        return [(ids[k], p) for k, p in changed if k in ids]

    def _target_authors(self, c: Connection, posts: list[tuple[int, Post]]) -> None:
        """Fill ``post_author`` for link targets named only by post id."""
        need = {(p.platform, lk.target_post_id) for _, p in posts for lk in p.links
                if lk.target_post_id and not lk.target_account_id
                and (p.platform, lk.target_post_id) not in self.post_author}
        by_plat: dict[str, list[str]] = {}
        for plat, pid in need:
            by_plat.setdefault(plat, []).append(pid)
        t = S.posts
        for plat, pids in by_plat.items():
            for chunk in _chunks(pids):
                for r in c.execute(select(t.c.platform_id, t.c.account_id).where(
                        t.c.platform == plat, t.c.platform_id.in_(chunk))):
                    self.post_author[(plat, r.platform_id)] = r.account_id

    def _write_children(self, c: Connection, posts: list[tuple[int, Post]], ts: Any) -> None:
        if not posts:
            return
        self._target_authors(c, posts)
        tags, urls, edges, media_rows, pm_pairs = [], [], [], {}, []
        for pid, p in posts:
            for tag in {h.casefold()[:300] for h in p.hashtags if h}:
                tags.append({"post_id": pid, "tag": tag})
            for u in dict.fromkeys(p.urls):
                urls.append({"post_id": pid, "url": u[:2000]})
            for m in p.media:
                media_rows[(m.platform, m.media_key)] = {
                    "platform": m.platform, "media_key": m.media_key, "type": m.type,
                    "url": m.url, "local_path": m.local_path, "mime_type": m.mime_type,
                    "width": m.width, "height": m.height, "duration_ms": m.duration_ms,
                    "extra": m.extra or None, "first_seen": ts}
                pm_pairs.append((pid, (m.platform, m.media_key)))
            src = self._account_id(p.platform, p.account_id)
            if src is None:
                continue
            for lk in p.links:
                dst = (self._account_id(p.platform, lk.target_account_id)
                       or self._name_id(p.platform, lk.target_account_name))
                if dst is None and lk.target_post_id:
                    dst = self.post_author.get((p.platform, lk.target_post_id))
                if dst is not None and dst != src:
                    edges.append(self._edge(p, PostKind(lk.kind).value, src, dst, pid))
            for mid, handle in p.mentions:
                dst = self._account_id(p.platform, mid) if mid else self._name_id(
                    p.platform, handle)
                if dst is not None and dst != src:
                    edges.append(self._edge(p, "mention", src, dst, pid))
        if tags:
            fast_insert(c, S.hashtags, tags)
        if urls:
            fast_insert(c, S.urls, urls)
        if media_rows:
            fast_insert(c, S.media, list(media_rows.values()))
            mid_of: dict[tuple[str, str], int] = {}
            by_plat: dict[str, list[str]] = {}
            for plat, key in media_rows:
                by_plat.setdefault(plat, []).append(key)
            m = S.media
            for plat, keys in by_plat.items():
                for chunk in _chunks(keys):
                    for r in c.execute(select(m.c.id, m.c.media_key, m.c.local_path).where(
                            m.c.platform == plat, m.c.media_key.in_(chunk))):
                        mid_of[(plat, r.media_key)] = r.id
                        new_local = media_rows[(plat, r.media_key)]["local_path"]
                        if new_local and r.local_path != new_local:
                            c.execute(update(m).where(m.c.id == r.id).values(local_path=new_local))
            pm = [{"post_id": pid, "media_id": mid_of[k]} for pid, k in pm_pairs if k in mid_of]
            if pm:
                fast_insert(c, S.post_media, pm)
        if edges:
            uniq = {e["dedup_key"]: e for e in edges}
            fast_insert(c, S.edges, list(uniq.values()))

    @staticmethod
    def _edge(p: Post, kind: str, src: int, dst: int, post_id: int) -> dict[str, Any]:
        return {"platform": p.platform, "kind": kind, "src_account_id": src,
                "dst_account_id": dst, "post_id": post_id, "created_at": p.created_at,
                "dedup_key": f"{kind}:{src}:{dst}:{post_id}"}

    # ---------------------------------------------------------- events, notices
    def _write_events(self, c: Connection, ts: Any) -> None:
        if not self.events:
            return
        e = S.events
        keys = list(self.events)
        have: set[tuple[str, str]] = set()
        for plat in {k[0] for k in keys}:
            for chunk in _chunks([k[1] for k in keys if k[0] == plat]):
                for r in c.execute(select(e.c.platform_id).where(
                        e.c.platform == plat, e.c.platform_id.in_(chunk))):
                    have.add((plat, r.platform_id))
        rows = []
        for key, ev in self.events.items():
            if key in have:
                self.counts.add("events", "unchanged")
                continue
            self.counts.add("events", "new")
            rows.append({"platform": ev.platform, "platform_id": ev.platform_id,
                         "chat_id": ev.chat_id, "actor_id": self._account_id(ev.platform,
                                                                              ev.actor_id),
                         "action": ev.action, "at": ev.at, "extra": ev.extra or None,
                         "raw_sha256": ev.raw.sha256 if ev.raw else None,
                         "raw_path": ev.raw.path if ev.raw else None,
                         "source_id": self.source_id})
        if rows:
            c.execute(insert_ignore(c, e), rows)

    def _write_compliance(self, c: Connection) -> None:
        if not self.compliance:
            return
        rows = {}
        for n in self.compliance:
            key = f"{n.platform}:{n.subject_type}:{n.platform_id}:{n.action}:{n.at}"[:400]
            rows[key] = {"platform": n.platform, "subject_type": n.subject_type,
                         "platform_id": n.platform_id, "action": n.action, "reason": n.reason,
                         "at": n.at, "raw_sha256": n.raw.sha256 if n.raw else None,
                         "dedup_key": key}
        ce = S.compliance_events
        have = set()
        for chunk in _chunks(list(rows)):
            have.update(r[0] for r in c.execute(select(ce.c.dedup_key).where(
                ce.c.dedup_key.in_(chunk))))
        fresh = [r for k, r in rows.items() if k not in have]
        self.counts.add("compliance", "new", len(fresh))
        self.counts.add("compliance", "unchanged", len(rows) - len(fresh))
        if fresh:
            c.execute(insert_ignore(c, ce), fresh)
            t = S.posts
            for r in fresh:
                if r["subject_type"] == "post" and r["action"] in ("delete", "unavailable"):
                    c.execute(update(t).where(and_(
                        t.c.platform == r["platform"], t.c.platform_id == r["platform_id"],
                        t.c.deleted_at.is_(None))).values(deleted_at=r["at"] or now()))


def merge_name_stubs(store: Store) -> int:
    """Fold "@handle" stubs into the real account with that handle, once known.

    A forward or mention can name an account before its profile is ingested;
    the placeholder is then merged: its edges and posts move to the real account.
    """
    a = S.accounts
    merged = 0
    with store.begin() as c:
        stubs = c.execute(select(a.c.id, a.c.platform, a.c.platform_id).where(
            a.c.platform_id.startswith("@"))).all()
        for sid, plat, spid in stubs:
            handle = spid[1:]
            real = c.execute(select(a.c.id).where(
                a.c.platform == plat, func.lower(a.c.handle) == handle,
                ~a.c.platform_id.startswith("@")).order_by(a.c.stub, a.c.id).limit(1)).first()
            if real is None:
                continue
            rid = real[0]
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
