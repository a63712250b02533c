"""Banks: import formats, export round trip, enable/disable, tombstones, negative banks,
flood quarantine — on SQLite and (with RASD_TEST_PG_URL) PostgreSQL."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rasd.detect.media import banks as B
from rasd.detect.media.hasher import hash_path
from rasd.detect.media.matcher import Matcher

DEMO = Path(__file__).resolve().parents[1] / "src" / "rasd" / "data" / "demo"
PHOTOS = DEMO / "telegram" / "photos"
POSTER = PHOTOS / "photo_1@01-03-2024_10-00-00.jpg"
REUPLOAD = PHOTOS / "photo_2@02-03-2024_09-15-00.jpg"
OTHER = PHOTOS / "photo_3@03-03-2024_18-30-00.jpg"


@pytest.fixture(autouse=True)
def _index_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("RASD_INDEX_DIR", str(tmp_path / "idx"))


def _pdq(p: Path) -> str:
    return hash_path(p, ["pdq"]).signals["pdq"].value


def _sig(p: Path) -> dict[str, str]:
    return {k: v.value for k, v in hash_path(p).signals.items()}


def test_import_formats_and_errors_name_the_line(store, tmp_path):
    B.create_bank(store, "hma", labels={"policy": "incitement"})
    f = tmp_path / "hma.csv"
    pdq = _pdq(POSTER)
    # the signal on line 2 comes again on line 6: the last row's labels are its own
    f.write_text(f"signal_type,signal,labels\npdq,{pdq},entity=other\n"
                 "md5,0123456789abcdef0123456789abcdef,\nvideo_md5,zz,\ntmk,abc,\n"
                 f"pdq,{pdq.upper()},entity=demo-group;propaganda\n")
    rep = B.import_file(store, "hma", f)
    assert (rep.read, rep.added, rep.invalid, rep.duplicates) == (5, 2, 2, 1)
    assert any(":4:" in e and "field signal" in e for e in rep.errors)
    assert any(":5:" in e and "unknown signal type" in e for e in rep.errors)
    # (the signal is written where its winning row stands: after the md5)
    rows = {r["signal_type"]: r for r in B.export_rows(store, "hma")}
    assert rows["pdq"]["labels"] == {"policy": "incitement", "entity": "demo-group",
                                     "tags": ["propaganda"]}

    # GIFCT/TCAP-style: header with entity and content-type columns
    B.create_bank(store, "gifct")
    g = tmp_path / "gifct.csv"
    g.write_text("hash_type,hash,entity,content_type,severity\n"
                 f"PDQ,{pdq},Demo Group,Branded content,high\n"
                 "MD5,ffffffffffffffffffffffffffffffff,Demo Group,Manifesto,\n")
    rep = B.import_file(store, "gifct", g)
    assert rep.added == 2 and rep.invalid == 0
    labels = [r["labels"] for r in B.export_rows(store, "gifct")]
    assert labels[0] == {"entity": "Demo Group", "content": "Branded content",
                         "severity": "high"}

    # plain list: 64 hex is ambiguous without --type; md5 inferred
    B.create_bank(store, "plain")
    p = tmp_path / "list.txt"
    p.write_text(f"# comment\n{pdq}\n")
    rep = B.import_file(store, "plain", p)
    assert rep.added == 0 and "pass --type" in rep.errors[0] and ":2:" in rep.errors[0]
    rep = B.import_file(store, "plain", p, signal_type="pdq")
    assert rep.added == 1
    p.write_text("0123456789abcdef0123456789abcdef\n")
    assert B.import_file(store, "plain", p).by_type == {"md5": 1}

    # hostile input
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(B.BankError, match="not UTF-8|NUL"):
        B.import_file(store, "plain", bad)
    with pytest.raises(B.BankError, match="no bank named"):
        B.import_file(store, "nope", p)
    with pytest.raises(B.BankError, match="already exists"):
        B.create_bank(store, "plain")
    with pytest.raises(B.BankError, match="bank name"):
        B.create_bank(store, "../etc")


@pytest.mark.shared_data
def test_vpdq_bank_from_meta_sample_file(store, shared_data):
    B.create_bank(store, "videos")
    rep = B.import_file(store, "videos",
                        shared_data / "pdq" / "vpdq-sample-hashes" / "pattern-sd-grey-bar.txt")
    assert rep.by_type == {"vpdq": 1}
    m = Matcher(store)
    hits = m.lookup_all(_sig(shared_data / "pdq" / "tmk-sample-videos" /
                             "pattern-sd-grey-bar.mp4"))
    assert [h.signal_type for h in hits] == ["vpdq"]
    assert hits[0].detail["query_match_pct"] == 100.0
    other = m.lookup_all(_sig(shared_data / "pdq" / "tmk-sample-videos" /
                              "chair-19-sd-bar.mp4"))
    assert other == []


def test_export_round_trip(store, tmp_path):
    B.create_bank(store, "a", labels={"entity": "x"})
    f = tmp_path / "in.csv"
    f.write_text(f"pdq,{_pdq(POSTER)},content=poster\nmd5,{'a' * 32},\n")
    B.import_file(store, "a", f)
    buf = io.StringIO()
    assert B.write_csv(B.export_rows(store, "a"), buf) == 2
    out = tmp_path / "out.csv"
    out.write_text(buf.getvalue())
    B.create_bank(store, "b")
    rep = B.import_file(store, "b", out)
    assert rep.added == 2
    assert [r["labels"] for r in B.export_rows(store, "b")] == \
        [r["labels"] for r in B.export_rows(store, "a")]


def test_export_all_round_trip_keeps_statuses(store, tmp_path):
    """`bank export --all` writes a status column; importing it keeps each status
    (a tombstone stays a tombstone, so the original list cannot revive it later;
    a quarantined signal is queued for review again) and never makes it a label."""
    B.create_bank(store, "a", labels={"entity": "x"})
    hexes = [_pdq(POSTER), _pdq(REUPLOAD), _pdq(OTHER)]
    B.add_signals(store, "a", [B.Entry(i, "pdq", h, {}) for i, h in enumerate(hexes)]
                  + [B.Entry(9, "md5", "b" * 32, {})])
    B.set_signal_status(store, B.find_signals(store, "a", hexes[0], "pdq"), "tombstoned")
    B.set_signal_status(store, B.find_signals(store, "a", hexes[1], "pdq"), "disabled")
    B.set_signal_status(store, B.find_signals(store, "a", hexes[2], "pdq"), "quarantined")
    buf = io.StringIO()
    B.write_csv(B.export_rows(store, "a", include_inactive=True), buf, with_status=True)
    f = tmp_path / "all.csv"
    f.write_text(buf.getvalue())
    B.create_bank(store, "b")
    rep = B.import_file(store, "b", f)
    assert (rep.added, rep.invalid) == (4, 0)
    assert rep.by_status == {"tombstoned": 1, "disabled": 1, "quarantined": 1}
    got = {r["signal"]: (r["status"], r["labels"]) for r in
           B.export_rows(store, "b", include_inactive=True)}
    assert got == {hexes[0]: ("tombstoned", {"entity": "x"}),
                   hexes[1]: ("disabled", {"entity": "x"}),
                   hexes[2]: ("quarantined", {"entity": "x"}),
                   "b" * 32: ("active", {"entity": "x"})}
    assert [r["bank"] for r in B.open_reviews(store)] == ["b"]
    assert "imported as quarantined" in B.open_reviews(store)[0]["reason"]
    plain = tmp_path / "plain.txt"
    plain.write_text("\n".join(hexes) + "\n")
    assert B.import_file(store, "b", plain, signal_type="pdq").added == 0
    assert B.get_bank(store, "b").counts["tombstoned"] == 1
    assert Matcher(store).lookup_all(_sig(POSTER)) == []
    bad = tmp_path / "bad.csv"
    bad.write_text(f"signal_type,signal,status\npdq,{hexes[0]},gone\n")
    B.create_bank(store, "c")
    rep = B.import_file(store, "c", bad)
    assert rep.added == 0 and rep.errors == [
        (f"{bad}:2: field status: 'gone' is not one of active, disabled, tombstoned, "
         "quarantined")]


@pytest.mark.parametrize("batch", [2000, 2])
def test_the_last_row_for_a_signal_in_a_file_wins(store, tmp_path, monkeypatch, batch):
    """A list that names a signal active and later tombstoned (or relabelled) holds
    the signal as its last row says, as an HMA / ThreatExchange fetch applies its
    updates in order — the tombstone was dropped as a duplicate of the first row,
    leaving the signal active. So too when the rows fall in different write
    batches (``batch`` = 2: the import writes two rows a transaction; and keeps
    one row from its first reading of the file, reading the others again)."""
    monkeypatch.setattr(B, "IMPORT_BATCH", batch)
    monkeypatch.setattr(B, "KEEP_ROWS", 1 if batch == 2 else B.KEEP_ROWS)
    a, b, c, d = ("a" * 32, "b" * 32, "c" * 32, "d" * 32)
    f = tmp_path / "list.csv"
    f.write_text("signal_type,signal,labels,status\n"
                 f"md5,{a},entity=x,active\n"
                 f"md5,{b},,quarantined\n"
                 f"md5,{c},,tombstoned\n"
                 f"md5,{d},,active\n"
                 f"md5,{a.upper()},entity=y,tombstoned\n"
                 f"md5,{b},,active\n"
                 f"md5,{c},entity=z,active\n")
    B.create_bank(store, "k")
    rep = B.import_file(store, "k", f)
    assert (rep.read, rep.added, rep.duplicates, rep.invalid) == (7, 4, 3, 0)
    assert rep.by_type == {"md5": 4}
    assert rep.by_status == {"tombstoned": 1}
    got = {r["signal"]: (r["status"], r["labels"]) for r in
           B.export_rows(store, "k", include_inactive=True)}
    assert got == {a: ("tombstoned", {"entity": "y"}), b: ("active", {}),
                   c: ("active", {"entity": "z"}), d: ("active", {})}
    assert B.open_reviews(store) == []  # b ended active: no review stays open
    assert Matcher(store).lookup("md5", a) == []
    # a signal the bank held before: the last row is the one the rules see
    g = tmp_path / "again.csv"
    g.write_text(f"signal_type,signal,status\nmd5,{d},tombstoned\nmd5,{d},active\n"
                 f"md5,{c},active\nmd5,{c},tombstoned\n")
    rep = B.import_file(store, "k", g)
    assert (rep.added, rep.duplicates, rep.tombstones_not_applied) == (0, 4, 1)


@pytest.mark.parametrize("batch", [2000, 2])
def test_a_held_signals_later_row_undoes_its_tombstone_across_batches(
        store, tmp_path, monkeypatch, batch):
    """For a signal the bank held before, the file's last row is what the rules
    see: a tombstone row followed by an active row is no tombstone. Where the
    two rows fell in different write batches (``batch`` = 2), the first batch
    counted the tombstone and, with --apply-tombstones, tombstoned the signal,
    which the later active row left so."""
    monkeypatch.setattr(B, "IMPORT_BATCH", batch)
    a, b, c = ("a" * 32, "b" * 32, "c" * 32)
    B.create_bank(store, "h")
    B.add_signals(store, "h", [B.Entry(1, "md5", a, {}), B.Entry(2, "md5", c, {})])
    f = tmp_path / "undo.csv"
    f.write_text("signal_type,signal,status\n"
                 f"md5,{a},tombstoned\nmd5,{b},active\nmd5,{a},active\n"
                 f"md5,{c},active\nmd5,{b},active\nmd5,{c},tombstoned\n")
    rep = B.import_file(store, "h", f)
    assert (rep.tombstones_not_applied, rep.tombstones_applied) == (1, 0)
    rep = B.import_file(store, "h", f, apply_tombstones=True)
    assert (rep.tombstones_not_applied, rep.tombstones_applied) == (0, 1)
    got = {r["signal"]: r["status"] for r in B.export_rows(store, "h", include_inactive=True)}
    assert got == {a: "active", b: "active", c: "tombstoned"}


@pytest.mark.parametrize("labels", [
    {"tags": ["foo"]},
    {"tags": ["a", "b"], "entity": "x"},
    {"content": "poster; v2", "entity": "a|b"},
    {"note": "  padded "},
    {"tags": ["incitement"], "policy": "threat"},
    {"url": "http://example.org/a=b"},
    {"entity": "{braced}"},
    {"tags": ["{x}", "y"]},
    {"Key": "v", "policy": "recruitment"},
])
def test_labels_round_trip_exactly(labels):
    """format_labels then parse_labels gives the labels back: tags stay a list of
    whole words, and a value holding a separator is not split."""
    assert B.parse_labels(B.format_labels(labels)) == labels


@pytest.mark.parametrize("cell", ['@SUM(1+1)*cmd', "=HYPERLINK(\"http://x\")", "+1", "-2",
                                  "\tx", "=1+2", "k="])
def test_an_exported_label_never_begins_as_a_spreadsheet_formula(store, tmp_path, cell):
    """A partner's tag is written by `rasd bank export` as it came: a cell
    beginning "=", "+", "-", "@" (a tag "@SUM(1+1)*cmd;…") is a formula when
    the CSV is opened in a spreadsheet (CSV injection). Such labels are
    written in the JSON form, which reads back the same. A token with an empty
    key or value ("=1+2", "k=") was dropped without a word: it is a tag now."""
    import csv

    f = tmp_path / "in.csv"
    with f.open("w", newline="") as out:
        csv.writer(out).writerows([["signal_type", "signal", "labels"],
                                   ["md5", "c" * 32, cell]])
    B.create_bank(store, "t")
    B.import_file(store, "t", f)
    buf = io.StringIO()
    B.write_csv(B.export_rows(store, "t"), buf)
    (row,) = list(csv.reader(io.StringIO(buf.getvalue())))[1:]
    assert row[2] and not row[2].startswith(("=", "+", "-", "@", "\t", "\r")), row
    assert B.parse_labels(row[2]) == {"tags": [cell.strip()]}


def test_labels_tags_key_and_legacy_string(store, tmp_path):
    assert B.parse_labels("tags=foo") == {"tags": ["foo"]}
    assert B.parse_labels("tags=foo;bar") == {"tags": ["foo", "bar"]}
    assert B.format_labels({"tags": "foo"}) == "foo"  # a string stored by an older rasd
    B.create_bank(store, "t", labels=B.parse_labels("tags=foo"))
    B.add_signals(store, "t", [B.Entry(1, "md5", "c" * 32, {"content": "a;b"})])
    buf = io.StringIO()
    B.write_csv(B.export_rows(store, "t"), buf)
    f = tmp_path / "t.csv"
    f.write_text(buf.getvalue())
    B.create_bank(store, "u")
    B.import_file(store, "u", f)
    assert next(B.export_rows(store, "u"))["labels"] == {"tags": ["foo"], "content": "a;b"}


def test_policy_labels_are_the_policys(store, tmp_path):
    """A policy label from a file or --label is one of the policy's labels (any case),
    or a GIFCT category name with one clear meaning; anything else is an error that
    names the file and line, and the row is skipped."""
    assert B.parse_labels("policy=Incitement") == {"policy": "incitement"}
    assert B.parse_labels("THREAT") == {"policy": "threat"}
    assert B.parse_labels("policy=Glorification of Terrorist Acts") == {"policy": "incitement"}
    assert B.parse_labels("policy=imminent credible threat") == {"policy": "threat"}
    with pytest.raises(B.BankError, match="policy label 'foo'.*incitement"):
        B.parse_labels("policy=foo")
    B.create_bank(store, "g")
    f = tmp_path / "gifct.csv"
    f.write_text("hash_type,hash,entity,policy\n"
                 "MD5,dddddddddddddddddddddddddddddddd,Demo Group,Incitement\n"
                 "MD5,eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee,Demo Group,Memes\n")
    rep = B.import_file(store, "g", f)
    assert rep.added == 1 and len(rep.errors) == 1
    assert rep.errors[0].startswith(f"{f}:3: field policy: policy label 'Memes'")
    assert next(B.export_rows(store, "g"))["labels"] == {"entity": "Demo Group",
                                                        "policy": "incitement"}
    rep = B.add_signals(store, "g", [B.Entry(7, "md5", "1" * 32, {"policy": "Threat"}),
                                     B.Entry(8, "md5", "2" * 32, {"policy": "memes"})])
    assert rep.added == 1 and rep.errors[0].startswith("input:8: field policy:")
    h = tmp_path / "hma.csv"
    h.write_text("signal_type,signal,labels\nmd5," + "f" * 32 + ",policy=nope\n")
    rep = B.import_file(store, "g", h)
    assert rep.added == 0 and rep.errors[0].startswith(f"{h}:2: field labels: policy label")


def test_match_rules_disable_tombstone_negative(store, tmp_path):
    B.create_bank(store, "known", labels={"policy": "incitement", "entity": "demo-group"})
    B.add_signals(store, "known", [B.Entry(1, "pdq", _pdq(POSTER), {})])
    m = Matcher(store)
    hits = m.decide(m.lookup_all(_sig(REUPLOAD)))
    assert [(h.bank, h.outcome) for h in hits] == [("known", "reported")]
    assert 0 < hits[0].distance <= 31 and hits[0].labels["entity"] == "demo-group"
    assert m.lookup_all(_sig(OTHER)) == []

    # per-bank threshold
    tight = B.create_bank(store, "tight", pdq_threshold=0)
    B.add_signals(store, tight, [B.Entry(1, "pdq", _pdq(POSTER), {})])
    m.refresh()
    assert {h.bank for h in m.lookup_all(_sig(REUPLOAD))} == {"known"}
    assert {h.bank for h in m.lookup_all(_sig(POSTER))} == {"known", "tight"}
    B.set_bank_enabled(store, "tight", False)

    # a disabled bank and a tombstoned signal stop matching at once
    B.set_bank_enabled(store, "known", False)
    assert m.lookup_all(_sig(REUPLOAD)) == []
    B.set_bank_enabled(store, "known", True)
    ids = B.find_signals(store, "known", _pdq(POSTER))
    B.set_signal_status(store, ids, "tombstoned", "test")
    assert m.lookup_all(_sig(REUPLOAD)) == []
    rep = B.add_signals(store, "known", [B.Entry(1, "pdq", _pdq(POSTER), {})])
    assert rep.added == 0  # a re-import does not revive a tombstone
    B.add_signals(store, "known", [B.Entry(1, "pdq", _pdq(REUPLOAD), {})])
    m.refresh()

    # a negative bank suppresses the positive match
    B.create_bank(store, "fp", negative=True, pdq_threshold=2)
    B.add_signals(store, "fp", [B.Entry(1, "pdq", _pdq(REUPLOAD), {})])
    m.refresh()
    hits = m.decide(m.lookup_all(_sig(REUPLOAD)))
    assert sorted((h.bank, h.outcome) for h in hits) == [("fp", "negative"),
                                                          ("known", "suppressed")]
    hits = m.decide(m.lookup_all(_sig(POSTER)))  # farther than fp's threshold of 2
    assert [(h.bank, h.outcome) for h in hits] == [("known", "reported")]


def test_a_tombstone_is_permanent(store):
    """The docs call a tombstone removal for good: setting a tombstoned signal back to
    active or disabled is refused with a clear error, and the signal does not match."""
    B.create_bank(store, "known")
    B.add_signals(store, "known", [B.Entry(1, "pdq", _pdq(POSTER), {})])
    ids = B.find_signals(store, "known", _pdq(POSTER))
    m = Matcher(store)
    assert len(m.lookup_all(_sig(REUPLOAD))) == 1
    B.set_signal_status(store, ids, "tombstoned")
    for status in ("active", "disabled", "quarantined"):
        with pytest.raises(B.BankError, match=rf"signal #{ids[0]} is tombstoned"):
            B.set_signal_status(store, ids, status)
    assert B.get_bank(store, "known").counts == {"tombstoned": 1}
    m.refresh()
    assert m.lookup_all(_sig(REUPLOAD)) == []
    assert B.set_signal_status(store, ids, "tombstoned") == 1  # again: no harm


def _media(store, n: int) -> list[int]:
    from rasd.store import schema as S
    from rasd.store.db import now

    with store.begin() as c:
        return [c.execute(S.media.insert().values(platform="telegram", media_key=f"m{i}",
                                                  type="photo", first_seen=now())
                          ).inserted_primary_key[0] for i in range(n)]


def test_flood_quarantine_pauses_signal_and_queues_review(store):
    B.create_bank(store, "known")
    B.add_signals(store, "known", [B.Entry(1, "pdq", _pdq(POSTER), {})])
    m = Matcher(store, flood_max=3, flood_window_s=3600)
    outcomes = []
    for mid in _media(store, 5):
        hits = m.decide(m.lookup_all(_sig(REUPLOAD)), media_id=mid)
        m.record(hits, media_id=mid)
        outcomes.append(hits[0].outcome)
    assert outcomes == ["reported"] * 3 + ["quarantined"] * 2
    reviews = B.open_reviews(store)
    assert len(reviews) == 1 and "more than 3 distinct items" in reviews[0]["reason"]
    assert B.get_bank(store, "known").counts == {"quarantined": 1}
    # a reviewer restores it: the review closes and the signal reports again
    B.set_signal_status(store, [reviews[0]["signal_id"]], "active")
    assert B.open_reviews(store) == []
    m2 = Matcher(store, flood_max=0)
    assert m2.decide(m2.lookup_all(_sig(REUPLOAD)))[0].outcome == "reported"


@pytest.mark.parametrize("batch", [2000, 1])
def test_a_quarantined_signal_disabled_later_leaves_the_review_queue(
        store, tmp_path, monkeypatch, batch):
    """A review opened for a quarantined signal stayed open when the signal was
    then disabled — by a later row of the import (``batch`` = 1: the rows in two
    write batches; in one, the later row replaced the first before any review
    opened) or by ``rasd bank signal … --set disabled`` after flood quarantine —
    so ``rasd bank reviews`` listed a signal that waits for no one. Disabling
    closes the review (decision ``disable``), as restoring and tombstoning do.
    The import writes each signal once, as its last row says, wherever the batches
    fall: no review opens for one whose last row is not quarantined."""
    from sqlalchemy import select

    from rasd.detect.media import schema as M

    monkeypatch.setattr(B, "IMPORT_BATCH", batch)
    a, b = "a" * 32, "b" * 32
    f = tmp_path / "list.csv"
    f.write_text("signal_type,signal,status\n"
                 f"md5,{a},quarantined\nmd5,{b},quarantined\nmd5,{a},disabled\n")
    B.create_bank(store, "k")
    B.import_file(store, "k", f)
    got = {r["signal"]: r["status"] for r in B.export_rows(store, "k", include_inactive=True)}
    assert got == {a: "disabled", b: "quarantined"}
    assert [r["signal"] for r in B.open_reviews(store)] == [b]  # b still waits

    # flood quarantine, then a reviewer disables the signal rather than decide
    B.add_signals(store, "k", [B.Entry(1, "pdq", _pdq(POSTER), {})])
    m = Matcher(store, flood_max=1, flood_window_s=3600)
    for mid in _media(store, 3):
        m.record(m.decide(m.lookup_all(_sig(REUPLOAD)), media_id=mid), media_id=mid)
    [sid] = [r["signal_id"] for r in B.open_reviews(store) if r["signal_type"] == "pdq"]
    assert B.set_signal_status(store, [sid], "disabled") == 1
    assert [r["signal"] for r in B.open_reviews(store)] == [b]
    with store.connect() as c:
        decisions = sorted(r[0] for r in c.execute(select(M.signal_reviews.c.decision).where(
            M.signal_reviews.c.closed_at.is_not(None))))
    assert decisions == ["disable"]  # the flood review's; the import opened none for a


def test_cli_bank_session(tmp_path, monkeypatch):
    from rasd.cli import app, common

    db = tmp_path / "cli.db"
    monkeypatch.setattr(common.STATE, "store", None)
    run = CliRunner()

    def cli(*args: str):
        common.STATE.store = None
        return run.invoke(app, ["--db", str(db), *args])

    assert cli("bank", "create", "demo", "--label", "entity=demo-group", "--label",
               "incitement").exit_code == 0
    r = cli("bank", "import", "demo", str(DEMO / "banks" / "demo-known-content.csv"))
    assert r.exit_code == 0 and "added 2" in r.stdout
    r = cli("bank", "import", "demo", str(tmp_path))
    assert r.exit_code == 2 and f"{tmp_path}: is a folder, not a bank file" in r.stderr
    (tmp_path / "empty.csv").write_text("")
    r = cli("bank", "import", "demo", str(tmp_path / "empty.csv"))
    assert r.exit_code == 0 and "read 0" in r.stdout
    assert "empty.csv: no signals in the file" in r.stderr
    r = cli("match", str(POSTER), str(REUPLOAD), str(OTHER))
    assert r.exit_code == 0
    assert "REPORTED pdq bank=demo distance=0" in r.stdout
    assert "photo_3@03-03-2024_18-30-00.jpg: no match" in r.stdout
    assert "2 of 3 file(s) matched" in r.stdout
    r = cli("bank", "export", "demo")
    assert r.stdout.startswith("signal_type,signal,labels\n") and r.stdout.count("\n") == 3
    r = cli("bank", "tombstone", "demo", _pdq(POSTER), "--type", "pdq")
    assert r.exit_code == 0 and "tombstoned" in r.stdout
    r = cli("match", str(REUPLOAD))
    assert "no match" in r.stdout
    r = cli("bank", "signal", "demo", _pdq(POSTER), "--type", "pdq", "--set", "active")
    assert r.exit_code == 2 and "is tombstoned" in r.stderr and "for good" in r.stderr
    assert cli("bank", "disable", "nope").exit_code == 2
    r = cli("bank", "create", "bad", "--label", "policy=foo")
    assert r.exit_code == 2 and "--label 'policy=foo': policy label 'foo'" in r.stderr
    r = cli("bank", "list", "--json")
    assert '"tombstoned": 1' in r.stdout
    cli("bank", "create", "tabbed", "--label", "content=a\tb")
    # every column says what it is (a bare "-" stood for "not negative, enabled"),
    # and a bank's own --pdq-threshold is shown
    assert cli("bank", "create", "logos", "--negative", "--pdq-threshold", "10").exit_code == 0
    assert cli("bank", "disable", "logos").exit_code == 0
    r = cli("bank", "list")
    assert r.stdout.splitlines() == [
        ("demo\tpositive\tenabled\tpdq_threshold=31 (default)\tsignals: active=1 tombstoned=1"
         "\tlabels=entity=demo-group;policy=incitement"),
        "logos\tnegative\tdisabled\tpdq_threshold=10\tsignals: none\tlabels=-",
        ("tabbed\tpositive\tenabled\tpdq_threshold=31 (default)\tsignals: none"
         "\tlabels=content=a\\tb")]  # a tab inside a field is escaped
    common.STATE.store = None


def test_oversized_csv_field_is_a_clear_error(store, tmp_path):
    B.create_bank(store, "big")
    f = tmp_path / "big.csv"
    f.write_text("signal_type,signal\npdq,\"" + "a" * (B.MAX_FIELD + 10) + "\"\n")
    with pytest.raises(B.BankError, match=r"big.csv:\d+: malformed CSV"):
        B.import_file(store, "big", f)


def test_a_csv_malformed_after_some_batches_imports_nothing(store, tmp_path, monkeypatch):
    """A CSV that cannot be read to its end (a field over the limit, here on line
    9) is an error naming the line, and nothing of it is imported: the import
    wrote the batches before the bad line (six signals, two a transaction) and
    then stopped half-way, so that the bank held part of a file it reported as
    failed. The whole file is now read before anything is written."""
    monkeypatch.setattr(B, "IMPORT_BATCH", 2)
    monkeypatch.setattr(B, "MAX_FIELD", 200)
    B.create_bank(store, "k")
    f = tmp_path / "cut.csv"
    rows = [f"md5,{i:032x},entity=x" for i in range(1, 8)]
    f.write_text("signal_type,signal,labels\n" + "\n".join(rows)
                 + '\nmd5,"' + "a" * 300 + '"\n' + f"md5,{99:032x},\n")
    with pytest.raises(B.BankError, match=r"cut.csv:9: malformed CSV"):
        B.import_file(store, "k", f)
    assert B.get_bank(store, "k").counts == {}


def test_a_csv_quote_left_open_is_an_error_not_rows_lost(store, tmp_path):
    """A quote never closed (a stray '"' opening a label, a cut-off file) made
    every later line the text of that label: the file "imported" with its
    later signals lost and no error. So did text after a closing quote
    ('"a "b" c"'). Each is malformed CSV now, naming the line, and nothing of
    the file is imported."""
    B.create_bank(store, "q")
    f = tmp_path / "open.csv"
    f.write_text("signal_type,signal,labels\n"
                 f"md5,{1:032x},entity=x\nmd5,{2:032x},\"abc\nmd5,{3:032x},a\n"
                 f"md5,{4:032x},b\n")
    with pytest.raises(B.BankError, match=r"open.csv:3: malformed CSV: a quoted field in "
                       "the row of this line is not closed by the end of the file"):
        B.import_file(store, "q", f)
    f.write_text("signal_type,signal,labels\n"
                 f"md5,{1:032x},\"a \"b\" c\"\nmd5,{3:032x},a\n")
    with pytest.raises(B.BankError, match=r"open.csv:2: malformed CSV"):
        B.import_file(store, "q", f)
    assert B.get_bank(store, "q").counts == {}
    f.write_text('signal_type,signal,labels\n'
                 f'md5,{1:032x},"a ""b"" c"\nmd5,{3:032x},"x,\ny"\n')  # quoted as CSV quotes
    assert B.import_file(store, "q", f).added == 2


def test_a_csv_header_with_two_signal_columns_is_an_error(store, tmp_path):
    """A header naming the signal (or type, status, quality) column twice
    read the first and dropped the other's values without a word."""
    B.create_bank(store, "d")
    f = tmp_path / "dup.csv"
    for head in ("signal_type,signal,signal,labels", "signal_type,md5,pdq,labels",
                 "type,hash_type,signal,labels"):
        f.write_text(f"{head}\nmd5,{1:032x},{2:032x},x\n")
        with pytest.raises(B.BankError, match=r"dup.csv:1: the header has 2 .* columns \("):
            B.import_file(store, "d", f)
    assert B.get_bank(store, "d").counts == {}


