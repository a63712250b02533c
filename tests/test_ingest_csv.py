"""CSV with column mappings: built-in mappings on the real data, custom mappings."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from tests.helpers import account, post

from rasd.ingest import IngestError, detect_format, ingest_path
from rasd.ingest.base import RawSink, get_parser
from rasd.model import Post
from rasd.store import schema as S


def _head(src: Path, dst: Path, lines: int) -> Path:
    opener = gzip.open if src.suffix == ".gz" else open
    with opener(src, "rt", encoding="utf-8", newline="") as f, open(dst, "w", newline="",
                                                                     encoding="utf-8") as g:
        import csv
        r = csv.reader(f)
        w = csv.writer(g)
        for i, row in enumerate(r):
            if i > lines:
                break
            w.writerow(row)
    return dst


def test_isis_kaggle_csv(store, shared_data, tmp_path):
    f = _head(shared_data / "isis-twitter" / "tweets.csv", tmp_path / "isis.csv", 600)
    assert detect_format(f) == "csv"
    rep = ingest_path(store, f)
    assert rep.rejected == 0
    s = store.stats()
    assert s["posts"] == 600 and s["by_platform"]["x"]["posts"] == 600
    acc = account(store, "x", "GunsandCoffee70")
    assert acc.handle == "GunsandCoffee70" and acc.name == "GunsandCoffee"
    with store.connect() as c:
        kinds = {r[0] for r in c.execute(select(S.edges.c.kind))}
    assert {"repost", "mention"} <= kinds  # "RT @user:" and @mentions from the text
    again = ingest_path(store, f)
    assert again.counts["new"] == 0 and again.counts["by_kind"]["posts"] == {"unchanged": 600}


def test_far_right_telegram_csv_forwards(store, shared_data, tmp_path):
    src = shared_data / "far-right-telegram" / "far_right_telegram_sample.csv.gz"
    f = _head(src, tmp_path / "fr.csv", 2000)
    rep = ingest_path(store, f)
    assert rep.rejected == 0
    s = store.stats()
    assert s["by_platform"]["telegram"]["posts"] > 1900
    with store.connect() as c:
        fwd = c.execute(select(S.edges).where(S.edges.c.kind == "forward")).all()
        post_kinds = {r[0] for r in c.execute(select(S.posts.c.kind))}
    assert len(fwd) > 100 and "forward" in post_kinds


def test_full_isis_file_counts(sqlite_store, shared_data):
    rep = ingest_path(sqlite_store, shared_data / "isis-twitter" / "tweets.csv")
    # one row in the released file has a 300-character run of backticks as username
    assert rep.rejected == 1 and rep.rejects[0]["field"] == "username"
    assert sqlite_store.stats()["posts"] == rep.counts["by_kind"]["posts"]["new"]


def test_custom_mapping_and_bad_rows(sqlite_store, tmp_path):
    m = {"name": "mine", "platform": "forum", "post": {"id": "{msg}", "text": "body",
                                                       "account_id": "{user}",
                                                       "created_at": "ts"},
         "account": {"id": "{user}", "handle": "user"}}
    mf = tmp_path / "m.json"
    mf.write_text(json.dumps(m))
    f = tmp_path / "posts.csv"
    f.write_bytes("msg,user,body,ts\n1,ann,hello #x,2024-01-01\n2,bob,bad date,yesterday\n"
                  "3,,no user,2024-01-01\n4,cat,\"unterminated\n5,dan,\xff\xfe bytes,2024-01-01\n"
                  .encode().replace(b"\xc3\xbf\xc3\xbe", b"\xff\xfe"))
    with pytest.raises(IngestError, match="matches no built-in mapping"):
        ingest_path(sqlite_store, f)
    assert sqlite_store.stats()["posts"] == 0
    rep = ingest_path(sqlite_store, f, mapping=str(mf))
    assert sqlite_store.stats()["by_platform"]["forum"]["posts"] == 1
    assert rep.rejected >= 2
    reasons = [r["reason"] for r in rep.rejects]
    assert any("not a date/time" in r for r in reasons)
    assert any("missing required field" in r for r in reasons)


def test_bad_mapping_file(sqlite_store, tmp_path):
    mf = tmp_path / "m.json"
    mf.write_text('{"post": {"text": "body"}}')
    f = tmp_path / "p.csv"
    f.write_text("body\nhi\n")
    with pytest.raises(IngestError, match="account_id"):
        ingest_path(sqlite_store, f, mapping=str(mf))


KAGGLE_HEADER = "name,username,description,location,followers,numberstatuses,time,tweets\n"


def test_kaggle_times_as_downloaded_give_the_same_posts_as_iso_times(store, tmp_path):
    """The Kaggle file writes ``1/6/2015 21:07`` (month first); a converted copy
    writes ISO. Both are read, and one tweet gets one id either way."""
    rows = [("Abu A", "abu_a", "bio", "", "10", "5", "1/6/2015 21:07", "2015-01-06 21:07:00",
             "first #tag"),
            ("Abu A", "abu_a", "bio", "", "10", "5", "12/31/2015 9:05", "2015-12-31 09:05:00",
             "second @abu_b")]
    kaggle, iso = tmp_path / "kaggle.csv", tmp_path / "iso.csv"
    kaggle.write_text(KAGGLE_HEADER + "".join(",".join(r[:6] + (r[6], r[8])) + "\n"
                                              for r in rows))
    iso.write_text(KAGGLE_HEADER + "".join(",".join(r[:6] + (r[7], r[8])) + "\n"
                                           for r in rows))
    rep = ingest_path(store, kaggle)
    assert rep.rejected == 0 and rep.counts["by_kind"]["posts"]["new"] == 2
    with store.connect() as c:
        times = sorted(r[0].replace(tzinfo=None) for r in c.execute(
            select(S.posts.c.created_at)))
    assert [t.isoformat(sep=" ") for t in times] == [
        "2015-01-06 21:07:00", "2015-12-31 09:05:00"]
    again = ingest_path(store, iso)
    assert again.rejected == 0 and again.counts["by_kind"]["posts"]["unchanged"] == 2
    assert store.stats()["posts"] == 2


def test_mapping_time_formats(sqlite_store, tmp_path):
    m = {"name": "eu", "platform": "forum", "time_formats": ["%d.%m.%Y %H:%M"],
         "post": {"id_from": ["user", "ts", "body"], "text": "body", "account_id": "{user}",
                  "created_at": "ts"}}
    mf = tmp_path / "m.json"
    mf.write_text(json.dumps(m))
    f = tmp_path / "p.csv"
    f.write_text("user,ts,body\nann,02.03.2024 10:15,hi\nbob,2024-03-02T10:15:00Z,iso too\n"
                 "cat,31.02.2024 10:15,no such day\n")
    rep = ingest_path(sqlite_store, f, mapping=str(mf))
    assert rep.counts["by_kind"]["posts"]["new"] == 2 and rep.rejected == 1
    assert "not a date/time: '31.02.2024 10:15'" in rep.rejects[0]["reason"]
    with sqlite_store.connect() as c:
        days = sorted(r[0].day for r in c.execute(select(S.posts.c.created_at)))
    assert days == [2, 2]  # day first, as the format says
    mf.write_text(json.dumps({**m, "time_formats": "%d.%m.%Y"}))
    with pytest.raises(IngestError, match="time_formats"):
        ingest_path(sqlite_store, f, mapping=str(mf))


def test_an_unbalanced_quote_does_not_swallow_the_rows_after_it(sqlite_store, tmp_path):
    rows = [f"Abu,abu{i},bio,,10,100,2015-01-06 21:{i:02d}:00,text {i}\n" for i in range(1, 30)]
    stray = 'Abu,abu0,bio,,10,100,2015-01-06 21:00:00,"a quote that never closes\n'
    f = tmp_path / "stray.csv"
    f.write_text(KAGGLE_HEADER + stray + "".join(rows))
    rep = ingest_path(sqlite_store, f)
    assert sqlite_store.stats()["posts"] == 29
    assert rep.rejected == 1 and rep.rejects[0]["line"] == 2
    assert "unbalanced quote" in rep.rejects[0]["reason"]


@pytest.mark.parametrize("cut", ["in-quoted-field", "in-quoted-line-break", "mid-row"])
def test_an_uncompressed_csv_cut_short_rejects_its_cut_row(store, tmp_path, cut):
    """A plain CSV cut short keeps every whole row and rejects the cut one with
    file, line and reason into the quarantine, as the same file compressed does
    (the decompressor tells where its data ends). Cut inside a quoted field, the
    cut row was stored as a post holding the text before the cut."""
    rows = [f"Abu,abu{i},bio,,10,100,2015-01-06 21:{i:02d}:00,text {i}\n" for i in range(1, 4)]
    last = 'Abu,abu9,bio,,10,100,2015-01-06 21:09:00,"quoted, over\ntwo lines"\n'
    whole = KAGGLE_HEADER + "".join(rows) + last
    at = {"in-quoted-field": whole.index("quoted,") + 4,  # "quot"
          "in-quoted-line-break": whole.index("two lines") + 3,  # after a line break
          "mid-row": whole.index(",10,100,2015-01-06 21:09")}[cut]
    f = tmp_path / "cut.csv"
    f.write_text(whole[:at])
    rep = ingest_path(store, f)
    assert store.stats()["posts"] == 3 and rep.rejected == 1
    r = rep.rejects[0]
    assert r["line"] == 5 and r["file"] == str(f)
    assert ("the file ends inside this row's quoted field" in r["reason"] if cut != "mid-row"
            else "file ends in this row without a line break" in r["reason"])
    q = [json.loads(x) for x in Path(rep.quarantine).read_text().splitlines()]
    assert [(e["file"], e["line"], e["reason"]) for e in q] == [(str(f), 5, r["reason"])]


@pytest.mark.parametrize("last", ["Abu,abu9,bio,,10,100,2015-01-06 21:09:00,last words",
                                  ('Abu,abu9,bio,,10,100,2015-01-06 21:09:00,"quoted, over\n'
                                   'two lines"')])
def test_a_complete_last_row_without_a_line_break_is_kept(store, tmp_path, last):
    """A file need not end with a line break (Google Sheets, an editor): a last
    row whose quotes close and whose columns are all there is a row."""
    f = tmp_path / "nonl.csv"
    f.write_text(KAGGLE_HEADER + "Abu,abu1,bio,,10,100,2015-01-06 21:01:00,first\n" + last)
    rep = ingest_path(store, f)
    assert rep.rejected == 0 and store.stats()["posts"] == 2


def test_a_tweet_over_several_lines_stays_one_row(sqlite_store, tmp_path):
    """A line of a tweet can have as many commas as the header (a list of names):
    it is text, not a row, because its "time" is not a time."""
    text = '"RT @x: #Free\nAnn, Ben, Cat, Dan, Eve, Fay, Gil, Hal …"'
    f = tmp_path / "multi.csv"
    f.write_text(KAGGLE_HEADER + f"Abu,abu1,bio,,10,100,2016-02-20 20:20:00,{text}\n"
                 "Abu,abu1,bio,,10,100,2016-02-20 20:27:00,next tweet\n")
    rep = ingest_path(sqlite_store, f)
    assert rep.rejected == 0 and sqlite_store.stats()["posts"] == 2
    with sqlite_store.connect() as c:
        texts = sorted(r[0] for r in c.execute(select(S.posts.c.text)))
    assert texts[0].startswith("RT @x: #Free\nAnn, Ben") and texts[1] == "next tweet"


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_csv_from_real_rows(shared_data, tmp_path_factory, data):
    """Mutate a real row of the Kaggle ISIS file (quotes, commas, line breaks,
    any bytes); with an intact row after it, the parser must not crash and must
    still read the intact row."""
    src = shared_data / "isis-twitter" / "tweets.csv"
    if not src.is_file():
        pytest.skip(f"{src} missing")
    with src.open(encoding="utf-8", newline="") as fh:
        rows = [r for _, r in zip(range(40), csv.reader(fh), strict=False)]
    header, body = rows[0], rows[1:]

    def line(r: list[str]) -> bytes:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(r)
        return out.getvalue().encode()

    base = bytearray(line(data.draw(st.sampled_from(body))))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(base) - 1))
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if op == "flip":
            base[pos] = data.draw(st.sampled_from([34, 44, 10, 13, 0, 255, 65]))
        elif op == "cut":
            del base[pos:]
            if not base:
                base = bytearray(b"x")
        else:
            base[pos:pos] = data.draw(st.binary(min_size=1, max_size=6) | st.sampled_from(
                [b'"', b'""', b",", b"\n", b'",', b',"']))
    intact = data.draw(st.sampled_from(body))
    f = tmp_path_factory.mktemp("csvfz") / "t.csv"
    f.write_bytes(line(header) + bytes(base).rstrip(b"\n") + b"\n" + line(intact))
    recs = list(get_parser("csv").parse(f, RawSink()))
    got = {(r.text or "") for r in recs if isinstance(r, Post)}
    assert intact[header.index("tweets")] in got


@pytest.mark.parametrize("variant", ["semicolon", "utf16-tabs", "cp1252", "pipe-mapping"])
def test_spreadsheet_exports(sqlite_store, tmp_path, variant):
    """What spreadsheets write: `;` (European locales), UTF-16 with tabs ("Unicode
    text"), a legacy code page named by the mapping, a delimiter named by the mapping."""
    cols = KAGGLE_HEADER.strip().split(",")
    rows = [["Abu", f"abu{i}", "bio", "", "10", "100", f"2015-01-06 21:0{i}:00",
             f"café {i}, – ✓" if variant != "cp1252" else f"café {i}, –"] for i in range(1, 4)]
    mapping = None
    if variant == "semicolon":
        data = "\n".join(";".join(r) for r in [cols, *rows]).encode("utf-8")
    elif variant == "utf16-tabs":
        data = "\n".join("\t".join(r) for r in [cols, *rows]).encode("utf-16")
    elif variant == "cp1252":
        data = "\n".join(",".join(f'"{c}"' for c in r) for r in [cols, *rows]).encode("cp1252")
        mapping = {"encoding": "cp1252"}
    else:
        data = "\n".join("|".join(r) for r in [cols, *rows]).encode("utf-8")
        mapping = {"delimiter": "|"}
    f = tmp_path / "sheet.csv"
    f.write_bytes(data)
    kw = {}
    if mapping:
        from rasd.ingest.csvfmt import builtin_mappings

        mf = tmp_path / "m.json"
        mf.write_text(json.dumps({**builtin_mappings()["isis-kaggle"], **mapping}))
        kw["mapping"] = str(mf)
    rep = ingest_path(sqlite_store, f, **kw)
    assert rep.rejected == 0 and sqlite_store.stats()["posts"] == 3
    with sqlite_store.connect() as c:
        texts = sorted(r[0] for r in c.execute(select(S.posts.c.text)))
    assert texts[0] == rows[0][7]


def test_bad_delimiter_or_encoding_in_a_mapping(sqlite_store, tmp_path):
    from rasd.ingest.csvfmt import builtin_mappings

    f = tmp_path / "p.csv"
    f.write_text(KAGGLE_HEADER + "A,a1,,,1,1,2015-01-06 21:07:00,hi\n")
    mf = tmp_path / "m.json"
    for bad, msg in (({"delimiter": ";;"}, "delimiter"), ({"encoding": "klingon"}, "encoding")):
        mf.write_text(json.dumps({**builtin_mappings()["isis-kaggle"], **bad}))
        with pytest.raises(IngestError, match=msg):
            ingest_path(sqlite_store, f, mapping=str(mf))


@pytest.mark.parametrize("bad, msg", [
    ({"encoding": "base64"}, "unknown text encoding"), ({"encoding": "rot13"}, "text encoding"),
    ({"encoding": "zlib"}, "text encoding"), ({"unescape_newlines": "no"}, "true or false"),
    ({"entities_from_text": 0}, "true or false"), ({"detect_columns": "user"}, "detect_columns"),
    ({"post": {"id_from": [], "text": "body", "account_id": "{user}"}}, "one or more columns"),
])
def test_a_mapping_value_that_would_be_misread_is_an_error(sqlite_store, tmp_path, bad, msg):
    """Values the mapping check let through: a codec that is no text
    encoding (a LookupError traceback at the first row), "no" for a flag
    (read as true), a string of column names (read a letter a column), an
    empty id_from (every row the same id: all but the last lost)."""
    base = {"name": "forum", "platform": "forum",
            "post": {"id_from": ["user", "body"], "text": "body", "account_id": "{user}"}}
    mf = tmp_path / "m.json"
    mf.write_text(json.dumps({**base, **bad}))
    f = tmp_path / "p.csv"
    f.write_text("user,body\nann,hi\nbob,hello\n")
    with pytest.raises(IngestError, match=msg) as e:
        ingest_path(sqlite_store, f, mapping=str(mf))
    assert str(mf) in str(e.value)
    assert sqlite_store.stats()["posts"] == 0
    mf.write_text(json.dumps(base))  # (the same mapping, sound: both rows read)
    assert ingest_path(sqlite_store, f, mapping=str(mf)).counts["new"] >= 2
    assert sqlite_store.stats()["posts"] == 2


def test_rows_whose_id_from_columns_are_all_empty_are_rejected(sqlite_store, tmp_path):
    """Rows with nothing in the columns a post's id is hashed from all had
    the same id: the second and later overwrote the first as its edits."""
    mf = tmp_path / "m.json"
    mf.write_text(json.dumps({"name": "forum", "platform": "forum", "post": {
        "id_from": ["msg"], "text": "body", "account_id": "{user}"}}))
    f = tmp_path / "p.csv"
    f.write_text("user,msg,body\nann,1,hi\nbob,,hello\ncat, ,hey\ndan,2,yo\n")
    rep = ingest_path(sqlite_store, f, mapping=str(mf))
    assert [r["line"] for r in rep.rejects] == [3, 4]
    assert "the columns of post.id_from, ['msg'], are empty" in rep.rejects[0]["reason"]
    assert sqlite_store.stats()["posts"] == 2


def test_a_mapping_file_past_its_size_is_an_error_read_no_further(sqlite_store, tmp_path):
    """A mapping is a page of JSON; a data file passed as --mapping was read
    whole into memory before its first byte was looked at."""
    mf = tmp_path / "big.json"
    mf.write_bytes(b'{"name": "x", "description": "' + b"a" * (1 << 20) + b'"}')
    f = tmp_path / "p.csv"
    f.write_text("user,body\nann,hi\n")
    with pytest.raises(IngestError, match=r"big.json: a mapping file is at most 1 MiB"):
        ingest_path(sqlite_store, f, mapping=str(mf))


TWARC_CSV_COLUMNS = (
    "id created_at text __twarc.retrieved_at __twarc.url __twarc.version attachments.media "
    "attachments.media_keys author.created_at author.description author.id author.location "
    "author.name author.public_metrics.followers_count author.public_metrics.following_count "
    "author.public_metrics.listed_count author.public_metrics.tweet_count author.username "
    "author.verified author_id conversation_id entities.hashtags entities.mentions "
    "entities.urls geo.place_id in_reply_to_user_id lang possibly_sensitive "
    "public_metrics.like_count public_metrics.quote_count public_metrics.reply_count "
    "public_metrics.retweet_count referenced_tweets reply_settings source type").split()


def _dict_csv(f: Path, columns: list[str], rows: list[dict]) -> Path:
    with f.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    return f


def _twarc_row(**kw) -> dict:
    row = dict.fromkeys(TWARC_CSV_COLUMNS, "")
    row.update({"__twarc.retrieved_at": "2024-02-01T00:00:00+00:00", "lang": "en",
                "author.public_metrics.followers_count": "580.0",  # pandas writes floats
                "public_metrics.like_count": "3"})
    row.update(kw)
    return row


def test_twarc_csv_output(store, tmp_path):
    """CSV written by twarc-csv: its built-in mapping is picked from the header;
    replies, retweets and quotes come from the JSON-encoded referenced_tweets, line
    breaks (written as \\n) come back, metrics and the retrieval time are kept."""
    rows = [
        _twarc_row(id="100", created_at="2024-01-01T10:00:00.000Z", author_id="1",
                   **{"author.id": "1", "author.username": "alice", "author.name": "Alice",
                      "text": "first line\\nsecond line #Tag", "conversation_id": "100"}),
        _twarc_row(id="101", created_at="2024-01-01T11:00:00.000Z", author_id="2",
                   **{"author.id": "2", "author.username": "bob", "text": "RT @alice: first line",
                      "referenced_tweets": '[{"type": "retweeted", "id": "100"}]'}),
        _twarc_row(id="102", created_at="2024-01-01T12:00:00.000Z", author_id="2",
                   in_reply_to_user_id="1",
                   **{"author.id": "2", "author.username": "bob", "text": "@alice agreed",
                      "referenced_tweets": '[{"type": "replied_to", "id": "100"}]'}),
        _twarc_row(id="103", created_at="2024-01-01T13:00:00.000Z", author_id="2",
                   **{"author.id": "2", "author.username": "bob", "text": "bad refs",
                      "referenced_tweets": "not json"}),
    ]
    f = _dict_csv(tmp_path / "tweets.csv", TWARC_CSV_COLUMNS, rows)
    rep = ingest_path(store, f)
    assert rep.rejected == 1 and "referenced_tweets" in rep.rejects[0]["reason"]
    first = post(store, "x", "100")
    assert first.text == "first line\nsecond line #Tag" and first.conversation_id == "100"
    assert first.metrics == {"like_count": 3}
    assert first.observed_at.replace(tzinfo=None).isoformat() == "2024-02-01T00:00:00"
    rt, reply = post(store, "x", "101"), post(store, "x", "102")
    assert rt.kind == "repost" and rt.repost_of == "100"
    assert reply.kind == "reply" and reply.reply_to == "100"
    assert account(store, "x", "1").handle == "alice"
    assert account(store, "x", "1").followers == 580
    with store.connect() as c:
        kinds = sorted(r[0] for r in c.execute(select(S.edges.c.kind)))
    assert kinds == ["mention", "mention", "reply", "repost"]  # X lists the RT'd author too


def test_qut_coordination_toolkit_csv(store, tmp_path):
    """The QUT Coordination Network Toolkit's generic CSV (message_id, user_id,
    username, repost_id, reply_id, message, timestamp in seconds, urls
    space-separated) is recognised by its header: reposts and replies become
    links to the posts by id, the listed URLs join those in the text."""
    f = tmp_path / "cnt.csv"
    f.write_text("message_id,user_id,username,repost_id,reply_id,message,timestamp,urls\n"
                 "1111,2222,orig,,,\"This is the tweet https://a.example/x\",1577886230,"
                 "https://a.example/x https://b.example/y\n"
                 "2563,3214,rt_er,1111,,RT @orig: This is the tweet,1577886276.5,\n"
                 "2564,3214,rt_er,,1111,@orig agreed,1577886300,\n")
    assert detect_format(f) == "csv"
    rep = ingest_path(store, f)
    assert rep.rejected == 0 and rep.counts["by_kind"]["posts"] == {"new": 3}
    p = post(store, "x", "1111")
    assert p.created_at.year == 2020
    with store.connect() as c:
        urls = sorted(r[0] for r in c.execute(select(S.urls.c.url)
                                              .where(S.urls.c.post_id == p.id)))
        assert urls == ["https://a.example/x", "https://b.example/y"]
        rt = post(store, "x", "2563")
        assert (rt.kind, rt.repost_of) == ("repost", "1111")
        assert rt.created_at.microsecond == 500_000
        assert post(store, "x", "2564").reply_to == "1111"
        kinds = {r[0] for r in c.execute(select(S.edges.c.kind))}
    assert {"repost", "reply"} <= kinds
    assert account(store, "x", "3214").handle == "rt_er"


def test_misspelt_mapping_keys_are_named(sqlite_store, tmp_path):
    """A typo in a mapping is an error naming the key, not a column silently
    left unread; every built-in mapping passes the same check."""
    from rasd.ingest.csvfmt import builtin_mappings, validate_mapping

    for name, m in builtin_mappings().items():
        validate_mapping(m, name)
    f = tmp_path / "a.csv"
    f.write_text("id,who,body\n1,u,hi\n")
    for bad, word in (({"post": {"id": "{id}", "text": "body", "account_id": "{who}",
                                 "reply_too": "x"}}, "reply_too"),
                      ({"post": {"id": "{id}", "text": "body", "account_id": "{who}"},
                        "acount": {}}, "acount"),
                      ({"post": {"id": "{id}", "text": "body", "account_id": "{who}"},
                        "account": {"handel": "who"}}, "handel")):
        mf = tmp_path / "m.json"
        mf.write_text(json.dumps(bad))
        with pytest.raises(IngestError, match=word):
            ingest_path(sqlite_store, f, mapping=str(mf))


def test_platform_names_are_checked(sqlite_store, tmp_path):
    """A platform is a short lower-case name (the store's column holds 32
    characters; PostgreSQL refused longer ones mid-ingest with a DataError)."""
    f = tmp_path / "a.csv"
    f.write_text("id,who,body\n1,u,hi\n")
    m = tmp_path / "m.json"
    for bad in ("X Twitter", "x" * 40, 5, ""):
        m.write_text(json.dumps({"platform": bad, "post": {"id": "{id}", "text": "body",
                                                           "account_id": "{who}"}}))
        with pytest.raises(IngestError, match="platform must be"):
            ingest_path(sqlite_store, f, mapping=str(m))
    m.write_text(json.dumps({"platform": "forum-a", "post": {"id": "{id}", "text": "body",
                                                             "account_id": "{who}"}}))
    assert ingest_path(sqlite_store, f, mapping=str(m)).counts["new"] >= 1
    with pytest.raises(IngestError, match="--platform"):
        ingest_path(sqlite_store, f, mapping=str(m), platform="Forum A")


def test_every_mapping_key_with_hostile_values(tmp_path):
    """A mapping file is input too: each key the CSV reader knows, at the top,
    under "post" and under "account", set to each hostile value or template
    trick, is read or refused with an IngestError naming the mapping, never
    another exception (an "encoding" with a NUL raised ValueError)."""
    from tests.test_ingest_hostile import HOSTILE_VALUES, _parser_keys

    from rasd.ingest import IngestError
    from rasd.ingest.runner import check_path

    base = {"name": "all", "platform": "forum",
            "post": {"id": "{chan}/{msg}", "text": "body", "created_at": "ts",
                     "account_id": "{user}", "chat_id": "chan", "reply_to": "parent",
                     "urls": "lnk", "views": "views"},
            "account": {"id": "{user}", "handle": "handle"}}
    f = tmp_path / "a.csv"
    f.write_text("msg,user,body,ts,chan,parent,lnk,handle,views\n"
                 "1,u1,hello,2024-03-01 10:00:00,c1,0,https://x.org,h1,7\n")
    tricks = ("{", "{nope}", "{chan}{", "{0}", "{chan!r}", "{chan.__class__}", "{chan[0]}",
              "%s", "{{}}")
    m = tmp_path / "m.json"
    n = 0
    for place in ((), ("post",), ("account",)):
        for key in _parser_keys("csvfmt"):
            for value in (*HOSTILE_VALUES, *tricks):
                mapping = json.loads(json.dumps(base))
                target = mapping
                for p in place:
                    target = target[p]
                target[key] = value
                m.write_text(json.dumps(mapping, default=str))
                try:
                    check_path(f, mapping=str(m))
                except IngestError as e:
                    assert str(m) in str(e) or "mapping" in str(e), str(e)
                except Exception as e:
                    raise AssertionError(f"{place} {key}={value!r:.60}: "
                                         f"{type(e).__name__}: {e}") from e
                n += 1
    assert n > 3000


def test_a_utf16_row_that_does_not_decode_is_rejected_alone(sqlite_store, tmp_path):
    """A lone UTF-16 surrogate (a broken pair holds a NUL byte, which
    "surrogateescape" cannot take): UnicodeDecodeError stopped the ingest with
    nothing stored (review); now that row is rejected, the others stored."""
    cols = KAGGLE_HEADER.strip().split(",")
    rows = [["Abu", f"abu{i}", "bio", "", "10", "100", f"2015-01-06 21:0{i}:00", "t"]
            for i in (1, 2, 3)]
    data = "\n".join("\t".join(r) for r in [cols, *rows]).encode("utf-16")
    i = data.rindex("t".encode("utf-16-le"))
    f = tmp_path / "s.csv"
    f.write_bytes(data[:i] + b"\x00\xd8" + data[i:])  # a lone high surrogate in row 3
    rep = ingest_path(sqlite_store, f)
    assert rep.rejected == 1 and rep.rejects[0]["line"] == 4
    assert sqlite_store.stats()["posts"] == 2


def test_ids_a_spreadsheet_or_pandas_rewrote(sqlite_store, tmp_path):
    """Exploratory testing: "2.0" (an integer column with a gap, as pandas
    writes it) and " 8 " were stored as ids "2.0" and " 8 " — other posts than
    2 and 8; an id in float notation, rounded, is rejected, not stored under a
    wrong id; a handle that reads like a number ("1e100") is left alone."""
    from rasd.ingest import ingest_path

    f = tmp_path / "fr.csv"
    f.write_text("channel_id,channel_name,msg_id,date,cleaned_message,views,is_forward,"
                 "forward_msg_from_peer_name\n"
                 "100.0,C,2.0,2024-03-01 10:00:00,two,1,False,\n"
                 "100,C, 8 ,2024-03-01 10:00:00,eight,1,False,\n"
                 "100,C,1.2345678901234568e+18,2024-03-01 10:00:00,rounded,1,False,\n")
    rep = ingest_path(sqlite_store, f, mapping="far-right-telegram")
    assert rep.rejected == 1 and "float notation" in rep.rejects[0]["reason"]
    from rasd.store import schema as S

    with sqlite_store.connect() as c:
        ids = sorted(c.execute(select(S.posts.c.platform_id)).scalars())
    assert ids == ["channel100/2", "channel100/8"]
    g = tmp_path / "isis.csv"
    g.write_text("name,username,description,location,followers,numberstatuses,time,tweets\n"
                 "N,1e100,d,l,1,1,1/1/2016 10:00,hello\n")
    assert ingest_path(sqlite_store, g, mapping="isis-kaggle").rejected == 0


def test_a_header_naming_a_mapped_column_twice_is_an_error(sqlite_store, tmp_path):
    """Exploratory testing: with "tweets" twice in the header the last column
    won without a word (a row whose last cell was empty lost its text)."""
    from rasd.ingest import ingest_path

    f = tmp_path / "dup.csv"
    f.write_text("name,username,description,location,followers,numberstatuses,time,tweets,"
                 "tweets\nN,u,d,l,1,1,1/1/2016 10:00,first text,second text\n")
    with pytest.raises(IngestError, match="more than once"):
        ingest_path(sqlite_store, f, mapping="isis-kaggle")
    g = tmp_path / "ok.csv"  # a repeated column the mapping does not read is no matter
    g.write_text("name,username,description,location,followers,numberstatuses,time,tweets,"
                 "x,x\nN,u,d,l,1,1,1/1/2016 10:00,text,a,b\n")
    assert ingest_path(sqlite_store, g, mapping="isis-kaggle").counts["new"] >= 1


NOTES = {"name": "notes", "platform": "forum",
         "post": {"id": "{id}", "text": "text", "account_id": "{user}"},
         "account": {"id": "{user}", "handle": "user"}}


def _notes(tmp_path: Path, mapping: dict | None = None) -> Path:
    mf = tmp_path / "notes.json"
    mf.write_text(json.dumps(mapping or NOTES))
    return mf


def test_a_quoted_field_over_lines_of_commas_is_one_row_without_a_time_column(
        sqlite_store, tmp_path):
    """A mapping with no time column cannot check a line by its time: a well
    quoted post whose lines read "knives, rope, tape" (as many commas as the
    header) was rejected as an unbalanced quote and its lines stored as posts."""
    f = tmp_path / "multiline.csv"
    with f.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "user", "text"])
        w.writerow(["1", "alice", "Bring:\nknives, rope, tape\nfuel, matches, gloves"])
        w.writerow(["2", "bob", "ok"])
    rep = ingest_path(sqlite_store, f, mapping=str(_notes(tmp_path)))
    assert rep.rejected == 0 and sqlite_store.stats()["posts"] == 2
    assert post(sqlite_store, "forum", "1").text == "Bring:\nknives, rope, tape\nfuel, matches, gloves"


