"""Near-duplicate text clusters (copypasta campaigns) with MinHash LSH.

Method
1. The posts are read in id order, a page of ``PAGE`` at a time, each with its cached
   signature (``post_minhash``, for these MinHash parameters). Each post's text is
   normalised (``signals.minhash.normalize_text``: NFKC, case-fold, URLs/@mentions/
   diacritics/punctuation dropped) and cut into character 5-grams; reposts, forwards
   and service messages are left out (they copy by design; the network stage counts
   those), as are texts shorter than ``min_chars``.
2. Posts with the same normalised text share one MinHash (128 permutations): the
   cached one of the first of them that has it, or hashed as the text is first met.
   The signatures hashed are stored as each page ends, a page to a transaction, so a
   re-run (or the next run after a kill) only hashes new or edited posts.
3. MinHash LSH proposes candidate pairs at Jaccard ≥ ``threshold``: texts with equal
   values in one of datasketch's bands for that threshold (its ``MinHashLSH`` would
   propose the same pairs; here each band is sorted in numpy instead of kept in
   dicts). Each pair is verified on the estimated Jaccard, and verified pairs are
   joined with union-find into clusters. A bucket of more than ``SPLIT_AT`` texts is
   first split by groups of its other columns (exact: ``_groups``), so posts made to
   share one band and nothing else are not compared pair by pair; a bucket compares
   at most ``PAIRS_PER_TEXT`` pairs a text, and one that stops there (near misses
   made to share a band) is counted in the report and warned of.
   Such a bucket is not verified in the order its texts were posted, which whoever
   posts them chooses: thousands of near misses posted first would spend the limit,
   and near-duplicates posted after them would never be compared with each other.
   Its texts are taken in the order of a keyed hash of their signature
   (``_keyed_rank``), and what is verified first is what near-duplicates have and
   filler does not. Split, its sub-buckets go the smallest first. Where the split
   saves nothing (near misses), its sub-buckets of at most ``SPLIT_AT`` texts go
   first — near-duplicates are equal in some group, usually in values of their own
   (words the bucket's other texts lack), while texts made to share a band share its
   usual values and fill a few big sub-buckets — then the whole bucket in one pass,
   one representative of each set of more than one text in it first (the largest
   sets first), so that every text of the bucket is compared with the clusters
   already formed before the limit is spent on the rest. The work stays
   ``PAIRS_PER_TEXT`` comparisons a text, plus a sort of the bucket per group. What
   can still hide: a pair alike only in values that many texts of the bucket share
   in every group where the two are equal (over ``SPLIT_AT``, or ~51 at 0.7 — as
   many as ``2 × PAIRS_PER_TEXT / groups`` a sub-bucket can spend the limit: posts
   written to match theirs), in no cluster yet, and late in the keyed order (the
   key is fixed, so that builds are reproducible, and public). The report counts
   what is left.
4. Clusters with at least ``min_size`` posts are stored (``text_clusters`` /
   ``text_cluster_members``), replacing the previous run in one transaction: size,
   distinct accounts, first/last time, the earliest post as representative (its text
   read back as it is stored) and each member's estimated similarity to it. The
   network stage reads them for co-similarity edges; the console shows "posted by N
   accounts".

Memory: one 128 × uint32 signature per distinct normalised text and its md5, one LSH
band at a time, ~28 bytes a post (id, text index, account, time) and one page of texts
— not the texts of the store: a crawl of millions of posts clusters in a few hundred
MB (``benchmarks/clusters.py``).

Union-find chains: A~B and B~C put A and C together even if A and C differ more; the
stored per-member similarity shows how far each member is from the representative.
"""

from __future__ import annotations

import hashlib
import logging
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import and_, func, select

from rasd.accounts.listing import account_ref
from rasd.detect.media import schema as M
from rasd.detect.media.signals.minhash import NUM_PERM, SEED, SHINGLE, minhash_of, normalize_text
from rasd.store import Store
from rasd.store import schema as S
from rasd.store.db import now
from rasd.store.upsert import insert_ignore