def test_a_csv_of_lone_cr_line_ends_is_read(store, tmp_path):
    """Lines that end in a lone CR (classic Mac OS, Excel for Mac's old
    "CSV") were refused: "new-line character seen in unquoted field"."""
    B.create_bank(store, "cr")
    f = tmp_path / "mac.csv"
    f.write_bytes(b"signal_type,signal,labels\r" + b"".join(
        b"md5,%032x,entity=e%d\r" % (i, i) for i in range(1, 4)))
    assert B.import_file(store, "cr", f).added == 3


def test_a_valid_file_is_searched_once_for_bytes_not_utf8(store, tmp_path, monkeypatch):
    """Whether a bank file holds bytes that are not UTF-8 is found by one
    search of its text (none where it is ASCII): a valid file's lines and
    cells are not each searched again, on either reading of an import (a CSV
    of 200,000 rows: 4.5-5.4 s -> 3.7-4.9 s CPU for the two readings). A file
    that holds such bytes still has them found by line."""
    calls = [0]
    real = B._not_utf8

    def counted(text: str) -> int | None:
        calls[0] += 1
        return real(text)

    monkeypatch.setattr(B, "_not_utf8", counted)
    h = [f"{i:032x}" for i in range(1, 6)]
    files = {
        "ascii.csv": "signal_type,signal,labels\n" + "".join(
            f"md5,{x},entity=e{i}\n" for i, x in enumerate(h)),
        "accents.csv": "signal_type,signal,labels\n" + "".join(
            f"md5,{x},entity=café {i}\n" for i, x in enumerate(h)),
        "signals.txt": "".join(f"md5 {x}\n" for x in h) + "# café\n",
        "list.txt": "# café\n" + "".join(f"{x}\n" for x in h),
    }
    for name, body in files.items():
        f = tmp_path / name
        f.write_text(body, encoding="utf-8")
        calls[0] = 0
        rep = B.ImportReport("k")
        assert [e.signal for e in B.read_entries(f, signal_type="md5", report=rep)] == h
        assert not rep.errors and calls[0] == (0 if body.isascii() else 1), name
    B.create_bank(store, "k")
    calls[0] = 0
    rep = B.import_file(store, "k", tmp_path / "accents.csv")
    assert rep.added == 5 and calls[0] <= 2  # one search a reading
    bad = tmp_path / "bad.csv"
    bad.write_bytes(files["accents.csv"].encode() + f"md5,{'f' * 32},caf".encode() + b"\xe9\n")
    rep = B.ImportReport("k")
    assert [e.signal for e in B.read_entries(bad, report=rep)] == h
    assert rep.errors == [f"{bad}:7: not UTF-8 text: 'caf\\xe9'; row not imported"]


