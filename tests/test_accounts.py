"""Accounts as a user meets them: references rasd prints are taken back, the
accounts one links to and from, lists with post and flagged-post counts; on
SQLite and (RASD_TEST_PG_URL) PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy import insert, select
from tests.helpers import account

from rasd.accounts import find_accounts, linked_accounts, list_accounts, set_role
from rasd.ingest.runner import ingest_path
from rasd.model import Account
from rasd.store import schema as S

DEMO = Path(__file__).resolve().parents[1] / "src/rasd/data/demo"


def _demo(store) -> None:
    for rel in ("x/demo_tweets.jsonl", "telegram", "csv/demo_kaggle_format.csv"):
        ingest_path(store, DEMO / rel, source=f"demo-{rel.split('/')[0]}")


def _detect(store, post_pid: str, label: str, detector: str = "text") -> None:
    now = datetime.now(UTC)
    with store.begin() as c:
        pid = c.execute(select(S.posts.c.id).where(S.posts.c.platform_id == post_pid)
                        ).scalar_one()
        c.execute(insert(S.detections).values(
            subject_type="post", subject_id=pid, detector=detector, label=label, score=0.9,
            model_version="t", created_at=now))


def test_every_account_reference_printed_is_taken_back(store):
    _demo(store)
    rows = list_accounts(store, limit=None)
    assert len(rows) == 19
    for r in rows:
        found = find_accounts(store, r["ref"])
        assert [a.id for a in found] == [r["id"]], r["ref"]
    # the display name a Telegram channel has instead of a handle, after its platform
    found = find_accounts(store, "telegram:Banner Relay Channel")
    assert [a.platform_id for a in found] == ["channel7000000001"]
    assert find_accounts(store, "x:Banner Relay Channel") == []


def test_a_platform_id_names_one_account_where_a_handle_reads_the_same(store):
    from rasd.ingest.runner import _source_id
    from rasd.ingest.writer import Writer

    w = Writer(store, _source_id(store, "t"))
    w.add(Account("x", "4242", handle="first"))
    w.add(Account("x", "77", handle="4242"))  # all-digit handles are allowed on X
    w.add(Account("telegram", "9", handle="4242"))
    w.flush()
    assert [a.platform_id for a in find_accounts(store, "x:4242")] == ["4242"]
    assert [a.platform_id for a in find_accounts(store, "x:@4242")] == ["77"]
    # no platform: each platform's own match
    assert sorted((a.platform, a.platform_id) for a in find_accounts(store, "4242")) == [
        ("telegram", "9"), ("x", "4242")]


def test_linked_accounts_each_way_with_counts(store):
    _demo(store)
    lion = account(store, "x", "9000000001")
    got = linked_accounts(store, lion.id)
    assert got["out"] == []
    assert len(got["in"]) == 6
    by = {a["ref"]: a for a in got["in"]}
    assert by["x:9000000004"]["kinds"] == {"mention": 1, "repost": 1}
    assert by["x:9000000004"]["handle"] == "banner_relay_07"
    assert by["x:9000000007"]["kinds"] == {"mention": 1, "quote": 1}
    assert by["x:banner_archive_22"]["total"] == 2
    assert len(linked_accounts(store, lion.id, limit=2)["in"]) == 2
    relay = account(store, "x", "9000000004")
    out = linked_accounts(store, relay.id)["out"]
    assert [(a["ref"], a["kinds"]) for a in out] == [
        ("x:9000000001", {"mention": 1, "repost": 1}),
        ("x:9000000002", {"mention": 1, "reply": 1})]


def test_list_accounts_counts_filters_and_sorts(store):
    _demo(store)
    _detect(store, "1800000000000000002", "incitement")
    _detect(store, "1800000000000000002", "financing", "finance")  # one post, counted once
    _detect(store, "1800000000000000004", "threat")
    _detect(store, "1800000000000000006", "fin_indicator", "finance")  # not a flag
    _detect(store, "1800000000000000008", "exempt")
    rows = {r["ref"]: r for r in list_accounts(store, limit=None)}
    assert rows["x:9000000002"]["posts"] == 4 and rows["x:9000000002"]["flagged"] == 2
    assert rows["x:9000000013"]["flagged"] == 0 and rows["x:9000000006"]["flagged"] == 0
    assert rows["telegram:channel7000000001"]["posts"] == 9
    assert rows["telegram:@daily world news"]["stub"] is True
    top = list_accounts(store, sort="flagged", limit=1)
    assert [r["ref"] for r in top] == ["x:9000000002"]
    by_posts = list_accounts(store, limit=None)
    assert [r["posts"] for r in by_posts] == sorted((r["posts"] for r in by_posts),
                                                    reverse=True)
    handles = [r["handle"] for r in list_accounts(store, platform="x", sort="handle",
                                                   limit=None)]
    assert handles == sorted(handles, key=str.lower)
    tg = list_accounts(store, platform="telegram", limit=None)
    assert {r["platform"] for r in tg} == {"telegram"} and len(tg) == 4
    assert {r["ref"] for r in list_accounts(store, source="demo-csv", limit=None)} >= {
        "x:banner_archive_22", "x:lucie_reads"}
    set_role(store, "@dailyworld_news", "news")
    assert [r["handle"] for r in list_accounts(store, role="news")] == ["dailyworld_news"]
    assert len(list_accounts(store, role="none", limit=None)) == 18
    assert len(list_accounts(store, limit=3)) == 3
    with pytest.raises(ValueError, match="unknown sort"):
        list_accounts(store, sort="followers")


def test_a_flagged_media_match_flags_its_post(store):
    _demo(store)
    now = datetime.now(UTC)
    with store.begin() as c:
        mid = c.execute(select(S.post_media.c.media_id).join(
            S.posts, S.posts.c.id == S.post_media.c.post_id).where(
            S.posts.c.platform_id == "channel7000000001/2")).scalar_one()
        c.execute(insert(S.detections).values(
            subject_type="media", subject_id=mid, detector="media", label="incitement",
            score=1.0, model_version="t", created_at=now))
    rows = {r["ref"]: r for r in list_accounts(store, limit=None)}
    assert rows["telegram:channel7000000001"]["flagged"] == 1


def test_flagged_counts_and_show_read_the_latest_scan_only(store, tmp_path):
    """A post flagged by an older model version and cleared by the version
    that scanned it since: the old result is history (kept, shown as such),
    not a flag — an account's flagged posts counted it, and `show` listed it
    like a current detection."""

    from tests.helpers import versioned_detector
    from typer.testing import CliRunner

    from rasd.cli import app
    from rasd.detect.scan import scan

    def caps(v: str, flags: bool):
        return versioned_detector(v, lambda t: flags and t.isupper())

    f = tmp_path / "t.jsonl"
    f.write_text('{"data": [{"id": "9", "text": "KILL THEM", "author_id": "7"}], '
                 '"includes": {"users": [{"id": "7", "username": "loud", "name": "L"}]}}\n')
    ingest_path(store, f)

    def flagged() -> int:
        return next(r["flagged"] for r in list_accounts(store) if r["handle"] == "loud")

    scan(store, [caps("v1", True)])
    assert flagged() == 1
    scan(store, [caps("v2", False)])  # the new version clears it
    assert flagged() == 0
    with store.connect() as c:
        assert c.execute(select(S.detections.c.model_version)).scalars().all() == ["v1"]
    env = {"RASD_DB": store.url.render_as_string(hide_password=False)}
    out = CliRunner().invoke(app, ["show", "x:9", "--json"], env=env)
    assert out.exit_code == 0, out.output
    import json
    dets = json.loads(out.output)["detections"]
    assert [(d["model_version"], d["current"]) for d in dets] == [("v1", False)]
    text = CliRunner().invoke(app, ["show", "x:9"], env=env).output
    assert "caps/incitement 0.90 (v1) [history" in text
    scan(store, [caps("v3", True)])  # flagged again by a newer version
    assert flagged() == 1


def _policy_file(tmp_path: Path, flagged: dict[str, bool]) -> Path:
    import json

    p = tmp_path / f"policy-{len(list(tmp_path.iterdir()))}.json"
    p.write_text(json.dumps({"name": "mine", "version": "1", "labels": [
        {"id": lab, "flagged": f, "definition": lab} for lab, f in flagged.items()]}))
    return p


def test_flagged_posts_are_those_the_policy_flags(store, tmp_path, monkeypatch):
    """`accounts list` counted a hand-kept list of labels: a custom policy's
    own flagged label never counted, and one it does not flag still did."""
    from rasd.accounts import flagged_labels
    from rasd.detect.text.policy import load_policy

    _demo(store)
    _detect(store, "1800000000000000002", "glorification")
    _detect(store, "1800000000000000004", "threat")

    def flagged(**kw):
        return {r["ref"]: r["flagged"] for r in list_accounts(store, limit=None, **kw)}

    # the shipped policy: threat is flagged, glorification is no label of it
    assert flagged()["x:9000000002"] == 1
    assert flagged_labels() == load_policy().flagged_labels
    mine = _policy_file(tmp_path, {"glorification": True, "threat": False, "none": False})
    assert flagged(flagged=flagged_labels(load_policy(mine)))["x:9000000002"] == 1
    assert flagged(flagged=["threat", "glorification"])["x:9000000002"] == 2
    assert flagged(flagged=[])["x:9000000002"] == 0
    monkeypatch.setenv("RASD_POLICY", str(mine))  # the active policy, as scan reads it
    assert flagged_labels() == ["glorification"]
    got = list_accounts(store, sort="flagged", limit=1)
    assert got[0]["ref"] == "x:9000000002" and got[0]["flagged"] == 1


def test_accounts_list_counts_the_flagged_labels_of_policy(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from rasd.cli import app, common
    from rasd.store import Store

    runner = CliRunner()
    db = str(tmp_path / "s.db")
    common.STATE.db = common.STATE.store = None
    s = Store.open(db)
    ingest_path(s, DEMO / "x/demo_tweets.jsonl")
    _detect(s, "1800000000000000002", "glorification")
    s.close()
    mine = _policy_file(tmp_path, {"glorification": True, "none": False})

    def row(*args):
        r = runner.invoke(app, ["--db", db, "accounts", "list", "--json", "-n", "0", *args])
        assert r.exit_code == 0, r.output
        import json

        return {a["ref"]: a["flagged"] for a in json.loads(r.stdout)}["x:9000000002"]

    assert row() == 0
    assert row("--policy", str(mine)) == 1
    monkeypatch.setenv("RASD_POLICY", str(mine))
    assert row() == 1
    r = runner.invoke(app, ["--db", db, "accounts", "list", "--policy", str(tmp_path / "no.json")])
    assert r.exit_code == 2 and "cannot read policy file" in r.output
    if common.STATE.store is not None:
        common.STATE.store.close()
    common.STATE.db = common.STATE.store = None


def test_the_accounts_package_loads_no_model_code():
    """The policy is read when flagged posts are counted, not on import."""
    import subprocess
    import sys

    code = ("import sys, rasd.accounts, rasd.cli.accounts; "
            "print(sorted(m for m in sys.modules if m in ('numpy', 'sklearn', 'torch', "
            "'onnxruntime') or m.startswith('rasd.detect')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def _write(store, *accounts: Account) -> None:
    from rasd.ingest.runner import _source_id
    from rasd.ingest.writer import Writer

    w = Writer(store, _source_id(store, "t"))
    for a in accounts:
        w.add(a)
    w.flush()


def test_a_display_name_is_found_whatever_its_case_on_both_stores(store):
    """`accounts show NAME` compared names exactly, case and all (SQLite's
    lower() folds ASCII only), by a scan of every account; names are now
    keyed by rasd (name_key) and found by that index."""
    import unicodedata

    from rasd.accounts import lookup_accounts

    long_a, long_b = "Ä" * 199 + "x tail one", "ä" * 199 + "X tail two"
    _write(store,
           Account("telegram", "channel1", name="Ärger Nachrichten"),
           Account("telegram", "channel2", name="Große Straße"),
           Account("telegram", "channel3", name="ΟΔΟΣ"),
           Account("telegram", "channel4", name=long_a),
           Account("telegram", "channel5", name=long_b))
    for ref, pid in (("Ärger Nachrichten", "channel1"), ("ärger nachrichten", "channel1"),
                     ("ÄRGER NACHRICHTEN", "channel1"),
                     (unicodedata.normalize("NFD", "ärger Nachrichten"), "channel1"),
                     ("GROSSE STRASSE", "channel2"), ("große straße", "channel2"),
                     ("telegram:grosse strasse", "channel2"), ("οδος", "channel3"),
                     ("Οδοσ", "channel3"), (long_a.upper(), "channel4"),
                     (long_b.lower(), "channel5")):
        got = lookup_accounts(store, ref)
        assert [r.platform_id for r in got.rows] == [pid], ref
        assert got.by_name
    assert find_accounts(store, "Ärger") == []
    assert find_accounts(store, "x:ärger nachrichten") == []
    assert find_accounts(store, "ärger nachrichten", "x") == []
    # a new name is found, the old one no longer
    _write(store, Account("telegram", "channel1", name="Neue Zeiten"))
    assert [r.platform_id for r in find_accounts(store, "NEUE ZEITEN")] == ["channel1"]
    assert find_accounts(store, "Ärger Nachrichten") == []
    # an id or handle still comes first
    _write(store, Account("x", "55", handle="neue zeiten"))
    got = lookup_accounts(store, "neue zeiten")
    assert [r.platform_id for r in got.rows] == ["55"] and not got.by_name
    if store.is_sqlite:  # an index lookup, not a scan
        from sqlalchemy import select

        q = select(S.accounts).where(S.accounts.c.name_key == "x")
        with store.connect() as c:
            plan = " ".join(str(r[-1]) for r in c.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + str(q.compile(compile_kwargs={"literal_binds": True}))))
        assert "ix_accounts_name_key" in plan, plan


def test_accounts_sharing_a_name_are_listed_not_marked_together(store):
    from rasd.accounts import lookup_accounts

    _write(store, Account("telegram", "channel1", name="Daily News"),
           Account("telegram", "channel2", name="DAILY NEWS"),
           Account("x", "77", handle="dn", name="daily news"),
           Account("x", "78", handle="other", name="Other"))
    got = lookup_accounts(store, "Daily News")
    assert got.by_name and not got.more
    assert [(r.platform, r.platform_id) for r in got.rows] == [
        ("telegram", "channel1"), ("telegram", "channel2"), ("x", "77")]
    # a role for one of them, not for every namesake (an impersonator's too)
    with pytest.raises(LookupError, match=r"3 accounts are named 'daily news': "
                                          r"telegram:channel1, telegram:channel2, x:77"):
        set_role(store, "daily news", "news")
    assert [r.role for r in set_role(store, "x:daily news", "news")] == ["news"]
    assert [r.role for r in set_role(store, "telegram:channel2", "news")] == ["news"]
    assert {r.platform_id: r.role for r in find_accounts(store, "daily news")} == {
        "channel1": None, "channel2": "news", "77": "news"}


def test_a_name_lookup_is_bounded(store, monkeypatch):
    from rasd.accounts import lookup_accounts, roles

    monkeypatch.setattr(roles, "NAME_MATCHES", 3)
    _write(store, *(Account("telegram", f"c{i}", name="Same") for i in range(5)))
    got = lookup_accounts(store, "same")
    assert len(got.rows) == 3 and got.more
    assert got.total == got.matches == 5 and got.total_exact
    # a name whose key is cut (over 200 characters): those that only begin alike are
    # counted too, so the count is at most that many
    long = "n" * 200
    _write(store, *(Account("x", f"{i}", name=long + ("a" if i < 4 else "b"))
                    for i in range(6)))
    got = lookup_accounts(store, long + "A")
    assert len(got.rows) == 3 and got.more
    assert got.total == 6 and not got.total_exact
    # a name of exactly the key's length: its key is the whole name, but the longer
    # names' keys are the same, so they are counted too (it was said exact: "6")
    _write(store, *(Account("telegram", f"n{i}", name=long) for i in range(4)))
    got = lookup_accounts(store, long.upper())
    assert [r.platform_id for r in got.rows] == ["n0", "n1", "n2"] and got.more
    assert got.total == 10 and not got.total_exact


def test_migration_0017_keys_the_names_stored_before(store):
    """A store written before name_key gets its names keyed on upgrade."""
    from alembic import command
    from sqlalchemy import text

    from rasd.store.migrate import alembic_config

    _write(store, Account("telegram", "channel1", name="Ärger"),
           Account("telegram", "channel2"))
    with store.engine.connect() as c:
        cfg = alembic_config(store.engine)
        cfg.attributes["connection"] = c
        command.downgrade(cfg, "0016")
        c.commit()
        c.execute(text("UPDATE accounts SET name = 'ÖL' WHERE platform_id = 'channel2'"))
        c.commit()
        command.upgrade(cfg, "head")
        c.commit()
    assert [r.platform_id for r in find_accounts(store, "ärger")] == ["channel1"]
    assert [r.platform_id for r in find_accounts(store, "öl")] == ["channel2"]


def test_accounts_show_gives_the_accounts_own_detections_and_flagged_posts(store):
    """`rasd scan` stores finance_account's designation_match of a profile, but
    `accounts show` printed neither it (no command showed which accounts
    matched) nor the flagged posts `accounts list` counts."""
    import json

    from typer.testing import CliRunner

    from rasd.cli import app

    _demo(store)
    _detect(store, "1800000000000000006", "financing")
    now = datetime.now(UTC)
    with store.begin() as c:
        aid = c.execute(select(S.accounts.c.id).where(
            S.accounts.c.handle == "relief_for_orphans")).scalar_one()
        c.execute(insert(S.detections).values(
            subject_type="account", subject_id=aid, detector="finance_account",
            label="designation_match", score=0.97, model_version="f1", created_at=now,
            explanation=["name matches a listed entity"],
            attributes={"matches": [{"name": "ORPHANS FRONT", "list": "un_sc",
                                     "list_ref": "QDe.999"}], "field": "name"}))
    env = {"RASD_DB": store.url.render_as_string(hide_password=False)}
    out = CliRunner().invoke(app, ["accounts", "show", "@relief_for_orphans"], env=env)
    assert out.exit_code == 0, out.output
    assert "posts=3 flagged=1" in out.output
    assert "detection finance_account/designation_match 0.97 (f1)" in out.output
    assert "about: entity ORPHANS FRONT (un_sc QDe.999; field name)" in out.output
    out = CliRunner().invoke(app, ["accounts", "show", "x:9000000013", "--json"], env=env)
    assert out.exit_code == 0, out.output
    a = json.loads(out.output)[0]
    assert a["flagged"] == 1
    assert [(d["detector"], d["label"], d["current"]) for d in a["detections"]] == [
        ("finance_account", "designation_match", True)]


def test_accounts_list_detected_lists_the_accounts_a_scan_matched(store):
    """`rasd scan` counted designation_match detections of accounts, and no
    command listed which accounts they were."""
    from typer.testing import CliRunner

    from rasd.cli import app

    _demo(store)
    now = datetime.now(UTC)
    with store.begin() as c:
        ids = dict(c.execute(select(S.accounts.c.handle, S.accounts.c.id)).all())
        for handle, label in (("relief_for_orphans", "designation_match"),
                              ("bbf_lion_media", "designated_entity")):
            c.execute(insert(S.detections).values(
                subject_type="account", subject_id=ids[handle], detector="finance_account",
                label=label, score=0.9, model_version="f1", created_at=now))
    rows = list_accounts(store, detected="designation_match", limit=None)
    assert [r["ref"] for r in rows] == ["x:9000000013"]
    assert list_accounts(store, detected="threat") == []
    env = {"RASD_DB": store.url.render_as_string(hide_password=False)}
    out = CliRunner().invoke(app, ["accounts", "list", "--detected", "designation_match"],
                             env=env)
    assert out.exit_code == 0, out.output
    assert out.output.splitlines()[1].startswith("x:9000000013\t@relief_for_orphans\t")
    assert len(out.output.splitlines()) == 2


def test_accounts_show_counts_the_posts_of_namesakes_in_one_query(store):
    """`accounts show NAME` where a name is shared listed each namesake with a
    post count made by a query of its own (up to 100 queries); one grouped
    query counts them all."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from typer.testing import CliRunner

    from rasd.cli import app
    from rasd.ingest.runner import _source_id
    from rasd.ingest.writer import Writer
    from rasd.model import Post

    w = Writer(store, _source_id(store, "t"))
    for i in range(30):
        w.add(Account("telegram", f"c{i}", name="Same Name"))
        for k in range(i % 3):
            w.add(Post("telegram", f"c{i}/{k}", f"c{i}", f"post {k}"))
    w.flush()
    statements: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:
        statements.append(statement.lower())

    env = {"RASD_DB": store.url.render_as_string(hide_password=False)}
    event.listen(Engine, "before_cursor_execute", seen)
    try:
        out = CliRunner().invoke(app, ["accounts", "show", "same name"], env=env)
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0] == "30 accounts are named 'same name'; name one by its reference:"
    counts = {ln.split("\t")[0]: ln.split("\t")[-1] for ln in lines[1:]}
    assert counts == {f"telegram:c{i}": f"posts={i % 3}" for i in range(30)}
    post_counts = [s for s in statements if "count(" in s and "from posts" in s]
    assert len(post_counts) == 1, post_counts


