"""`rasd clusters build` on copypasta in several languages: what it clusters and
leaves out, the stored clusters, and that it reads posts a page at a time (its
memory bound by the distinct texts, not by the texts themselves)."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from rasd.detect.media import schema as M
from rasd.detect.media import textdup
from rasd.detect.media.signals.minhash import NUM_PERM, minhash_of, normalize_text
from rasd.detect.media.textdup import PARAMS, build_clusters
from rasd.store import Store
from rasd.store import schema as S
from rasd.store.db import now

BASE = datetime(2024, 3, 1, tzinfo=UTC)
EN = ("Brothers, the convoy leaves on Friday. Everyone who can travel must join us now, "
      "do not wait for permission, the time is short")
AR = ("يا إخوة القافلة تنطلق يوم الجمعة، على كل من يستطيع السفر أن ينضم إلينا الآن ولا "
      "ينتظر الإذن فالوقت قصير")
RU = ("Братья, колонна выходит в пятницу. Все, кто может ехать, должны присоединиться к нам "
      "сейчас, не ждите разрешения, времени мало")
OTHER = ("A completely different message about the football results from last night and the "
         "league table")

# (platform id, text, account, minutes after BASE or None, kind, deleted)
POSTS = [
    ("en1", EN, "a1", 30, "post", False),
    ("en2", EN.upper() + " https://t.me/joinus", "a2", 10, "post", False),
    ("en3", EN.replace("Friday", "Friday!!") + " @someone 🔥", "a3", 50, "post", False),
    ("en4", EN.replace("Friday", "Saturday"), "a4", 70, "post", False),  # an edit
    ("en5", EN, "a1", 90, "reply", False),  # the same account again
    ("en-rt", EN, "a5", 5, "repost", False),  # copies by design: left out
    ("en-fw", EN, "a5", 6, "forward", False),
    ("en-sv", EN, "a5", 7, "service", False),
    ("en-del", EN, "a6", 1, "post", True),  # deleted
    ("ar1", AR, "b1", 20, "post", False),
    ("ar2", AR.replace("الجمعة", "الجـــمعة") + " https://example.org/x", "b2", 25, "post",
     False),  # tatweel
    ("ar3", AR.replace("القافلة", "القَافِلَة"), "b3", 15, "post", False),  # tashkeel
    ("ar4", AR.replace("الجمعة", "السبت"), None, 40, "post", False),  # no account
    ("ru1", RU, "c1", 100, "post", False),
    ("ru2", RU.lower().replace(",", ""), "c2", None, "post", False),  # no time
    ("ru3", RU.replace("пятницу", "субботу"), "c3", 110, "post", False),
    ("short1", "Join us now!", "d1", 2, "post", False),  # under --min-chars
    ("short2", "Join us now!", "d2", 3, "post", False),
    ("other", OTHER, "d3", 4, "post", False),
]


def _add_posts(store: Store, posts=POSTS) -> dict[str, int]:
    ts = now()
    ids: dict[str, int] = {}
    with store.begin() as c:
        accs: dict[str, int] = {}
        for _, _, acc, _, _, _ in posts:
            if acc is not None and acc not in accs:
                accs[acc] = c.execute(S.accounts.insert().values(
                    platform="x", platform_id=acc, handle=acc, first_seen=ts, last_seen=ts,
                    stub=False)).inserted_primary_key[0]
        for pid, text, acc, minutes, kind, deleted in posts:
            ids[pid] = c.execute(S.posts.insert().values(
                platform="x", platform_id=pid, kind=kind, text=text,
                account_id=accs[acc] if acc else None,
                created_at=None if minutes is None else BASE + timedelta(minutes=minutes),
                deleted_at=ts if deleted else None, first_seen=ts, last_seen=ts)
            ).inserted_primary_key[0]
    return ids


def _stored(store: Store) -> list[dict]:
    """The stored clusters by size then id, each with its members by post id."""
    t, m, p = M.text_clusters, M.text_cluster_members, S.posts
    out = []
    with store.connect() as c:
        for r in c.execute(select(t).order_by(t.c.id)):
            members = c.execute(select(p.c.platform_id, m.c.similarity)
                                .select_from(m.join(p, p.c.id == m.c.post_id))
                                .where(m.c.cluster_id == r.id).order_by(m.c.post_id)).all()
            rep = c.execute(select(p.c.platform_id).where(
                p.c.id == r.representative_post_id)).scalar_one()
            out.append({"size": r.size, "accounts": r.n_accounts, "rep": rep,
                        "sample": r.sample_text, "first": _utc(r.first_at),
                        "last": _utc(r.last_at), "params": r.params,
                        "members": {pid: sim for pid, sim in members}})
    return out


def _utc(t: datetime | None) -> datetime | None:
    if t is None or t.tzinfo is not None:
        return t
    return t.replace(tzinfo=UTC)  # SQLite gives the UTC time without its zone


def _sim(a: str, b: str) -> float:
    """datasketch's own estimate of the Jaccard of two texts' 5-gram sets."""
    return round(minhash_of(normalize_text(a)).jaccard(minhash_of(normalize_text(b))), 4)


def _text(pid: str) -> str:
    return next(p[1] for p in POSTS if p[0] == pid)


def test_multilingual_copypasta_clusters(store):
    """Each language's campaign is one cluster: its copies with links, mentions,
    emoji, case, punctuation, tashkeel and tatweel changed, and its one-word edits;
    reposts, forwards, service messages, deleted posts and short texts are left out;
    the earliest post is the representative, a post without time counts last."""
    _add_posts(store)
    rep = build_clusters(store)
    # 13 posts: 5 English, 4 Arabic, 3 Russian, 1 other; 7 texts once normalised:
    # each campaign's own and its edit (ar2, ar3 are ar1's; ru2 is ru1's), the other
    assert (rep.posts_considered, rep.distinct_texts) == (13, 7)
    assert rep.hashed == 7 and rep.clusters == 3 and rep.clustered_posts == 12
    got = _stored(store)
    assert [(g["size"], g["accounts"], g["rep"]) for g in got] == [
        (5, 4, "en2"), (4, 3, "ar3"), (3, 3, "ru1")]
    en, ar, ru = got
    assert set(en["members"]) == {"en1", "en2", "en3", "en4", "en5"}
    assert set(ar["members"]) == {"ar1", "ar2", "ar3", "ar4"}
    assert set(ru["members"]) == {"ru1", "ru2", "ru3"}
    assert en["sample"] == _text("en2") and ar["sample"] == _text("ar3")
    assert (en["first"], en["last"]) == (BASE + timedelta(minutes=10),
                                         BASE + timedelta(minutes=90))
    assert (ru["first"], ru["last"]) == (BASE + timedelta(minutes=100),
                                         BASE + timedelta(minutes=110))
    for g in got:  # each member's similarity to the representative, as datasketch has it
        assert g["members"] == {pid: _sim(_text(g["rep"]), _text(pid)) for pid in g["members"]}
        assert g["params"]["minhash"] == PARAMS
    assert en["members"]["en1"] == en["members"]["en3"] == 1.0 > en["members"]["en4"] >= 0.7
    assert rep.largest == {"cluster_id": rep.largest["cluster_id"], "size": 5, "accounts": 4,
                           "sample": _text("en2")[:160]}
    # again: every signature cached, the same clusters
    again = build_clusters(store)
    assert again.hashed == 0 and _stored(store) == got
    # --since: the posts before it are not considered, the representative moves
    since = build_clusters(store, since=BASE + timedelta(minutes=20))
    assert since.hashed == 0
    got = _stored(store)
    assert [(g["rep"], set(g["members"])) for g in got] == [
        ("en1", {"en1", "en3", "en4", "en5"}), ("ar1", {"ar1", "ar2", "ar4"}),
        ("ru1", {"ru1", "ru3"})]
    assert build_clusters(store, min_size=5).clusters == 1


def test_cache_rows_of_other_params_edited_texts_or_broken_are_replaced(store):
    """A post whose cached signature is for other parameters, for its text before an
    edit, or not 128 values long is hashed again and its row replaced; the clusters
    are those of a build from an empty cache."""
    ids = _add_posts(store)
    build_clusters(store)
    want = _stored(store)
    h = M.post_minhash
    with store.begin() as c:
        c.execute(h.update().where(h.c.post_id == ids["en1"]).values(params="c5:64:1"))
        c.execute(h.update().where(h.c.post_id == ids["ar1"]).values(text_key="0" * 32))
        c.execute(h.update().where(h.c.post_id == ids["ru3"]).values(signature=b"\0" * 12))
    rep = build_clusters(store)
    # en1's and ar1's texts have other posts with their signature cached: not hashed
    assert rep.hashed == 1 and _stored(store) == want
    with store.connect() as c:
        rows = {r.post_id: r for r in c.execute(select(h))}
    assert len(rows) == 13 and {r.params for r in rows.values()} == {PARAMS}
    assert rows[ids["en1"]].signature == rows[ids["en2"]].signature
    assert rows[ids["ar1"]].text_key == rows[ids["ar2"]].text_key
    assert len(rows[ids["ru3"]].signature) == 512
    assert build_clusters(store).hashed == 0


def test_pages_and_signature_blocks_change_nothing(store, monkeypatch):
    """Read 3 posts a page, with the signatures in blocks of 2 texts: the same
    clusters and report as in one page."""
    _add_posts(store)
    one = build_clusters(store).__dict__
    want = _stored(store)
    with store.begin() as c:
        c.execute(M.post_minhash.delete())
    monkeypatch.setattr(textdup, "PAGE", 3)
    monkeypatch.setattr(textdup, "SIG_BLOCK", 2)
    monkeypatch.setattr(textdup, "STORE_CHUNK", 2)
    seen: list[tuple[str, int, int]] = []
    paged = build_clusters(store, progress=lambda *a: seen.append(a)).__dict__
    assert _stored(store) == want
    assert {k: v for k, v in paged.items() if k != "largest"} == \
        {k: v for k, v in one.items() if k != "largest"}
    assert [s for s in seen if s[0] == "minhash"][-1] == ("minhash", 15, 15)
    assert seen[-1][0] == "lsh" and seen[-1][1] == seen[-1][2]


def test_a_post_without_time_in_a_cluster_on_sqlite(tmp_path):
    """SQLite gives times without their zone: a cluster holding a post without time
    failed the build ("can't compare offset-naive and offset-aware datetimes")
    where it put the post without time last in the search for the earliest."""
    st = Store.open(str(tmp_path / "t.db"))
    _add_posts(st, [("ru1", RU, "c1", 100, "post", False),
                    ("ru2", RU + "!", "c2", None, "post", False)])
    assert build_clusters(st).clusters == 1
    assert _stored(st)[0]["rep"] == "ru1" and _stored(st)[0]["last"] is not None
    st.close()


def _peak_of_build(tmp_path, n: int) -> int:
    st = Store.open(str(tmp_path / f"m{n}.db"))
    text = " ".join(f"word{i % 997} w{i % 13}" for i in range(1000))[:8_000]
    _add_posts(st, [(f"p{i}", text, f"a{i % 7}", i, "post", False) for i in range(n)])
    tracemalloc.start()
    try:
        rep = build_clusters(st)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        st.close()
    assert rep.clusters == 1 and rep.clustered_posts == n and rep.distinct_texts == 1
    return peak


def test_texts_are_not_held_in_memory(tmp_path, monkeypatch):
    """900 posts of the same 8,000-character text (7 MB of text) take a build
    with pages of 50 posts no more memory than 150 of them do (hashing the one text
    takes a few MB whatever the number of posts)."""
    monkeypatch.setattr(textdup, "PAGE", 50, raising=False)
    small, big = _peak_of_build(tmp_path, 150), _peak_of_build(tmp_path, 900)
    assert big - small < 2**20, f"peak {small / 2**20:.1f} -> {big / 2**20:.1f} MiB"


# --- hostile LSH buckets: texts alike in one band and not otherwise ---------------

def _signatures(rows) -> textdup._Signatures:
    sigs = textdup._Signatures()
    for r in rows:
        sigs.add(np.asarray(r, dtype="<u4"))
    return sigs


def _hostile(k: int, p: float, seed: int = 3) -> np.ndarray:
    """``k`` signatures equal in LSH band 0 (threshold 0.7: columns 0–8), each other
    value the shared one with probability ``p``, else random: p = 0, texts made to
    share the band and nothing else; p = 0.7, near misses (~0.53 estimated Jaccard,
    as posts of one sentence and a few words each chosen for the band are)."""
    rng = np.random.default_rng(seed)
    core = rng.integers(0, 2**32, NUM_PERM, dtype=np.uint32)
    rows = rng.integers(0, 2**32, (k, NUM_PERM), dtype=np.uint32)
    keep = rng.random((k, NUM_PERM)) < p
    keep[:, :9] = True
    rows[keep] = np.broadcast_to(core, (k, NUM_PERM))[keep]
    return rows


def _counting(monkeypatch) -> list[int]:
    """Pairs compared by ``_join_bucket`` (through ``_similarities``)."""
    pairs = [0]
    orig = textdup._similarities

    def counted(sigs, ref):
        pairs[0] += len(sigs)
        return orig(sigs, ref)

    monkeypatch.setattr(textdup, "_similarities", counted)
    return pairs


def _brute_force(rows: np.ndarray, threshold: float) -> list[frozenset[int]]:
    """The sets the build must find: pairs equal in one of datasketch's bands for
    the threshold and of estimated Jaccard ≥ it, joined transitively."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=min(threshold, 0.95), num_perm=NUM_PERM)
    n = len(rows)
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    eq = (rows[:, None, :] == rows[None, :, :])
    close = eq.sum(axis=2) / NUM_PERM >= threshold
    shared = np.zeros((n, n), dtype=bool)
    for i in range(lsh.b):
        shared |= eq[:, :, i * lsh.r:(i + 1) * lsh.r].all(axis=2)
    for a, b in zip(*np.nonzero(np.triu(close & shared, 1)), strict=True):
        parent[find(int(b))] = find(int(a))
    return _sets([find(i) for i in range(n)])