@pytest.mark.parametrize("tail", ["", '4,dan,"quoted, text"\n5,eve,x\n'])
def test_a_stray_quote_is_found_without_a_time_column(sqlite_store, tmp_path, tail):
    """… while a quote that never closes (or closes inside another row's field)
    still does not swallow the rows after it."""
    f = tmp_path / "stray.csv"
    f.write_text('id,user,text\n1,alice,"never closes\n2,bob,ok\n3,carl,fine\n' + tail)
    rep = ingest_path(sqlite_store, f, mapping=str(_notes(tmp_path)))
    assert rep.rejected == 1 and "unbalanced quote" in rep.rejects[0]["reason"]
    with sqlite_store.connect() as c:
        ids = sorted(r[0] for r in c.execute(select(S.posts.c.platform_id)))
    assert ids == (["2", "3"] if not tail else ["2", "3", "4", "5"])


def test_ids_rounded_by_a_european_spreadsheet_are_rejected(sqlite_store, tmp_path):
    m = {"name": "tw", "platform": "x",
         "post": {"id": "{tweet_id}", "text": "text", "account_id": "{user_id}"},
         "account": {"id": "{user_id}", "handle": "user"}}
    f = tmp_path / "euro.csv"
    f.write_bytes(b"tweet_id;user_id;user;text\r\n1,23457E+18;12;alice;first\r\n"
                  b"1,23457E+18;12;alice;another\r\n5;1,0E+09;bob;ok\r\n7;12;alice;fine\r\n")
    rep = ingest_path(sqlite_store, f, mapping=str(_notes(tmp_path, m)))
    assert rep.rejected == 3 and sqlite_store.stats()["posts"] == 1
    assert all("float notation" in r["reason"] for r in rep.rejects)