def test_bytes_not_utf8_reject_their_row_not_the_file(store, tmp_path, monkeypatch):
    """A row holding bytes that are not UTF-8 is rejected by line with the bytes
    shown, the rest imported — as a wrong hash length or bad hex is, and as ingest
    rejects such a record: the whole file was refused for one byte. A header row
    of such bytes (the columns cannot be known), and a TCAP or vPDQ file (one JSON
    document, one video's signal), import nothing; neither leaves anything
    written, whatever the batches."""
    import json

    monkeypatch.setattr(B, "IMPORT_BATCH", 2)
    B.create_bank(store, "k")
    h = [f"{i:032x}" for i in range(1, 8)]
    f = tmp_path / "mixed.csv"
    f.write_bytes(("signal_type,signal,labels\n"
                   f"md5,{h[0]},entity=a\nmd5,{h[1]},\n").encode()
                  + f"md5,{h[2]},entity=caf".encode() + b"\xe9 x\n"
                  + (f"md5,{h[3][:-1]},\nmd5,{'g' * 32},\n"
                     f"md5,{h[4]},\nmd5,{h[5]},entity=b\n").encode())
    rep = B.import_file(store, "k", f)
    assert (rep.read, rep.added, rep.invalid) == (7, 4, 3)
    assert rep.errors[0] == (f"{tmp_path / 'mixed.csv'}:4: not UTF-8 text: "
                             "'entity=caf\\xe9 x'; row not imported")
    assert [e.split(": ")[0].rsplit(":", 1)[1] for e in rep.errors] == ["4", "5", "6"]
    assert "field signal" in rep.errors[1] and "field signal" in rep.errors[2]
    assert {r["signal"] for r in B.export_rows(store, "k")} == {h[0], h[1], h[4], h[5]}

    pytx = tmp_path / "signals.txt"
    pytx.write_bytes(f"md5 {h[6]}\n".encode() + b"pdq \xff" + b"0" * 63 + b"\n"
                     + f"md5 {'e' * 32}\nmd5 {'d' * 32}\n".encode())
    rep = B.import_file(store, "k", pytx)
    assert (rep.added, rep.invalid) == (3, 1) and ":2: not UTF-8 text" in rep.errors[0]
    listed = tmp_path / "list.txt"
    listed.write_bytes(b"\xc3" + b"1" * 31 + f"\n{'c' * 32}\n".encode())
    rep = B.import_file(store, "k", listed)
    assert (rep.added, rep.invalid) == (1, 1) and ":1: not UTF-8 text" in rep.errors[0]

    held = B.get_bank(store, "k").counts
    head = tmp_path / "head.csv"
    head.write_bytes(b"signal_type,sign\xe9al\n" + f"md5,{'9' * 32}\n".encode())
    with pytest.raises(B.BankError, match=r"head.csv:1: not UTF-8 text: .*the header row; "
                                          "nothing imported"):
        B.import_file(store, "k", head)
    tcap = tmp_path / "tcap.json"
    tcap.write_bytes(json.dumps(_tcap_page([_tcap_record(1, "8" * 32, "MD5")]), indent=1)
                     .replace("islamist", "isl\udce9amist").encode("utf-8", "surrogateescape"))
    with pytest.raises(B.BankError, match=r"tcap.json:\d+: not UTF-8 text \(byte \d+: "
                                          r"\\xe9\); a tcap file is one JSON document"):
        B.import_file(store, "k", tcap)
    assert B.get_bank(store, "k").counts == held


def test_a_new_signal_type_plugs_in_without_core_changes(store, tmp_path, monkeypatch):
    """A third-party signal type arrives through the ``rasd.signal_types`` entry-point
    group; hashing, bank import and matching pick it up (linear index)."""
    from rasd import plugins
    from rasd.detect.media import signals as sig

    class FirstBytes(sig.SignalType):
        name = "firstbytes"
        content_types = frozenset({"photo"})
        index_kind = "linear"
        default_threshold = 2

        def hash_file(self, info, limits):
            return sig.SignalValue(info.path.read_bytes()[:8].hex())

        def normalize(self, signal):
            s = signal.strip().lower()
            if len(s) != 16:
                raise ValueError("firstbytes: 16 hex digits")
            return s

        def distance(self, a, b):
            return float(sum(x != y for x, y in zip(a, b, strict=True)))

    real = plugins.load_group
    monkeypatch.setattr(plugins, "load_group", lambda g: [("firstbytes", FirstBytes)]
                        if g == "rasd.signal_types" else real(g))
    sig.registry.cache_clear()
    try:
        fh = hash_path(POSTER)
        assert "firstbytes" in fh.signals
        B.create_bank(store, "plug")
        f = tmp_path / "p.csv"
        f.write_text(f"firstbytes,{fh.signals['firstbytes'].value}\nfirstbytes,xyz\n")
        rep = B.import_file(store, "plug", f)
        assert rep.added == 1 and rep.invalid == 1
        hits = Matcher(store).lookup_all({"firstbytes": fh.signals["firstbytes"].value})
        assert [(h.bank, h.signal_type) for h in hits] == [("plug", "firstbytes")]
    finally:
        sig.registry.cache_clear()


@pytest.mark.parametrize("cmd", [
    ["hash"], ["match"], ["bank", "create"], ["bank", "list"], ["bank", "import"],
    ["bank", "export"], ["bank", "enable"], ["bank", "disable"], ["bank", "tombstone"],
    ["bank", "signal"], ["bank", "reviews"], ["clusters", "build"], ["clusters", "list"],
    ["clusters", "show"], ["media", "fetch"]])
def test_every_command_has_help_with_examples(cmd):
    from rasd.cli import app

    r = CliRunner().invoke(app, [*cmd, "--help"])
    assert r.exit_code == 0, r.output
    assert "Example" in r.output


def test_a_policy_label_stored_unchecked_is_normalised_in_detections(store):
    """A store written before imports checked policy labels may hold ``Incitement``:
    its detections are labelled as the policy spells it."""
    from sqlalchemy import update

    from rasd.detect.media import schema as M
    from rasd.detect.media.matcher import detections_for

    B.create_bank(store, "old")
    B.add_signals(store, "old", [B.Entry(1, "pdq", _pdq(POSTER), {})])
    with store.begin() as c:
        c.execute(update(M.bank_signals).values(labels={"policy": "Incitement"}))
    m = Matcher(store)
    hits = m.decide(m.lookup_all(_sig(POSTER)))
    assert [d.label for d in detections_for(1, hits, "media", "media-1")] == ["incitement"]


def test_match_skips_low_quality_pdq_and_says_so(tmp_path, monkeypatch):
    from PIL import Image

    from rasd.cli import app, common

    black, dot = tmp_path / "black.png", tmp_path / "1x1.png"
    Image.new("RGB", (64, 64)).save(black)
    Image.new("RGB", (1, 1), (255, 255, 255)).save(dot)
    db = tmp_path / "q.db"
    run = CliRunner()

    def cli(*args: str):
        common.STATE.store = None
        return run.invoke(app, ["--db", str(db), *args])

    cli("bank", "create", "z")
    f = tmp_path / "z.txt"
    f.write_text("0" * 64 + "\n")
    assert cli("bank", "import", "z", str(f), "--type", "pdq").exit_code == 0
    r = cli("match", str(black), str(dot))
    assert r.exit_code == 0 and "0 of 2 file(s) matched" in r.stdout
    assert "black.png: no match (pdq not matched: quality 0 below 50)" in r.stdout
    r = cli("match", "--json", str(black))
    import json

    rec = json.loads(r.stdout)
    assert rec["matches"] == [] and rec["skipped"] == {"pdq": "quality 0 below 50"}
    common.STATE.store = None


def test_a_match_says_why_the_other_signals_were_not_looked_up(store, tmp_path):
    """A file that matches by its MD5 while its PDQ is held back by the quality
    gate (a flat image), or could not be made (a truncated JPEG): "no match"
    says why, but a match said nothing of the other signals. A line after the
    matches says it; --json gives "skipped" and "error" beside the matches."""
    import hashlib
    import json

    from PIL import Image

    flat, broken = tmp_path / "flat.png", tmp_path / "broken.jpg"
    Image.new("RGB", (64, 64)).save(flat)
    broken.write_bytes(POSTER.read_bytes()[:500])
    B.create_bank(store, "known", labels={"policy": "incitement"})
    f = tmp_path / "md5.txt"
    f.write_text("".join(hashlib.md5(x.read_bytes()).hexdigest() + "\n"
                         for x in (flat, broken)))
    assert B.import_file(store, "known", f, fmt="list", signal_type="md5").added == 2
    cli = _cli(store.url.render_as_string(hide_password=False))
    r = cli("match", str(flat), str(broken))
    assert r.exit_code == 1, r.output  # broken.jpg had an error (its PDQ)
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"{flat}: REPORTED md5 bank=known distance=0 "), lines
    assert lines[1] == f"{flat}: other signals: pdq not matched: quality 0 below 50"
    assert lines[2].startswith(f"{broken}: REPORTED md5 bank=known distance=0 "), lines
    assert lines[3].startswith(f"{broken}: other signals: pdq not checked: "), lines
    assert lines[4:] == ["2 of 2 file(s) matched; 1 had errors"]
    r = cli("match", "--json", str(flat), str(broken))
    recs = [json.loads(x) for x in r.stdout.splitlines()]
    assert [[m["signal_type"] for m in rec["matches"]] for rec in recs] == [["md5"], ["md5"]]
    assert recs[0]["skipped"] == {"pdq": "quality 0 below 50"} and "error" not in recs[0]
    assert "skipped" not in recs[1] and recs[1]["error"].startswith("pdq: ")