def _sets(root) -> list[frozenset[int]]:
    out: dict[int, set[int]] = {}
    for i, r in enumerate(root):
        out.setdefault(int(r), set()).add(i)
    return sorted((frozenset(s) for s in out.values()), key=min)


def test_a_bucket_of_texts_alike_in_one_band_only_is_not_compared_pair_by_pair(
        monkeypatch):
    """600 texts equal in one band and random elsewhere, with 3 near-duplicates of
    some of them hidden among them: the bucket compared ~180,000 pairs (each text
    with every later one); split by the other columns' groups, only the pairs
    that may be alike are compared, and the near-duplicates are still found."""
    rows = _hostile(600, 0.0)
    rng = np.random.default_rng(4)
    for src, dst in ((5, 590), (100, 300), (300, 599)):
        rows[dst] = rows[src]
        changed = rng.choice(np.arange(9, NUM_PERM), 25, replace=False)  # J ≈ 0.8
        rows[dst, changed] = rng.integers(0, 2**32, 25, dtype=np.uint32)
    pairs = _counting(monkeypatch)
    root = textdup._join_similar(_signatures(rows), 0.7, None)
    assert pairs[0] < 100, pairs[0]
    assert _sets(root) == _brute_force(rows, 0.7)
    assert {frozenset({5, 590}), frozenset({100, 300, 599})} <= set(_sets(root))
    rep = textdup.ClusterReport()
    textdup._join_similar(_signatures(rows), 0.7, None, rep)
    assert rep.capped_buckets == 0 and rep.unverified_pairs == 0