log = logging.getLogger(__name__)


def _scheme() -> str | None:
    """datasketch ≥ 2 names its hashing scheme; signatures of different schemes must
    not be mixed, so the scheme is part of the cache key."""
    from datasketch import MinHash

    return getattr(MinHash(num_perm=NUM_PERM, seed=SEED), "scheme", None)


PARAMS = f"c{SHINGLE}:{NUM_PERM}:{SEED}:{_scheme() or 'v1'}"[:40]
SKIP_KINDS = ("repost", "forward", "service")


@dataclass
class ClusterReport:
    posts_considered: int = 0
    distinct_texts: int = 0
    hashed: int = 0
    clusters: int = 0
    clustered_posts: int = 0
    largest: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    # LSH buckets that reached their limit of pairs compared (PAIRS_PER_TEXT a text),
    # and the pairs of different sets they left unverified: at least every such pair
    # never compared, at most the bucket's pairs (a pair left in several sub-buckets,
    # or compared in one and left in another, may be counted: an upper bound)
    capped_buckets: int = 0
    unverified_pairs: int = 0


# posts read per query (a keyset page: ids after the last one read); the new
# signatures of a page are stored in one transaction before the next page is read
PAGE = 2000
# distinct texts per block of the in-memory signature table (grown a block at a time,
# never copied whole)
SIG_BLOCK = 1 << 16
# clusters whose representative texts are fetched in one query as they are stored
STORE_CHUNK = 500
_NONE = np.iinfo(np.int64).max  # a missing account id or time in the per-post arrays
# an LSH bucket of more texts is first split by groups of its other columns (exact)
SPLIT_AT = 64
# the pairs an LSH bucket may compare, per text in it: a bucket of up to 2 × this + 1
# texts is always verified whole; a larger one (posts made to share a band without
# being alike, or much shared boilerplate) stops there, its pairs left counted
PAIRS_PER_TEXT = 1000
# the key of the hash that orders the texts of such a bucket (``_capped_parts``): a
# fixed one, so that a build is reproducible; it is no secret, and need not be
ORDER_KEY = b"rasd.textdup.order"