def test_a_csv_with_classic_mac_line_ends(sqlite_store, tmp_path):
    m = {"name": "forum", "platform": "forum", "time_formats": ["%d.%m.%Y %H:%M"],
         "post": {"id": "{thread}-{msg_no}", "text": "body", "account_id": "{user}",
                  "created_at": "posted_at"}}
    f = tmp_path / "mac.csv"
    f.write_bytes(b'thread,msg_no,user,body,posted_at\r1,1,alice,"hello\nworld",'
                  b"01.02.2024 10:00\r1,2,bob,second,01.02.2024 11:00\r")
    rep = ingest_path(sqlite_store, f, mapping=str(_notes(tmp_path, m)))
    assert rep.rejected == 0 and sqlite_store.stats()["posts"] == 2
    assert post(sqlite_store, "forum", "1-1").text == "hello\nworld"
    assert post(sqlite_store, "forum", "1-2").created_at.hour == 11


def test_a_csv_with_classic_mac_line_ends_and_a_header_past_a_read_buffer(sqlite_store,
                                                                           tmp_path):
    """Lone-CR rows were told from the first line break that ``peek`` shows,
    one buffer (4 KiB of a plain file): past a header longer than that, no
    line break was seen and the file was refused ("new-line character seen in
    unquoted field"). Found by the h10 fuzz campaign."""
    extra = ",".join(f"extra_column_{i:04d}" for i in range(400))
    header = f"name,username,description,location,followers,numberstatuses,time,tweets,{extra}"
    assert len(header) > 4096
    rows = [f"N{i},user{i},bio,,1,2,1/6/2015 21:07,tweet {i}" + "," * 400 for i in range(3)]
    f = tmp_path / "wide.csv"
    f.write_text("\r".join([header, *rows]) + "\r")
    rep = ingest_path(sqlite_store, f)
    assert rep.rejected == 0 and sqlite_store.stats()["posts"] == 3


