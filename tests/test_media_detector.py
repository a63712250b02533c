"""`rasd scan --media`: the media detector hashes ingested files, stores signals,
matches and detections; retroactive matching; copypasta clusters; the demo step."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from rasd.detect.media import banks as B
from rasd.detect.media import schema as M
from rasd.detect.media.detector import MediaDetector, rematch_stored
from rasd.detect.media.textdup import build_clusters, cluster_members, list_clusters
from rasd.detect.scan import scan
from rasd.store import schema as S
from rasd.store.db import now

DEMO = Path(__file__).resolve().parents[1] / "src" / "rasd" / "data" / "demo"
PHOTOS = DEMO / "telegram" / "photos"
NAMES = ["photo_1@01-03-2024_10-00-00.jpg", "photo_2@02-03-2024_09-15-00.jpg",
         "photo_3@03-03-2024_18-30-00.jpg"]


@pytest.fixture(autouse=True)
def _index_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("RASD_INDEX_DIR", str(tmp_path / "idx"))


def _add_media(store, tmp_path) -> list[int]:
    """Media rows as Telegram ingest stores them (absolute local paths), plus one
    missing file, one corrupt file and one URL-only row."""
    d = tmp_path / "export" / "photos"
    d.mkdir(parents=True)
    for n in NAMES:
        shutil.copy(PHOTOS / n, d / n)
    (d / "broken.jpg").write_bytes((PHOTOS / NAMES[0]).read_bytes()[:500])
    paths = [str(d / n) for n in NAMES] + [str(d / "gone.jpg"), str(d / "broken.jpg"), None]
    ts = now()
    ids = []
    with store.begin() as c:
        acc = c.execute(S.accounts.insert().values(platform="telegram", platform_id="c1",
                                                   handle="chan", first_seen=ts, last_seen=ts,
                                                   stub=False)).inserted_primary_key[0]
        for i, p in enumerate(paths):
            pid = c.execute(S.posts.insert().values(
                platform="telegram", platform_id=f"p{i}", account_id=acc, kind="post",
                text=None, first_seen=ts, last_seen=ts)).inserted_primary_key[0]
            mid = c.execute(S.media.insert().values(
                platform="telegram", media_key=f"c1/{i}/photo", type="photo", local_path=p,
                url=None if p else "https://example.invalid/x.jpg", first_seen=ts)
            ).inserted_primary_key[0]
            c.execute(S.post_media.insert().values(post_id=pid, media_id=mid))
            ids.append(mid)
    return ids


def test_scan_media_stores_signals_matches_detections(store, tmp_path, capsys):
    ids = _add_media(store, tmp_path)
    B.create_bank(store, "demo", labels={"entity": "demo-group"})
    rep = B.import_file(store, "demo", DEMO / "banks" / "demo-known-content.csv")
    assert rep.added == 2
    det = MediaDetector()
    res = scan(store, [det])[0]
    assert res.scanned == 6
    # the truncated file still has md5/sha256 (exact hashes stay useful); its PDQ fails
    assert det.stats["hashed"] == 4 and det.stats["missing"] == 2 and det.stats["errors"] == 1
    assert "broken.jpg" in capsys.readouterr().err
    with store.connect() as c:
        dets = c.execute(select(S.detections.c.subject_id, S.detections.c.label,
                                S.detections.c.score, S.detections.c.attributes)
                         .where(S.detections.c.detector == "media")
                         .order_by(S.detections.c.subject_id)).all()
        n_sig = c.execute(select(func.count()).select_from(M.media_signals)).scalar_one()
        matches = c.execute(select(M.hash_matches.c.media_id, M.hash_matches.c.signal_type,
                                   M.hash_matches.c.distance)
                            .order_by(M.hash_matches.c.media_id, M.hash_matches.c.id)).all()
    assert [d.subject_id for d in dets] == [ids[0], ids[1]]
    assert {d.label for d in dets} == {"incitement"}
    assert dets[0].score == 1.0 and 0.5 <= dets[1].score < 1.0
    assert dets[0].attributes["entity"] == "demo-group"
    assert dets[0].attributes["content"] == "propaganda-poster"
    assert len(dets[0].attributes["post_ids"]) == 1  # the post that carried the photo
    assert n_sig >= 3 * 3  # md5, sha256, pdq per photo
    # photo_1: md5 and pdq hits at 0; photo_2 (re-encoded): pdq only, small distance
    assert [(m.media_id, m.signal_type) for m in matches] == [
        (ids[0], "md5"), (ids[0], "pdq"), (ids[1], "pdq")]
    assert 0 < matches[2].distance <= 31
    # idempotent: a second scan does nothing
    assert scan(store, [MediaDetector()])[0].scanned == 0


def test_retroactive_match_after_new_bank(store, tmp_path):
    ids = _add_media(store, tmp_path)
    scan(store, [MediaDetector()])  # no banks yet: signals stored, nothing matched
    with store.connect() as c:
        assert c.execute(select(func.count()).select_from(S.detections)).scalar_one() == 0
    B.create_bank(store, "late", labels={"policy": "recruitment"})
    B.import_file(store, "late", DEMO / "banks" / "demo-known-content.csv")
    res = rematch_stored(store)
    assert res["media"] == 4 and res["detections"] == 2
    with store.connect() as c:
        got = sorted(r[0] for r in c.execute(select(S.detections.c.subject_id)))
    assert got == [ids[0], ids[1]]


def _posts(store, texts: list[tuple[str, str, int]]) -> None:
    ts = now()
    base = datetime(2024, 3, 1, tzinfo=UTC)
    with store.begin() as c:
        accs = {}
        for _, handle, _ in texts:
            if handle not in accs:
                accs[handle] = c.execute(S.accounts.insert().values(
                    platform="x", platform_id=handle, handle=handle, first_seen=ts,
                    last_seen=ts, stub=False)).inserted_primary_key[0]
        for i, (text, handle, minutes) in enumerate(texts):
            c.execute(S.posts.insert().values(
                platform="x", platform_id=f"t{i}", account_id=accs[handle], kind="post",
                text=text, created_at=base + timedelta(minutes=minutes), first_seen=ts,
                last_seen=ts))


COPY = ("Brothers, the convoy leaves on Friday. Everyone who can travel must join us now, "
        "do not wait for permission, the time is short")


def test_copypasta_clusters(store):
    rows = [
        (COPY, "a1", 5),
        (COPY.upper() + " https://t.me/joinus", "a2", 7),
        (COPY.replace("Friday", "Friday!!") + " @someone", "a3", 9),
        ("  " + COPY.replace(",", "") + " 🔥🔥", "a4", 3),
        (COPY, "a1", 60),
        (COPY.replace("Friday", "Saturday"), "a5", 11),  # an edited copy
        (("A completely different message about the football results from last night "
          "and the league table"), "b1", 1),
        ("Short", "b2", 2),
        (("The football results from last night and the league table were completely "
          "different from what we expected"), "b3", 4),
    ]
    _posts(store, rows)
    rep = build_clusters(store)
    # case, links, mentions, punctuation and emoji are normalised away
    assert rep.clusters == 1 and rep.clustered_posts == 6
    assert rep.distinct_texts == 4  # the copy, the edited copy, 2 unrelated ("Short" is cut)
    top = list_clusters(store)[0]
    assert top["size"] == 6 and top["accounts"] == 5
    members = cluster_members(store, top["cluster"])
    assert members[0]["account"] == "a4"  # earliest post is the representative
    assert all(m["similarity"] >= 0.7 for m in members)
    # re-run reuses cached signatures and gives the same result
    rep2 = build_clusters(store)
    assert rep2.hashed == 0 and rep2.clusters == 1
    assert build_clusters(store, threshold=1.0).clustered_posts == 5  # exact copies only


def test_demo_step_on_store(store, tmp_path):
    from rasd.demo import DemoContext
    from rasd.detect.media import demo

    _add_media(store, tmp_path)
    _posts(store, [(COPY, "a1", 1), (COPY + " !!", "a2", 2), (COPY, "a3", 3)])
    lines: list[str] = []
    ctx = DemoContext(store=store, workdir=tmp_path, data_dir=DEMO, log=lines.append)
    out = demo.step(ctx)
    assert out["detections"] == 2 and out["largest_cluster"] == 3
    text = "\n".join(lines)
    assert "photo_2@02-03-2024_09-15-00.jpg: pdq distance" in text
    assert "photo_3" not in text
    assert "3 posts by 3 accounts" in text
    assert demo.step(ctx)["bank_signals"] == 2  # re-running is harmless


def test_cli_scan_match_stored_and_clusters(tmp_path, monkeypatch):
    from rasd.cli import app, common
    from rasd.store import Store

    db = tmp_path / "c.db"
    st = Store.open(str(db))
    _add_media(st, tmp_path)
    _posts(st, [(COPY, "a1", 1), (COPY, "a2", 2)])
    st.close()
    run = CliRunner()

    def cli(*args: str):
        common.STATE.store = None
        return run.invoke(app, ["--db", str(db), *args])

    r = cli("scan", "--media", "--detector", "media")
    assert r.exit_code == 0, r.output
    assert cli("bank", "create", "d").exit_code == 0
    assert cli("bank", "import", "d", str(DEMO / "banks" / "demo-known-content.csv")
               ).exit_code == 0
    r = cli("match", "--stored")
    assert r.exit_code == 0 and "2 detection(s)" in r.stdout
    r = cli("clusters", "build")
    assert r.exit_code == 0 and "1 clusters holding 2 posts" in r.stdout
    r = cli("clusters", "show", "1")
    assert r.exit_code == 0 and "@a1" in r.stdout
    assert cli("clusters", "show", "99").exit_code == 2
    common.STATE.store = None


def test_scan_matches_earlier_media_again_when_the_banks_change(store, tmp_path):
    """A bank imported after the media were hashed: the next `scan --media`
    matches them from their stored signals (the files may be gone by then),
    once; a bank disabled is caught up the same way."""
    from rasd.detect.media.detector import bank_state, banks_matched

    ids = _add_media(store, tmp_path)
    first = scan(store, [MediaDetector()])[0]
    assert first.scanned == 6 and first.detections == 0 and first.caught_up is None
    assert banks_matched(store) == bank_state(store)
    for p in tmp_path.rglob("*.jpg"):
        p.unlink()  # matching again needs no file
    B.create_bank(store, "late", labels={"policy": "recruitment"})
    B.import_file(store, "late", DEMO / "banks" / "demo-known-content.csv")
    res = scan(store, [MediaDetector()])[0]
    assert res.scanned == 0  # nothing new to hash
    assert res.caught_up is not None and res.caught_up["media"] == 4
    assert res.caught_up["detections"] == 2
    with store.connect() as c:
        got = sorted(r[0] for r in c.execute(select(S.detections.c.subject_id)))
    assert got == [ids[0], ids[1]]
    assert scan(store, [MediaDetector()])[0].caught_up is None  # once per change
    # a bank disabled: the media it matched lose those detections on the next scan
    B.set_bank_enabled(store, "late", False)
    res = scan(store, [MediaDetector()])[0]
    assert res.caught_up is not None and res.caught_up["detections"] == 0
    with store.connect() as c:
        assert c.execute(select(func.count()).select_from(S.detections)).scalar_one() == 0


def test_flat_images_are_not_matched_by_pdq(store, tmp_path):
    """A flat image (all black) has PDQ quality 0 and an all-zero hash that any other
    flat image shares: it is not matched, neither when scanned nor when re-matched
    from its stored signals (Meta: PDQ quality < 50 is unreliable)."""
    from PIL import Image

    from rasd.detect.media.hasher import hash_path

    black = tmp_path / "black.png"
    Image.new("RGB", (64, 64)).save(black)
    pdq = hash_path(black, ["pdq"]).signals["pdq"]
    assert pdq.quality == 0 and pdq.value == "0" * 64
    B.create_bank(store, "flat")
    B.add_signals(store, "flat", [B.Entry(1, "pdq", pdq.value, {})])
    ts = now()
    with store.begin() as c:
        c.execute(S.media.insert().values(platform="telegram", media_key="c/1/photo",
                                          type="photo", local_path=str(black), first_seen=ts))
    det = MediaDetector()
    scan(store, [det])
    assert det.stats["hashed"] == 1 and det.stats["matched"] == 0
    assert rematch_stored(store)["matched"] == 0
    with store.connect() as c:
        assert c.execute(select(func.count()).select_from(M.hash_matches)).scalar_one() == 0


def test_clusters_show_names_each_author_as_a_reference_to_type_back(tmp_path):
    """A cluster post by an account without a handle (a Telegram channel) was
    printed as `@?`, and the others by handle only: now each author is its
    PLATFORM:ID (what `rasd accounts show` takes back) with its handle or name."""
    from rasd.cli import app, common
    from rasd.ingest.runner import ingest_path
    from rasd.store import Store

    db = tmp_path / "c.db"
    st = Store.open(str(db))
    for rel in ("x/demo_tweets.jsonl", "telegram", "csv/demo_kaggle_format.csv"):
        ingest_path(st, DEMO / rel)
    build_clusters(st)
    st.close()
    common.STATE.store = None
    r = CliRunner().invoke(app, ["--db", str(db), "clusters", "show", "1"])
    common.STATE.store = None
    assert r.exit_code == 0, r.output
    assert "@?" not in r.stdout
    assert " telegram:channel7000000001 (Banner Relay Channel) sim=" in r.stdout
    assert " x:9000000005 (@banner_relay_08) sim=" in r.stdout


def test_an_export_read_again_with_its_photos_gets_them_hashed(store, tmp_path):
    """An export first ingested without its photos (a text-only export, files
    not yet copied): the scan marked its media scanned without a file, and once
    the export was read again with them `rasd scan --media` hashed nothing."""
    from rasd.ingest.runner import ingest_path

    export = tmp_path / "ChatExport"
    export.mkdir()
    shutil.copy(DEMO / "telegram" / "result.json", export / "result.json")
    ingest_path(store, export)
    first = MediaDetector()
    scan(store, [first])
    assert first.stats["hashed"] == 0
    shutil.copytree(PHOTOS, export / "photos")
    ingest_path(store, export)
    det = MediaDetector()
    scan(store, [det])
    assert det.stats["hashed"] == 3


def test_clusters_build_interrupted_keeps_the_clusters_before_and_says_so(tmp_path,
                                                                          monkeypatch):
    """Ctrl-C ended `rasd clusters build` with status 130 and not a word. The
    clusters are replaced in one transaction at the end: interrupted while
    storing them, the previous build's clusters stay, and the next build
    reuses the text signatures already stored."""
    from rasd.cli import app, common
    from rasd.detect.media import textdup
    from rasd.ingest.runner import ingest_path
    from rasd.store import Store

    db = tmp_path / "c.db"
    st = Store.open(str(db))
    for rel in ("x/demo_tweets.jsonl", "telegram", "csv/demo_kaggle_format.csv"):
        ingest_path(st, DEMO / rel)
    st.close()
    run = CliRunner()

    def cli(*args: str):
        common.STATE.store = None
        r = run.invoke(app, ["--db", str(db), *args])
        common.STATE.store = None
        return r

    assert cli("clusters", "build").exit_code == 0
    before = cli("clusters", "list", "--json").stdout
    assert len(json.loads(before)) >= 1
    storing = []
    real_now, real_similarities = textdup.now, textdup._similarities

    def now():  # called as the clusters are about to be stored
        storing.append(1)
        return real_now()

    def similarities(sigs, ref):  # a Ctrl-C half-way through storing the new clusters
        if storing:
            raise KeyboardInterrupt
        return real_similarities(sigs, ref)

    monkeypatch.setattr(textdup, "now", now)
    monkeypatch.setattr(textdup, "_similarities", similarities)
    r = cli("clusters", "build", "--min-size", "3", "--threshold", "0.5")
    assert r.exit_code == 130
    assert r.stderr == INTERRUPTED_BUILD
    assert storing and cli("clusters", "list", "--json").stdout == before
    monkeypatch.setattr(textdup, "now", real_now)
    monkeypatch.setattr(textdup, "_similarities", real_similarities)
    r = cli("clusters", "build", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["hashed"] == 0


INTERRUPTED_BUILD = ("rasd: warning: interrupted: the clusters stored before are unchanged "
                     "(a build replaces them only when it ends); `rasd clusters build` "
                     "again builds them, reusing the text signatures already stored (a "
                     "build stores those it hashes as it goes, a page of posts at a time)\n")


def test_clusters_build_interrupted_while_hashing_keeps_whole_pages_of_signatures(
        store, monkeypatch):
    """Ctrl-C in `rasd clusters build`'s hashing stage, the long one on a big
    store: one line and status 130, the clusters before kept, and the signatures
    of the pages of posts it finished stored, each right (its post's text and
    signature), those of the posts before the last one stored all there: no page
    half-written. The next build hashes only the rest and finds what a build not
    interrupted finds."""
    from rasd.cli import app, common
    from rasd.detect.media import textdup
    from rasd.detect.media.signals.minhash import normalize_text
    from rasd.ingest.runner import ingest_path

    for rel in ("x/demo_tweets.jsonl", "telegram", "csv/demo_kaggle_format.csv"):
        ingest_path(store, DEMO / rel)
    want = build_clusters(store)
    before = list_clusters(store)
    members = cluster_members(store, before[0]["cluster"])
    with store.begin() as c:
        c.execute(M.post_minhash.delete())
    db = store.url.render_as_string(hide_password=False)
    real, hashed = textdup.minhash_of, []

    def minhash_of(text):  # a Ctrl-C as the 12th text is hashed
        hashed.append(1)
        if len(hashed) == 12:
            raise KeyboardInterrupt
        return real(text)

    monkeypatch.setattr(textdup, "PAGE", 5)
    monkeypatch.setattr(textdup, "minhash_of", minhash_of)
    common.STATE.store = None
    r = CliRunner().invoke(app, ["--db", db, "clusters", "build"])
    common.STATE.store = None
    assert r.exit_code == 130 and r.stdout == "", r.output
    assert r.stderr == INTERRUPTED_BUILD
    h, p = M.post_minhash, S.posts
    with store.connect() as c:
        kept = c.execute(select(p.c.id, p.c.text, h.c.text_key, h.c.signature)
                         .select_from(h.join(p, p.c.id == h.c.post_id))
                         .order_by(p.c.id)).all()
        upto = c.execute(select(p.c.id, p.c.text).where(
            p.c.id <= kept[-1][0], p.c.text.is_not(None), p.c.deleted_at.is_(None),
            p.c.kind.not_in(textdup.SKIP_KINDS)).order_by(p.c.id)).all()
    assert 0 < len(kept) < want.posts_considered
    assert [r[0] for r in kept] == [i for i, t in upto if len(normalize_text(t)) >= 40]
    for _, text, key, sig in kept:
        norm = normalize_text(text)
        assert key == hashlib.md5(norm.encode(), usedforsecurity=False).hexdigest()
        assert sig == np.asarray(real(norm).hashvalues, dtype="<u4").tobytes()
    assert list_clusters(store) == before  # the clusters before, as they were
    monkeypatch.setattr(textdup, "minhash_of", real)
    rep = build_clusters(store)
    assert 0 < rep.hashed < rep.distinct_texts == want.distinct_texts
    assert (rep.clusters, rep.clustered_posts) == (want.clusters, want.clustered_posts)
    assert cluster_members(store, list_clusters(store)[0]["cluster"]) == members


def test_a_signal_changed_by_sql_is_a_change_of_the_banks(store):
    """``bank_state`` (what ``catch_up`` compares) digested the signals' count,
    newest id and newest change: a value replaced by SQL, which leaves all three
    as they were, was not a change, and stored media were not matched against the
    new value. The counters the triggers keep tell it."""
    from sqlalchemy import update

    from rasd.detect.media import schema as M
    from rasd.detect.media.detector import bank_state

    B.create_bank(store, "b")
    B.add_signals(store, "b", [B.Entry(1, "md5", "ab" * 16, {}),
                               B.Entry(2, "md5", "cd" * 16, {})])
    before = bank_state(store)
    (sid,) = B.find_signals(store, "b", "ab" * 16, "md5")
    with store.begin() as c:
        c.execute(update(M.bank_signals).where(M.bank_signals.c.id == sid).values(
            signal="ef" * 16))
    assert bank_state(store) != before