def test_import_refuses_pdq_of_low_quality(store, tmp_path):
    """A bank file that gives PDQ quality (a quality column) cannot bring in hashes
    Meta calls unreliable (< 50); the row is an error naming file and line."""
    B.create_bank(store, "q")
    f = tmp_path / "q.csv"
    f.write_text(f"pdq,quality\n{_pdq(POSTER)},100\n{'0' * 64},0\n")
    rep = B.import_file(store, "q", f)
    assert rep.added == 1 and rep.errors == [
        (f"{f}:3: field quality: PDQ quality 0 is below 50 (unreliable: a flat or "
         "near-flat image); not imported")]
    assert next(B.export_rows(store, "q"))["labels"] == {}


def test_match_json_names_a_file_that_failed(tmp_path):
    """A file that could not be hashed (truncated, a bomb, gone) must not read like a
    clean file without matches in `match --json`: it gets an "error" field."""
    import json

    from rasd.cli import app, common

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(POSTER.read_bytes()[:500])
    run = CliRunner()
    common.STATE.store = None
    r = run.invoke(app, ["--db", str(tmp_path / "e.db"), "match", "--json", str(broken),
                         str(OTHER)])
    common.STATE.store = None
    recs = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert r.exit_code == 1
    assert recs[0]["matches"] == [] and recs[0]["error"].startswith("pdq: ")
    assert "error" not in recs[1]
    # nor in text: a file that could not be hashed at all ("missing.jpg: no match",
    # counted among the files matched against)
    missing = tmp_path / "missing.jpg"
    r = run.invoke(app, ["--db", str(tmp_path / "e.db"), "match", str(missing), str(OTHER)])
    common.STATE.store = None
    assert r.exit_code == 1
    assert f"{missing}: not checked: file: no such file" in r.stdout
    assert f"{missing}: no match" not in r.stdout
    assert "0 of 2 file(s) matched; 1 had errors" in r.stdout


def _vpdq_text(rng, frames: int = 5) -> str:
    return ";".join(f"{k},100,{rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()},{k}.000"
                    for k in range(frames))


def test_vpdq_match_percentages_are_json_numbers(store):
    import json

    from rasd.cli.common import jsonl_line

    video = _vpdq_text(np.random.default_rng(4))
    B.create_bank(store, "v")
    B.add_signals(store, "v", [B.Entry(1, "vpdq", video, {})])
    (hit,) = Matcher(store).lookup("vpdq", video)
    rec = json.loads(jsonl_line(hit.as_dict()))
    assert rec["query_match_pct"] == 100.0 and rec["compared_match_pct"] == 100.0
    assert type(hit.detail["query_match_pct"]) is float


@pytest.mark.parametrize("fmt", ["auto", "vpdq"])
def test_vpdq_file_with_a_bad_line_names_that_line(store, tmp_path, fmt):
    """One damaged line in a vPDQ file is one error naming its line; the file is still
    read as vPDQ (not sniffed as CSV, with an error per line) and the other frames
    are imported."""
    from rasd.detect.media.signals.vpdq import parse

    lines = _vpdq_text(np.random.default_rng(6), 10).split(";")
    lines[3] = "3,100,not-a-hash,3.000"
    f = tmp_path / "video.txt"
    f.write_text("\n".join(lines) + "\n")
    assert B.sniff_format(f.read_text()) == "vpdq"
    B.create_bank(store, "v")
    rep = B.import_file(store, "v", f, fmt=fmt)
    assert (rep.added, rep.invalid) == (1, 1)
    assert rep.errors == [(f"{f}:4: field frame: not 'frame,quality,pdq_hex,seconds': "
                           "'3,100,not-a-hash,3.000'")]
    assert len(parse(next(B.export_rows(store, "v"))["signal"])) == 9
    f.write_text("garbage\n")
    rep = B.import_file(store, "v", f, fmt="vpdq")
    assert rep.added == 0 and rep.errors[-1] == f"{f}: no vPDQ frames"


def _cli(db: Path):
    from rasd.cli import app, common

    run = CliRunner()

    def cli(*args: str):
        common.STATE.store = None
        try:
            return run.invoke(app, ["--db", str(db), *args])
        finally:
            common.STATE.store = None
    return cli


def test_bank_export_out_that_cannot_be_written_is_an_error_naming_it(tmp_path):
    """`rasd bank export NAME -o` a folder, or a file in a folder that is not
    there: open's IsADirectoryError / FileNotFoundError was a traceback."""
    cli = _cli(tmp_path / "x.db")
    assert cli("bank", "create", "a").exit_code == 0
    r = cli("bank", "export", "a", "-o", str(tmp_path))
    assert r.exit_code == 2 and r.stderr == f"rasd: error: {tmp_path}: is a folder; --out " \
        "names the file to write\n", r.output
    r = cli("bank", "export", "a", "-o", str(tmp_path / "no" / "x.csv"))
    assert r.exit_code == 1 and r.stderr == (f"rasd: error: {tmp_path / 'no' / 'x.csv'}: "
                                             "cannot write: No such file or directory\n"), r.output
    r = cli("bank", "export", "a", "-o", str(tmp_path / "x.csv"))
    assert r.exit_code == 0 and (tmp_path / "x.csv").read_text().startswith("signal_type,")


def test_bank_import_of_a_device_says_so(tmp_path):
    """`rasd bank import NAME /dev/null` (a device, a pipe) said "no such file"
    of a file that is there."""
    cli = _cli(tmp_path / "x.db")
    r = cli("bank", "import", "a", "/dev/null")
    assert r.exit_code == 2 and "/dev/null: not a regular file" in r.stderr, r.output
    r = cli("bank", "import", "a", str(tmp_path / "none.csv"))
    assert r.exit_code == 2 and "none.csv: no such file" in r.stderr, r.output


def test_bank_import_of_an_unknown_type_is_an_error(tmp_path):
    """`rasd bank import NAME FILE --type nope` was the registry's ValueError
    traceback."""
    cli = _cli(tmp_path / "x.db")
    f = tmp_path / "l.txt"
    f.write_text(f"{1:032x}\n")
    assert cli("bank", "create", "a").exit_code == 0
    r = cli("bank", "import", "a", str(f), "--type", "nope")
    assert r.exit_code == 2 and r.stderr.startswith("rasd: error: unknown signal type 'nope'")
    assert r.exception is None or isinstance(r.exception, SystemExit)
    # nor do `bank tombstone`, `bank signal` (a "²" was int()'s ValueError there)
    for args in (["tombstone", "a", f"{1:032x}", "--type", "nope"],
                 ["signal", "a", f"{1:032x}", "--type", "nope", "--set", "active"]):
        r = cli("bank", *args)
        assert r.exit_code == 2 and "unknown signal type 'nope'" in r.stderr, r.output
    r = cli("bank", "tombstone", "a", "²")
    assert r.exit_code == 2 and r.stderr == "rasd: error: bank 'a' holds no signal '²'\n"


def test_bank_export_to_a_terminal_escapes_control_characters(tmp_path, monkeypatch):
    """A label is a partner's text: `rasd bank export NAME` on a terminal wrote
    its escape sequences (a retitled window, a U+202E) as they were. Shown
    there, they are escaped and stderr says how to get the file as it is;
    redirected, the CSV is written byte for byte."""
    import rasd.cli.media as cm

    cli = _cli(tmp_path / "x.db")
    f = tmp_path / "b.csv"
    f.write_text(f"signal_type,signal,labels\nmd5,{1:032x},\x1b]0;owned\x07\u202eisis\n")
    assert cli("bank", "create", "a").exit_code == 0
    assert cli("bank", "import", "a", str(f)).exit_code == 0
    r = cli("bank", "export", "a")
    assert "\x1b]0;owned\x07\u202eisis" in r.stdout and r.stderr == ""
    monkeypatch.setattr(cm, "stdout_is_terminal", lambda: True)
    r = cli("bank", "export", "a")
    assert r.exit_code == 0 and "\x1b" not in r.stdout and "\u202e" not in r.stdout
    assert "\\x1b]0;owned\\x07\\u202eisis" in r.stdout
    assert "shown with control characters escaped" in r.stderr


def _video_bank_file(video: Path, out: Path) -> Path:
    """The vPDQ of ``video`` as a vPDQ hash file (Meta's layout, a frame a line)."""
    out.write_text(hash_path(video, ["vpdq"]).signals["vpdq"].value.replace(";", "\n") + "\n")
    return out


def test_match_of_a_video_prints_the_frame_match_percentages(tmp_path):
    """A vPDQ match is a share of matching frames, not a distance: `rasd match`
    printed `distance=0` for a clip. It prints (and --json carries) the query's and
    the bank video's percentages and the share needed — here a 4-second clip of a
    6-second video in the bank: 100 % of its frames, 66.7 % of the bank video's."""
    import json

    pytest.importorskip("av")
    from tests.helpers import textured_frames, write_video

    full = write_video(tmp_path / "full.mp4", textured_frames(6, seed=1), rate=2)
    clip = write_video(tmp_path / "clip.mp4", textured_frames(4, seed=1), rate=2)
    other = write_video(tmp_path / "other.mp4", textured_frames(4, seed=2), rate=2)
    cli = _cli(tmp_path / "v.db")
    assert cli("bank", "create", "videos", "--label", "incitement").exit_code == 0
    r = cli("bank", "import", "videos", str(_video_bank_file(full, tmp_path / "full.txt")))
    assert r.exit_code == 0 and "added 1" in r.stdout and "vpdq=1" in r.stdout
    r = cli("match", str(clip), str(other))
    assert r.exit_code == 0, r.output
    assert (f"{clip}: REPORTED vpdq bank=videos query_match=100% compared_match=66.7% "
            "labels=policy=incitement") in r.stdout
    assert "distance" not in r.stdout and f"{other}: no match" in r.stdout
    r = cli("match", "--json", str(clip))
    (m,) = json.loads(r.stdout)["matches"]
    assert (m["query_match_pct"], m["compared_match_pct"], m["min_query_match_pct"]) == (
        100.0, 66.7, 80.0)
    from rasd.detect.media.matcher import Hit, detections_for

    h = Hit(1, 1, "videos", "vpdq", 0.0, 20.0, {}, False, "active", "reported",
            {"query_match_pct": 100.0, "compared_match_pct": 66.7})
    (d,) = detections_for(1, [h], "media", "media-1")
    assert d.explanation == [("vpdq match in bank 'videos' (signal #1): 100 % of the "
                              "video's frames matched (≥ 80 % needed), 66.7 % of the "
                              "bank video's")]


def test_flat_video_frames_make_no_match_and_no_bank_signal(tmp_path):
    """vPDQ frames of quality < 50 (black screens, fades) are noise that every flat
    video shares, like PDQ's flat images: they make no match — a video of 5 black
    seconds and 1 of its own would otherwise match a bank video that opens black at
    83 % — a video with no better frame is not looked up (and `match` says why), and
    a bank file of one cannot import it (an error naming file and line)."""
    import json

    import numpy as np

    pytest.importorskip("av")
    from tests.helpers import textured_frames, write_video

    black = [np.zeros((96, 128, 3), np.uint8)] * 2
    known = write_video(tmp_path / "known.mp4", black * 3 + textured_frames(3, seed=1), 2)
    query = write_video(tmp_path / "query.mp4", black * 5 + textured_frames(1, seed=2), 2)
    flat = write_video(tmp_path / "flat.mp4", black * 4, 2)
    cli = _cli(tmp_path / "q.db")
    cli("bank", "create", "videos")
    r = cli("bank", "import", "videos", str(_video_bank_file(known, tmp_path / "known.txt")))
    assert r.exit_code == 0 and "added 1" in r.stdout
    r = cli("match", str(query), str(known))
    assert f"{query}: no match" in r.stdout and "1 of 2 file(s) matched" in r.stdout
    why = "no frame of quality ≥ 50 (best 0 of 4 frame(s): flat or near-flat video)"
    r = cli("match", str(flat))
    assert f"{flat}: no match (vpdq not matched: {why})" in r.stdout
    rec = json.loads(cli("match", "--json", str(flat)).stdout)
    assert rec["matches"] == [] and rec["skipped"] == {"vpdq": why}
    f = _video_bank_file(flat, tmp_path / "flat.txt")
    r = cli("bank", "import", "videos", str(f), "--json")
    rep = json.loads(r.stdout)
    assert r.exit_code == 1 and (rep["added"], rep["invalid"]) == (0, 1)
    assert rep["errors"] == [(f"{f}:1: field quality: vpdq signal with {why}; it could "
                              "never match; not imported")]


def test_a_stored_flat_vpdq_signal_matches_nothing(store):
    """A flat vPDQ signal already in a bank (imported before the import check) makes
    no match either: low-quality frames are left out of the index and of the
    percentages, on both sides."""
    flat = ";".join(f"{k},0,{'0' * 64},{k}.000" for k in range(4))
    B.create_bank(store, "old")
    with store.begin() as c:
        from rasd.detect.media import schema as M
        from rasd.detect.media import signals as sig
        from rasd.store.db import now

        st = sig.get("vpdq")
        c.execute(M.bank_signals.insert().values(
            bank_id=B.get_bank(store, "old").id, signal_type="vpdq", signal=flat,
            signal_key=st.key(flat), labels={}, status="active", added_at=now(),
            updated_at=now()))
    assert Matcher(store).lookup("vpdq", flat) == []