def test_a_mapping_naming_columns_the_file_lacks_is_an_error(sqlite_store, tmp_path):
    """A misspelt column ("postd_at") was left unread without a word, even by
    --dry-run; a built-in mapping's optional columns may still be absent."""
    m = {"name": "forum", "platform": "forum",
         "post": {"id": "{id}", "text": "body", "account_id": "{user}",
                  "created_at": "postd_at", "views": "veiws"},
         "account": {"id": "{user}", "handle": "user", "kind": "channel"}}
    f = tmp_path / "f.csv"
    f.write_text("id,user,body,posted_at,views\n1,ann,hi,2024-01-01T00:00:00Z,5\n")
    mf = _notes(tmp_path, m)
    with pytest.raises(IngestError, match=r"names column\(s\) \['postd_at', 'veiws'\]|"
                                          r"names column\(s\) \['veiws', 'postd_at'\]"):
        ingest_path(sqlite_store, f, mapping=str(mf))
    assert sqlite_store.stats()["posts"] == 0
    # corrected (and a literal account kind, which names no column), it is read;
    # saved with a byte-order mark (Notepad, PowerShell 5), the mapping still loads
    m["post"].update(created_at="posted_at", views="views")
    mf.write_bytes(b"\xef\xbb\xbf" + json.dumps(m).encode())
    rep = ingest_path(sqlite_store, f, mapping=str(mf))
    assert rep.rejected == 0 and post(sqlite_store, "forum", "1").created_at.year == 2024