def test_a_handle_on_several_platforms_is_not_marked_on_all(store):
    """`accounts mark HANDLE` set the role of every account of that handle, on
    every platform: the X account and a Telegram channel of the same handle
    (which need not be the same outlet) were marked news together. Like a
    shared name, such a handle is refused with the reference of each."""
    from typer.testing import CliRunner

    from rasd.cli import app

    _write(store, Account("x", "77", handle="daily_news"),
           Account("telegram", "channel5", handle="Daily_News"),
           Account("x", "78", handle="4242"), Account("telegram", "4242", handle="other"))
    for ref, refs in (("@daily_news", "telegram:channel5, x:77"),
                      ("daily_news", "telegram:channel5, x:77"),
                      ("4242", "telegram:4242, x:78")):
        with pytest.raises(LookupError, match=rf"2 accounts match '{ref}': {refs}; name one"):
            set_role(store, ref, "news")
    assert {r.role for r in find_accounts(store, "daily_news")} == {None}
    assert [r.platform_id for r in set_role(store, "x:@daily_news", "news")] == ["77"]
    assert [r.platform_id for r in set_role(store, "@daily_news", "ngo", "telegram")] == [
        "channel5"]
    assert {r.platform_id: r.role for r in find_accounts(store, "daily_news")} == {
        "77": "news", "channel5": "ngo"}
    env = {"RASD_DB": store.url.render_as_string(hide_password=False)}
    out = CliRunner().invoke(app, ["accounts", "mark", "4242", "--role", "news"], env=env)
    assert out.exit_code == 2
    assert "2 accounts match '4242': telegram:4242, x:78; name one by its reference" in (
        out.output)
    assert {r.role for r in find_accounts(store, "4242")} == {None}


