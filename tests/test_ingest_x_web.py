"""X as its web app receives it (GraphQL ``Tweet``/``User`` results): what the
Zeeschuimer browser extension captures and 4CAT's X import stores, the way most
researchers collect X since API access was priced out. Fixtures written from the
published layout as 4CAT's ``twitter-import`` datasource reads it (``rest_id``,
``legacy`` v1.1-shaped, ``core.user_results``, ``retweeted_status_result``,
``quoted_status_result``, ``note_tweet``, ``views``; the 2025 ``core`` user
fields; the older ``adaptive`` layout)."""

from __future__ import annotations

import json

from sqlalchemy import select
from tests.helpers import account, post

from rasd.ingest import detect_format, ingest_path
from rasd.store import schema as S


def user(uid: str, handle: str, name: str, *, layout2025: bool = False) -> dict:
    legacy = {"description": f"bio of {handle}", "followers_count": 120,
              "friends_count": 7, "statuses_count": 900,
              "created_at": "Sat Mar 01 10:00:00 +0000 2014", "location": "somewhere",
              "verified": False, "profile_image_url_https": "https://pbs.twimg.com/x.jpg"}
    res = {"__typename": "User", "id": "VXNlcjo=", "rest_id": uid, "is_blue_verified": True,
           "legacy": legacy}
    if layout2025:
        res["core"] = {"screen_name": handle, "name": name,
                       "created_at": "Sat Mar 01 10:00:00 +0000 2014"}
        res["location"] = {"location": "elsewhere"}
    else:
        legacy.update({"screen_name": handle, "name": name})
    return res


def tweet(tid: str, text: str, author: dict, **legacy_extra) -> dict:
    legacy = {"id_str": tid, "full_text": text, "created_at": "Wed Oct 10 20:19:24 +0000 2024",
              "conversation_id_str": tid, "user_id_str": author["rest_id"], "lang": "en",
              "favorite_count": 3, "retweet_count": 1, "reply_count": 0, "quote_count": 0,
              "entities": {"hashtags": [], "urls": [], "user_mentions": [], "symbols": []}}
    legacy.update(legacy_extra)
    return {"__typename": "Tweet", "rest_id": tid, "core": {"user_results": {"result": author}},
            "views": {"count": "4521", "state": "EnabledWithCount"},
            "source": '<a href="https://mobile.twitter.com">Twitter Web App</a>',
            "legacy": legacy}


def zee(data: dict, ms: int = 1_727_000_000_000, platform: str = "x.com") -> dict:
    return {"nav_index": "1:1:1", "item_id": data.get("rest_id", "?"),
            "timestamp_collected": ms, "source_platform": platform,
            "source_platform_url": "https://x.com/search?q=x", "source_url": "https://x.com/i/api/graphql/abc/SearchTimeline",
            "user_agent": "Mozilla/5.0", "data": data}


