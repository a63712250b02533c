"""Polls are content ("which target next?"): every format keeps a poll's question,
options and counts in ``posts.extra["poll"]`` in one shape, detectors read its
words, and ``rasd show`` prints it. Fixtures follow each format's published
layout (X API v2 ``includes.polls``, twarc2's flattened ``attachments.poll``,
Telegram Desktop's JSON and HTML writers, Telethon's ``MessageMediaPoll``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.helpers import post
from tests.test_ingest_telegram_html import CHAT, CID, HEAD, TAIL, message
from tests.test_ingest_telethon import CHAN
from tests.test_ingest_telethon import write as write_telethon
from typer.testing import CliRunner

from rasd.cli import app
from rasd.detect.scan import load_subjects
from rasd.ingest import ingest_path
from rasd.ingest.base import MAX_POLL_OPTIONS
from rasd.model import poll_text

X_POLL = {"id": "1199786642468413448", "voting_status": "closed",
          "duration_minutes": 1440, "end_datetime": "2019-11-28T20:26:41.000Z",
          "options": [{"position": 2, "label": "the embassy", "votes": 44},
                      {"position": 1, "label": "the stadium", "votes": 79}]}
POLL_SHAPE = {"question", "options", "closed", "total_voters"}


def test_x_page_and_flattened_polls(store, tmp_path):
    page = {"data": [{"id": "10", "text": "Which one next?", "author_id": "7",
                      "attachments": {"poll_ids": [X_POLL["id"]]}}],
            "includes": {"users": [{"id": "7", "username": "asker"}], "polls": [X_POLL]}}
    flat = {"id": "11", "text": "Vote", "author_id": "7",
            "author": {"id": "7", "username": "asker"},
            "attachments": {"poll_ids": ["9"], "poll": {**X_POLL, "id": "9",
                                                        "voting_status": "open"}},
            "__twarc": {"url": "https://api.x.com/2/tweets", "version": "2.14.0",
                        "retrieved_at": "2024-10-01T00:00:00+00:00"}}
    f = tmp_path / "polls.jsonl"
    f.write_text(json.dumps(page) + "\n" + json.dumps(flat) + "\n")
    assert ingest_path(store, f).rejected == 0
    p = post(store, "x", "10").extra["poll"]
    assert set(p) == POLL_SHAPE and p["question"] is None and p["closed"] is True
    assert p["options"] == [{"text": "the stadium", "votes": 79},
                            {"text": "the embassy", "votes": 44}]  # by position
    assert p["total_voters"] == 123
    assert post(store, "x", "11").extra["poll"]["closed"] is False
    # detectors read the options with the text
    sub = load_subjects(store, "post", [post(store, "x", "10").id])[0]
    assert sub.text == "Which one next?\n\nthe stadium\nthe embassy"


def test_telegram_desktop_json_poll(store, tmp_path):
    msgs = [{"id": 1, "type": "message", "date": "2024-03-01T10:00:00",
             "date_unixtime": "1709287200", "from": "Chan", "from_id": "channel5",
             "text": "",
             "poll": {"question": "Where do we strike?", "closed": False, "total_voters": 9,
                      "answers": [{"text": "North", "voters": 6, "chosen": False},
                                  {"text": "South", "voters": 3, "chosen": True}]}},
            {"id": 2, "type": "message", "date": "2024-03-01T10:01:00", "from": "Chan",
             "from_id": "channel5", "text": "x",
             "poll": {"question": [{"type": "bold", "text": "Rich"}, " question"],
                      "answers": [{"text": [{"type": "plain", "text": "A"}]}]}}]
    d = tmp_path / "export"
    d.mkdir()
    (d / "result.json").write_text(json.dumps(
        {"name": "Chan", "type": "public_channel", "id": 5, "messages": msgs}))
    assert ingest_path(store, d).rejected == 0
    p = post(store, "telegram", "channel5/1")
    assert p.text == "" and p.extra["poll"] == {
        "question": "Where do we strike?", "closed": False, "total_voters": 9,
        "options": [{"text": "North", "votes": 6}, {"text": "South", "votes": 3}]}
    q = post(store, "telegram", "channel5/2").extra["poll"]
    assert q["question"] == "Rich question" and q["options"] == [{"text": "A", "votes": None}]
    sub = load_subjects(store, "post", [p.id])[0]
    assert sub.text == "Where do we strike?\nNorth\nSouth"  # the poll is all it says


def test_telegram_html_poll(store, tmp_path):
    """The HTML writer's poll box: question, state, answers with their votes,
    the total; a poll is content, not a media file."""
    box = ('       <div class="media_wrap clearfix">\n        <div class="media_poll">\n'
           '         <div class="question bold">\nWhere do we strike?\n         </div>\n'
           '         <div class="details">\nFinal results\n         </div>\n'
           '         <div class="answer">\n- North <span class="details">1,204 votes</span>\n'
           '         </div>\n'
           '         <div class="answer">\n- South &amp; East <span class="details">1 vote, '
           'chosen vote</span>\n         </div>\n'
           '         <div class="answer">\n- Nowhere\n         </div>\n'
           '         <div class="total details\t">\n1,205 votes\n         </div>\n'
           "        </div>\n       </div>\n")
    msg = message(7, "").replace('       <div class="text">', box + '       <div class="text">')
    d = tmp_path / "ChatExport"
    d.mkdir()
    (d / "messages.html").write_text(HEAD.format(title=CHAT) + msg + TAIL, "utf-8")
    assert ingest_path(store, d / "messages.html").rejected == 0
    p = post(store, "telegram", f"{CID}/7")
    assert p.extra["poll"] == {
        "question": "Where do we strike?", "closed": True, "total_voters": 1205,
        "options": [{"text": "North", "votes": 1204}, {"text": "South & East", "votes": 1},
                    {"text": "Nowhere", "votes": None}]}
    with store.connect() as c:
        from sqlalchemy import select

        from rasd.store import schema as S
        kinds = [r[0] for r in c.execute(select(S.media.c.type))]
    assert "poll" not in kinds


def test_telethon_poll(store, tmp_path):
    when = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    msgs = [{"_": "Message", "id": 60, "peer_id": CHAN, "date": when, "message": "",
             "media": {"_": "MessageMediaPoll",
                       "poll": {"_": "Poll", "id": 1, "closed": True,
                                "question": {"_": "TextWithEntities", "text": "Which city?",
                                             "entities": []},
                                "answers": [{"_": "PollAnswer", "text": "Paris",
                                             "option": b"0"},
                                            {"_": "PollAnswer", "option": b"1",
                                             "text": {"_": "TextWithEntities",
                                                      "text": "Berlin", "entities": []}}]},
                       "results": {"_": "PollResults", "total_voters": 30, "results": [
                           {"_": "PollAnswerVoters", "option": b"1", "voters": 18},
                           {"_": "PollAnswerVoters", "option": b"0", "voters": 12}]}}}]
    assert ingest_path(store, write_telethon(tmp_path, msgs)).rejected == 0
    p = post(store, "telegram", "channel555/60")
    assert p.extra["poll"] == {"question": "Which city?", "closed": True, "total_voters": 30,
                               "options": [{"text": "Paris", "votes": 12},
                                           {"text": "Berlin", "votes": 18}]}


def test_hostile_polls_are_bounded_or_rejected(sqlite_store, tmp_path):
    many = {**X_POLL, "options": [{"position": i, "label": "o" * 5000, "votes": i}
                                  for i in range(2000)]}
    bad = {**X_POLL, "id": "2", "options": "not a list"}
    page = {"data": [{"id": "20", "text": "t", "author_id": "7",
                      "attachments": {"poll_ids": [X_POLL["id"]]}},
                     {"id": "21", "text": "t", "author_id": "7",
                      "attachments": {"poll_ids": ["2"]}}],
            "includes": {"polls": [many, bad]}}
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps(page) + "\n")
    rep = ingest_path(sqlite_store, f)
    assert rep.rejected == 1 and "poll.options" in rep.rejects[0]["reason"]
    p = post(sqlite_store, "x", "20").extra["poll"]
    assert len(p["options"]) == MAX_POLL_OPTIONS
    assert all(len(o["text"]) == 500 for o in p["options"])
    assert p["total_voters"] == sum(range(2000))


def test_show_prints_the_poll(tmp_path):
    page = {"data": [{"id": "10", "text": "Which one next?", "author_id": "7",
                      "attachments": {"poll_ids": [X_POLL["id"]]}}],
            "includes": {"polls": [{**X_POLL, "options": [
                {"position": 1, "label": "\x1b[2Jthe stadium", "votes": 79}]}]}}
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps(page) + "\n")
    db = str(tmp_path / "s.db")
    runner = CliRunner()
    assert runner.invoke(app, ["--db", db, "ingest", str(f)]).exit_code == 0
    out = runner.invoke(app, ["--db", db, "show", "x:10"]).output
    assert "poll closed, 79 voters: '(the text asks)'" in out
    assert "the stadium' (79)" in out and "\x1b" not in out


def test_poll_text():
    assert poll_text(None) == "" and poll_text({"options": "x"}) == ""
    assert poll_text({"question": "Q", "options": [{"text": "a"}, {"text": None}, 3]}) == "Q\na"