HOSTILE = [Account("x", "1", handle="plain", name="Plain"),
           Account("telegram", "@lions media archive", handle="Lions Media Archive"),
           Account("telegram", "@قناة الأخبار", handle="قناة_الأخبار", name="قناة الأخبار"),
           Account("telegram", "@Ärger", handle="Ärger", name="Ärger"),
           Account("x", "2", handle="a\x1b[31mred", name="tab\there"),
           Account("x", "3", handle="o'brien", name="new\nline"),
           Account("telegram", "@a\x1b]0;title\x07b", handle="t", name="\u202eevil"),
           Account("telegram", "@it's", name="q"),
           Account("telegram", "@x\ny\tz\\w", name="日本語の名前" * 10)]


def test_accounts_list_prints_hostile_references_that_paste_back(store, monkeypatch):
    """`accounts list` quoted every reference shlex.quote would (an Arabic or
    "Ärger" handle too), wrote control characters inside single quotes as
    backslash escapes (pasted back, they named no account), and aligned
    columns by tabs only. A reference is quoted now only where a shell needs
    it, with control characters as ANSI-C escapes ($'…') a shell reads back;
    piped, the table stays tab-separated, on a terminal it is aligned."""
    import re
    import shutil
    import subprocess

    from typer.testing import CliRunner

    from rasd.cli import app, common

    _write(store, *HOSTILE)
    env = {"RASD_DB": store.url.render_as_string(hide_password=False)}
    out = CliRunner().invoke(app, ["accounts", "list", "-n", "0", "--sort", "handle"], env=env)
    assert out.exit_code == 0, out.output
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]", out.output)
    rows = [ln.split("\t") for ln in out.output.splitlines()]
    assert all(len(r) == 6 for r in rows) and len(rows) == len(HOSTILE) + 1
    printed = {r[0] for r in rows[1:]}
    assert {"x:1", "telegram:@Ärger", "'telegram:@قناة الأخبار'", "\"telegram:@it's\"",
            "$'telegram:@a\\x1b]0;title\\x07b'", "$'telegram:@x\\ny\\tz\\\\w'"} <= printed
    want = {f"{a.platform}:{a.platform_id}" for a in HOSTILE}
    for ref in printed:
        # taken back with its quotes, as no shell unquoted it ...
        assert [f"{a.platform}:{a.platform_id}" for a in find_accounts(store, ref)] in (
            [[w] for w in want]), ref
        # ... and as a shell reads it, pasted
        if shutil.which("bash"):
            got = subprocess.run(["bash", "-c", f"printf %s {ref}"], capture_output=True,
                                 check=True, env={"LC_ALL": "C.UTF-8"}).stdout.decode()
            assert got in want, (ref, got)
    # on a terminal: columns aligned by the width each field takes there
    from rasd.terminal import display_width

    monkeypatch.setattr(common, "stdout_is_terminal", lambda: True)
    out = CliRunner().invoke(app, ["accounts", "list", "-n", "0", "--sort", "handle"], env=env)
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert len(lines) == len(rows)
    starts = []
    for ln, fields in zip(lines, rows, strict=True):
        at, cols = 0, []
        for f in fields:
            f = f if display_width(f) <= common.TABLE_CELL_MAX else f[:10]  # cut: "…"
            at = ln.index(f, at)
            cols.append(display_width(ln[:at]))
            at += len(f)
        starts.append(cols)
    assert all(s == starts[0] for s in starts), starts
    assert "日本語の名前" * 3 + "日…" in out.output  # a long name is cut to the column