class _Signatures:
    """One 128 × uint32 MinHash per distinct normalised text, in blocks of
    ``SIG_BLOCK`` rows: the table grows without a copy of what it holds (a doubled
    array would need three times its size while it grows)."""

    def __init__(self) -> None:
        self.blocks: list[np.ndarray] = []
        self.n = 0

    def add(self, sig: np.ndarray) -> int:
        if self.n % SIG_BLOCK == 0:
            self.blocks.append(np.empty((SIG_BLOCK, NUM_PERM), dtype="<u4"))
        d = self.n
        self.blocks[-1][d % SIG_BLOCK] = sig
        self.n += 1
        return d

    def get(self, d: int) -> np.ndarray:
        return self.blocks[d // SIG_BLOCK][d % SIG_BLOCK]

    def set(self, d: int, sig: np.ndarray) -> None:
        self.blocks[d // SIG_BLOCK][d % SIG_BLOCK] = sig

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """The signatures of the texts ``idx`` (a copy, in that order)."""
        if len(self.blocks) == 1:
            return self.blocks[0][idx]
        out = np.empty((len(idx), NUM_PERM), dtype="<u4")
        hi, lo = np.divmod(idx, SIG_BLOCK)
        for b in np.unique(hi):
            sel = hi == b
            out[sel] = self.blocks[b][lo[sel]]
        return out

    def band(self, start: int, end: int) -> np.ndarray:
        """Columns ``start:end`` of every signature (one LSH band), contiguous."""
        parts = [b[:self.n - i * SIG_BLOCK, start:end] for i, b in enumerate(self.blocks)]
        return np.concatenate(parts) if parts else np.empty((0, end - start), dtype="<u4")


@dataclass
class _Posts:
    """What the later stages need of each post considered, in id order, ~28 bytes a
    post (the texts are not kept: the representative's is fetched when stored)."""

    ids: array = field(default_factory=lambda: array("q"))
    text: array = field(default_factory=lambda: array("i"))  # distinct-text index
    account: array = field(default_factory=lambda: array("q"))  # _NONE: none
    created: array = field(default_factory=lambda: array("q"))  # µs since EPOCH; _NONE
    tz: Any = None  # the tzinfo the store gives times (None: naive, as SQLite's)
    tz_seen: bool = False

    def add(self, pid: int, d: int, account: int | None, created: datetime | None) -> None:
        self.ids.append(pid)
        self.text.append(d)
        self.account.append(_NONE if account is None else account)
        if created is None:
            self.created.append(_NONE)
            return
        if not self.tz_seen:
            self.tz, self.tz_seen = created.tzinfo, True
        self.created.append((created - _epoch(created.tzinfo)) // timedelta(microseconds=1))

    def time(self, us: int) -> datetime:
        t = _epoch(self.tz) + timedelta(microseconds=us)
        return t.astimezone(self.tz) if self.tz is not None else t


def _epoch(tz: Any) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) if tz is not None else datetime(1970, 1, 1)


def _find(parent: array, x: int) -> int:
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        parent[x], x = root, parent[x]
    return root


def _union(parent: array, a: int, b: int) -> int:
    """Join the sets of ``a`` and ``b``; the smaller root (first text seen) leads."""
    ra, rb = _find(parent, a), _find(parent, b)
    if ra != rb:
        parent[max(ra, rb)] = min(ra, rb)
    return min(ra, rb)


def _similarities(sigs: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Estimated Jaccard of each row of ``sigs`` to ``ref``: the share of equal
    MinHash values (a count over 128: exact in a float)."""
    return np.count_nonzero(sigs == ref, axis=1) / NUM_PERM


def _considered(since: datetime | None) -> Any:
    """The posts a build considers (before the length of their normalised text)."""
    p = S.posts
    cond = and_(p.c.text.is_not(None), p.c.kind.not_in(SKIP_KINDS), p.c.deleted_at.is_(None))
    return cond if since is None else and_(cond, p.c.created_at >= since)


def _posts_query(since: datetime | None) -> Any:
    """The posts considered, each with its cached signature if it has one for these
    parameters (LEFT JOIN: None otherwise), to be read a keyset page at a time."""
    p, h = S.posts, M.post_minhash
    return (select(p.c.id, p.c.text, p.c.account_id, p.c.created_at, h.c.text_key,
                   h.c.signature)
            .select_from(p.outerjoin(h, and_(h.c.post_id == p.c.id, h.c.params == PARAMS)))
            .where(_considered(since)))


def _count_posts(store: Store, since: datetime | None) -> int:
    """How many posts the progress bar's first stage goes through."""
    with store.connect() as c:
        return int(c.execute(select(func.count()).select_from(S.posts)
                             .where(_considered(since))).scalar_one())


def _store_signatures(store: Store, rows: list[dict[str, Any]]) -> None:
    """Replace the cached signatures of these posts, in one transaction: a build
    killed meanwhile leaves the cache as it was before the page or after it."""
    with store.begin() as c:
        ids = [r["post_id"] for r in rows]
        for s in range(0, len(ids), 900):
            c.execute(M.post_minhash.delete().where(
                M.post_minhash.c.post_id.in_(ids[s:s + 900])))
        for s in range(0, len(rows), 2000):
            c.execute(insert_ignore(c, M.post_minhash), rows[s:s + 2000])


def _read_posts(store: Store, rep: ClusterReport, *, min_chars: int,
                since: datetime | None,
                progress: Callable[[str, int, int], None] | None
                ) -> tuple[_Posts, _Signatures]:
    """Stage 1–2: every post considered, in id order, a page at a time; a text not
    seen before gets its signature from the cache (the first post of its text that
    has one, as before) or hashed at once; new signatures are stored page by page."""
    posts, sigs = _Posts(), _Signatures()
    index: dict[bytes, int] = {}  # md5 of the normalised text -> distinct-text index
    fresh = bytearray()  # per distinct text: hashed here, no post had it cached
    q = _posts_query(since)
    total = _count_posts(store, since) if progress else 0
    last, done = 0, 0
    while True:
        with store.connect() as c:
            page = c.execute(q.where(S.posts.c.id > last).order_by(S.posts.c.id)
                             .limit(PAGE)).all()
        if not page:
            break
        last = page[-1][0]
        done += len(page)
        new_rows: list[dict[str, Any]] = []
        for pid, text, acc, created, ckey, csig in page:
            norm = normalize_text(text)
            if len(norm) < min_chars:
                continue
            digest = hashlib.md5(norm.encode(), usedforsecurity=False).digest()
            key = digest.hex()
            cached = (np.frombuffer(csig, dtype="<u4") if ckey == key and csig is not None
                      and len(csig) == NUM_PERM * 4 else None)
            d = index.get(digest)
            if d is None:
                if cached is None:
                    hv = np.asarray(minhash_of(norm).hashvalues, dtype="<u4")
                else:
                    hv = cached
                d = index[digest] = sigs.add(hv)
                fresh.append(cached is None)
            elif cached is not None and fresh[d]:
                sigs.set(d, cached)  # a later post of the text had it cached
                fresh[d] = False
            if cached is None:
                new_rows.append({"post_id": pid, "params": PARAMS, "text_key": key,
                                 "signature": sigs.get(d).tobytes()})
            posts.add(pid, d, acc, created)
        if new_rows:
            _store_signatures(store, new_rows)
        if progress:
            progress("minhash", done, max(total, done))
    rep.posts_considered = len(posts.ids)
    rep.distinct_texts = len(index)
    rep.hashed = sum(fresh)
    return posts, sigs


def _join_similar(sigs: _Signatures, threshold: float,
                  progress: Callable[[str, int, int], None] | None,
                  rep: ClusterReport | None = None) -> np.ndarray:
    """Stage 3: LSH over the signatures, band by band (datasketch's bands for this
    threshold: the same candidate pairs as its ``MinHashLSH``), each candidate pair
    verified at estimated Jaccard ≥ ``threshold`` and joined (union-find). A pair
    already joined through others is not compared: it would change nothing. A bucket
    of more than ``SPLIT_AT`` texts is split first (``_groups``: exact), and verifies
    at most ``PAIRS_PER_TEXT`` pairs a text (a hostile bucket: counted in ``rep``).
    Returns each text's set as the index of its first text."""
    from datasketch import MinHashLSH

    # LSH proposes candidates (it needs ≥ 2 bands, so at most 0.95); pairs are verified
    lsh = MinHashLSH(threshold=min(threshold, 0.95), num_perm=NUM_PERM)
    n = sigs.n
    parent = array("q", range(n))
    rep = rep if rep is not None else ClusterReport()
    for i in range(lsh.b):
        band = sigs.band(i * lsh.r, (i + 1) * lsh.r)
        _, inverse, counts = np.unique(band, axis=0, return_inverse=True,
                                       return_counts=True)
        del band
        inverse = inverse.reshape(-1)
        order = np.argsort(inverse, kind="stable")  # each bucket's texts in index order
        ends = np.cumsum(counts)
        groups = _groups(i * lsh.r, (i + 1) * lsh.r, threshold)
        for b in np.nonzero(counts > 1)[0]:
            _join_bucket(sigs, parent, order[ends[b] - counts[b]:ends[b]], threshold,
                         groups, rep)
        if progress:
            progress("lsh", i + 1, lsh.b)
    return np.fromiter((_find(parent, d) for d in range(n)), dtype=np.int64, count=n)


def _groups(start: int, end: int, threshold: float) -> list[np.ndarray]:
    """The columns outside the band ``start:end``, in groups such that two texts of
    one bucket of that band whose estimated Jaccard reaches ``threshold`` are equal
    in every column of at least one group (pigeonhole: they may differ in at most
    ``NUM_PERM - need`` columns, and there is one group more than that). Empty where
    the groups would be empty columns (a low threshold)."""
    need = next(c for c in range(NUM_PERM + 1) if c / NUM_PERM >= threshold)
    others = np.r_[0:start, end:NUM_PERM]
    parts = NUM_PERM - need + 1
    return [] if parts > len(others) else np.array_split(others, parts)


def _join_bucket(sigs: _Signatures, parent: array, members: np.ndarray,
                 threshold: float, groups: list[np.ndarray] | None = None,
                 rep: ClusterReport | None = None) -> None:
    """Join the texts of one LSH bucket whose estimated Jaccard reaches ``threshold``,
    comparing a text only with the later ones not yet in its set.

    A bucket of more than ``SPLIT_AT`` texts is split by each of ``groups`` (texts
    equal in the group's columns) where its sub-buckets hold fewer pairs than it
    does, and each sub-bucket is verified instead: the same sets (any pair similar
    enough is in one sub-bucket), without comparing texts that share only the band —
    posts made to share a band and nothing else (a hostile bucket) cost a sort. At
    most ``PAIRS_PER_TEXT`` × the bucket's texts pairs are compared.

    A bucket with more pairs than that may stop there; it is verified in an order
    the order of its posts does not choose (``_keyed_rank``). Split, its sub-buckets
    the smallest first (``_capped_parts``); where the split saves nothing, its
    sub-buckets of at most ``SPLIT_AT`` texts, then the whole bucket in one pass,
    the representatives of its sets of more than one text first (``_whole_order``).
    The pairs left unverified when the limit is reached are counted in ``rep``."""
    rep = rep if rep is not None else ClusterReport()
    if len(members) == 2:
        a, b = int(members[0]), int(members[1])
        if _find(parent, a) != _find(parent, b) and \
                np.count_nonzero(sigs.get(a) == sigs.get(b)) / NUM_PERM >= threshold:
            _union(parent, a, b)
        return
    rows = sigs.rows(members)
    label = np.array([_find(parent, int(d)) for d in members], dtype=np.int64)
    k = len(members)
    budget = [PAIRS_PER_TEXT * k]
    may_cap = k * (k - 1) // 2 > budget[0]  # comparing every pair passes the limit
    split = k > SPLIT_AT and bool(groups)
    subs = _sub_buckets(rows, groups) if split and groups else []
    if split and sum(len(s) * (len(s) - 1) for s in subs) < k * (k - 1):
        parts, whole = subs, False  # the same sets as every pair, fewer pairs
    else:
        # the whole bucket; where it may stop, the split's small sub-buckets first
        parts, whole = [s for s in subs if len(s) <= SPLIT_AT] if may_cap else [], True
    if not may_cap:  # within the limit: every pair is compared
        for at in parts if not whole else [np.arange(k)]:
            _verify(parent, members, rows, label, at, threshold, budget)
        return
    rank = _keyed_rank(rows)
    left = [r for at in _capped_parts(rank, parts)
            if len(r := _verify(parent, members, rows, label, at, threshold, budget))]
    if whole:
        # then the whole bucket, its clusters' representatives first: every pair not
        # compared in this pass is among the texts it left
        rest = _verify(parent, members, rows, label, _whole_order(rank, label),
                       threshold, budget)
        unverified = _apart(label[rest])
    elif left:
        # as the bucket ends (pairs since joined through other parts are not left):
        # the pairs of different sets left in each part, or, where fewer, those among
        # all the texts left in some part (a pair left in several parts counts once
        # for each)
        unverified = min(sum(_apart(label[rest]) for rest in left),
                         _apart(label[np.unique(np.concatenate(left))]))
    else:
        unverified = 0
    if unverified:
        rep.capped_buckets += 1
        rep.unverified_pairs += unverified


def _apart(labels: np.ndarray) -> int:
    """The pairs of texts of these sets (one label a text) that are in different sets."""
    _, counts = np.unique(labels, return_counts=True)
    return (len(labels) * (len(labels) - 1) - int(np.sum(counts * (counts - 1)))) // 2


def _sub_buckets(rows: np.ndarray, groups: list[np.ndarray]) -> list[np.ndarray]:
    """For each group of columns, the sets of ≥ 2 of ``rows`` equal in its columns
    (positions, in index order)."""
    subs = []
    for cols in groups:
        # the group's values mixed into one key (a 1-D sort, not np.unique's row
        # sort): texts of unequal values may share a key, never the other way
        key = np.zeros(len(rows), dtype=np.uint64)
        for c in cols:
            key = key * np.uint64(0x9E3779B97F4A7C15) + rows[:, c]
        _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        order = np.argsort(inverse, kind="stable")
        ends = np.cumsum(counts)
        subs += [order[ends[s] - counts[s]:ends[s]] for s in np.nonzero(counts > 1)[0]]
    return subs


def _keyed_rank(rows: np.ndarray) -> np.ndarray:
    """A keyed BLAKE2b of each signature (``ORDER_KEY``): the order in which a bucket
    that may reach its limit is verified, chosen by the texts alone — not by the
    order they were posted in, which whoever posts them chooses."""
    return np.fromiter((int.from_bytes(hashlib.blake2b(r.tobytes(), digest_size=8,
                                                       key=ORDER_KEY).digest(), "little")
                        for r in rows), dtype=np.uint64, count=len(rows))


def _capped_parts(rank: np.ndarray, parts: list[np.ndarray]) -> list[np.ndarray]:
    """The sub-buckets of a bucket that may reach its limit, in the order to verify
    them: the smallest first (the same one from several groups once) — the pairs that
    share values few others have, as near-duplicates do and posts made to share a
    band mostly do not, are compared before the big parts of texts sharing the usual
    values — each one's texts in ``rank`` order (ties: index order)."""
    seen: set[bytes] = set()
    out = []
    for at in sorted(parts, key=len):  # stable: the groups' order among equal sizes
        b = at.tobytes()
        if b not in seen:
            seen.add(b)
            out.append(at[np.argsort(rank[at], kind="stable")])
    return out


def _whole_order(rank: np.ndarray, label: np.ndarray) -> np.ndarray:
    """The order of a pass over a whole bucket that may reach its limit: first one
    text of each set with more than one text in the bucket (its representative: the
    first in ``rank``), the largest sets first, then the other texts in ``rank``
    order. Each text is compared with the later ones, so until the limit every text
    is compared with the representatives of the clusters formed so far."""
    by_rank = np.argsort(rank, kind="stable")
    _, first, inverse, counts = np.unique(label[by_rank], return_index=True,
                                          return_inverse=True, return_counts=True)
    reps = np.sort(first[counts > 1])  # each set's first text (its place in by_rank)
    reps = reps[np.argsort(-counts[inverse[reps]], kind="stable")]  # ties: rank order
    rest = np.ones(len(rank), dtype=bool)
    rest[reps] = False
    return np.concatenate([by_rank[reps], by_rank[rest]])


def _verify(parent: array, members: np.ndarray, rows: np.ndarray, label: np.ndarray,
            at: np.ndarray, threshold: float, budget: list[int]) -> np.ndarray:
    """Compare each text of ``at`` (positions in the bucket, in the order to verify
    them) with the later ones not in its set, and join those similar enough; each
    comparison is taken from ``budget``. Returns the texts whose pairs among
    themselves were left unverified once it is spent (empty: none)."""
    if not np.any(label[at] != label[at[0]]):
        return at[:0]  # one set already
    # the part's signatures in its order, once (a view where it is a run of the
    # bucket's): the later texts of a part with none joined yet are a slice, no copy
    run = at[-1] - at[0] + 1 == len(at) and bool(np.all(at[1:] > at[:-1]))
    part = rows[at[0]:at[-1] + 1] if run else rows[at]
    for n, i in enumerate(at[:-1]):
        later = at[n + 1:]
        differ = label[later] != label[i]
        count = int(np.count_nonzero(differ))
        if not count:
            continue
        if count > budget[0]:
            return at[n:]
        budget[0] -= count
        cand = part[n + 1:] if count == len(later) else part[n + 1:][differ]
        for j in later[differ][_similarities(cand, part[n]) >= threshold]:
            if label[j] != label[i]:
                root = _union(parent, int(members[i]), int(members[j]))
                label[(label == label[i]) | (label == label[j])] = root
    return at[:0]


def build_clusters(store: Store, *, threshold: float = 0.7, min_chars: int = 40,
                   min_size: int = 2, since: datetime | None = None,
                   progress: Callable[[str, int, int], None] | None = None) -> ClusterReport:
    """Cluster near-duplicate post texts and store the clusters (see the module
    docstring). Memory: one signature per distinct text, the LSH band being
    sorted and ~28 bytes a post; the texts are read a page at a time."""
    if not 0.1 <= threshold <= 1.0:
        raise ValueError(f"threshold {threshold} outside 0.1..1.0")
    rep = ClusterReport(params={"threshold": threshold, "min_chars": min_chars,
                                "min_size": min_size, "minhash": PARAMS,
                                "since": since.isoformat() if since else None})
    posts, sigs = _read_posts(store, rep, min_chars=min_chars, since=since,
                              progress=progress)
    root = _join_similar(sigs, threshold, progress, rep)
    if rep.capped_buckets:
        log.warning(
            "clusters: %d LSH bucket(s) of texts alike in one band but not otherwise "
            "(posts made so, or much shared boilerplate) reached their limit of %d "
            "comparisons a text: %d pair(s) left unverified, near-duplicates among them "
            "may be missed (docs/media.md)", rep.capped_buckets, PAIRS_PER_TEXT,
            rep.unverified_pairs)
    _store_clusters(store, rep, posts, sigs, root, min_size)
    return rep


def _store_clusters(store: Store, rep: ClusterReport, posts: _Posts, sigs: _Signatures,
                    root: np.ndarray, min_size: int) -> None:
    """Stage 4: the sets of ≥ ``min_size`` posts, largest first (ties: the set whose
    first text came first), replace the stored clusters in one transaction."""
    ids = np.frombuffer(posts.ids, dtype=np.int64) if posts.ids else np.empty(0, np.int64)
    text = np.frombuffer(posts.text, dtype=np.int32) if posts.text else np.empty(0, np.int32)
    account = np.frombuffer(posts.account, dtype=np.int64) if posts.account else ids[:0]
    created = np.frombuffer(posts.created, dtype=np.int64) if posts.created else ids[:0]
    comp = root[text]  # each post's set
    size = np.bincount(comp, minlength=len(root))
    kept = np.nonzero(size >= min_size)[0]
    kept = kept[np.argsort(-size[kept], kind="stable")]
    rank = np.full(len(root), len(kept), dtype=np.int64)
    rank[kept] = np.arange(len(kept))
    clustered = np.nonzero(rank[comp] < len(kept))[0]  # positions, i.e. in id order
    clustered = clustered[np.argsort(rank[comp[clustered]], kind="stable")]
    bounds = np.concatenate([[0], np.cumsum(size[kept])])
    ts = now()
    with store.begin() as c:
        c.execute(M.text_cluster_members.delete())
        c.execute(M.text_clusters.delete())
        for s in range(0, len(kept), STORE_CHUNK):
            chunk = [clustered[bounds[k]:bounds[k + 1]]
                     for k in range(s, min(s + STORE_CHUNK, len(kept)))]
            # the representative: the earliest post (no time: last), then the lowest id
            reps = [int(at[np.lexsort((ids[at], created[at]))[0]]) for at in chunk]
            samples = _texts(c, [int(ids[r]) for r in reps])
            for at, r in zip(chunk, reps, strict=True):
                _store_cluster(c, rep, ts, posts, sigs, at, r, ids, text, account,
                               created, samples.get(int(ids[r])))


def _texts(c: Any, ids: list[int]) -> dict[int, str]:
    p = S.posts
    return {pid: t for pid, t in c.execute(select(p.c.id, p.c.text).where(p.c.id.in_(ids)))}


def _store_cluster(c: Any, rep: ClusterReport, ts: datetime, posts: _Posts,
                   sigs: _Signatures, at: np.ndarray, r: int, ids: np.ndarray,
                   text: np.ndarray, account: np.ndarray, created: np.ndarray,
                   sample: str | None) -> None:
    times = created[at][created[at] != _NONE]
    accounts = len(np.unique(account[at][account[at] != _NONE]))
    cid = c.execute(M.text_clusters.insert().values(
        size=len(at), n_accounts=accounts, representative_post_id=int(ids[r]),
        sample_text=sample[:500] if sample is not None else None,
        first_at=posts.time(int(times.min())) if len(times) else None,
        last_at=posts.time(int(times.max())) if len(times) else None,
        params=rep.params, created_at=ts)).inserted_primary_key[0]
    ref = sigs.rows(text[[r]])[0]
    for s in range(0, len(at), 2000):
        part = at[s:s + 2000]
        sims = _similarities(sigs.rows(text[part]), ref)
        c.execute(M.text_cluster_members.insert(), [
            {"cluster_id": cid, "post_id": int(pid), "similarity": round(float(sim), 4)}
            for pid, sim in zip(ids[part], sims, strict=True)])
    rep.clusters += 1
    rep.clustered_posts += len(at)
    if not rep.largest:
        rep.largest = {"cluster_id": cid, "size": len(at), "accounts": accounts,
                       "sample": (sample or "")[:160]}


def list_clusters(store: Store, *, limit: int = 20, min_accounts: int = 1
                  ) -> list[dict[str, Any]]:
    t = M.text_clusters
    q = (select(t).where(t.c.n_accounts >= min_accounts)
         .order_by(t.c.n_accounts.desc(), t.c.size.desc(), t.c.id).limit(limit))
    with store.connect() as c:
        return [{"cluster": r.id, "size": r.size, "accounts": r.n_accounts,
                 "first_at": r.first_at, "last_at": r.last_at,
                 "representative_post_id": r.representative_post_id,
                 "sample": r.sample_text} for r in c.execute(q)]


def cluster_members(store: Store, cluster_id: int) -> list[dict[str, Any]]:
    m, p, a = M.text_cluster_members, S.posts, S.accounts
    q = (select(m.c.post_id, m.c.similarity, p.c.platform, p.c.platform_id, p.c.created_at,
                p.c.text, a.c.handle, a.c.name, a.c.platform.label("account_platform"),
                a.c.platform_id.label("account_platform_id"))
         .select_from(m.join(p, p.c.id == m.c.post_id).outerjoin(a, a.c.id == p.c.account_id))
         .where(m.c.cluster_id == cluster_id).order_by(p.c.created_at, m.c.post_id))
    with store.connect() as c:
        return [{"post_id": r.post_id, "similarity": r.similarity, "platform": r.platform,
                 "platform_id": r.platform_id, "created_at": r.created_at,
                 "account": r.handle,
                 "account_ref": (account_ref(r.account_platform, r.account_platform_id)
                                 if r.account_platform_id is not None else None),
                 "account_name": r.name,
                 "text": (r.text or "")[:280]} for r in c.execute(q)]