def test_tombstone_rows_for_live_signals_are_reported_and_applied_on_request(tmp_path):
    """A tombstone in a bank file used to be dropped silently as a duplicate when the
    bank held the signal active, which kept matching. Each such row is now counted and
    reported (per file: stderr and --json), and --apply-tombstones applies them, as a
    tombstone in an HMA/ThreatExchange fetch deletes the signal; a tombstone row for a
    signal the bank does not hold is imported tombstoned either way."""
    import hashlib
    import json

    cli = _cli(tmp_path / "t.db")
    cli("bank", "create", "tcap", "--label", "incitement")
    md5 = hashlib.md5(POSTER.read_bytes()).hexdigest()
    f = tmp_path / "first.csv"
    f.write_text(f"signal_type,signal\npdq,{_pdq(POSTER)}\nmd5,{md5}\n")
    assert "added 2" in cli("bank", "import", "tcap", str(f)).stdout
    assert cli("bank", "signal", "tcap", md5, "--set", "disabled").exit_code == 0
    g = tmp_path / "update.csv"
    g.write_text("signal_type,signal,labels,status\n"
                 f"pdq,{_pdq(POSTER)},,tombstoned\nmd5,{md5},,tombstoned\n"
                 f"pdq,{_pdq(OTHER)},,tombstoned\n")
    r = cli("bank", "import", "tcap", str(g))
    assert r.exit_code == 0
    assert (f"{g}: 2 tombstone row(s) name signals that bank tcap holds un-tombstoned; "
            "not applied (they still match): pass --apply-tombstones") in r.stderr
    assert "added 1, duplicates 2" in r.stdout and "tombstones not applied: 2" in r.stdout
    assert "REPORTED pdq bank=tcap" in cli("match", str(POSTER)).stdout
    rep = json.loads(cli("bank", "import", "tcap", str(g), "--json").stdout)
    assert (rep["tombstones_not_applied"], rep["tombstones_applied"]) == (2, 0)  # not OTHER
    r = cli("bank", "import", "tcap", str(g), "--apply-tombstones")
    assert r.exit_code == 0 and "tombstones applied to existing signals: 2" in r.stdout
    assert "not applied" not in r.stdout + r.stderr
    assert f"{POSTER}: no match" in cli("match", str(POSTER)).stdout
    banks = json.loads(cli("bank", "list", "--json").stdout)
    assert banks[0]["signals"] == {"tombstoned": 3}
    rep = json.loads(cli("bank", "import", "tcap", str(g), "--json",
                         "--apply-tombstones").stdout)
    assert (rep["tombstones_not_applied"], rep["tombstones_applied"]) == (0, 0)


def test_gifct_categories_spanning_several_labels_are_mapped_by_the_analyst(tmp_path):
    """'Radicalization, Recruitment, Instruction' and 'Graphic Violence Against
    Defenseless People' name alternatives (an item is one of them), so rasd maps them
    to no label, nor to all: the row's error says how to map them for the file, and
    --map-policy NAME=LABEL does (any case and spacing; LABEL must be the policy's)."""
    import csv
    import json

    cli = _cli(tmp_path / "g.db")
    cli("bank", "create", "gifct")
    f = tmp_path / "gifct.csv"
    f.write_text("hash_type,hash,entity,policy\n"
                 f"MD5,{'a' * 32},Demo Group,\"Radicalization, Recruitment, Instruction\"\n"
                 f"MD5,{'b' * 32},Demo Group,Graphic Violence Against Defenseless People\n"
                 f"MD5,{'c' * 32},Demo Group,Glorification of Terrorist Acts\n")
    rep = json.loads(cli("bank", "import", "gifct", str(f), "--json").stdout)
    assert rep["added"] == 1 and rep["invalid"] == 2
    assert rep["errors"][0].startswith(
        f"{f}:2: field policy: policy label 'Radicalization, Recruitment, Instruction': a "
        "GIFCT category spanning several of the policy's labels (recruitment, instruction "
        "or incitement, item by item), so rasd does not map it; say what it means in this "
        "file: rasd bank import … --map-policy 'Radicalization, Recruitment, "
        "Instruction=LABEL' (LABEL one of incitement,")
    assert "severity under the policy, not a label" in rep["errors"][1]
    assert "--map-policy 'Graphic Violence Against Defenseless People=LABEL'" in \
        rep["errors"][1]
    r = cli("bank", "import", "gifct", str(f), "--map-policy",
            "radicalization,  recruitment, instruction=Recruitment", "--map-policy",
            "Graphic Violence Against Defenseless People=incitement")
    assert r.exit_code == 0 and "added 2, duplicates 1, invalid 0" in r.stdout
    rows = list(csv.reader(io.StringIO(cli("bank", "export", "gifct").stdout)))
    assert [(s, lab) for _, s, lab in rows[1:]] == [
        ("c" * 32, "entity=Demo Group;policy=incitement"),
        ("a" * 32, "entity=Demo Group;policy=recruitment"),
        ("b" * 32, "entity=Demo Group;policy=incitement")]
    r = cli("bank", "import", "gifct", str(f), "--map-policy", "Graphic Violence=gore")
    assert r.exit_code == 2 and ("--map-policy 'Graphic Violence=gore': 'gore' is not "
                                 "one of the policy's labels (incitement,") in r.stderr
    # a NAME that is the policy's own label is read as itself: mapping it was ignored
    # without a word (rows labelled incitement stayed incitement under incitement=threat)
    r = cli("bank", "import", "gifct", str(f), "--map-policy", "Incitement=threat")
    assert r.exit_code == 2 and ("--map-policy 'Incitement=threat': 'Incitement' is one "
                                 "of the policy's labels and is read as itself") in r.stderr
    r = cli("bank", "import", "gifct", str(f), "--map-policy", "recruitment")
    assert r.exit_code == 2 and "use 'CATEGORY=LABEL'" in r.stderr
    assert "--map-policy" in cli("bank", "import", "--help").stdout


def _notes(store, bank: str) -> dict[str, tuple[str, str | None]]:
    from sqlalchemy import select

    from rasd.detect.media import schema as M

    bs = M.bank_signals
    with store.connect() as c:
        return {r.signal: (r.status, r.note) for r in c.execute(
            select(bs.c.signal, bs.c.status, bs.c.note).where(
                bs.c.bank_id == B.get_bank(store, bank).id))}


def test_import_summary_counts_only_statuses_it_gave_and_keeps_notes(store, tmp_path):
    """The summary's 'not active, as the file says' counted every non-active row,
    also rows for signals the bank already held — tombstones it did not apply, a
    'disabled' row for a signal that stays active — so it claimed tombstones that
    never happened. It counts the signals added with that status; applied tombstones
    have their own count. And --apply-tombstones replaced the signal's note (the
    analyst's) with its own; it adds to it now."""
    a, b_, c, d, e = (ch * 32 for ch in "abcde")
    B.create_bank(store, "t")
    B.add_signals(store, "t", [B.Entry(n, "md5", h, {}) for n, h in enumerate((a, b_, e), 1)])
    B.set_signal_status(store, B.find_signals(store, "t", a, "md5"), "disabled",
                        "analyst: looks like a stock photo")
    f = tmp_path / "update.csv"
    f.write_text("signal_type,signal,labels,status\n"
                 f"md5,{a},,tombstoned\nmd5,{b_},,tombstoned\nmd5,{c},,tombstoned\n"
                 f"md5,{d},,disabled\nmd5,{e},,disabled\n")
    rep = B.import_file(store, "t", f)
    assert (rep.added, rep.duplicates, rep.tombstones_not_applied) == (2, 3, 2)
    assert rep.by_status == {"tombstoned": 1, "disabled": 1}  # c and d, not a, b, e
    assert _notes(store, "t")[e] == ("active", None)
    rep = B.import_file(store, "t", f, apply_tombstones=True)
    assert (rep.added, rep.tombstones_applied, rep.by_status) == (0, 2, {})
    notes = _notes(store, "t")
    assert notes[a] == ("tombstoned", f"analyst: looks like a stock photo; tombstoned by {f}")
    assert notes[b_] == ("tombstoned", f"tombstoned by {f}")
    B.set_signal_status(store, B.find_signals(store, "t", e, "md5"), "disabled", "new note")
    assert _notes(store, "t")[e] == ("disabled", "new note")  # an explicit note replaces


def test_cli_import_summary_names_only_what_the_import_did(tmp_path):
    a, c = "a" * 32, "c" * 32
    cli = _cli(tmp_path / "s.db")
    cli("bank", "create", "t")
    f = tmp_path / "first.csv"
    f.write_text(f"signal_type,signal\nmd5,{a}\n")
    cli("bank", "import", "t", str(f))
    g = tmp_path / "update.csv"
    g.write_text(f"signal_type,signal,status\nmd5,{a},tombstoned\nmd5,{c},tombstoned\n")
    r = cli("bank", "import", "t", str(g))
    assert r.exit_code == 0
    assert ("t: read 2, added 1, duplicates 1, invalid 0 (md5=2); not active, as the file "
            "says: tombstoned=1; tombstones not applied: 1") in r.stdout


def _hma_vpdq(video: Path) -> list[str]:
    """The vPDQ of ``video`` (hashed by rasd) in HMA's form: python-threatexchange's
    JSON list of "pdq_hex,quality,seconds", seconds written to 3 significant digits
    as it writes them."""
    from rasd.detect.media.signals.vpdq import parse

    return [f"{f.pdq},{f.quality},{f.seconds:.3}"
            for f in parse(hash_path(video, ["vpdq"]).signals["vpdq"].value)]


def test_vpdq_signals_in_hmas_json_form_import_and_match(tmp_path):
    """HMA stores and serves a vPDQ signal as a JSON list of "hex,quality,seconds"
    strings; rasd read only Meta's frame-file layout, so such a signal did not
    import. It does now — in a CSV's signal column (type column or not) and as a
    file of its own — matches as the same video hashed by rasd does, and gets the
    same FILE:LINE errors and quality gate."""
    import csv
    import json

    import numpy as np

    pytest.importorskip("av")
    from tests.helpers import textured_frames, write_video

    full = write_video(tmp_path / "full.mp4", textured_frames(6, seed=1), rate=2)
    clip = write_video(tmp_path / "clip.mp4", textured_frames(4, seed=1), rate=2)
    other = write_video(tmp_path / "other.mp4", textured_frames(4, seed=3), rate=2)
    flat = write_video(tmp_path / "flat.mp4", [np.zeros((96, 128, 3), np.uint8)] * 4, 2)
    hma = _hma_vpdq(full)
    assert len(hma) == 6 and all(len(x.split(",")) == 3 for x in hma)
    f = tmp_path / "hma.csv"
    with open(f, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["signal_type", "signal", "labels"])
        w.writerow(["HASH_VIDEO_VPDQ", json.dumps(hma), "incitement"])
        w.writerow(["vpdq", json.dumps(_hma_vpdq(flat)), ""])
        w.writerow(["vpdq", json.dumps(hma[:2] + [hma[2].replace(",100,", ",101,")]), ""])
        w.writerow(["vpdq", json.dumps(hma)[:-1], ""])
    cli = _cli(tmp_path / "h.db")
    cli("bank", "create", "videos")
    rep = json.loads(cli("bank", "import", "videos", str(f), "--json").stdout)
    assert (rep["added"], rep["invalid"]) == (1, 3)
    assert rep["errors"][0].startswith(f"{f}:3: field quality: vpdq signal with no frame "
                                       "of quality ≥ 50")
    assert rep["errors"][1] == (f"{f}:4: field signal: vpdq: frame 3 of the JSON list: "
                                "quality 101 is outside 0..100")
    assert rep["errors"][2].startswith(f"{f}:5: field signal: vpdq: starts like HMA's "
                                       "JSON form but is not JSON: expected ',' or ']'")
    r = cli("match", str(clip), str(other))
    assert (f"{clip}: REPORTED vpdq bank=videos query_match=100% compared_match=66.7% "
            "labels=policy=incitement") in r.stdout and f"{other}: no match" in r.stdout
    (row,) = list(csv.reader(io.StringIO(cli("bank", "export", "videos").stdout)))[1:]
    assert row[1].split(";")[0] == f"0,100,{hma[0].split(',')[0]},0.000"  # rasd's form

    # a file of its own, as python-threatexchange writes one (here indented: a frame
    # a line), with no type column to say what it is: sniffed, errors by line
    g = tmp_path / "clip.json"
    frames = _hma_vpdq(clip)
    frames[1] = "not-a-hash,100,0.5"
    g.write_text(json.dumps(frames, indent=2))
    cli("bank", "create", "clips")
    rep = json.loads(cli("bank", "import", "clips", str(g), "--json").stdout)
    assert (rep["added"], rep["invalid"], rep["by_type"]) == (1, 1, {"vpdq": 1})
    assert rep["errors"] == [(f"{g}:3: field frame: vpdq: frame 2 of the JSON list is not "
                              "'pdq_hex,quality,seconds' (HMA's form): 'not-a-hash,100,0.5'")]
    g.write_text(json.dumps(_hma_vpdq(flat), indent=2))
    rep = json.loads(cli("bank", "import", "clips", str(g), "--json").stdout)
    assert rep["added"] == 0 and rep["errors"][0].startswith(
        f"{g}:2: field quality: vpdq signal with no frame of quality ≥ 50")
    g.write_text(json.dumps(frames[:1])[:-1])
    rep = json.loads(cli("bank", "import", "clips", str(g), "--json").stdout)
    assert rep["added"] == 0 and rep["errors"] == [(
        f"{g}:1: not valid JSON (HMA's vPDQ form): expected ',' or ']' (column 76); "
        "nothing imported")]
    h = tmp_path / "untyped.csv"
    h.write_text(f"signal,labels\n\"{json.dumps(hma).replace(chr(34), chr(34) * 2)}\",x\n")
    rep = json.loads(cli("bank", "import", "clips", str(h), "--json").stdout)
    assert (rep["added"], rep["by_type"]) == (1, {"vpdq": 1})