@pytest.mark.parametrize("enc", ["utf-8", "utf-16"])
def test_a_column_name_that_does_not_decode_does_not_stop_the_file(sqlite_store, tmp_path, enc):
    """Found by fuzzing: a byte that is no UTF-8 in a header cell stopped the
    ingest with "str is not valid UTF-8" when the row was kept as its raw record."""
    head = "name,username,description,location,followers,numberstatuses,time,tweets,extra"
    body = "\nA,userA,d,l,1,1,1/6/2015 21:07,hello,x\n"
    f = tmp_path / "t.csv"
    if enc == "utf-8":
        f.write_bytes(head.encode() + b"\xff" + body.encode())
    else:
        data = (head + "X" + body).encode("utf-16-le")
        i = data.index("X".encode("utf-16-le"))
        f.write_bytes(b"\xff\xfe" + data[:i] + b"\x00\xd8" + data[i + 2:])  # a lone surrogate
    rep = ingest_path(sqlite_store, f)
    assert rep.rejected == 0 and sqlite_store.stats()["posts"] == 1


# the columns twarc-csv writes now (a subset, in its order): one column per kind of
# referenced tweet, and the referenced authors' ids beside them
TWARC_CSV_NOW = (
    "id conversation_id referenced_tweets.replied_to.id referenced_tweets.retweeted.id "
    "referenced_tweets.quoted.id edit_history_tweet_ids author_id in_reply_to_user_id "
    "retweeted_user_id quoted_user_id created_at text lang source public_metrics.like_count "
    "public_metrics.quote_count public_metrics.reply_count public_metrics.retweet_count "
    "author.id author.created_at author.username author.name author.description "
    "author.public_metrics.followers_count __twarc.retrieved_at __twarc.url "
    "__twarc.version").split()