def test_a_bucket_of_near_misses_stops_at_its_limit_and_says_so(monkeypatch, caplog):
    """600 near misses (alike in the band and in about half the other values: no
    split helps) compare at most PAIRS_PER_TEXT pairs a text, and the build says
    how many it left."""
    rows = _hostile(600, 0.7)
    monkeypatch.setattr(textdup, "PAIRS_PER_TEXT", 50)
    pairs = _counting(monkeypatch)
    rep = textdup.ClusterReport()
    textdup._join_similar(_signatures(rows), 0.7, None, rep)
    # band 0's bucket: 600 × 50; other bands' buckets of the near misses: their own
    assert pairs[0] < 600 * 50 * 1.5, pairs[0]
    assert rep.capped_buckets >= 1
    assert 0 < rep.unverified_pairs <= 600 * 599 // 2
    # a bucket under the limit is verified whole: nothing to say
    monkeypatch.setattr(textdup, "PAIRS_PER_TEXT", 300)
    rep = textdup.ClusterReport()
    assert _sets(textdup._join_similar(_signatures(rows), 0.7, None, rep)) == \
        _brute_force(rows, 0.7)
    assert rep.capped_buckets == 0


def _near_duplicate(rows: np.ndarray, src: int, dst: int, rng: np.random.Generator) -> None:
    """``rows[dst]``: ``rows[src]`` with one value of each LSH band but band 0 redrawn
    (threshold 0.7: 14 bands of 9), ~0.9 alike: the two share no band but band 0."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=0.7, num_perm=NUM_PERM)
    cols = [i * lsh.r + int(rng.integers(lsh.r)) for i in range(1, lsh.b)]
    rows[dst] = rows[src]
    rows[dst, cols] = rng.integers(0, 2**32, len(cols), dtype=np.uint32)


def _late_families(k: int = 600) -> tuple[np.ndarray, list[frozenset[int]]]:
    """A hostile bucket posted first — ``k`` near misses of one band (~0.53 alike:
    no split separates them) — and then, last, near-duplicates that meet in that
    bucket only: a pair, and a text with two near-duplicates of it."""
    rows = _hostile(k + 5, 0.7, seed=11)
    rng = np.random.default_rng(12)
    _near_duplicate(rows, k, k + 1, rng)
    _near_duplicate(rows, k + 2, k + 3, rng)
    _near_duplicate(rows, k + 2, k + 4, rng)
    return rows, [frozenset({k, k + 1}), frozenset({k + 2, k + 3, k + 4})]


def test_near_duplicates_posted_after_a_hostile_bucket_are_still_found(monkeypatch):
    """Posted after 600 near misses of one band, a bucket that reaches its limit
    (50 pairs a text here) still verifies the near-duplicates posted last: they
    share values few others in the bucket have, and its smallest sub-buckets are
    verified first (before, the limit was spent on the texts posted first and the
    last ones were never compared with each other). The comparisons stay bounded."""
    rows, families = _late_families()
    monkeypatch.setattr(textdup, "PAIRS_PER_TEXT", 50)
    pairs = _counting(monkeypatch)
    rep = textdup.ClusterReport()
    got = set(_sets(textdup._join_similar(_signatures(rows), 0.7, None, rep)))
    assert set(families) <= got
    assert rep.capped_buckets >= 1 and rep.unverified_pairs > 0  # the bucket stopped
    assert pairs[0] < len(rows) * 50 * 1.5, pairs[0]
    assert set(families) <= set(_brute_force(rows, 0.7))


def test_a_capped_bucket_compares_every_text_with_its_clusters_first(monkeypatch):
    """A set already joined (in another band: a text and its copy) and a
    near-duplicate of it, posted after 600 near misses in a bucket that reaches its
    limit and is not split, all three late in the keyed order too: the set's first
    text is compared with every other text of the bucket before the near misses are,
    so the near-duplicate is joined to it (before, the limit was spent on the texts
    posted first; in the keyed order alone, on the texts it puts first)."""
    rows, _ = _late_families()
    k = 600
    _near_duplicate(rows, k, k + 1, np.random.default_rng(17))
    rows = rows[:k + 3]
    rows[k + 2] = rows[k + 1]
    rows[k + 2, -1] ^= 1  # a copy of it, differing in a value outside every band
    place = np.argsort(np.argsort(textdup._keyed_rank(rows)))
    assert min(place[k:]) > 150  # none of the three among the texts verified first
    monkeypatch.setattr(textdup, "PAIRS_PER_TEXT", 50)
    parent = textdup.array("q", range(len(rows)))
    textdup._union(parent, k + 1, k + 2)  # joined before this bucket
    rep = textdup.ClusterReport()
    textdup._join_bucket(_signatures(rows), parent, np.arange(len(rows)), 0.7, None, rep)
    assert textdup._find(parent, k) == textdup._find(parent, k + 1) == k
    assert rep.capped_buckets == 1 and rep.unverified_pairs > 0


def test_the_order_of_a_capped_bucket_is_not_the_order_it_was_posted_in(monkeypatch):
    """A bucket that reaches its limit compares the same pairs however its texts were
    posted (first, last, or shuffled): the same sets and the same report."""
    rows, _ = _late_families()
    monkeypatch.setattr(textdup, "PAIRS_PER_TEXT", 50)
    rep = textdup.ClusterReport()
    want = _sets(textdup._join_similar(_signatures(rows), 0.7, None, rep))
    for perm in (np.arange(len(rows))[::-1], np.random.default_rng(13).permutation(len(rows))):
        rep2 = textdup.ClusterReport()
        root = textdup._join_similar(_signatures(rows[perm]), 0.7, None, rep2)
        assert sorted(sorted(int(perm[i]) for i in s) for s in _sets(root)) == \
            sorted(sorted(s) for s in want)
        assert (rep2.capped_buckets, rep2.unverified_pairs) == \
            (rep.capped_buckets, rep.unverified_pairs)


def test_a_capped_bucket_counts_every_pair_it_did_not_compare(monkeypatch):
    """The pairs of different sets that the bucket never compared are all in
    ``unverified_pairs`` (which never counts more pairs than the bucket has), and a
    bucket compared whole counts none."""
    rows, _ = _late_families()
    k = len(rows)
    index = {r.tobytes(): i for i, r in enumerate(rows)}
    compared: set[frozenset[int]] = set()
    orig = textdup._similarities

    def recorded(sigs, ref):
        i = index[ref.tobytes()]
        compared.update(frozenset({i, index[r.tobytes()]}) for r in sigs)
        return orig(sigs, ref)

    monkeypatch.setattr(textdup, "_similarities", recorded)
    groups = textdup._groups(0, 9, 0.7)  # band 0 of threshold 0.7: columns 0–8
    for limit, left in ((50, True), (400, False)):
        monkeypatch.setattr(textdup, "PAIRS_PER_TEXT", limit)
        compared.clear()
        parent = textdup.array("q", range(k))
        rep = textdup.ClusterReport()
        textdup._join_bucket(_signatures(rows), parent, np.arange(k), 0.7, groups, rep)
        root = [textdup._find(parent, d) for d in range(k)]
        never = sum(1 for a in range(k) for b in range(a + 1, k)
                    if root[a] != root[b] and frozenset({a, b}) not in compared)
        assert never <= rep.unverified_pairs <= k * (k - 1) // 2
        assert (rep.capped_buckets == 1 and never > 0) if left else \
            (rep.capped_buckets == 0 and rep.unverified_pairs == 0)


def test_the_build_warns_of_a_capped_bucket(store, monkeypatch, caplog):
    """No comparisons allowed (PAIRS_PER_TEXT 0): the buckets of three or more
    texts (four edits of EN) are left, counted in the report and said in a
    warning."""
    _add_posts(store, POSTS + [(f"en-{w}", EN.replace("Friday", w), "a9", 1, "post", False)
                               for w in ("Sunday", "Monday")])
    monkeypatch.setattr(textdup, "PAIRS_PER_TEXT", 0)
    with caplog.at_level("WARNING", logger="rasd.detect.media.textdup"):
        rep = build_clusters(store)
    assert rep.capped_buckets > 0 and rep.unverified_pairs > 0
    assert "left unverified" in caplog.text


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.9])
def test_split_buckets_give_the_sets_of_every_pair_compared(monkeypatch, threshold):
    """Families of near-duplicates (0–60 values changed from their first: some
    above the threshold, some below), all in one band's bucket: split at once
    (SPLIT_AT 2), the same sets as comparing every pair of every bucket."""
    rng = np.random.default_rng(int(threshold * 10))
    rows = _hostile(40, 0.0)
    fam = []
    for f in range(40):
        base = rows[f]
        for _ in range(rng.integers(1, 6)):
            r = base.copy()
            n = int(rng.integers(0, 60))
            cols = rng.choice(np.arange(NUM_PERM), n, replace=False)
            r[cols] = rng.integers(0, 2**32, n, dtype=np.uint32)
            fam.append(r)
    # just similar enough: as many values changed as may be, one in each of as
    # many runs of the columns outside band 0 (a split into one group fewer than
    # the pigeonhole's would have none of them alike in a group)
    need = next(c for c in range(NUM_PERM + 1) if c / NUM_PERM >= threshold)
    for f in range(5):
        r = rows[f].copy()
        cols = [g[f % len(g)] for g in np.array_split(np.arange(9, NUM_PERM), NUM_PERM - need)]
        r[cols] = rng.integers(0, 2**32, len(cols), dtype=np.uint32)
        fam.append(r)
    rows = np.concatenate([rows, np.array(fam)])
    want = _brute_force(rows, threshold)
    monkeypatch.setattr(textdup, "SPLIT_AT", 2)
    assert _sets(textdup._join_similar(_signatures(rows), threshold, None)) == want
    assert len(want) < len(rows)  # some joined


def test_split_buckets_change_nothing_on_the_copypasta(store, monkeypatch):
    """Real copypasta, every bucket split (SPLIT_AT 2): the same clusters."""
    _add_posts(store)
    build_clusters(store)
    want = _stored(store)
    monkeypatch.setattr(textdup, "SPLIT_AT", 2)
    build_clusters(store)
    assert _stored(store) == want


def test_the_cli_says_a_capped_bucket(tmp_path, monkeypatch):
    """`rasd clusters build` prints the warning (escaped, one line) and --json has
    the counts."""
    import json

    from typer.testing import CliRunner

    from rasd.cli import app, common

    db = str(tmp_path / "c.db")
    st = Store.open(db)
    _add_posts(st, POSTS + [(f"en-{w}", EN.replace("Friday", w), "a9", 1, "post", False)
                            for w in ("Sunday", "Monday")])
    st.close()
    monkeypatch.setattr(textdup, "PAIRS_PER_TEXT", 0)
    monkeypatch.setattr(common.STATE, "db", None)
    monkeypatch.setattr(common.STATE, "store", None)
    try:
        r = CliRunner().invoke(app, ["--db", db, "clusters", "build"])
        assert r.exit_code == 0, r.output
        warning = r.output.splitlines()[0]
        assert warning.startswith("rasd: warning: clusters: ") and "LSH bucket(s)" in warning
        assert "pair(s) left unverified" in warning
        common.STATE.store.close()
        common.STATE.store = None
        r = CliRunner().invoke(app, ["--db", db, "clusters", "build", "--json"])
        rep = json.loads(r.stdout)
        assert rep["capped_buckets"] > 0 and rep["unverified_pairs"] > 0
    finally:
        if common.STATE.store is not None:
            common.STATE.store.close()


def test_cluster_options_out_of_range_are_refused(tmp_path, monkeypatch):
    """`clusters build --min-size 0` (or 1) stored every lone post as a cluster of
    one, replacing the clusters there were; `clusters list --min-accounts` past
    SQLite's integers was an OverflowError traceback."""
    import json

    from typer.testing import CliRunner

    from rasd.cli import app, common

    db = str(tmp_path / "c.db")
    st = Store.open(db)
    _add_posts(st, POSTS)
    st.close()
    monkeypatch.setattr(common.STATE, "db", None)
    monkeypatch.setattr(common.STATE, "store", None)
    try:
        r = CliRunner().invoke(app, ["--db", db, "clusters", "build", "--json"])
        assert r.exit_code == 0, r.output
        before = json.loads(r.stdout)["clusters"]
        for args in (["build", "--min-size", "1"], ["build", "--min-size", "-3"],
                     ["build", "--min-chars", "-5"], ["list", "--min-accounts", "0"],
                     ["list", "--min-accounts", str(2**64)]):
            r = CliRunner().invoke(app, ["--db", db, "clusters", *args])
            assert r.exit_code == 2 and f"Invalid value for '{args[1]}'" in r.output, r.output
        r = CliRunner().invoke(app, ["--db", db, "clusters", "list", "--json"])
        assert len(json.loads(r.stdout)) == before > 0
    finally:
        if common.STATE.store is not None:
            common.STATE.store.close()