def test_vpdq_parse_reads_hmas_forms_strictly():
    """HMA's list (seconds as it writes them: 3 significant digits, so 1234.5 s is
    '1.23e+03') and python-threatexchange's older object form; anything else is a
    ValueError naming the frame."""
    import json

    from rasd.detect.media.signals import get
    from rasd.detect.media.signals.vpdq import Frame, parse

    h = "ab" * 32
    assert parse(json.dumps([f"{h},100,0.0", f"{h.upper()}, 90 ,1.23e+03"])) == [
        Frame(0, 100, h, 0.0), Frame(1, 90, h, 1230.0)]
    assert parse(json.dumps({"7": {"quality": 80, "hash": h, "timestamp": 2.5}})) == [
        Frame(7, 80, h, 2.5)]
    assert get("vpdq").normalize(json.dumps([f"{h},100,1"])) == f"0,100,{h},1.000"
    with pytest.raises(ValueError, match="frame 2: quality 101 is outside 0..100"):
        get("vpdq").normalize(f"0,100,{h},0.000;1,101,{h},1.000")  # rasd's form too
    for bad, why in [
            ("[1]", "frame 1 of the JSON list is not 'pdq_hex,quality,seconds'"),
            (f'["{h},100"]', "frame 1 of the JSON list is not 'pdq_hex,quality,seconds'"),
            (f'["{h},1e2,0"]', "quality '1e2' is not a whole number"),
            (f'["{h},100,0", "{h},100,nan"]', "frame 2 of the JSON list: seconds 'nan'"),
            (f'["{h},100,inf"]', "seconds 'inf' is not a number"),
            (f'["{h},100,1e999"]', "is not a time in 0..1e9"),
            (f'["{h},100,-1"]', "seconds '-1' is not a number"),
            ("[]", "vpdq: no frames"),
            ('{"x": {}}', "frame 'x' of the JSON object is not 'NUMBER'"),
            (f'{{"1": {{"quality": true, "hash": "{h}", "timestamp": 0}}}}',
             "quality 'True' is not a whole number"),
            ("[" * 50000, "nested too deeply"),
            (f'["{h},100,0"] []', "extra data after the JSON")]:
        with pytest.raises(ValueError, match=re.escape(why)):
            parse(bad)


def _textured_image(path: Path, seed: int, size: int = 256) -> Path:
    """A detailed image (PDQ quality well above 50), built here: blocks of noise."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(small).resize((size, size), Image.Resampling.NEAREST).save(path)
    return path


def _tcap_record(rid: int, digest: str, algorithm: str, *, ideology: str | None = "islamist",
                 file_type: str = "jpg", deleted: bool = False, key: str = "algorithim"
                 ) -> dict:
    """One record of TCAP's hash list, with the fields its API gives."""
    return {"id": rid, "hash_digest": digest, key: algorithm, "ideology": ideology,
            "file_type": file_type, "deleted": deleted, "updated_on": 1704901040.2 + rid}


def _tcap_page(records: list) -> dict:
    """A page of TCAP's hash-list API, as python-threatexchange's client reads it."""
    return {"count": len(records), "next": None, "previous": None,
            "checkpoint": "1724856487.709035,10594", "results": records}


def test_tcap_hash_list_imports_and_its_pdq_matches(tmp_path):
    """TCAP's JSON hash list (one API page: the records under `results`) is sniffed
    and imported: algorithms map to signal types, ideology and file type become
    labels and the TCAP id the label tcap_id; a bad record is an error naming its
    JSON path and skipped. The PDQ of an image built here matches that image and a
    resized copy; a re-import adds nothing, and a later list deleting the record
    tombstones it on request."""
    import json

    from PIL import Image

    img = _textured_image(tmp_path / "poster.png", seed=11)
    small = tmp_path / "poster-small.jpg"
    Image.open(img).resize((200, 200)).convert("RGB").save(small, quality=80)
    other = _textured_image(tmp_path / "other.png", seed=12)
    pdq = _pdq(img)
    md5, sha = "0123456789abcdef" * 2, "ab" * 32
    records = [
        _tcap_record(101, pdq, "ImagePDQ"),
        _tcap_record(102, md5, "VideoMD5", ideology="far-right", file_type="mp4"),
        _tcap_record(103, sha, "SHA256", key="algorithm"),
        _tcap_record(104, "cd" * 32, "ImageTMK"),
        "not a record",
        _tcap_record(105, "zz", "MD5"),
        {"id": 106, "hash_digest": "ef" * 16},
        _tcap_record(107, "12" * 16, "MD5", ideology=["islamist"]),  # type: ignore[arg-type]
        _tcap_record(108, "34" * 16, "VideoMD5", deleted=True),
    ]
    f = tmp_path / "tcap.json"
    f.write_text(json.dumps(_tcap_page(records), indent=2))
    assert B.sniff_format(f.read_text()) == "tcap"
    cli = _cli(tmp_path / "t.db")
    assert cli("bank", "create", "tcap", "--label", "incitement").exit_code == 0
    r = cli("bank", "import", "tcap", str(f))
    assert r.exit_code == 0, r.output
    assert ("tcap: read 9, added 4, duplicates 0, invalid 5 (md5=2, pdq=1, sha256=1); "
            "not active, as the file says: tombstoned=1") in r.stdout
    errors = [ln for ln in r.stderr.splitlines() if "warning" in ln]
    assert errors == [f"rasd: warning: {f}:{e}" for e in (
        ("$.results[3]: field algorithim: algorithm 'ImageTMK' is not one rasd reads "
         "(DocumentTLSH, FileMD5, FileSHA256, FileTLSH, ImageMD5, ImagePDQ, ImageSHA256, "
         "MD5, PDQ, PhotoMD5, PhotoPDQ, PhotoSHA256, SHA256, TLSH, VideoMD5, VideoSHA256, "
         "VideoVPDQ, vPDQ)"),
        "$.results[4]: not a TCAP record (an object with hash_digest and algorithim)",
        "$.results[5]: field hash_digest: md5: expected 32 hex digits, got 'zz'",
        "$.results[6]: field algorithim: missing",
        '$.results[7]: field ideology: ["islamist"] is not a string')]
    r = cli("bank", "export", "tcap", "--all")
    assert r.stdout.splitlines()[1:] == [
        f"pdq,{pdq},policy=incitement;ideology=islamist;file_type=jpg;tcap_id=101,active",
        f"md5,{md5},policy=incitement;ideology=far-right;file_type=mp4;tcap_id=102,active",
        f"sha256,{sha},policy=incitement;ideology=islamist;file_type=jpg;tcap_id=103,active",
        f"md5,{'34' * 16},policy=incitement;ideology=islamist;file_type=jpg;tcap_id=108,tombstoned",
    ]

    r = cli("match", str(img), str(small), str(other))
    assert r.exit_code == 0, r.output
    assert f"{img}: REPORTED pdq bank=tcap distance=0 " in r.stdout
    assert "ideology=islamist" in r.stdout and "tcap_id=101" in r.stdout
    assert f"{small}: REPORTED pdq bank=tcap" in r.stdout
    assert f"{other}: no match" in r.stdout

    # the same list again: nothing added, nothing changed
    r = cli("bank", "import", "tcap", str(f))
    assert "read 9, added 0, duplicates 4, invalid 5" in r.stdout
    # a later list deletes record 101: a tombstone, applied when asked
    later = tmp_path / "tcap-later.json"
    later.write_text(json.dumps(_tcap_page([_tcap_record(101, pdq, "ImagePDQ",
                                                         deleted=True)])))
    r = cli("bank", "import", "tcap", str(later))
    assert "tombstones not applied: 1" in r.stdout
    assert "REPORTED" in cli("match", str(img)).stdout
    r = cli("bank", "import", "tcap", str(later), "--apply-tombstones")
    assert "tombstones applied to existing signals: 1" in r.stdout
    assert f"{img}: no match" in cli("match", str(img)).stdout


def test_tcap_forms_and_hostile_json(store, tmp_path, monkeypatch):
    """A TCAP file may be the record list itself, one page or a list of pages; where
    an id comes twice the later record is its newer state (a deletion is not lost as
    a duplicate). JSON that does not parse — cut off, nested without end, trailing
    text — imports nothing, with an error naming the line, and never crashes."""
    import json

    md5a, md5b, md5c = "aa" * 16, "bb" * 16, "cc" * 16
    f = tmp_path / "list.json"
    f.write_text(json.dumps([_tcap_record(1, md5a, "MD5"),
                             _tcap_record(2, md5b.upper(), "md5", key="algorithm")]))
    assert B.sniff_format(f.read_text()) == "tcap"
    B.create_bank(store, "t")
    rep = B.import_file(store, "t", f)
    assert (rep.read, rep.added, rep.invalid) == (2, 2, 0)

    pages = tmp_path / "pages.json"
    pages.write_text(json.dumps([
        _tcap_page([_tcap_record(3, md5c, "VideoMD5"), _tcap_record(4, md5a, "PDQ")]),
        _tcap_page([_tcap_record(3, md5c, "VideoMD5", deleted=True)]),
        {"results": "nope"}]))
    B.create_bank(store, "p")
    rep = B.import_file(store, "p", pages)
    assert (rep.read, rep.added, rep.duplicates, rep.invalid) == (4, 1, 1, 2)
    assert rep.by_status == {"tombstoned": 1}
    assert [e.split(": field")[0].split(": not")[0] for e in rep.errors] == [
        f"{pages}:$[0].results[1]", f"{pages}:$[2].results"]
    assert [(r["signal"], r["status"]) for r in B.export_rows(store, "p",
                                                             include_inactive=True)] == [
        (md5c, "tombstoned")]

    # an empty page is an empty list, not an error
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps(_tcap_page([])))
    assert B.import_file(store, "p", empty).read == 0

    # both spellings given and disagreeing
    both = tmp_path / "both.json"
    both.write_text(json.dumps([{"hash_digest": md5a, "algorithim": "MD5",
                                 "algorithm": "PDQ"}]))
    rep = B.import_file(store, "p", both)
    assert rep.errors == [(f"{both}:$[0]: fields algorithim and algorithm disagree: 'MD5' "
                           "and 'PDQ'")]

    hostile = {
        "cut.json": json.dumps(_tcap_page([_tcap_record(9, "dd" * 16, "MD5")] * 3),
                               indent=1)[:-40],
        "deep.json": "[" * 200_000 + '{"hash_digest": 1}',
        "trailing.json": json.dumps([_tcap_record(9, "dd" * 16, "MD5")]) + "\n{}",
        "object.json": '{"hash_digest_list": []}',
    }
    for name, text in hostile.items():
        h = tmp_path / name
        h.write_text(text)
        with pytest.raises(B.BankError, match="not valid JSON|not a TCAP hash list") as e:
            B.import_file(store, "p", h, fmt="tcap")
        assert str(e.value).startswith(f"{h}:"), e.value
    assert "nothing imported" in str(pytest.raises(
        B.BankError, B.import_file, store, "p", tmp_path / "cut.json").value)
    assert not B.find_signals(store, "p", "dd" * 16)
    # the number of records a file may hold is bounded (their ids are held)
    from rasd.detect.media import tcap

    monkeypatch.setattr(tcap, "MAX_RECORDS", 2)
    with pytest.raises(B.BankError, match=r"more than 2 records; split the file"):
        B.import_file(store, "p", pages)

    # the formats read before are sniffed as before
    hma = json.dumps([f"{'ab' * 32},100,0.0", f"{'cd' * 32},100,1.0"])
    assert B.sniff_format(hma) == "vpdq"
    assert B.sniff_format("signal_type,signal\npdq," + "ab" * 32) == "csv"
    assert B.sniff_format("hash type,hash value\nPDQ," + "ab" * 32) == "csv"
    assert B.sniff_format(md5a + "\n" + md5b) == "list"


def test_tcap_error_lists_every_algorithm_rasd_reads(sqlite_store, tmp_path):
    """The error for an algorithm rasd does not read lists the names it does read
    from ``tcap.ALGORITHMS`` itself: every name there is read, and every one is
    named (a list written out by hand beside it left out PhotoPDQ, FileMD5…)."""
    import json

    from rasd.detect.media import tcap

    for name, t in tcap.ALGORITHMS.items():
        assert tcap.algorithm_type(name) == t
        assert tcap.algorithm_type(name.upper().replace("PDQ", "-pdq")) == t
    f = tmp_path / "tcap.json"
    f.write_text(json.dumps([_tcap_record(1, "ab" * 16, "ImageTMK")]))
    B.create_bank(sqlite_store, "t")
    rep = B.import_file(sqlite_store, "t", f)
    (err,) = rep.errors
    listed = err.split("is not one rasd reads (", 1)[1].rstrip(")").split(", ")
    assert sorted(listed) == sorted(tcap.ALGORITHMS)


def test_json_objects_holding_a_key_twice_are_errors_naming_the_path(store, tmp_path):
    """Hostile or broken JSON may hold one key twice: a TCAP page with `results`
    twice was read as both lists (and by `json.loads` as the last), a record with
    two `hash_digest`s as its last. Which is meant is for the sender to say, so
    an object holding a key twice is an error naming the file and the key's JSON
    path, and the file imports nothing — in a TCAP list, a vPDQ signal in HMA's
    JSON form and a JSON labels cell alike."""
    import json

    a, b = _tcap_record(1, "aa" * 16, "MD5"), _tcap_record(2, "bb" * 16, "MD5")
    B.create_bank(store, "d")
    page = tmp_path / "page.json"
    page.write_text(f'{{"count": 2, "results": [{json.dumps(a)}],\n'
                    f' "results": [{json.dumps(b)}]}}')
    with pytest.raises(B.BankError) as e:
        B.import_file(store, "d", page)
    assert str(e.value).startswith(f"{page}:2: not valid JSON (a TCAP hash list): the key "
                                   '"results" comes twice in one object (at $.results)')
    rec = tmp_path / "record.json"
    rec.write_text(json.dumps([a, b])[:-1] + f', {{"id": 3, "hash_digest": "{"cc" * 16}", '
                   f'"algorithim": "MD5", "hash_digest": "{"dd" * 16}"}}]')
    with pytest.raises(B.BankError, match=r'the key "hash_digest" comes twice in one '
                                          r'object \(in \$\[2\]\)'):
        B.import_file(store, "d", rec)
    pages = tmp_path / "pages.json"
    pages.write_text(json.dumps([_tcap_page([a])])[:-2] + ', "results": []}]')
    with pytest.raises(B.BankError, match=r'"results" comes twice .*\(in \$\[0\]\)'):
        B.import_file(store, "d", pages, fmt="tcap")
    assert B.get_bank(store, "d").counts == {}

    video = tmp_path / "video.json"
    video.write_text(f'{{"0": {{"quality": 100, "hash": "{"ab" * 32}", "timestamp": 0}},\n'
                     f' "0": {{"quality": 100, "hash": "{"cd" * 32}", "timestamp": 1}}}}')
    rep = B.import_file(store, "d", video)
    assert rep.added == 0 and rep.errors == [
        (f'{video}:2: not valid JSON (HMA\'s vPDQ form): the key "0" comes twice in one '
         'object (at $["0"]) (column 2); nothing imported')]

    cell = tmp_path / "labels.csv"
    cell.write_text(f'signal_type,signal,labels\nmd5,{"ee" * 16},"{{""entity"": ""a"", '
                    '""entity"": ""b""}"\n')
    rep = B.import_file(store, "d", cell)
    assert rep.added == 0 and rep.errors == [
        (f'{cell}:2: field labels: labels look like JSON but are not: the key "entity" '
         'comes twice in one object')]


