"""`rasd clusters build` on copypasta in several languages: what it clusters and
leaves out, the stored clusters, and that it reads posts a page at a time (its
memory bound by the distinct texts, not by the texts themselves)."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from rasd.detect.media import schema as M
from rasd.detect.media import textdup
from rasd.detect.media.signals.minhash import minhash_of, normalize_text
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