def test_accounts_written_without_keys_are_found_by_handle_and_name(store):
    """handle_key and name_key are written by rasd's ingest (and by migrations
    0015 and 0017 for the accounts stored before them); an account inserted by
    SQL, or by an older rasd on an upgraded store, had none, and neither its
    handle nor its name found it. A lookup keys such accounts first."""
    from rasd.accounts import lookup_accounts

    _write(store, Account("telegram", "channel1", handle="kept", name="Kept Name"))
    now = datetime.now(UTC)
    with store.begin() as c:
        for pid, handle, name in (("raw1", "Ärger_Raw", "Große Straße"),
                                  ("raw2", None, "ΟΔΟΣ Raw"), ("raw3", "", "")):
            c.execute(insert(S.accounts).values(platform="telegram", platform_id=pid,
                                                handle=handle, name=name, stub=False,
                                                first_seen=now, last_seen=now))
        # a row an older rasd rewrote: its keys gone
        c.execute(S.accounts.update().where(S.accounts.c.platform_id == "channel1")
                  .values(handle_key=None, name_key=None))
    assert [r.platform_id for r in find_accounts(store, "@ärger_raw")] == ["raw1"]
    got = lookup_accounts(store, "GROSSE STRASSE")
    assert got.by_name and [r.platform_id for r in got.rows] == ["raw1"]
    assert [r.platform_id for r in find_accounts(store, "οδος raw")] == ["raw2"]
    assert [r.platform_id for r in find_accounts(store, "KEPT")] == ["channel1"]
    assert [r.platform_id for r in find_accounts(store, "kept name")] == ["channel1"]
    with store.connect() as c:
        keys = {r.platform_id: (r.handle_key, r.name_key) for r in c.execute(
            select(S.accounts.c.platform_id, S.accounts.c.handle_key, S.accounts.c.name_key))}
    assert keys == {"channel1": ("kept", "kept name"), "raw1": ("ärger_raw", "grosse strasse"),
                    "raw2": (None, "οδοσ raw"), "raw3": (None, None)}
    from rasd.accounts.roles import key_accounts

    assert key_accounts(store) == 0  # nothing left to key (an empty name has no key)
    if store.is_sqlite:  # finding none is a probe of the partial indexes, not a scan
        for unkeyed, ix in ((S.HANDLE_UNKEYED, "ix_accounts_unkeyed_handle"),
                            (S.NAME_UNKEYED, "ix_accounts_unkeyed_name")):
            q = select(S.accounts.c.id).where(unkeyed, S.accounts.c.id > 0)
            with store.connect() as c:
                sql = q.compile(c)  # as run: with its parameters bound
                plan = " ".join(str(r[-1]) for r in c.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + str(sql),
                    tuple(sql.params[k] for k in sql.positiontup)))
            assert ix in plan, plan


def test_accounts_written_with_empty_keys_are_keyed_once(store):
    """An account written by SQL with ``handle_key = ''`` (or ``name_key``) is
    unkeyed to the lookup (``HANDLE_UNKEYED`` reads '' as no key), but
    ``key_accounts`` wrote only keys that were NULL: such an account was found
    by neither its handle nor its name, and every lookup found it again, took
    the write lock to key it and counted it keyed."""
    from rasd.accounts.roles import key_accounts

    now = datetime.now(UTC)
    with store.begin() as c:
        c.execute(insert(S.accounts).values(platform="telegram", platform_id="raw9",
                                            handle="Empty_Keyed", name="Empty Keyed Name",
                                            handle_key="", name_key="", stub=False,
                                            first_seen=now, last_seen=now))
    assert [r.platform_id for r in find_accounts(store, "@empty_keyed")] == ["raw9"]
    assert [r.platform_id for r in find_accounts(store, "EMPTY KEYED NAME")] == ["raw9"]
    assert key_accounts(store) == 0


def test_an_ansi_c_quoted_surrogate_is_not_looked_up(store):
    """``$'\\ud800'`` — typed in ASCII — was read back by ``shell_unword`` as a
    lone surrogate, which no database driver can encode: the lookup raised
    UnicodeEncodeError (a traceback from `rasd accounts show`). A surrogate
    escape is not read back as one; the text is looked up as it is."""
    from rasd.terminal import shell_unword

    _write(store, Account("telegram", "channel1", handle="kept"))
    assert shell_unword("$'a\\ud800b'") == "a\\ud800b"
    assert find_accounts(store, "$'\\ud800'") == []
    assert find_accounts(store, "$'\\udfff'") == []


def test_mark_with_a_platform_does_not_fall_back_to_another_platforms_name(store):
    """``telegram:@dailyworld_news`` names a Telegram account. Where rasd holds
    none of that handle, the lookup tries the whole text, and an X account
    whose display name is "telegram:@dailyworld_news" (anyone may take that
    name) matched it alone: `accounts mark` gave the impersonator the role
    (a lower prior for its posts) without a word. mark refuses it, naming the
    account found, as it refuses any reference that does not name one account
    plainly."""
    _write(store, Account("x", "666", handle="imp", name="telegram:@dailyworld_news"),
           Account("telegram", "channel9", handle="real_news"))
    with pytest.raises(LookupError, match=r"no telegram account matches "
                                          r"'telegram:@dailyworld_news'.*x:666"):
        set_role(store, "telegram:@dailyworld_news", "news")
    assert [r.role for r in find_accounts(store, "x:666")] == [None]
    assert [r.role for r in set_role(store, "telegram:@real_news", "news")] == ["news"]
    assert [r.role for r in set_role(store, "x:666", "news")] == ["news"]