def test_tcap_updated_on_orders_records_and_updates_held_signals(store, tmp_path):
    """TCAP gives each record an ``updated_on`` (seconds since 1970), which the
    import did not read: a re-import with a newer record left the old labels, and
    nothing kept an older list from being read as news. Now the newest record of an
    id in a file is the one read (wherever it stands), the time is kept with the
    signal, a later list's newer record sets its labels over the held signal's, and
    an older list — its labels, its deletions — changes nothing and is counted."""
    import json
    from datetime import UTC, datetime

    from rasd.detect.media import schema as M

    t0 = 1704901040.25
    a, b = "aa" * 16, "bb" * 16

    def rec(rid: int, digest: str, ideology: str, at: float, **kw) -> dict:
        return {**_tcap_record(rid, digest, "MD5", ideology=ideology, **kw),
                "updated_on": at}

    def load(name: str, records: list) -> B.ImportReport:
        f = tmp_path / name
        f.write_text(json.dumps(_tcap_page(records)))
        return B.import_file(store, "t", f, apply_tombstones=True)

    def held() -> dict:
        return {r["signal"]: (r["status"], r["labels"]["ideology"]) for r in
                B.export_rows(store, "t", include_inactive=True)}

    B.create_bank(store, "t")
    # id 2 twice: the record updated last wins, though it comes first
    rep = load("v1.json", [rec(1, a, "islamist", t0), rec(2, b, "far-right", t0 + 10),
                           rec(2, b, "other", t0 + 5),
                           rec(3, "cc" * 16, "x", "yesterday")])  # type: ignore[arg-type]
    assert (rep.added, rep.duplicates, rep.invalid) == (2, 1, 1)
    assert rep.errors == [(f"{tmp_path / 'v1.json'}:$.results[3]: field updated_on: "
                           '"yesterday" is not a time (seconds since 1970, or ISO 8601)')]
    assert held() == {a: ("active", "islamist"), b: ("active", "far-right")}
    with store.connect() as c:
        at = c.execute(M.bank_signals.select().where(M.bank_signals.c.signal == a)
                       ).first().source_updated_at
    assert at.replace(tzinfo=at.tzinfo or UTC) == datetime.fromtimestamp(t0, UTC)

    rep = load("v2.json", [rec(1, a, "far-right", t0 + 100)])  # TCAP relabelled it
    assert (rep.added, rep.updated, rep.outdated) == (0, 1, 0)
    assert held()[a] == ("active", "far-right")
    rep = load("v1-again.json", [rec(1, a, "islamist", t0),  # an old list: no news
                                 rec(2, b, "far-right", t0 + 10, deleted=True)])
    assert (rep.updated, rep.outdated, rep.tombstones_applied) == (0, 1, 1)
    assert held() == {a: ("active", "far-right"), b: ("tombstoned", "far-right")}
    rep = load("old-delete.json", [rec(1, a, "far-right", "2024-01-10T15:38:00Z",  # type: ignore[arg-type]
                                       deleted=True)])
    assert (rep.outdated, rep.tombstones_applied) == (1, 0)
    assert held()[a] == ("active", "far-right")
    rep = load("v3.json", [rec(1, a, "far-right", t0 + 200, deleted=True)])
    assert (rep.updated, rep.tombstones_applied) == (1, 1)
    assert held()[a] == ("tombstoned", "far-right")


@pytest.mark.parametrize("batch", [2000, 1])
def test_of_tcap_records_of_equal_times_for_a_held_signal_the_last_wins(
        store, tmp_path, monkeypatch, batch):
    """Two TCAP records (two ids) of one hash, updated at the same time: within a
    write batch the later record's labels were set over the held signal's, but
    where the two fell in different batches (``batch`` = 1) the first won (the
    second, no newer than the time the first stored, changed nothing). The last
    in the file now wins wherever the batches fall, its labels over those the
    signal held before the file (not over the first record's), counted once as
    updated. A record of the time the bank holds, imported again, changes nothing."""
    import json

    monkeypatch.setattr(B, "IMPORT_BATCH", batch)
    a = "aa" * 16
    t = 1704901040.25

    def rec(rid: int, **labels) -> dict:
        return {**_tcap_record(rid, a, "MD5", **labels), "updated_on": t}

    def load(name: str, records: list) -> B.ImportReport:
        f = tmp_path / name
        f.write_text(json.dumps(_tcap_page(records)))
        return B.import_file(store, "t", f)

    B.create_bank(store, "t")
    B.add_signals(store, "t", [B.Entry(1, "md5", a, {"note": "seen"})])
    rep = load("v1.json", [rec(7, ideology="islamist", file_type="mp4"),
                           rec(8, ideology="far-right")])
    assert (rep.added, rep.updated, rep.outdated, rep.duplicates) == (0, 1, 0, 2)
    [row] = list(B.export_rows(store, "t"))
    assert row["labels"] == {"note": "seen", "tcap_id": "8", "ideology": "far-right",
                             "file_type": "jpg"}
    rep = load("v1-again.json", [rec(7, ideology="islamist", file_type="mp4")])
    assert (rep.updated, rep.outdated) == (0, 0)
    assert [r["labels"] for r in B.export_rows(store, "t")] == [row["labels"]]


def _two_forms(seed: int) -> tuple[str, str]:
    """One video's vPDQ signal in HMA's JSON list (no frame numbers; seconds to 3
    significant digits, as python-threatexchange writes them) and in rasd's form
    (frame numbers of a 30 fps video hashed once a second; seconds to 3 decimals)."""
    import json

    rng = np.random.default_rng(seed)
    frames = [(30 * k, 60 + 5 * k, rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex(),
               k * 1.0012345) for k in range(6)]
    hma = json.dumps([f"{h},{q},{t:.3}" for _, q, h, t in frames])
    own = "\n".join(f"{n},{q},{h.upper()},{t:.3f}" for n, q, h, t in frames)
    return hma, own


def test_one_video_in_hmas_form_and_rasds_is_one_bank_signal(store, tmp_path):
    """HMA's vPDQ list has no frame numbers (rasd numbers its frames by position)
    and writes seconds to 3 significant digits, so the same video imported in HMA's
    form and in rasd's was held twice. A vPDQ signal's key is now its frames' hashes
    and qualities — all a match reads — so the second form is a duplicate; the bank
    keeps (and exports) the form imported first, and either form finds it."""
    hma, own = _two_forms(41)
    f_hma, f_own = tmp_path / "video.json", tmp_path / "video.vpdq"
    f_hma.write_text(hma)
    f_own.write_text(own)
    B.create_bank(store, "v")
    assert B.import_file(store, "v", f_hma).added == 1
    rep = B.import_file(store, "v", f_own)
    assert (rep.added, rep.duplicates, rep.invalid) == (0, 1, 0)
    (row,) = B.export_rows(store, "v")
    assert row["signal"].startswith("0,60,")  # HMA's form came first: numbered by position
    assert B.find_signals(store, "v", own, "vpdq") == B.find_signals(store, "v", hma, "vpdq")
    B.create_bank(store, "w")
    assert B.import_file(store, "w", f_own).added == 1
    assert B.import_file(store, "w", f_hma).added == 0
    (row,) = B.export_rows(store, "w")
    assert row["signal"].startswith("0,60,") and ";30,65," in row["signal"]  # rasd's numbers
    # other frames, or other qualities, are another signal
    other = own.replace(",60,", ",61,", 1)
    assert B.add_signals(store, "w", [B.Entry(1, "vpdq", other, {})]).added == 1


def test_migration_0019_rekeys_stored_vpdq_signals(store, tmp_path):
    """Keys stored before 0019 are recomputed: a bank holding the video once finds
    the other form a duplicate after the upgrade; a bank that already held it in
    both forms keeps both rows (the later with its old key), as merging them is the
    analyst's call."""
    import hashlib

    from alembic import command
    from sqlalchemy import select, text

    from rasd.detect.media import schema as M
    from rasd.detect.media import signals as sig
    from rasd.store.migrate import alembic_config

    hma, own = _two_forms(42)
    st = sig.get("vpdq")
    n_hma, n_own = st.normalize(hma), st.normalize(own)
    B.create_bank(store, "once")
    B.create_bank(store, "twice")
    B.add_signals(store, "once", [B.Entry(1, "vpdq", hma, {})])
    B.add_signals(store, "twice", [B.Entry(1, "vpdq", own, {})])
    twice = B.get_bank(store, "twice").id
    with store.engine.connect() as c:
        cfg = alembic_config(store.engine)
        cfg.attributes["connection"] = c
        command.downgrade(cfg, "0018")
        c.commit()
        c.execute(text("INSERT INTO bank_signals (bank_id, signal_type, signal, signal_key, "
                       "labels, status, added_at, updated_at) VALUES (:b, 'vpdq', :s, :k, "
                       "'{}', 'active', :t, :t)"),
                  {"b": twice, "s": n_hma, "k": hashlib.sha256(f"vpdq:{n_hma}".encode())
                   .hexdigest(), "t": "2024-01-01 00:00:00"})
        c.commit()
        command.upgrade(cfg, "head")
        c.commit()
    bs = M.bank_signals
    with store.connect() as c:
        keys = c.execute(select(bs.c.signal, bs.c.signal_key).where(
            bs.c.bank_id == twice).order_by(bs.c.id)).all()
    assert [k for _, k in keys] == [st.key(n_own), hashlib.sha256(
        f"vpdq:{n_hma}".encode()).hexdigest()]
    rep = B.add_signals(store, "once", [B.Entry(1, "vpdq", own, {})])
    assert (rep.added, rep.duplicates) == (0, 1)


def test_pytx_local_file_imports_line_by_line(store, tmp_path):
    """python-threatexchange's local-file exchange reads (and writes) one
    `signal_type signal` a line. Such a file is sniffed and read: pdq, video_md5,
    a vPDQ signal in HMA's JSON form (which holds commas, and was taken for CSV).
    A raw_text line is imported as the MinHash of its text (rasd's near-duplicate
    text signal), which matches the text with small edits; one too short for
    MinHash is an error naming its line. Lines of pytx types rasd has no type for
    (url…) were each an error; they are passed over and counted by type, as pytx
    passes over the types it does not support, and the summary says so."""
    import json

    from rasd.detect.media.signals.minhash import MinHashSignal

    pdq = _pdq(_textured_image(tmp_path / "img.png", seed=21))
    rng = np.random.default_rng(8)
    frames = [f"{rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()},100,{k}.0"
              for k in range(4)]
    manifesto = ("we call on every brother to rise against the enemies of the faith "
                 "and strike them where they live, in their cities and their homes")
    f = tmp_path / "signals.txt"
    f.write_text(f"pdq {pdq}\nvideo_md5 {'ab' * 16}\nurl https://example.org/x\n"
                 f"vpdq {json.dumps(frames)}\n{'cd' * 16}\nsha256 {'ef' * 32}\n"
                 f"pdq {'zz' * 32}\nraw_text {manifesto}\nurl https://example.org/y\n"
                 "url_md5 " + "12" * 16 + "\nraw_text rise up\n")
    assert B.sniff_format(f.read_text()) == "pytx"
    B.create_bank(store, "x", labels={"policy": "incitement"})
    rep = B.import_file(store, "x", f)
    assert rep.by_type == {"pdq": 1, "md5": 2, "vpdq": 1, "sha256": 1, "minhash": 1}
    assert (rep.read, rep.added, rep.invalid) == (11, 6, 2)
    assert rep.skipped_types == {"url": 2, "url_md5": 1}
    assert rep.errors[0].startswith(f"{f}:7: field signal: ")
    assert rep.errors[1] == (f"{f}:11: field signal: raw_text 'rise up' is too short for "
                             "MinHash text matching (under 20 characters once normalised); "
                             "not imported")
    edited = MinHashSignal().hash_text(manifesto.upper().replace("homes", "homes!! 🔥"))
    (thit,) = Matcher(store).lookup("minhash", edited.value)
    assert thit.bank == "x" and thit.distance < 0.3
    cli = _cli(tmp_path / "c.db")
    assert cli("bank", "create", "x").exit_code == 0
    r = cli("bank", "import", "x", str(f))
    assert r.exit_code == 0, r.output
    assert ("; skipped, no rasd signal type: url=2, url_md5=1" in r.stdout)
    assert (f"rasd: warning: {f}: 3 row(s) of signal types rasd has no signal type for "
            "passed over (url=2, url_md5=1); the file's other rows are imported") in r.stderr
    (hit,) = Matcher(store).lookup("pdq", pdq)
    assert hit.bank == "x" and hit.distance == 0
    (vhit,) = Matcher(store).lookup("vpdq", ";".join(
        f"{k},100,{fr.split(',')[0]},{k}.000" for k, fr in enumerate(frames)))
    assert vhit.bank == "x"
    # a list of bare hashes is still a list, and a vPDQ frame file still a vPDQ file
    assert B.sniff_format(f"{'ab' * 16}\n{'cd' * 16}\n") == "list"
    assert B.sniff_format(_vpdq_text(rng).replace(";", "\n")) == "vpdq"


