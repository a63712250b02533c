"""The text detector under `rasd scan`: stores detections, idempotent, respects the
author's role, on SQLite and PostgreSQL."""

from datetime import UTC, datetime

import sqlalchemy as sa
from tests.helpers import versioned_detector

from rasd.detect.scan import scan
from rasd.detect.text.detector import TextDetector
from rasd.store import schema as S

POSTS = [
    ("p1", "acc1", "Soldiers of the khilafah slaughtered the apostates today, may Allah accept our martyrs"),
    ("p2", "acc1", "Brothers, make hijrah to the land of the caliphate, the caravan is waiting for you"),
    ("p3", "acc2", "Lovely weather in Ankara today, going for a walk by the lake"),
    ("p4", "news", "Soldiers of the khilafah slaughtered the apostates today, may Allah accept our martyrs"),
    ("p5", "acc2", "Equip a mujahid: send bitcoin to our wallet bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
    ("p6", "acc2", ""),
]


def seed(store):
    now = datetime.now(UTC)
    with store.begin() as c:
        ids = {}
        for handle, role in (("acc1", None), ("acc2", None), ("news", "news")):
            r = c.execute(sa.insert(S.accounts).values(
                platform="x", platform_id=handle, handle=handle, role=role, stub=False,
                first_seen=now, last_seen=now))
            ids[handle] = r.inserted_primary_key[0]
        for pid, acc, text in POSTS:
            c.execute(sa.insert(S.posts).values(
                platform="x", platform_id=pid, account_id=ids[acc], kind="post", text=text,
                created_at=now, first_seen=now, last_seen=now))


def detections(store):
    with store.connect() as c:
        rows = c.execute(sa.select(S.posts.c.platform_id, S.detections.c.label,
                                   S.detections.c.score, S.detections.c.attributes,
                                   S.detections.c.model_version)
                         .join(S.posts, S.posts.c.id == S.detections.c.subject_id)
                         .where(S.detections.c.detector == "text")).all()
    return {r[0]: r for r in rows}


def test_scan_stores_flagged_posts_idempotently(store):
    seed(store)
    det = TextDetector()
    res = scan(store, [det])[0]
    assert res.scanned == len(POSTS)
    found = detections(store)
    assert {"p1", "p2"} <= set(found) and "p3" not in found and "p6" not in found
    assert found["p2"][1] == "recruitment"
    assert found["p1"][4] == det.version
    assert "scores" in found["p1"][3] and found["p1"][3]["language"] == "en"
    # the same post by an account marked as a news outlet scores lower
    p4 = found.get("p4")
    assert p4 is None or p4[2] < found["p1"][2]
    # second run: nothing pending, nothing duplicated
    again = scan(store, [det])[0]
    assert again.scanned == 0
    assert detections(store).keys() == found.keys()
    # --all rescans and replaces
    scan(store, [det], rescan=True)
    with store.connect() as c:
        n = c.execute(sa.select(sa.func.count()).select_from(S.detections)
                      .where(S.detections.c.detector == "text")).scalar()
    assert n == len(found)


def test_financing_detection_carries_indicators_when_available(sqlite_store):
    seed(sqlite_store)
    scan(sqlite_store, [TextDetector()])
    found = detections(sqlite_store)
    assert found["p5"][1] == "financing"
    try:
        import rasd.detect.finance.indicators  # noqa: F401
    except ImportError:
        return  # the finance stage is not installed: detection still stored, no indicators
    inds = found["p5"][3].get("indicators")
    assert isinstance(inds, list)


def test_scan_reads_pending_subjects_a_page_at_a_time(sqlite_store, monkeypatch):
    """Pending ids come in pages (memory bounded on a store of any size); a
    limit, a second run and a rescan see the same subjects as one big read."""
    from rasd.detect import scan as scan_mod

    monkeypatch.setattr(scan_mod, "PAGE", 2)
    seed(sqlite_store)
    det = TextDetector()
    det.batch_size = 1
    seen = []
    first = scan(sqlite_store, [det], limit=3,
                 progress=lambda name, done, total: seen.append((done, total)))[0]
    assert first.scanned == 3 and seen[-1] == (3, 3)
    rest = scan(sqlite_store, [det])[0]
    assert rest.scanned == len(POSTS) - 3
    assert scan(sqlite_store, [det])[0].scanned == 0
    again = scan(sqlite_store, [det], rescan=True)[0]
    assert again.scanned == len(POSTS)
    assert set(detections(sqlite_store)) >= {"p1", "p2"}


def test_demo_text_step_shows_poll_words_and_leaves_counter_speech_unflagged(sqlite_store, tmp_path):
    """The demo's text listing printed an empty excerpt for its poll post (flagged for
    the poll's words, which posts.text does not hold), and it flagged the counter-speech
    post of @voices_against_hate (incitement 0.35, exempt 0.62)."""
    from rasd.demo import DemoContext, demo_data_dir
    from rasd.detect.text.demo import step as text_step
    from rasd.ingest.demo import step as ingest_step

    lines: list[str] = []
    ctx = DemoContext(store=sqlite_store, workdir=tmp_path, data_dir=demo_data_dir(),
                      log=lines.append)
    ingest_step(ctx)
    lines.clear()
    text_step(ctx)
    listed = [ln for ln in lines if ln.startswith("  ")]
    assert listed and all(ln.split("] ", 1)[1].strip() for ln in listed), listed
    assert any("where should the lions of the Banner strike next" in ln for ln in listed)
    with sqlite_store.connect() as c:
        flagged = {r[0] for r in c.execute(
            sa.select(S.accounts.c.handle)
            .select_from(S.detections.join(S.posts, S.posts.c.id == S.detections.c.subject_id)
                         .join(S.accounts, S.accounts.c.id == S.posts.c.account_id))
            .where(S.detections.c.detector == "text"))}
    assert "voices_against_hate" not in flagged and "bbf_lion_media" in flagged


def test_an_older_versions_flag_is_history_once_the_model_clears_the_post(store):
    """A model (or rule) of a new version scans the store again; a post the old
    one flagged and the new one does not keeps the old detection as history,
    not as a current one (``current_detection``: what counts as flagged)."""
    from rasd.store.db import current_detection

    seed(store)
    det = TextDetector()
    scan(store, [det])
    with store.begin() as c:  # an older model's verdict on a post the current one clears
        p3 = c.execute(sa.select(S.posts.c.id).where(S.posts.c.platform_id == "p3")).scalar()
        c.execute(sa.insert(S.detections).values(
            subject_type="post", subject_id=p3, detector="text", label="incitement",
            score=0.4, model_version="an-older-model", explanation="old",
            created_at=datetime(2020, 1, 1, tzinfo=UTC)))
        c.execute(sa.delete(S.scans).where(S.scans.c.subject_id == p3))
    assert scan(store, [det])[0].scanned == 1
    with store.connect() as c:
        rows = c.execute(sa.select(S.detections.c.subject_id, S.detections.c.model_version,
                                   current_detection().label("cur"))).all()
    assert (p3, "an-older-model", False) in [tuple(r) for r in rows]
    assert all(r.cur for r in rows if r.model_version == det.version)


def test_going_back_scans_again_only_what_another_version_scanned_since(store):
    """A later scan by another version makes that subject pending for the
    earlier one, not every subject: the check was not correlated to the
    subject (model B on two posts sent model A over all of them again)."""
    seed(store)
    assert scan(store, [versioned_detector("A")])[0].scanned == len(POSTS)
    assert scan(store, [versioned_detector("B")], limit=2)[0].scanned == 2
    assert scan(store, [versioned_detector("A")])[0].scanned == 2
    assert scan(store, [versioned_detector("A")])[0].scanned == 0


def test_long_model_versions_are_stored_on_both_stores(store, tmp_path):
    """A version naming model, external tier and policy passed 64 characters,
    which PostgreSQL refused mid-scan (migration 0016 allows 200); one longer
    still (a user's model name) is stored as its start and a digest."""
    import json
    import shutil

    from rasd.detect.base import bounded_version
    from rasd.detect.text.model import TextClassifier, default_model_dir

    d = tmp_path / "m"
    shutil.copytree(default_model_dir(), d)
    meta = json.loads((d / "model.json").read_text(encoding="utf-8"))
    meta["version"] = "a-long-model-name-" * 20
    (d / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    seed(store)
    det = TextDetector(classifier=TextClassifier.load(d, tiers=["char"]))
    assert len(det.version) == 200 and det.version == bounded_version(det.version)
    assert bounded_version("x" * 300) != bounded_version("x" * 299 + "y")
    scan(store, [det])
    assert {r[4] for r in detections(store).values()} == {det.version}


def test_a_version_scanning_again_after_another_is_the_current_one(store):
    """Found by review: model A flags a post, model B (scanned later) flags it
    too, then A is put back and ``scan --all`` runs it again. A rescan did not
    move its scan's time (insert-ignored), so both A's (detection made
    after B's scan) and B's (no scan of another version after it, by the
    stored times) counted as current: the post flagged twice over."""
    from rasd.store.db import current_detection

    seed(store)
    def flags(v):
        return versioned_detector(v, lambda t: t.startswith("Soldiers"), "flags")

    a, b = flags("A"), flags("B")
    scan(store, [a])
    scan(store, [b])
    scan(store, [a], rescan=True)
    with store.connect() as c:
        cur = c.execute(sa.select(S.detections.c.subject_id, S.detections.c.model_version)
                        .where(current_detection())).all()
    assert sorted(v for _, v in cur) == ["A", "A"], cur  # p1 and p4, by A alone
    assert store.stats()["detections_current"] == 2


def test_going_back_to_an_earlier_version_scans_again(store):
    """Model A, then B, then A again: A's second scan was skipped (A had
    scanned every post), so B's results stayed what the posts' detections
    said until `scan --all`. A subject is pending when its latest scan by the
    detector was by another version."""
    from rasd.store.db import current_detection

    seed(store)
    n = sum(1 for _, _, t in POSTS if t)
    assert scan(store, [versioned_detector("A")])[0].scanned == len(POSTS)
    assert scan(store, [versioned_detector("B")])[0].scanned == len(POSTS)
    assert scan(store, [versioned_detector("A")])[0].scanned == len(POSTS)  # back to A: scanned again
    assert scan(store, [versioned_detector("A")])[0].scanned == 0
    with store.connect() as c:
        cur = c.execute(sa.select(S.detections.c.model_version).where(
            S.detections.c.detector == "caps", current_detection())).scalars().all()
    assert sorted(cur) == ["A"] * n