def test_twarc_csv_as_it_is_written_now(store, tmp_path):
    """twarc-csv writes replies, retweets and quotes as three columns
    (referenced_tweets.replied_to.id …) with the referenced authors' ids, and a
    retweet's text is the original's (merged): the header was not recognised,
    and with -m twarc-csv every reply, retweet and quote was stored as a plain
    post. Found by exploratory testing."""
    base = dict.fromkeys(TWARC_CSV_NOW, "")
    base.update({"__twarc.retrieved_at": "2024-02-01T00:00:00+00:00", "lang": "en"})

    def row(**kw: str) -> dict:
        return {**base, **kw}

    rows = [
        row(id="200", author_id="1", created_at="2024-01-01T10:00:00.000Z", text="original",
            **{"author.id": "1", "author.username": "alice"}),
        row(id="201", author_id="2", created_at="2024-01-01T11:00:00.000Z",
            text="original", retweeted_user_id="1",  # merged: the original's text
            **{"referenced_tweets.retweeted.id": "200", "author.id": "2",
               "author.username": "bob"}),
        row(id="202", author_id="2", created_at="2024-01-01T12:00:00.000Z", text="@alice yes",
            in_reply_to_user_id="1",
            **{"referenced_tweets.replied_to.id": "200", "author.id": "2",
               "author.username": "bob"}),
        row(id="203", author_id="3", created_at="2024-01-01T13:00:00.000Z", text="look",
            quoted_user_id="9",  # quotes a tweet not in the file: its author is known
            **{"referenced_tweets.quoted.id": "999", "author.id": "3",
               "author.username": "cat"}),
    ]
    f = _dict_csv(tmp_path / "tweets.csv", TWARC_CSV_NOW, rows)
    rep = ingest_path(store, f)  # no --mapping: told by its header
    assert rep.fmt == "csv" and rep.rejected == 0
    rt, reply, quote = post(store, "x", "201"), post(store, "x", "202"), post(store, "x", "203")
    assert rt.kind == "repost" and rt.repost_of == "200"
    assert reply.kind == "reply" and reply.reply_to == "200"
    assert quote.kind == "quote" and quote.quote_of == "999"
    with store.connect() as c:
        edges = sorted((r.kind, r.dst) for r in c.execute(
            select(S.edges.c.kind, S.accounts.c.platform_id.label("dst")).join(
                S.accounts, S.accounts.c.id == S.edges.c.dst_account_id)))
    # the quote's edge goes to the quoted author at once, its post not ingested
    assert edges == [("mention", "1"), ("quote", "9"), ("reply", "1"), ("repost", "1")]