def test_json_bank_files_with_long_numbers_or_lone_surrogates_are_errors(store, tmp_path):
    """Hostile JSON in the new readers: a number of more than 4,300 digits (Python
    refuses to convert it: a plain ValueError, not a JSONDecodeError) and a lone
    surrogate escape ("\\ud800", which no store or terminal takes) ended
    `rasd bank import` with a traceback. They are errors naming the file and line
    or JSON path; the good records still import."""
    import json

    long = "9" * 5000
    pdq = "ab" * 32
    B.create_bank(store, "h")
    cases = {
        # TCAP: a long number anywhere in the list makes it JSON rasd cannot read
        "tcap_long.json": ('[{"hash_digest": "' + "aa" * 16 + '", "algorithim": "MD5", '
                           f'"id": {long}}}]', "tcap"),
        # HMA's vPDQ list and its older object form
        "hma_long.json": (f'["{pdq},100,1.0", {long}]', "vpdq"),
        "hma_obj_long.json": ('{"0": {"hash": "' + pdq + f'", "quality": {long}, '
                              '"timestamp": 1}}', "vpdq"),
    }
    for name, (text, fmt) in cases.items():
        f = tmp_path / name
        f.write_text(text)
        if fmt == "tcap":  # nothing of a list that does not parse is imported
            with pytest.raises(B.BankError, match=rf"^{f}:1: not valid JSON.*too long"):
                B.import_file(store, "h", f)
            continue
        rep = B.import_file(store, "h", f, fmt=fmt)  # one video: its signal is not read
        assert rep.added == 0 and len(rep.errors) == 1, rep.errors
        assert rep.errors[0].startswith(f"{f}:1: not valid JSON (HMA's vPDQ form): a "
                                        "number too long to read")
    # a lone surrogate in a TCAP record's label, and in a CSV's JSON labels
    tc = tmp_path / "tcap_surrogate.json"
    tc.write_text('[{"hash_digest": "' + "bb" * 16 + '", "algorithim": "MD5", '
                  '"ideology": "x\\ud800"}, ' + json.dumps(_tcap_record(2, "cc" * 16, "MD5"))
                  + "]")
    rep = B.import_file(store, "h", tc)
    assert (rep.added, rep.invalid) == (1, 1)
    assert rep.errors == [(f"{tc}:$[0]: field ideology: not valid Unicode text (a lone "
                           "surrogate escape); not imported")]
    cs = tmp_path / "labels.csv"
    cs.write_text('signal_type,signal,labels\nmd5,' + "dd" * 16
                  + ',"{""entity"": ""\\udc80""}"\n')
    rep = B.import_file(store, "h", cs)
    assert rep.errors == [(f"{cs}:2: field entity: not valid Unicode text (a lone "
                           "surrogate escape); not imported")]
    assert {r["signal"] for r in B.export_rows(store, "h")} == {"cc" * 16}


def test_vpdq_signal_files_are_bounded_like_a_signal_field(store, tmp_path):
    """A vPDQ file (Meta's frame lines or HMA's JSON list) is one video's signal,
    bounded as the signal of a CSV, TCAP or pytx line is (MAX_FIELD): a 56 MB HMA
    list of 700,000 frames took 720 MB of memory and was stored as one 61 MB row;
    512 MB files were read the same way."""
    import json

    rng = np.random.default_rng(3)
    frames = [f"{rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()},100,{k}.0"
              for k in range(60_000)]
    B.create_bank(store, "v")
    hma = tmp_path / "long.json"
    hma.write_text(json.dumps(frames))
    meta = tmp_path / "long.vpdq.txt"
    meta.write_text("\n".join(f"{k},{f.split(',')[1]},{f.split(',')[0]},{k}.0"
                              for k, f in enumerate(frames)))
    for f in (hma, meta):
        assert B.sniff_format(f.read_text()) == "vpdq"
        rep = B.import_file(store, "v", f)
        assert (rep.added, rep.errors) == (0, [
            (f"{f}: a vPDQ signal file longer than {B.MAX_FIELD} characters (one video's "
             "signal; rasd hashes at most 20,000 frames a video, some 1.5 MB); nothing "
             "imported")])
    # 20,000 frames — the most rasd hashes from one video — still import
    hma.write_text(json.dumps(frames[:20_000]))
    assert B.import_file(store, "v", hma).added == 1


def test_labels_nested_without_end_are_a_bank_error():
    """A labels cell of JSON nested thousands deep ended the import with a
    RecursionError traceback; it is a BankError naming the labels."""
    from rasd.detect.media.banks import BankError, parse_labels

    with pytest.raises(BankError, match="nested too deeply"):
        parse_labels('{"a": ' + "[" * 200_000)


def test_tcap_updated_on_out_of_range_is_an_error_not_a_crash(store, tmp_path):
    """An ISO 8601 ``updated_on`` whose offset moves it out of Python's years
    (``0001-01-01T00:00:00+14:00`` is in year 0 in UTC) raised OverflowError
    from the conversion to UTC, which stopped the whole import with a traceback;
    it is the record's error, as any other ``updated_on`` that is not a time."""
    import json

    B.create_bank(store, "t")
    f = tmp_path / "h.json"
    f.write_text(json.dumps(_tcap_page([
        {**_tcap_record(1, "aa" * 16, "MD5"), "updated_on": "0001-01-01T00:00:00+14:00"},
        {**_tcap_record(2, "bb" * 16, "MD5"), "updated_on": "9999-12-31T23:59:59-14:00"},
        _tcap_record(3, "cc" * 16, "MD5")])))
    rep = B.import_file(store, "t", f)
    assert (rep.added, rep.invalid) == (1, 2)
    assert rep.errors == [
        f'{f}:$.results[{i}]: field updated_on: "{v}" is not a time (seconds since '
        "1970, or ISO 8601)"
        for i, v in ((0, "0001-01-01T00:00:00+14:00"), (1, "9999-12-31T23:59:59-14:00"))]


def test_migration_0018_downgrade_keeps_reviews_and_matches(store):
    """0018's downgrade dropped ``source_updated_at`` in Alembic's batch mode, which
    on SQLite copies ``bank_signals`` to a new table and drops the old one — with
    foreign keys on (as rasd's connections have them), that DROP deleted every
    signal's reviews and hash matches by their ON DELETE CASCADE."""
    from alembic import command
    from sqlalchemy import func, select

    from rasd.detect.media import schema as M
    from rasd.store.migrate import alembic_config

    B.create_bank(store, "t")
    B.add_signals(store, "t", [B.Entry(1, "md5", "aa" * 16, {}, status="quarantined")])
    with store.connect() as c:
        assert c.execute(select(func.count()).select_from(M.signal_reviews)).scalar_one() == 1
    with store.engine.connect() as c:
        cfg = alembic_config(store.engine)
        cfg.attributes["connection"] = c
        command.downgrade(cfg, "0019")  # head…0019's own: not what this test is about
        c.commit()
        assert c.execute(select(func.count()).select_from(M.signal_reviews)).scalar_one() == 1
        command.downgrade(cfg, "0017")
        c.commit()
        assert c.execute(select(func.count()).select_from(M.signal_reviews)).scalar_one() == 1
        command.upgrade(cfg, "head")
        c.commit()
    with store.connect() as c:
        assert c.execute(select(func.count()).select_from(M.signal_reviews)).scalar_one() == 1


def test_match_text_names_the_signals_a_file_was_not_checked_by(tmp_path):
    """A truncated JPEG has an MD5 and a SHA-256 but no PDQ: `rasd match` printed
    "broken.jpg: no match", the PDQ that was never looked up said only on
    standard error, beside the quality gate's reasons, which the line gives."""
    from rasd.cli import app, common

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(POSTER.read_bytes()[:500])
    common.STATE.store = None
    r = CliRunner().invoke(app, ["--db", str(tmp_path / "e.db"), "match", str(broken)])
    common.STATE.store = None
    assert r.exit_code == 1
    line = next(x for x in r.stdout.splitlines() if x.startswith(f"{broken}: "))
    assert line.startswith(f"{broken}: no match (pdq not checked: "), line
    assert "0 of 1 file(s) matched; 1 had errors" in r.stdout


@pytest.mark.parametrize("name", ["minhash", "tlsh"])
def test_linear_lookups_are_those_of_the_previous_scan(store, name):
    """``Matcher.lookup`` of a linear-scan type (MinHash, TLSH: ``near`` in numpy)
    gives the hits the previous scan gave — a distance per bank signal, filtered
    in Python (the base ``SignalType.near``) — in the same order: on banks holding
    signals at the threshold and one step past it, tombstoned and disabled
    signals, a disabled bank, quarantined signals and stored signals that no
    longer decode; and none, without an error, where the bank is empty."""
    from types import MethodType

    from tests.test_media_signals import _linear_bank

    from rasd.detect.media import schema as M
    from rasd.detect.media import signals as sig
    from rasd.store.db import now

    st = sig.get(name)
    q, bank, thr = _linear_bank(name, np.random.default_rng(21))
    assert Matcher(store).lookup(name, q) == []  # no bank yet
    B.create_bank(store, "on")
    B.create_bank(store, "off")
    B.set_bank_enabled(store, "off", False)
    ts = now()
    statuses = ["active", "active", "tombstoned", "disabled", "quarantined"]
    with store.begin() as c:
        ids = {r.name: r.id for r in c.execute(M.hash_banks.select())}
        c.execute(M.bank_signals.insert(), [
            {"bank_id": ids["off" if i % 7 == 6 else "on"], "signal_type": name,
             "signal": s, "signal_key": f"{i:064x}", "status": statuses[i % 5],
             "added_at": ts, "updated_at": ts} for i, s in enumerate(bank)])
    got = Matcher(store).lookup(name, q)
    st.near = MethodType(sig.SignalType.near, st)  # the previous scan
    try:
        want = Matcher(store).lookup(name, q)
    finally:
        del st.near
    assert [h.as_dict() for h in got] == [h.as_dict() for h in want]
    assert [h.signal_id for h in got] == [h.signal_id for h in want]
    assert len(got) >= 2 and max(h.distance for h in got) <= thr
    assert {h.status for h in got} <= {"active", "quarantined"}
    assert {h.bank for h in got} == {"on"}


@pytest.mark.parametrize("name", ["minhash", "tlsh"])
def test_refresh_prepares_only_the_signals_added(store, name, monkeypatch):
    """After ``Matcher.refresh`` a linear-scan bank prepared only the signals added
    since it was read (it read and prepared the whole bank again for any change,
    ~0.5 s at 50,000 signals), and its lookups are a new matcher's. A deletion or
    a changed value is read whole again, also where the row count stays the same
    (SQLite gives a deleted highest row's id to the next one); a tombstone is
    filtered at lookup and prepares nothing; past ``MAX_PARTS`` additions, the
    added signals are prepared again as one part."""
    from sqlalchemy import delete, func, select, update
    from tests.test_media_signals import _linear_bank

    from rasd.detect.media import matcher as MM
    from rasd.detect.media import schema as M
    from rasd.detect.media import signals as sig

    st = sig.get(name)
    q, bank, _ = _linear_bank(name, np.random.default_rng(22))
    # each signal once, the near copies first
    bank = list({st.normalize(b): b for b in bank[::-1] if _normalizes(st, b)})
    prepared: list[int] = []
    real = type(st).prepare

    def counted(self, signals):  # the real preparation, its sizes noted
        prepared.append(len(signals))
        return real(self, signals)

    monkeypatch.setattr(type(st), "prepare", counted)
    monkeypatch.setattr(MM, "MAX_PARTS", 3, raising=False)
    B.create_bank(store, "b")
    B.add_signals(store, "b", [B.Entry(i, name, s, {}) for i, s in enumerate(bank[:200])])
    m = Matcher(store)

    def same(label: str) -> list[int]:
        got = [(h.signal_id, h.distance) for h in m.lookup(name, q)]
        assert got == [(h.signal_id, h.distance) for h in Matcher(store).lookup(name, q)], label
        return [s for s, _ in got]

    def step(label: str, want: list[int]) -> list[int]:
        prepared.clear()
        m.refresh()
        hits = same(label)
        assert prepared[:len(want)] == want, label
        return hits

    step("first", [200])
    step("unchanged", [])
    B.add_signals(store, "b", [B.Entry(i, name, s, {}) for i, s in enumerate(bank[200:210])])
    step("added", [10])
    B.add_signals(store, "b", [B.Entry(i, name, s, {}) for i, s in enumerate(bank[210:215])])
    step("added again: three parts", [5])
    assert m.linear_updates[name] == "added" and len(m._linear[name].parts) == 3
    B.add_signals(store, "b", [B.Entry(i, name, s, {}) for i, s in enumerate(bank[215:218])])
    step("added a third time: the added ones as one part", [18])
    assert len(m._linear[name].parts) == 2
    hits = step("unchanged", [])
    assert m.linear_updates[name] == "kept"
    B.set_signal_status(store, hits[:1], "tombstoned")
    assert hits[0] not in step("tombstoned", [])
    bs = M.bank_signals
    with store.begin() as c:
        top = c.execute(select(func.max(bs.c.id))).scalar_one()
        c.execute(delete(bs).where(bs.c.id == top))
    B.add_signals(store, "b", [B.Entry(1, name, bank[218], {})])
    with store.connect() as c:
        n = c.execute(select(func.count()).where(bs.c.status != "tombstoned")).scalar_one()
    step("a deletion and an addition", [n])
    assert m.linear_updates[name] == "full"
    with store.begin() as c:
        c.execute(update(bs).where(bs.c.id == hits[-1]).values(signal=bank[219]))
    assert hits[-1] not in step("a value changed", [n])


def _normalizes(st, value: str) -> bool:
    try:
        st.normalize(value)
        return not st.unusable(st.normalize(value))
    except ValueError:
        return False