EDGE_KINDS = ("mention", "repost", "forward", "reply")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _namesakes(store, n: int) -> dict:
    """``n`` Telegram channels named "Same Name" (whatever the case), with
    posts, flagged posts (one flagged by an older model version only), the
    accounts' own detections (one an older version's), profile histories and
    edges to and from five others ("Other 0" …) and one another; returns what
    was written, from which what `accounts show` prints can be worked out."""
    from datetime import timedelta

    from rasd.ingest.runner import _source_id
    from rasd.ingest.writer import Writer
    from rasd.model import Post

    sid = _source_id(store, "t")
    w = Writer(store, sid)
    for i in range(0, n, 4):  # renamed since: a profile history
        w.add(Account("telegram", f"c{i}", handle=f"old{i}", name=f"Old {i}", bio="before",
                      observed_at=T0))
    w.flush()
    w = Writer(store, sid)
    for i in range(n):
        w.add(Account("telegram", f"c{i}", handle=f"h{i}" if i % 2 else None,
                      name="Same Name" if i % 3 else "SAME NAME", bio=f"bio {i}",
                      followers=i, observed_at=T0 + timedelta(days=1)))
        for k in range(i % 3):
            w.add(Post("telegram", f"c{i}/{k}", f"c{i}", f"post {k}"))
    for j in range(5):
        w.add(Account("telegram", f"o{j}", handle=f"other{j}", name=f"Other {j}"))
    w.flush()
    at = datetime(2024, 2, 1, tzinfo=UTC)
    edges: list[tuple[str, str, str]] = []
    for i in range(n):
        for j in range(i % 4):  # j + 1 edges to o_j, of kinds in turn
            edges += [(EDGE_KINDS[(i + r) % 4], f"c{i}", f"o{j}") for r in range(j + 1)]
        if i % 3 == 0:
            edges.append(("mention", f"o{i % 5}", f"c{i}"))
        if i % 2 and i + 1 < n:  # a namesake links to another
            edges.append(("reply", f"c{i + 1}", f"c{i}"))
    flagged = {f"c{i}" for i in range(n) if i % 3 >= 1 and i % 2 == 0}
    was_flagged = [f"c{i}/1" for i in range(n) if i % 3 == 2 and i % 4 == 1]
    dets = {f"c{i}": [("finance_account", "designation_match", 0.9 - i / 100, "f1"),
                      ("plug", "odd", 0.95 if i % 10 == 5 else 0.5, "p1")]
            for i in range(0, n, 5)}
    stale = "c10"  # its plug detection: an older version's (p2 scanned it since)
    with store.begin() as c:
        ids = dict(c.execute(select(S.accounts.c.platform_id, S.accounts.c.id)).all())
        pids = dict(c.execute(select(S.posts.c.platform_id, S.posts.c.id)).all())
        c.execute(insert(S.edges), [
            {"platform": "telegram", "kind": k, "src_account_id": ids[s],
             "dst_account_id": ids[d], "dedup_key": f"{k}:{ids[s]}:{ids[d]}:{x}"}
            for x, (k, s, d) in enumerate(edges)])
        rows = [{"subject_type": "account", "subject_id": ids[a], "detector": det,
                 "label": lab, "score": score, "model_version": mv,
                 "explanation": ["why"] if det == "finance_account" else None,
                 "attributes": {"matches": [{"name": a}]} if det == "finance_account"
                 else None, "created_at": at}
                for a, ds in dets.items() for det, lab, score, mv in ds]
        rows += [{"subject_type": "post", "subject_id": pids[f"{a}/0"], "detector": "text",
                  "label": "threat", "score": 0.8, "model_version": "t1", "explanation": None,
                  "attributes": None, "created_at": at} for a in flagged]
        rows += [{"subject_type": "post", "subject_id": pids[p], "detector": "text",
                  "label": "incitement", "score": 0.8, "model_version": "t0",
                  "explanation": None, "attributes": None, "created_at": at}
                 for p in was_flagged]
        c.execute(insert(S.detections), rows)
        later = at.replace(day=2)
        c.execute(insert(S.scans), [
            {"subject_type": "account", "subject_id": ids[stale], "detector": "plug",
             "model_version": "p2", "scanned_at": later},
            *({"subject_type": "post", "subject_id": pids[p], "detector": "text",
               "model_version": "t1", "scanned_at": later} for p in was_flagged)])
    return {"ids": ids, "edges": edges, "flagged": flagged, "dets": dets, "stale": stale}


def _shown(data: dict, pid: str, links: int | None, matches: int = 1) -> dict:
    """What `accounts show --json` gives for the account ``pid`` of
    ``_namesakes``, worked out from what was written."""
    from collections import Counter

    ids, edges = data["ids"], data["edges"]
    by_id = {v: k for k, v in ids.items()}
    i = int(pid[1:]) if pid.startswith("c") else None

    def brief(p: str) -> dict:
        if p.startswith("o"):
            handle, name = f"other{p[1:]}", f"Other {p[1:]}"
        else:
            k = int(p[1:])
            handle, name = (f"h{k}" if k % 2 else None), ("Same Name" if k % 3 else "SAME NAME")
        return {"id": ids[p], "ref": f"telegram:{p}", "platform": "telegram", "platform_id": p,
                "handle": handle, "name": name}

    links_, linked = {}, {}
    for side, me, other in (("out", 1, 2), ("in", 2, 1)):
        mine = [e for e in edges if e[me] == pid]
        links_[side] = dict(sorted(Counter(e[0] for e in mine).items()))
        links_[f"{side}_accounts"] = len({e[other] for e in mine})
        totals = Counter(ids[e[other]] for e in mine)
        top = sorted(totals, key=lambda a: (-totals[a], a))[:links]
        linked[side] = [{**brief(by_id[a]), "total": totals[a], "kinds": dict(sorted(Counter(
            e[0] for e in mine if ids[e[other]] == a).items()))} for a in top]
    dets = [{"detector": d, "label": lab, "score": s, "model_version": mv,
             "explanation": ["why"] if d == "finance_account" else None,
             "attributes": {"matches": [{"name": pid}]} if d == "finance_account" else None,
             "current": not (pid == data["stale"] and d == "plug")}
            for d, lab, s, mv in data["dets"].get(pid, [])]
    dets.sort(key=lambda x: (not x["current"], -x["score"]))
    cur = {**{k: v for k, v in brief(pid).items() if k in ("handle", "name")},
           "bio": f"bio {i}", "seen": "2024-01-02T00:00:00+00:00", "until": None}
    history = [{"handle": f"old{i}", "name": f"Old {i}", "bio": "before",
                "seen": "2024-01-01T00:00:00+00:00",
                "until": "2024-01-02T00:00:00+00:00"}] if i % 4 == 0 else []
    return {**brief(pid), "bio": f"bio {i}", "role": None, "kind": None, "followers": i,
            "stub": False, "posts": i % 3, "flagged": int(pid in data["flagged"]),
            "detections": dets, "links": links_, "linked": linked, "history": [*history, cur],
            "matches": matches, "matches_exact": True}


def test_accounts_show_says_how_many_bear_a_name_beyond_those_listed(store, monkeypatch):
    """`accounts show NAME` lists at most 100 of the accounts bearing a name and
    said only "100+" and "… and more" (--json nothing): a count of supporter
    accounts read 100 for all. It says how many there are in all, counted by
    one COUNT query, and how to narrow them; --json gives each account that
    count as "matches" (the keys before it as they were)."""
    from sqlalchemy import event

    _write(store, *(Account("telegram", f"c{i}", name="Same Name" if i % 2 else "SAME NAME")
                    for i in range(128)),
           *(Account("x", f"{i}", handle=f"h{i}", name="same name") for i in range(2)),
           *(Account("telegram", f"f{i}", name="Few") for i in range(3)))
    statements: list[str] = []

    def seen(conn, cursor, statement, *rest) -> None:
        statements.append(statement.lower())

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        out, _ = _show_counted(store, monkeypatch, "same name")
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    lines = out.splitlines()
    assert lines[0] == "130 accounts are named 'same name'; name one by its reference:"
    assert len(lines) == 102
    assert lines[-1] == ("showing 100 of 130 accounts named 'same name'; all: rasd accounts "
                         "list --name 'same name' -n 0 (narrow with --platform PLATFORM)")
    counts = [s for s in statements if "count(" in s and "from accounts" in s]
    assert len(counts) == 1, counts
    for args in (("same name", "--platform", "telegram"), ("telegram:same name",)):
        out, _ = _show_counted(store, monkeypatch, *args)
        assert out.splitlines()[-1] == (
            f"showing 100 of 128 telegram accounts named {args[0]!r}; all: rasd accounts "
            "list --name 'same name' --platform telegram -n 0"), args

    keys = ["id", "ref", "platform", "platform_id", "handle", "name", "bio", "role", "kind",
            "followers", "stub", "posts", "flagged", "detections", "links", "linked",
            "history", "matches", "matches_exact"]
    got = orjson.loads(_show_counted(store, monkeypatch, "same name", "--json")[0])
    assert len(got) == 100
    assert all(list(a) == keys and a["matches"] == 130 and a["matches_exact"] for a in got)

    # all listed: no such line, and the count is of those listed
    out, _ = _show_counted(store, monkeypatch, "few")
    assert out.splitlines()[0] == "3 accounts are named 'few'; name one by its reference:"
    assert len(out.splitlines()) == 4 and "showing" not in out
    got = orjson.loads(_show_counted(store, monkeypatch, "few", "--json")[0])
    assert [a["matches"] for a in got] == [3, 3, 3]
    got = orjson.loads(_show_counted(store, monkeypatch, "x:h1", "--json")[0])
    assert [(a["platform_id"], a["matches"]) for a in got] == [("1", 1)]


def _show_counted(store, monkeypatch, *args: str) -> tuple[str, int]:
    """`rasd accounts show ARGS` on ``store``: its output, and how many SQL
    statements it sent to the store's engine."""
    from sqlalchemy import event
    from typer.testing import CliRunner

    import rasd.cli.accounts
    from rasd.cli import app

    monkeypatch.setattr(rasd.cli.accounts, "get_store", lambda create=False: store)
    statements: list[str] = []

    def seen(conn, cursor, statement, *rest) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        out = CliRunner().invoke(app, ["accounts", "show", *args])
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert out.exit_code == 0, out.output
    return out.output, len(statements)