def test_excels_sep_line_and_grouped_counts(sqlite_store, tmp_path):
    """Excel writes "sep=;" as the first line of a CSV it should open with that
    delimiter: it was taken for the header ("needs column(s) … not in the
    header"). A European spreadsheet groups thousands ("1.234", "1 234"): the
    count was stored as 1."""
    f = tmp_path / "excel.csv"
    f.write_bytes(b"sep=;\r\nname;username;description;location;followers;numberstatuses;"
                  b"time;tweets\r\nA;a1;;;1.234;1\xc2\xa0234;2015-01-06 21:07:00;hi\r\n"
                  b"bad;row\r\n")
    rep = ingest_path(sqlite_store, f)  # the built-in Kaggle mapping, told by its header
    assert rep.fmt == "csv" and sqlite_store.stats()["posts"] == 1
    assert rep.rejected == 1 and rep.rejects[0]["line"] == 4  # the file's own line numbers
    a = account(sqlite_store, "x", "a1")
    assert a.followers == 1234 and a.post_count == 1234
    # "sep=" then a tab (the line's own whitespace is the delimiter)
    t = tmp_path / "tabs.csv"
    t.write_text("sep=\t\nname\tusername\tdescription\tlocation\tfollowers\tnumberstatuses"
                 "\ttime\ttweets\nB\tb1\t\t\t1\t1\t2015-01-06 21:08:00\thi\n")
    assert ingest_path(sqlite_store, t).rejected == 0 and sqlite_store.stats()["posts"] == 2