def test_zeeschuimer_x_capture(store, tmp_path):
    a = user("44196397", "banner_media", "Banner Media")
    b = user("783214", "orig_author", "Orig", layout2025=True)
    original = tweet("1700000000000000001", "Our lions struck at dawn #Banner", b,
                     entities={"hashtags": [{"text": "Banner", "indices": [27, 34]}],
                               "urls": [{"expanded_url": "https://example.org/x",
                                         "url": "https://t.co/a"}],
                               "user_mentions": [], "symbols": []},
                     extended_entities={"media": [{"id_str": "17", "media_key": "3_17",
                                                   "type": "photo",
                                                   "media_url_https": "https://pbs.twimg.com/m.jpg"}]})
    rt = tweet("1700000000000000002", "RT @orig_author: Our lions struck at dawn #Ban…", a,
               retweeted_status_result={"result": original})
    long_post = tweet("1700000000000000003", "cut at 280 chars…", a)
    long_post["note_tweet"] = {"note_tweet_results": {"result": {"text": "the whole " * 60}}}
    quote = tweet("1700000000000000004", "Read this", a, is_quote_status=True,
                  quoted_status_id_str="1700000000000000001")
    quote["quoted_status_result"] = {"result": {"__typename": "TweetWithVisibilityResults",
                                                "tweet": original}}
    reply = tweet("1700000000000000005", "@orig_author agreed", a,
                  in_reply_to_status_id_str="1700000000000000001",
                  in_reply_to_user_id_str="783214", in_reply_to_screen_name="orig_author")
    gone = {"__typename": "TweetTombstone", "tombstone": {"text": {"text": "This post is unavailable."}}}
    tiktok = zee({"id": "7"}, platform="tiktok.com")
    lines = [zee(t) for t in (rt, long_post, quote, reply, gone)] + [tiktok]
    f = tmp_path / "zeeschuimer-export.ndjson"
    f.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert detect_format(f) == "x"
    rep = ingest_path(store, f)
    assert rep.rejected == 2
    reasons = " | ".join(r["reason"] for r in rep.rejects)
    assert "without a tweet (TweetTombstone" in reasons and "'tiktok.com'" in reasons
    p = post(store, "x", "1700000000000000002")
    assert (p.kind, p.repost_of) == ("repost", "1700000000000000001")
    assert p.metrics["impression_count"] == 4521
    assert p.observed_at.year == 2024  # timestamp_collected (ms)
    o = post(store, "x", "1700000000000000001")
    assert o.text == "Our lions struck at dawn #Banner"
    assert post(store, "x", "1700000000000000003").text == "the whole " * 60
    assert post(store, "x", "1700000000000000004").quote_of == "1700000000000000001"
    assert post(store, "x", "1700000000000000005").reply_to == "1700000000000000001"
    acc = account(store, "x", "44196397")
    assert (acc.handle, acc.name, acc.followers, acc.stub) == ("banner_media", "Banner Media",
                                                              120, False)
    b_acc = account(store, "x", "783214")  # X's 2025 layout: names under core
    assert (b_acc.handle, b_acc.name, b_acc.location) == ("orig_author", "Orig", "elsewhere")
    with store.connect() as c:
        keys = [r[0] for r in c.execute(select(S.media.c.media_key))]
        tags = [r[0] for r in c.execute(select(S.hashtags.c.tag))]
    assert keys == ["3_17"] and tags == ["banner"]  # v2's media key: one medium either way
    again = ingest_path(store, f)
    assert again.counts["new"] == 0 and again.counts["updated"] == 0


def test_4cat_x_import_lines_and_the_older_layout(sqlite_store, tmp_path):
    """4CAT's X dataset stores the web objects themselves, one a line; the older
    "adaptive" layout has the v1.1 user beside ``legacy``; an author known only
    by id never blanks a stored profile."""
    a = user("44196397", "banner_media", "Banner Media")
    modern = tweet("1700000000000000010", "modern", a)
    adaptive = {"type": "adaptive", "id": "1600000000000000000",
                "legacy": {"id_str": "1600000000000000000", "full_text": "older layout",
                           "created_at": "Wed Oct 10 20:19:24 +0000 2018",
                           "conversation_id_str": "1600000000000000000", "entities": {}},
                "user": {"id_str": "99", "screen_name": "old_acc", "name": "Old"}}
    bare = tweet("1700000000000000011", "author by id only", a)
    bare["core"] = {}
    f = tmp_path / "4cat-x.ndjson"
    f.write_text("".join(json.dumps(x) + "\n" for x in (modern, adaptive, bare)))
    assert detect_format(f) == "x"
    rep = ingest_path(sqlite_store, f)
    assert rep.rejected == 0 and rep.counts["by_kind"]["posts"] == {"new": 3}
    assert account(sqlite_store, "x", "99").handle == "old_acc"
    assert post(sqlite_store, "x", "1600000000000000000").text == "older layout"
    assert account(sqlite_store, "x", "44196397").handle == "banner_media"  # not blanked