def test_accounts_show_of_many_namesakes_sends_a_bounded_number_of_queries(store, monkeypatch):
    """`accounts show NAME --json` where up to NAME_MATCHES (100) accounts bear
    a name read each one's flagged posts, detections, edge counts (4 queries),
    linked accounts (4) and history (2) by queries of its own: some 10 queries
    an account, 300 for 30 namesakes. Each kind of data is now read for all of
    them at once: as many queries for 30 namesakes as for one account."""
    _namesakes(store, 30)
    _, one = _show_counted(store, monkeypatch, "other 1", "--json")  # a name one account bears
    out, many = _show_counted(store, monkeypatch, "same name", "--json", "--links", "2")
    assert len(orjson.loads(out)) == 30
    assert many == one, (many, one)
    assert many <= 30, many  # (SQLite: a BEGIN of each connection too)


def test_accounts_show_of_namesakes_prints_what_each_one_is(store, monkeypatch):
    """What `accounts show NAME --json` prints for 30 namesakes, byte for byte:
    each account's posts, flagged posts (not those an older model version
    flagged only), own detections (current first), links by kind, the accounts
    most linked each way (--links of them, most first, then by id) and
    history, as worked out from what was written; and one account alone the
    same as among its namesakes."""
    data = _namesakes(store, 30)
    order = sorted((f"c{i}" for i in range(30)), key=lambda p: data["ids"][p])
    for links in ("2", "0"):
        out, _ = _show_counted(store, monkeypatch, "same name", "--json", "--links", links)
        want = [_shown(data, p, int(links) or None, 30) for p in order]
        assert out == orjson.dumps(want, option=orjson.OPT_INDENT_2).decode() + "\n"
    for p in ("c3", "c10", "c15"):
        out, _ = _show_counted(store, monkeypatch, f"telegram:{p}", "--json", "--links", "1")
        assert orjson.loads(out) == [_shown(data, p, 1)]


def test_a_mention_by_name_reaches_an_account_stored_without_its_handle_key(store, tmp_path):
    """A mention by handle only ("@lion_media", no id) becomes a "@lion_media"
    placeholder until the account of that handle is known, and ingest merges
    the placeholder into it (``merge_name_stubs``) — found by ``handle_key``.
    An account stored without one (rewritten by SQL or by an older rasd on an
    upgraded store) was found by `accounts show` (which keys such accounts
    first, ``key_accounts``) but by neither ingest's resolution of names nor
    the merge: every mention of it went to the placeholder, through any number
    of ingests, its unchanged profile read again included (not rewritten, so
    not keyed)."""
    import json

    from sqlalchemy import update

    def ingest(name: str, tweets: list[dict], users: list[dict]):
        f = tmp_path / f"{name}.jsonl"
        f.write_text(json.dumps({"data": tweets, "includes": {"users": users}}) + "\n")
        return ingest_path(store, f)

    lion = {"id": "5001", "username": "Lion_Media", "name": "Lion"}
    kept = {"id": "5003", "username": "Kept_Key", "name": "Kept"}
    other = {"id": "5002", "username": "other", "name": "Other"}
    ingest("profiles", [{"id": "1", "text": "t", "author_id": "5001"},
                        {"id": "3", "text": "t", "author_id": "5003"}], [lion, kept])
    with store.begin() as c:  # rewritten without its key: NULL here, '' there
        c.execute(update(S.accounts).where(S.accounts.c.platform_id == "5001")
                  .values(handle_key=None))
        c.execute(update(S.accounts).where(S.accounts.c.platform_id == "5003")
                  .values(handle_key=""))

    def mention(i: int, handle: str) -> dict:
        return {"id": str(i), "text": f"hi @{handle}", "author_id": "5002",
                "entities": {"mentions": [{"start": 3, "end": 4 + len(handle),
                                           "username": handle}]}}

    ingest("mentions", [mention(10, "lion_media"), mention(11, "KEPT_KEY")], [other])
    ingest("again", [{"id": "2", "text": "t2", "author_id": "5001"}], [lion])  # unchanged
    ingest("more", [mention(12, "LION_MEDIA")], [other])
    with store.connect() as c:
        a = S.accounts
        refs = dict(c.execute(select(a.c.id, a.c.platform_id)).all())
        keys = dict(c.execute(select(a.c.platform_id, a.c.handle_key)).all())
        mentions = sorted(refs[d] for d in c.execute(
            select(S.edges.c.dst_account_id).where(S.edges.c.kind == "mention")).scalars())
    assert sorted(refs.values()) == ["5001", "5002", "5003"]  # no placeholder left
    assert mentions == ["5001", "5001", "5003"]
    assert keys["5001"] == "lion_media" and keys["5003"] == "kept_key"


def _x_page(path: Path, tweets: list[dict], users: list[dict]) -> Path:
    import json

    path.write_text(json.dumps({"data": tweets, "includes": {"users": users}}) + "\n")
    return path


def _mentioning(i: int, *handles: str) -> dict:
    text, spans, at = "hi", [], 2
    for h in handles:
        spans.append({"start": at + 1, "end": at + 2 + len(h), "username": h})
        text += f" @{h}"
        at += 2 + len(h)
    return {"id": str(i), "text": text, "author_id": "5002", "entities": {"mentions": spans}}


@pytest.mark.parametrize("length", [15, 180, 181, 190, 199, 200, 230])
@pytest.mark.parametrize("order", ["mention first", "profile first"])
def test_a_placeholder_of_a_long_handle_merges_into_its_account(store, tmp_path, length, order):
    """A mention of a handle 181 characters long or longer (none on X or
    Telegram; a CSV export's, another platform's) made a "@name" placeholder
    keyed by the handle cut at 180 characters, while the real account's
    handle_key keeps 200: the two never met, and the placeholder, with every
    mention of the account, stayed apart for good. The placeholder's key
    (``stub_key``), the resolution of names and the merge now agree, whichever
    of mention and profile comes first; a handle of 180 characters or fewer
    keeps its placeholder's id as before ("@" and the handle in lower case)."""
    handle = "Lion_" + "x" * (length - 5)
    profile = {"id": "5001", "username": handle, "name": "Lion"}
    other = {"id": "5002", "username": "other", "name": "Other"}

    def ingest(name: str, tweets: list[dict], users: list[dict]):
        return ingest_path(store, _x_page(tmp_path / f"{name}.jsonl", tweets, users))

    steps = [("mention", [_mentioning(10, handle)], [other]),
             ("profile", [{"id": "1", "text": "t", "author_id": "5001"}], [profile])]
    if order == "profile first":
        steps.reverse()
    ingest(*steps[0])
    with store.connect() as c:
        a = S.accounts
        first = set(c.execute(select(a.c.platform_id)).scalars())
    if order == "mention first":  # a placeholder, until the profile comes
        assert first == {"5002", S.stub_key(handle)}
        if length <= 180:
            assert S.stub_key(handle) == "@" + handle.lower()
        else:
            assert len(S.stub_key(handle)) == 200
    ingest(*steps[1])
    ingest("again", [_mentioning(11, handle.upper())], [other])
    with store.connect() as c:
        refs = dict(c.execute(select(a.c.id, a.c.platform_id)).all())
        mentioned = sorted(refs[d] for d in c.execute(
            select(S.edges.c.dst_account_id).where(S.edges.c.kind == "mention")).scalars())
    assert sorted(refs.values()) == ["5001", "5002"]  # no placeholder left
    assert mentioned == ["5001", "5001"]