@pytest.mark.parametrize("kind", ["bz2", "gz", "xz"])
def test_compressed_csv_damaged_inside_its_header_is_an_ingest_error(sqlite_store, tmp_path,
                                                                    kind):
    """Fuzzing (benchmarks/fuzz_parsers.py auto): a .csv.bz2 cut or damaged
    before its header's line ends passed format detection (its first bytes are
    a CSV header) and then raised EOFError / OSError out of the parser, a
    traceback; it is an IngestError saying so, and nothing is written."""
    import bz2
    import lzma
    import random

    header = "name,username,description,location,followers,numberstatuses,time,tweets"
    # a long last column name that does not compress away (bzip2 decodes whole
    # blocks of 100 kB: the first must be whole for the sniffer to see the header)
    rng = random.Random(5)
    long = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(400_000))
    body = (header + "," + long + "\n"
            + "a,b,c,d,1,2,2015-01-06 21:07:00,hello\n").encode()
    comp = {"bz2": lambda b: bz2.compress(b, 1), "gz": gzip.compress,
            "xz": lzma.compress}[kind](body)
    f = tmp_path / f"t.csv.{kind}"
    f.write_bytes(comp[: len(comp) // 2])
    assert detect_format(f) == "csv"
    with pytest.raises(IngestError, match="before the CSV header's end"):
        ingest_path(sqlite_store, f)
    assert sqlite_store.stats()["posts"] == 0
    with pytest.raises(IngestError, match="before the CSV header's end"):
        list(get_parser("csv").parse(f, RawSink()))