def test_long_handles_alike_in_their_first_characters_keep_apart(store, tmp_path):
    """Two handles of 190 characters that differ only after the 180th shared
    one placeholder (the key was cut at 180), and so one account took the
    other's mentions; each has its own now, merged into its own account."""
    a_handle, b_handle = "x" * 185 + "aaaaa", "x" * 185 + "bbbbb"
    other = {"id": "5002", "username": "other", "name": "Other"}
    ingest_path(store, _x_page(tmp_path / "m.jsonl",
                               [_mentioning(10, a_handle), _mentioning(11, b_handle)], [other]))
    with store.connect() as c:
        a = S.accounts
        placeholders = sorted(c.execute(select(a.c.handle).where(
            a.c.platform_id.startswith("@"))).scalars())
    assert placeholders == [a_handle, b_handle]
    ingest_path(store, _x_page(tmp_path / "p.jsonl",
                               [{"id": "1", "text": "t", "author_id": "6001"},
                                {"id": "2", "text": "t", "author_id": "6002"}],
                               [{"id": "6001", "username": a_handle, "name": "A"},
                                {"id": "6002", "username": b_handle, "name": "B"}]))
    with store.connect() as c:
        refs = dict(c.execute(select(a.c.id, a.c.platform_id)).all())
        mentioned = {p: refs[d] for p, d in c.execute(
            select(S.edges.c.post_id, S.edges.c.dst_account_id)
            .where(S.edges.c.kind == "mention"))}
        posts = dict(c.execute(select(S.posts.c.id, S.posts.c.platform_id)).all())
    assert sorted(refs.values()) == ["5002", "6001", "6002"]
    assert {posts[p]: d for p, d in mentioned.items()} == {"10": "6001", "11": "6002"}


def test_a_placeholder_cut_by_an_older_rasd_merges_at_the_next_ingest(store, tmp_path):
    """A placeholder an older rasd made for a long handle (its id cut at 180
    characters, its handle_key whole) is merged by its handle_key at the end
    of the next ingest, whatever that ingest brings."""
    handle = "Lion_" + "x" * 185
    other = {"id": "5002", "username": "other", "name": "Other"}
    ingest_path(store, _x_page(tmp_path / "p.jsonl", [{"id": "1", "text": "t", "author_id": "5001"}],
                               [{"id": "5001", "username": handle, "name": "Lion"}]))
    now = datetime(2024, 1, 1, tzinfo=UTC)
    with store.begin() as c:
        c.execute(insert(S.accounts).values(
            platform="x", platform_id="@" + handle.lower()[:180], handle=handle,
            handle_key=handle.lower(), stub=True, first_seen=now, last_seen=now))
    ingest_path(store, _x_page(tmp_path / "o.jsonl", [{"id": "2", "text": "t", "author_id": "5002"}],
                               [other]))
    with store.connect() as c:
        assert sorted(c.execute(select(S.accounts.c.platform_id)).scalars()) == ["5001", "5002"]


def test_a_run_counts_no_placeholder_for_a_handle_of_an_account_stored_unkeyed(store, tmp_path):
    """The run keys accounts stored without a handle_key before its first
    write (``key_accounts``), so a mention by handle of one resolves to it
    directly: the report counts no "@name" placeholder (``referenced_accounts``)
    for it, and the store holds none. Keyed only by the merge at the end, the
    run made a placeholder, counted it, then merged it away: one too many in
    the counts the user sees (and in `rasd runs`)."""
    import json

    from sqlalchemy import update

    def ingest(name: str, tweets: list[dict], users: list[dict]):
        f = tmp_path / f"{name}.jsonl"
        f.write_text(json.dumps({"data": tweets, "includes": {"users": users}}) + "\n")
        return ingest_path(store, f)

    ingest("profiles", [{"id": "1", "text": "t", "author_id": "5001"}],
           [{"id": "5001", "username": "Lion_Media", "name": "Lion"}])
    with store.begin() as c:  # rewritten without its key
        c.execute(update(S.accounts).where(S.accounts.c.platform_id == "5001")
                  .values(handle_key=None))
    handle = "lion_media"
    report = ingest("mentions", [
        {"id": "10", "text": f"hi @{handle} @nobody_yet", "author_id": "5002",
         "entities": {"mentions": [
             {"start": 3, "end": 4 + len(handle), "username": handle},
             {"start": 5 + len(handle), "end": 16 + len(handle), "username": "nobody_yet"}]}}],
        [{"id": "5002", "username": "other", "name": "Other"}])
    with store.connect() as c:
        a, e = S.accounts, S.edges
        refs = dict(c.execute(select(a.c.id, a.c.platform_id)).all())
        mentioned = sorted(refs[d] for d in c.execute(
            select(e.c.dst_account_id).where(e.c.kind == "mention")).scalars())
        counted = c.execute(select(S.ingest_files.c.counts)
                            .order_by(S.ingest_files.c.id.desc()).limit(1)).scalar_one()
    assert sorted(refs.values()) == ["5001", "5002", "@nobody_yet"]
    assert mentioned == ["5001", "@nobody_yet"]
    # one placeholder made and kept (@nobody_yet), none for the unkeyed account
    assert report.counts["referenced_accounts"] == 1
    assert counted["referenced_accounts"] == 1


def test_an_ingest_run_keys_accounts_once(store, tmp_path, monkeypatch):
    """An ingest run keys the accounts stored without keys once, before its
    first write (``key_accounts``); the merge of "@name" placeholders at its
    end does not again (its writer keys every account it writes), yet still
    merges a placeholder into an account that was stored unkeyed. Called by
    itself, the merge keys first."""
    import json

    from sqlalchemy import update

    from rasd.ingest import runner, writer
    from rasd.store.db import key_accounts

    calls: list[int] = []

    def counted(s):
        calls.append(1)
        return key_accounts(s)

    monkeypatch.setattr(runner, "key_accounts", counted)
    monkeypatch.setattr(writer, "key_accounts", counted)

    def ingest(name: str, tweets: list[dict], users: list[dict]):
        f = tmp_path / f"{name}.jsonl"
        f.write_text(json.dumps({"data": tweets, "includes": {"users": users}}) + "\n")
        return ingest_path(store, f)

    ingest("mention", [{"id": "10", "text": "hi @lion_media", "author_id": "5002",
                        "entities": {"mentions": [{"start": 3, "end": 14,
                                                   "username": "lion_media"}]}}],
           [{"id": "5002", "username": "other", "name": "Other"}])
    assert len(calls) == 1
    with store.begin() as c:  # the mentioning account rewritten without its key
        c.execute(update(S.accounts).where(S.accounts.c.platform_id == "5002")
                  .values(handle_key=None))
    calls.clear()
    ingest("profile", [{"id": "1", "text": "t", "author_id": "5001"}],
           [{"id": "5001", "username": "Lion_Media", "name": "Lion"}])
    assert len(calls) == 1
    with store.connect() as c:
        a = S.accounts
        keys = dict(c.execute(select(a.c.platform_id, a.c.handle_key)).all())
    assert keys == {"5001": "lion_media", "5002": "other"}  # placeholder merged, all keyed
    calls.clear()
    assert writer.merge_name_stubs(store) == 0 and len(calls) == 1


def test_marking_a_name_borne_by_more_than_are_listed_says_how_many(store):
    """`accounts mark NAME ROLE` refuses a name several accounts bear; past the
    100 it lists, it said "100+": it says how many bear it in all, and which
    command lists them all (the 4 not listed had no reference to name)."""
    _write(store, *(Account("telegram", f"m{i}", name="Many Mark") for i in range(104)))
    with pytest.raises(LookupError, match=r"^104 accounts are named 'many mark' "
                                          r"\(the first 100\): telegram:m0, .*; name one "
                                          r"by its reference; all of them: rasd accounts "
                                          r"list --name 'many mark' -n 0$"):
        set_role(store, "many mark", "news")
    assert all(r.role is None for r in find_accounts(store, "many mark"))


def _paged(store, size: int, **kw) -> list[str]:
    """Every page of ``size`` accounts ``list_accounts(**kw)`` gives, one
    after another by ``offset``, until one comes back short: their refs."""
    refs: list[str] = []
    while True:
        page = list_accounts(store, limit=size, offset=len(refs), **kw)
        refs += [r["ref"] for r in page]
        if len(page) < size:
            return refs


def test_list_accounts_pages_through_every_namesake_once(store):
    """`accounts show NAME` lists 100 of the accounts bearing a name; those
    past them on one platform could not be listed at all: `accounts list` had
    no name filter and no offset. ``list_accounts(name=, offset=)`` matches a
    name as the lookup does (any case; a name past the key's 200 characters
    compared in full) and pages through them: every one once, the same order
    as all at once, ties in the sort (equal counts, no handle, equal names)
    broken by id."""
    from sqlalchemy import update

    from rasd.accounts import lookup_accounts
    from rasd.model import Post

    cases = ("Same Name", "SAME NAME", "same name")
    long = "ü" * 199 + "ẞ"  # 201 characters folded ("ẞ" to "ss"): a key that is cut
    _write(store, *(Account("telegram", f"c{i}", handle=f"h{i}" if i % 4 == 0 else None,
                            name=cases[i % 3]) for i in range(23)),
           *(Account("x", f"{i}", handle=f"x{i}", name="same NAME") for i in range(2)),
           Account("telegram", "other", name="Same Names"),
           *(Account("telegram", f"l{i}", name=long + ("tail" if i % 2 else ""))
             for i in range(9)))
    _write(store, *(Post("telegram", f"c{i}/{k}", f"c{i}", "t")
                    for i in range(23) for k in range(i % 3)))
    with store.begin() as c:  # rewritten by SQL without its key: keyed, then found
        c.execute(update(S.accounts).where(S.accounts.c.platform_id == "c5")
                  .values(name_key=None))
    want = {f"telegram:c{i}" for i in range(23)} | {"x:0", "x:1"}
    every = {r["ref"]: r for r in list_accounts(store, limit=None)}
    for sort in ("posts", "flagged", "handle"):
        whole = [r["ref"] for r in list_accounts(store, name="same name", sort=sort,
                                                 limit=None)]
        assert sorted(whole) == sorted(want), sort
        for size in (1, 4, 7):
            assert _paged(store, size, name="SAME name", sort=sort) == whole, (sort, size)
        on_tg = _paged(store, 5, name="Same Name", platform="telegram", sort=sort)
        assert on_tg == [r for r in whole if r.startswith("telegram:")]
    # counted as the unfiltered list counts them (the counts read its accounts only)
    for r in list_accounts(store, name="same name", limit=None):
        assert (r["posts"], r["flagged"]) == (every[r["ref"]]["posts"],
                                              every[r["ref"]]["flagged"]), r["ref"]
    assert [r["posts"] for r in list_accounts(store, name="same name", limit=3)] == [2, 2, 2]
    # the accounts the lookup finds by that name
    found = lookup_accounts(store, "same name")
    assert {f"{r.platform}:{r.platform_id}" for r in found.rows} == want
    # a cut key: only the names equal in full, paged after they are told apart
    shorter = [f"telegram:l{i}" for i in range(0, 9, 2)]
    assert sorted(_paged(store, 2, name=long.upper(), sort="handle")) == sorted(shorter)
    assert len(_paged(store, 1, name=long + "TAIL")) == 4
    assert list_accounts(store, name=long, offset=5) == []
    # by handle, with or without @, any case
    assert [r["ref"] for r in list_accounts(store, handle="@H4")] == ["telegram:c4"]
    assert [r["ref"] for r in list_accounts(store, handle="x1", name="same name")] == ["x:1"]
    assert list_accounts(store, handle="x1", name="other") == []
    assert list_accounts(store, name="") == list_accounts(store, handle="@") == []
    assert list_accounts(store, name="same name", offset=25) == []
    with pytest.raises(ValueError, match="offset -1"):
        list_accounts(store, offset=-1)


def test_accounts_show_points_to_the_list_of_every_namesake_hostile_names_too(
        store, monkeypatch):
    """Past the accounts it lists, `accounts show NAME` said how many bear the
    name and "narrow with --platform", which does not help where more than
    it lists are on one platform: those could not be listed at all. Its last
    line now gives the `accounts list --name` command that lists every one,
    each value one shell word however hostile the name (quotes, a line break,
    a bidi override, a leading dash, $(…)): pasted into a shell, it lists
    exactly the accounts bearing the name (on its platform where the
    reference or --platform gave one). --json says whether "matches" is
    exact ("matches_exact": false where the name's key is cut)."""
    import re
    import shutil
    import subprocess

    from typer.testing import CliRunner

    from rasd.accounts import roles
    from rasd.cli import app

    if not shutil.which("bash"):
        pytest.skip("bash reads the command printed")
    monkeypatch.setattr(roles, "NAME_MATCHES", 2)
    names = ["it's \"quoted\"", "new\nline", "\u202eevil\u202c x", "-n 5", "$(touch p) `x`",
             "back\\slash\t", "ä" * 201]
    for n, name in enumerate(names):
        _write(store, *(Account("telegram", f"{n}c{i}", name=name.upper() if i % 2 else name)
                        for i in range(3)),
               Account("x", f"{n}", name=name), Account("x", f"{n}o", name=name + " other"))
    env = {"LC_ALL": "C.UTF-8"}
    for n, name in enumerate(names):
        for opts, ref, plat in (([], name, None), (["-p", "telegram"], name, "telegram"),
                                ([], f"telegram:{name}", "telegram")):
            out, _ = _show_counted(store, monkeypatch, *opts, "--", ref)  # "-n 5" a name
            assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]", out), out
            last = out.splitlines()[-1]
            # a cut key: "x:{n}o", named NAME + " other", counted too
            total = f"{'' if len(name) < 200 else 'up to '}{3 if plat else 4 + (len(name) >= 200)}"
            assert last.startswith(f"showing 2 of {total} {plat + ' ' if plat else ''}"
                                   f"accounts named {ref!r}; all: rasd accounts list "), last
            command = last.partition("; all: ")[2].removesuffix(
                " (narrow with --platform PLATFORM)")
            argv = subprocess.run(["bash", "-c", f"printf '%s\\0' {command}"],
                                  capture_output=True, check=True, env=env
                                  ).stdout.decode().split("\0")[:-1]
            assert argv[:5] == ["rasd", "accounts", "list", "--name", name], argv
            listed = CliRunner().invoke(app, [*argv[1:], "--json"])
            assert listed.exit_code == 0, listed.output
            want = {f"telegram:{n}c{i}" for i in range(3)} | (set() if plat else {f"x:{n}"})
            assert {r["ref"] for r in orjson.loads(listed.output)} == want, (name, ref)
        got = orjson.loads(_show_counted(store, monkeypatch, "--json", "--", name)[0])
        assert [(a["matches"], a["matches_exact"]) for a in got] == [
            (5 if len(name) >= 200 else 4, len(name) < 200)] * 2, name


def test_accounts_list_pages_by_offset_and_says_where_the_next_page_starts(store, monkeypatch):
    """`accounts list --name NAME -n N --offset K` pages through the accounts
    bearing a name: a page cut at -n says (on standard error) the --offset of
    the next; one past the end says there are none past it."""
    from typer.testing import CliRunner

    import rasd.cli.accounts
    from rasd.cli import app

    monkeypatch.setattr(rasd.cli.accounts, "get_store", lambda create=False: store)
    _write(store, *(Account("telegram", f"c{i}", name="Paged") for i in range(5)),
           Account("x", "1", handle="paged", name="Other"))

    def run(*args: str):
        out = CliRunner().invoke(app, ["accounts", "list", *args])
        assert out.exit_code == 0, out.output
        return out

    pages = [run("--name", "PAGED", "-n", "2", "--offset", str(k)) for k in (0, 2, 4)]
    refs = [ln.split("\t")[0] for p in pages for ln in p.stdout.splitlines()[1:]]
    assert refs == [f"telegram:c{i}" for i in range(5)]
    assert pages[0].stderr == "rasd: more accounts than the 2 shown (-n 0 lists all)\n"
    assert pages[1].stderr == "rasd: more accounts than the 2 shown (--offset 4 lists the next)\n"
    assert pages[2].stderr == ""
    assert run("--name", "paged", "--offset", "5").stdout == "no accounts match past --offset 5\n"
    assert run("--offset", "6").stdout == "no accounts past --offset 6\n"
    assert [r["ref"] for r in orjson.loads(run("--handle", "@PAGED", "--json").stdout)] == ["x:1"]
    assert run("--name", "nobody").stdout == "no accounts match\n"


def test_migration_0023_drops_the_unused_handle_index_and_its_downgrade_restores_it(store):
    """Accounts are found and listed by ``handle_key`` (0015): the index on
    (platform, handle) was written at every account row and read by nothing.
    0023 drops it, its downgrade builds it again, and lookups by handle whatever
    its case still find the account (through ``ix_accounts_handle_key``)."""
    from alembic import command
    from sqlalchemy import inspect

    from rasd.store.migrate import alembic_config

    _write(store, Account("x", "1", handle="SomeOne"))

    def indexes(c):
        return {ix["name"] for ix in inspect(c).get_indexes("accounts")}

    with store.engine.connect() as c:
        assert "ix_accounts_handle" not in indexes(c)
        assert "ix_accounts_handle_key" in indexes(c)
        cfg = alembic_config(store.engine)
        cfg.attributes["connection"] = c
        command.downgrade(cfg, "0022")
        c.commit()
        assert "ix_accounts_handle" in indexes(c)
        command.upgrade(cfg, "head")
        c.commit()
        assert "ix_accounts_handle" not in indexes(c)
    assert [r.platform_id for r in find_accounts(store, "@someone")] == ["1"]
