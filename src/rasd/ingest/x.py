"""X / Twitter: API v2 response pages, twarc2 flattened lines, v1.1 tweets,
user lookups and compliance lines — all line-delimited JSON, one parser.

Each line is classified on its own, so a file mixing page types (as twarc2
writes them: pages, stream error lines, compliance events) is read in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rasd.ingest.base import (
    MAX_TEXT,
    SNIFF,
    Ahead,
    Parser,
    RawSink,
    clean_text,
    first_json_line,
    inner_suffix,
    make_poll,
    opt_int,
    opt_str,
    parse_time,
    plain_json,
    register,
    reject,
    req_id,
    unless_rejected,
)
from rasd.ingest.jsonitems import first_keys, json_items, located
from rasd.model import (
    Account,
    Compliance,
    Edge,
    EdgeKind,
    Link,
    Media,
    Post,
    PostKind,
    RawRef,
    Record,
    Reject,
)

PLATFORM = "x"
RT_RE = re.compile(r"^RT @(\w{1,50}):")

# v1.1 counters under the names v2 gives them, so metrics compare across versions.
V1_METRICS = (("retweet_count", "retweet_count"), ("reply_count", "reply_count"),
              ("favorite_count", "like_count"), ("quote_count", "quote_count"))

REF_KIND = {"replied_to": PostKind.REPLY, "retweeted": PostKind.REPOST,
            "quoted": PostKind.QUOTE}


# keys only X's tweets carry, for a first line longer than the sample (a
# flattened tweet with a long note and its expansions): X writes keys in no fixed
# order, so a tweet's may come late, after a long text
_V2_KEYS = (b'"author_id"', b'"edit_history_tweet_ids"', b'"conversation_id"',
            b'"referenced_tweets"', b'"public_metrics"', b'"context_annotations"',
            b'"possibly_sensitive"', b'"reply_settings"', b'"note_tweet"')


def _has_v2_keys(path: Path, sample: bytes) -> bool:
    """Whether tweet keys occur in the sample or, where the sample ends inside
    the first record (a long text, written with \\u escapes, can fill it
    before the first other key), among that record's top-level keys."""
    if any(k in sample for k in _V2_KEYS):
        return True
    if len(sample) < SNIFF:
        return False
    keys = first_keys(path)
    return any(k.strip(b'"').decode() in keys for k in _V2_KEYS)


def _is_tweet(o: dict) -> bool:
    return "text" in o or "full_text" in o or "edit_history_tweet_ids" in o


def _is_user(o: dict) -> bool:
    return "username" in o and "text" not in o


def _is_gql(o: dict) -> bool:
    """An object of X's web app (GraphQL): a ``Tweet`` or ``User`` result."""
    return ("rest_id" in o and "legacy" in o) or o.get("__typename") in (
        "Tweet", "TweetWithVisibilityResults", "User") or (
        o.get("type") == "adaptive" and "legacy" in o)


# Fast paths of the mapping (``user_v2``, ``tweet_v2``), for the values X
# writes: each takes a value only where the checking helper (``req_id``,
# ``opt_str``, ``clean_text``, ``opt_int``, ``plain_json``) would return it
# unchanged, and calls that helper otherwise, so that what is stored, and
# every error and its order, stay the same; a field's name is written out only
# then (a mapped post and its author cost ~120k instructions, a third of it
# helper calls and the names of fields that were fine).
_INT_MIN, _INT_MAX = -(2**62), 2**62  # opt_int keeps what lies strictly between


def _plain_id(v: Any) -> bool:
    """``req_id`` takes ``v`` as it is: digits (no control character), at
    most 190 of them."""
    return type(v) is str and 0 < len(v) <= 190 and v.isdigit()


def _plain_text(v: Any) -> bool:
    """``clean_text`` returns ``v`` as it is (None, too)."""
    return v is None or (type(v) is str and len(v) <= MAX_TEXT and "\x00" not in v)


def _plain_str(v: Any) -> bool:
    """``opt_str`` returns ``v[:limit]``: a non-empty string without NUL."""
    return type(v) is str and v != "" and "\x00" not in v


_USER_EXTRA = ("protected", "profile_image_url", "pinned_tweet_id", "verified_type")


def user_v2(u: dict, raw: RawRef | None, field: str = "user") -> Account:
    if not isinstance(u, dict):
        raise TypeError(f"field {field!r}: expected an object")
    get = u.get
    pm = get("public_metrics") or {}
    if not isinstance(pm, dict):
        raise TypeError(f"field {field + '.public_metrics'!r}: expected an object")
    extra = {}
    for k in _USER_EXTRA:
        if k in u:
            v = u[k]
            # a flag or a string (plain_json's depth 0): kept as it is
            extra[k] = v if v is None or type(v) is bool or (
                type(v) is str and "\x00" not in v) else plain_json(v, f"{field}.{k}", depth=0)
    v = get("id")
    pid = v if _plain_id(v) else req_id(v, f"{field}.id")
    v = get("username")
    handle = v[:200] if _plain_str(v) else opt_str(v, f"{field}.username", 200)
    v = get("name")
    name = v if _plain_text(v) else clean_text(v, f"{field}.name")
    v = get("description")
    bio = v if _plain_text(v) else clean_text(v, f"{field}.description")
    created = parse_time(get("created_at"), f"{field}.created_at")
    pget = pm.get
    v = pget("followers_count")
    followers = v if type(v) is int and _INT_MIN < v < _INT_MAX else opt_int(
        v, "followers_count")
    v = pget("following_count")
    following = v if type(v) is int and _INT_MIN < v < _INT_MAX else opt_int(
        v, "following_count")
    v = pget("tweet_count")
    count = v if type(v) is int and _INT_MIN < v < _INT_MAX else opt_int(v, "tweet_count")
    v = get("location")
    location = v if _plain_text(v) else clean_text(v, f"{field}.location")
    v = get("url")
    url = v[:2000] if _plain_str(v) else opt_str(v, f"{field}.url")
    v = get("verified")
    return Account(
        platform=PLATFORM, platform_id=pid, handle=handle, name=name, bio=bio,
        created_at=created, kind="user", followers=followers, following=following,
        post_count=count, location=location, url=url,
        verified=v if type(v) is bool else None, extra=extra, raw=raw,
    )


def user_v1(u: dict, raw: RawRef | None) -> Account:
    if not isinstance(u, dict):
        raise TypeError("field 'user': expected an object")
    # (the fast paths of user_v2, in the order the fields were always read)
    get = u.get
    v = get("id_str") or get("id")
    pid = v if _plain_id(v) else req_id(v, "user.id_str")
    sn = get("screen_name")
    handle = sn[:200] if _plain_str(sn) else opt_str(sn, "user.screen_name", 200)
    nm = get("name")
    name = nm if _plain_text(nm) else clean_text(nm, "user.name")
    v = get("description")
    bio = v if _plain_text(v) else clean_text(v, "user.description")
    created = parse_time(get("created_at"), "user.created_at")
    v = get("followers_count")
    followers = v if type(v) is int and _INT_MIN < v < _INT_MAX else opt_int(
        v, "followers_count")
    v = get("friends_count")
    following = v if type(v) is int and _INT_MIN < v < _INT_MAX else opt_int(
        v, "friends_count")
    v = get("statuses_count")
    count = v if type(v) is int and _INT_MIN < v < _INT_MAX else opt_int(v, "statuses_count")
    v = get("location")
    location = v if _plain_text(v) else clean_text(v, "user.location")
    v = get("url")
    url = v[:2000] if _plain_str(v) else opt_str(v, "user.url")
    v = get("verified")
    return Account(
        platform=PLATFORM, platform_id=pid, handle=handle, name=name, bio=bio,
        created_at=created, kind="user", followers=followers, following=following,
        post_count=count, location=location, url=url,
        verified=v if isinstance(v, bool) else None,
        # an id with neither handle nor name is a reference, not a profile: it
        # must never blank a stored one
        stub=sn is None and nm is None,
        raw=raw,
    )


def _entities_v2(t: dict, post: Post, field: str = "entities") -> None:
    ent = t.get("entities") or {}
    if not isinstance(ent, dict):
        raise TypeError(f"field {field!r}: expected an object")
    for h in ent.get("hashtags") or []:
        if isinstance(h, dict) and isinstance(h.get("tag"), str):
            post.hashtags.append(h["tag"])
    for m in ent.get("mentions") or []:
        if isinstance(m, dict) and isinstance(m.get("username"), str):
            mid = m.get("id")
            post.mentions.append((str(mid) if isinstance(mid, (str, int)) else None,
                                  m["username"]))
    for u in ent.get("urls") or []:
        if isinstance(u, dict):
            url = u.get("unwound_url") or u.get("expanded_url") or u.get("url")
            if isinstance(url, str):
                post.urls.append(url[:2000])


PLACE_FIELDS = ("full_name", "country_code", "place_type")


def _point(c: Any) -> list[float] | None:
    """GeoJSON point coordinates ``[longitude, latitude]``, if they are that."""
    xy = c.get("coordinates") if isinstance(c, dict) else None
    if (isinstance(xy, list) and len(xy) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in xy)
            and -180 <= xy[0] <= 180 and -90 <= xy[1] <= 90):
        return [float(xy[0]), float(xy[1])]
    return None


def _place(pl: Any) -> dict[str, str] | None:
    if not isinstance(pl, dict):
        return None
    out = {k: pl[k][:200] for k in PLACE_FIELDS if isinstance(pl.get(k), str)}
    return out or None


def geo_v2(t: dict, places: dict[str, dict]) -> dict[str, Any] | None:
    """Where a v2 tweet says it was posted: exact coordinates (rare) and/or the
    tagged place, named from ``includes.places``."""
    geo = t.get("geo")
    if not isinstance(geo, dict):
        return None
    out: dict[str, Any] = {}
    point = _point(geo.get("coordinates"))
    if point:
        out["coordinates"] = point
    pid = geo.get("place_id")
    if isinstance(pid, str) and pid:
        out["place_id"] = pid[:64]
        place = _place(places.get(pid) or geo.get("place"))
        if place:
            out["place"] = place
    return out or None


def tweet_v2(t: dict, raw: RawRef | None, media_by_key: dict[str, dict],
             authors: dict[str, str], field: str = "tweet",
             user_ids: dict[str, str] | None = None,
             places: dict[str, dict] | None = None,
             polls: dict[str, dict] | None = None) -> Post:
    """Map a v2 tweet object. ``authors`` maps tweet id → author id for
    referenced tweets found in ``includes`` (so edges can name their target)."""
    if not isinstance(t, dict):
        raise TypeError(f"field {field!r}: expected an object")
    v = t.get("id")
    tid = v if _plain_id(v) else req_id(v, f"{field}.id")
    # A long post ("note tweet", up to 25,000 characters) comes with ``text``
    # cut at ~280 characters; the whole text and its entities are in ``note_tweet``.
    note = t.get("note_tweet")
    if note is not None and not isinstance(note, dict):
        raise TypeError(f"field {field + '.note_tweet'!r}: expected an object")
    if note and isinstance(note.get("text"), str):
        text = clean_text(note["text"], f"{field}.note_tweet.text")
    else:
        v = t.get("text")
        text = v if _plain_text(v) else clean_text(v, f"{field}.text")
    author = t.get("author_id")
    if author is None and isinstance(t.get("author"), dict):
        author = t["author"].get("id")
    account_id = author if author is None or _plain_id(author) else req_id(
        author, f"{field}.author_id")
    created = parse_time(t.get("created_at"), f"{field}.created_at")
    v = t.get("lang")
    lang = v[:16] if _plain_str(v) else opt_str(v, f"{field}.lang", 16)
    v = t.get("conversation_id")
    conv = v[:200] if _plain_str(v) else opt_str(v, f"{field}.conversation_id", 200)
    post = Post(
        platform=PLATFORM, platform_id=tid, account_id=account_id, text=text,
        created_at=created, lang=lang, conversation_id=conv, raw=raw,
    )
    refs = t.get("referenced_tweets") or []
    if not isinstance(refs, list):
        raise TypeError(f"field {field + '.referenced_tweets'!r}: expected a list")
    for r in refs:
        if not isinstance(r, dict) or r.get("type") not in REF_KIND:
            continue
        kind = REF_KIND[r["type"]]
        v = r.get("id")
        target = v if _plain_id(v) else req_id(v, f"{field}.referenced_tweets.id")
        tacc = None
        if isinstance(r.get("author_id"), str):
            tacc = r["author_id"]
        elif isinstance(r.get("author"), dict) and r["author"].get("id"):
            tacc = str(r["author"]["id"])
        else:
            tacc = authors.get(target)
        if kind == PostKind.REPLY and tacc is None and t.get("in_reply_to_user_id"):
            tacc = str(t["in_reply_to_user_id"])
        name = None
        if kind == PostKind.REPOST and text:
            m = RT_RE.match(text)
            name = m.group(1) if m else None
        post.links.append(Link(kind, target, tacc, name))
        if post.kind == PostKind.POST or kind == PostKind.REPOST:
            post.kind = kind
    _entities_v2(t, post, f"{field}.entities")
    if note:
        _entities_v2(note, post, f"{field}.note_tweet.entities")
    if user_ids and post.mentions:  # pages name mentioned users in includes.users; fill their ids
        post.mentions = [(mid or user_ids.get(h.lower()), h) for mid, h in post.mentions]
    att = t.get("attachments") or {}
    if isinstance(att, dict):
        for key in att.get("media_keys") or []:
            if not isinstance(key, str):
                continue
            m = media_by_key.get(key, {})
            post.media.append(Media(
                platform=PLATFORM, media_key=key[:300], type=opt_str(m.get("type"), "media.type", 32),
                url=opt_str(m.get("url") or m.get("preview_image_url"), "media.url"),
                width=opt_int(m.get("width"), "media.width"),
                height=opt_int(m.get("height"), "media.height"),
                duration_ms=opt_int(m.get("duration_ms"), "media.duration_ms")))
        for m in att.get("media") or []:  # flattened form inlines media objects
            if isinstance(m, dict) and isinstance(m.get("media_key"), str) and not any(
                    x.media_key == m["media_key"] for x in post.media):
                post.media.append(Media(
                    platform=PLATFORM, media_key=m["media_key"][:300],
                    type=opt_str(m.get("type"), "media.type", 32),
                    url=opt_str(m.get("url") or m.get("preview_image_url"), "media.url"),
                    width=opt_int(m.get("width"), "media.width"),
                    height=opt_int(m.get("height"), "media.height")))
    hist = t.get("edit_history_tweet_ids")
    if isinstance(hist, list) and len(hist) > 1 and str(hist[0]) != tid:
        post.edit_of = req_id(hist[0], f"{field}.edit_history_tweet_ids")
    pm = t.get("public_metrics")
    if isinstance(pm, dict):
        post.metrics = {k: v for k, v in pm.items() if isinstance(v, int)}
    if isinstance(t.get("withheld"), dict):
        post.withheld = plain_json(t["withheld"], f"{field}.withheld")
    geo = geo_v2(t, places or {}) if "geo" in t else None
    if geo:
        post.extra["geo"] = geo
    if "attachments" in t or "polls" in t:
        poll = poll_v2(t, polls or {}, field)
        if poll:
            post.extra["poll"] = poll
    return post


def poll_v2(t: dict, polls: dict[str, dict], field: str) -> dict[str, Any] | None:
    """A tweet's poll: ``attachments.poll_ids`` named in ``includes.polls``, or
    inlined by a flattener (twarc2: ``attachments.poll``; others ``polls``).
    X polls have no question of their own: the tweet's text asks it."""
    att = t.get("attachments")
    if not isinstance(att, dict):
        if "polls" not in t:
            return None  # nearly every tweet: no poll, no work
        att = {}
    elif "poll_ids" not in att and "poll" not in att and "polls" not in att \
            and "polls" not in t:
        return None
    found: list[Any] = [polls.get(p) for p in att.get("poll_ids") or [] if isinstance(p, str)]
    found += [att.get("poll")] + list(att.get("polls") or []) + list(
        t.get("polls") if isinstance(t.get("polls"), list) else [])
    p = next((x for x in found if isinstance(x, dict)), None)
    if p is None:
        return None
    opts = p.get("options")
    if not isinstance(opts, list):
        raise TypeError(f"field {field + '.poll.options'!r}: expected a list")
    opts = sorted((o for o in opts if isinstance(o, dict)),
                  key=lambda o: o.get("position") if isinstance(o.get("position"), int) else 0)
    votes = [o.get("votes") for o in opts]
    total = sum(votes) if votes and all(isinstance(v, int) for v in votes) else None
    status = p.get("voting_status")
    return make_poll(None, [(o.get("label"), o.get("votes")) for o in opts], f"{field}.poll",
                     closed=status == "closed" if isinstance(status, str) else None,
                     total_voters=total)


def tweet_v1(t: dict, raw: RawRef | None) -> tuple[Post, list[Record]]:
    """Map a v1.1 tweet; returns the post and its embedded users/tweets."""
    extra: list[Record] = []
    v = t.get("id_str") or t.get("id")
    tid = v if _plain_id(v) else req_id(v, "id_str")
    user = user_v1(t.get("user"), raw)
    extra.append(user)
    # Streaming v1.1 cuts long tweets (``truncated``) and puts the whole text, its
    # entities and media in ``extended_tweet``.
    ext = t.get("extended_tweet") if isinstance(t.get("extended_tweet"), dict) else {}
    text = t.get("full_text")
    if text is None:
        text = ext.get("full_text")
    if text is None:
        text = t.get("text")
    text = text if _plain_text(text) else clean_text(text, "text")
    created = parse_time(t.get("created_at"), "created_at")
    v = t.get("lang")
    post = Post(platform=PLATFORM, platform_id=tid, account_id=user.platform_id, text=text,
                created_at=created, lang=v[:16] if _plain_str(v) else opt_str(v, "lang", 16),
                raw=raw)
    if t.get("in_reply_to_status_id_str"):
        post.kind = PostKind.REPLY
        post.links.append(Link(PostKind.REPLY, str(t["in_reply_to_status_id_str"]),
                               opt_str(t.get("in_reply_to_user_id_str"), "in_reply_to_user_id_str"),
                               opt_str(t.get("in_reply_to_screen_name"), "in_reply_to_screen_name")))
    for key, kind in (("quoted_status", PostKind.QUOTE), ("retweeted_status", PostKind.REPOST)):
        inner = t.get(key)
        if isinstance(inner, dict):
            ip, iextra = tweet_v1(inner, raw)
            ip.reference = True
            extra.extend(iextra)
            extra.append(ip)
            post.links.append(Link(kind, ip.platform_id, ip.account_id))
            post.kind = kind
    qid = t.get("quoted_status_id_str")
    if qid and not isinstance(t.get("quoted_status"), dict):  # quoted tweet not embedded
        post.links.append(Link(PostKind.QUOTE, req_id(qid, "quoted_status_id_str")))
        if post.kind == PostKind.POST:
            post.kind = PostKind.QUOTE
    ent = ext.get("entities") if isinstance(ext.get("entities"), dict) else (
        t.get("entities") or {})
    if isinstance(ent, dict):
        for h in ent.get("hashtags") or []:
            if isinstance(h, dict) and isinstance(h.get("text"), str):
                post.hashtags.append(h["text"])
        for m in ent.get("user_mentions") or []:
            if isinstance(m, dict) and isinstance(m.get("screen_name"), str):
                post.mentions.append((opt_str(m.get("id_str"), "id_str"), m["screen_name"]))
        for u in ent.get("urls") or []:
            if isinstance(u, dict) and isinstance(u.get("expanded_url") or u.get("url"), str):
                post.urls.append((u.get("expanded_url") or u.get("url"))[:2000])
    for v1, v2 in V1_METRICS:
        if isinstance(t.get(v1), int) and not isinstance(t[v1], bool):
            post.metrics[v2] = t[v1]
    if isinstance(t.get("impression_count"), int):  # views, from the web app's data
        post.metrics["impression_count"] = t["impression_count"]
    if isinstance(t.get("withheld_in_countries"), list) and t["withheld_in_countries"]:
        post.withheld = {"country_codes": [c for c in t["withheld_in_countries"]
                                           if isinstance(c, str)][:300]}
    geo: dict[str, Any] = {}
    point = _point(t.get("coordinates"))
    if point:
        geo["coordinates"] = point
    place = _place(t.get("place"))
    if place:
        geo["place"] = place
        if isinstance(t["place"].get("id"), str):
            geo["place_id"] = t["place"]["id"][:64]
    if geo:
        post.extra["geo"] = geo
    xent = ext.get("extended_entities") or t.get("extended_entities") or ent
    if isinstance(xent, dict):
        for m in xent.get("media") or []:
            if isinstance(m, dict) and (m.get("id_str") or m.get("media_url_https")):
                # the web app's media carry v2's media_key ("3_123…"): the same key
                key = m.get("media_key") or m.get("id_str") or m["media_url_https"]
                post.media.append(Media(platform=PLATFORM,
                                        media_key=str(key)[:300],
                                        type=opt_str(m.get("type"), "media.type", 32),
                                        url=opt_str(m.get("media_url_https"), "media.url")))
    return post, extra


FOLLOW_URL = re.compile(r"/2/users/(\d{1,30})/(following|followers)(?:[?#]|$)")


def follow_list(obj: dict) -> tuple[str, str] | None:
    """(user id, "following" or "followers") when twarc says this page answers
    ``GET /2/users/:id/following`` or ``…/followers`` (``__twarc.url``); the page
    itself does not say whose list it is."""
    meta = obj.get("__twarc")
    url = meta.get("url") if isinstance(meta, dict) else None
    m = FOLLOW_URL.search(url) if isinstance(url, str) else None
    return (m.group(1), m.group(2)) if m else None


def follow_edge(listed: tuple[str, str], user_id: str, seen: datetime | None,
                raw: RawRef) -> Edge:
    """The follow between the list's owner and one user on it."""
    owner, direction = listed
    src, dst = (owner, user_id) if direction == "following" else (user_id, owner)
    return Edge(platform=PLATFORM, kind=EdgeKind.FOLLOW, src_account_id=src,
                dst_account_id=dst, created_at=seen, raw=raw)


def retrieved_at(obj: dict) -> datetime | None:
    """When twarc fetched this line (``__twarc.retrieved_at``), if it says."""
    meta = obj.get("__twarc")
    if isinstance(meta, dict):
        try:
            return parse_time(meta.get("retrieved_at"), "__twarc.retrieved_at")
        except ValueError:
            return None
    return None


GQL_TWEETS = ("Tweet", "TweetWithVisibilityResults")
ZEESCHUIMER_X = ("twitter.com", "x.com")
MAX_GQL_DEPTH = 3  # a retweet of a quote of a tweet; deeper nesting is cut


def _gql_user(res: Any) -> dict[str, Any] | None:
    """A GraphQL ``User`` result as a v1.1 user object (``legacy`` plus the
    fields X moved to ``core``/``location`` in 2025), or None."""
    if not isinstance(res, dict) or res.get("__typename") not in (None, "User"):
        return None
    legacy = res.get("legacy")
    if not isinstance(legacy, dict):
        return None
    u = dict(legacy)
    core = res.get("core")
    if isinstance(core, dict):
        u.update({k: core[k] for k in ("screen_name", "name", "created_at") if k in core})
    loc = res.get("location")
    if isinstance(loc, dict) and isinstance(loc.get("location"), str):
        u["location"] = loc["location"]
    u["id_str"] = res.get("rest_id") or legacy.get("id_str")
    if isinstance(res.get("is_blue_verified"), bool):
        u.setdefault("verified", res["is_blue_verified"])
    return u


def gql_tweet(t: Any, depth: int = 0) -> dict[str, Any] | None:
    """A tweet as X's web app receives it (GraphQL ``Tweet``: what Zeeschuimer
    and 4CAT's X import store) as a v1.1 tweet object, for ``tweet_v1``: the
    ``legacy`` part is v1.1-shaped; the author is ``core.user_results``, a long
    post's text ``note_tweet``, retweets and quotes are GraphQL results of their
    own, views a count. None for a tombstone (deleted, withheld, unavailable)."""
    if not isinstance(t, dict):
        return None
    if t.get("__typename") == "TweetWithVisibilityResults" or (
            "tweet" in t and "legacy" not in t):
        t = t.get("tweet")
        if not isinstance(t, dict):
            return None
    legacy = t.get("legacy")
    if not isinstance(legacy, dict):
        return None
    out = dict(legacy)
    out["id_str"] = t.get("rest_id") or legacy.get("id_str")
    core = t.get("core") if isinstance(t.get("core"), dict) else {}
    ures = core.get("user_results") if isinstance(core.get("user_results"), dict) else {}
    user = _gql_user(ures.get("result"))
    if user is None and isinstance(t.get("user"), dict):  # the older "adaptive" layout
        user = t["user"]
    if user is None and legacy.get("user_id_str"):  # the author's id, no profile
        user = {"id_str": legacy["user_id_str"]}
    out["user"] = user
    note = t.get("note_tweet")
    if isinstance(note, dict):
        nres = (note.get("note_tweet_results") or {}).get("result")
        if isinstance(nres, dict) and isinstance(nres.get("text"), str):
            out["full_text"] = nres["text"]  # the whole long post
    out.pop("retweeted_status_result", None)
    out.pop("quoted_status_result", None)
    if depth < MAX_GQL_DEPTH:
        for key, src in (("retweeted_status", legacy.get("retweeted_status_result")),
                         ("quoted_status", t.get("quoted_status_result"))):
            inner = gql_tweet(src.get("result"), depth + 1) if isinstance(src, dict) else None
            if inner is not None:
                out[key] = inner
    views = t.get("views") if isinstance(t.get("views"), dict) else {}
    if isinstance(views.get("count"), str) and views["count"].isdigit():
        out["impression_count"] = int(views["count"])
    return out


@register
class XParser(Parser):
    """X API v2 pages and stream lines, twarc2 flattened tweets, v1.1 tweets,
    user lookups and compliance events (JSON lines, optionally gzipped)."""

    name = "x"
    platform = PLATFORM
    description = "X/Twitter JSONL: API v2 pages, twarc2 flattened, v1.1, users, compliance"

    @classmethod
    def sniff(cls, path: Path, sample: bytes) -> float:
        if inner_suffix(path) == ".csv":
            return 0.0
        o = first_json_line(sample)
        if isinstance(o, list) or (o is None and sample.lstrip()[:1] == b"["):
            # a JSON array of pages, tweets or users (json.dump of a list)
            head = sample.lstrip()[:4096]
            if any(k in head for k in (b'"data"', b'"id_str"', b'"author_id"',
                                        b'"edit_history_tweet_ids"')):
                return 0.6
            return 0.0
        if o is None and sample.lstrip()[:1] == b"{":
            # first line longer than the sample: judge by its keys
            head = sample.lstrip()[:4096]
            if any(k in head for k in (b'"data"', b'"__twarc"', b'"includes"')):
                return 0.7
            if b'"id_str"' in head or _has_v2_keys(path, sample):
                return 0.6
        if not isinstance(o, dict):
            return 0.0
        if "data" in o or "__twarc" in o:
            return 0.95
        if "id_str" in o and "user" in o:
            return 0.9
        if _is_tweet(o) and ("author_id" in o or "author" in o):
            return 0.9
        if "action" in o and "id" in o and len(o) <= 8:
            return 0.6
        if _is_gql(o):
            return 0.9
        if _is_user(o) and "id" in o:
            return 0.6
        if "errors" in o:
            return 0.5
        return 0.0

    def parse(self, path: Path, raw: RawSink) -> Iterator[Record]:
        src = str(path)
        for item in json_items(path, raw, "x"):
            if isinstance(item, Reject):
                yield item
                continue
            if raw.size >= raw.ahead_at:  # lines of no record piled up (RawSink.ahead_at)
                yield Ahead(item.sha)
            yield from unless_rejected(located(self._observed(
                item.obj, self._line(item.obj, src, item.line, item.sha)), item), raw, item.sha)

    @staticmethod
    def _observed(obj: dict, recs: Iterator[Record]) -> Iterator[Record]:
        """Records of one line or item, dated by twarc's ``retrieved_at`` if given."""
        seen = retrieved_at(obj)
        if seen is None:
            yield from recs
            return
        for rec in recs:
            if isinstance(rec, (Post, Account)):
                rec.observed_at = seen
            yield rec

    def _line(self, obj: dict, src: str, lineno: int | None, sha: str) -> Iterator[Record]:
        def ref(path: str | None) -> RawRef:
            return RawRef(sha256=sha, fmt="x", source_file=src, line=lineno, path=path)

        if "source_platform" in obj and "data" in obj:  # a Zeeschuimer capture
            yield from self._zeeschuimer(obj, src, lineno, ref)
            return
        if "data" in obj or "includes" in obj:
            yield from self._page(obj, src, lineno, ref)
            return
        if _is_gql(obj):  # 4CAT's X import: the web app's objects, one a line
            yield from self._gql(obj, src, lineno, ref)
            return
        if "errors" in obj and len(obj.keys() - {"errors", "__twarc"}) == 0:
            yield from self._errors(obj["errors"], src, lineno, ref)
            return
        try:
            if "id_str" in obj and "user" in obj:
                post, extra = tweet_v1(obj, ref(None))
                yield from extra
                yield post
            elif _is_tweet(obj):
                yield from self._flat(obj, ref)
            elif _is_user(obj):
                user = user_v2(obj, ref(None))
                yield user
                listed = follow_list(obj)  # a flattened following/followers line
                if listed:
                    yield follow_edge(listed, user.platform_id, retrieved_at(obj), ref(None))
            elif "action" in obj and "id" in obj:
                yield Compliance(platform=PLATFORM, subject_type="post",
                                 platform_id=req_id(obj.get("id"), "id"),
                                 action=opt_str(obj.get("action"), "action", 40) or "unknown",
                                 reason=opt_str(obj.get("reason"), "reason", 200),
                                 at=parse_time(obj.get("redacted_at") or obj.get("created_at"),
                                               "created_at"), raw=ref(None))
            else:
                yield reject(src, "not a tweet, user, page or compliance object", line=lineno,
                             excerpt=str(list(obj)[:8]))
        except (KeyError, TypeError, ValueError) as e:
            yield reject(src, e, line=lineno)

    def _errors(self, errors: Any, src: str, lineno: int, ref: Any) -> Iterator[Record]:
        """API errors. Resource errors about a tweet/user become compliance
        events (not found, suspended, protected …); stream errors are notes."""
        if not isinstance(errors, list):
            yield reject(src, "field 'errors': expected a list", line=lineno)
            return
        for i, e in enumerate(errors):
            if not isinstance(e, dict):
                continue
            rid = e.get("resource_id") or e.get("value")
            rtype = e.get("resource_type")
            if rid and rtype in ("tweet", "user"):
                # an id or title that is none is a reject (a title of another type
                # raised out of the parser; a NUL in the id stopped the ingest on
                # PostgreSQL); a detail is kept as text, NULs replaced
                try:
                    pid = req_id(rid, "resource_id")
                    detail = e.get("detail")
                    why = (opt_str(e.get("title"), "title", 100) or "") + (
                        ": " + (opt_str(str(detail), "detail", 90) or "") if detail else "")
                except (KeyError, TypeError, ValueError) as err:
                    yield reject(src, err, line=lineno, path=f"errors[{i}]")
                    continue
                yield Compliance(platform=PLATFORM,
                                 subject_type="post" if rtype == "tweet" else "account",
                                 platform_id=pid, action="unavailable", reason=why,
                                 raw=ref(f"errors[{i}]"))

    def _page(self, obj: dict, src: str, lineno: int, ref: Any) -> Iterator[Record]:
        inc = obj.get("includes") or {}
        if not isinstance(inc, dict):
            yield reject(src, "field 'includes': expected an object", line=lineno)
            inc = {}
        got: dict[str, list] = {}
        for key in ("media", "tweets", "users", "places", "polls"):
            v = inc.get(key)
            got[key] = v if isinstance(v, list) else []
            if v is not None and not isinstance(v, list):
                yield reject(src, f"field 'includes.{key}': expected a list", line=lineno)
        media_by_key = {m["media_key"]: m for m in got["media"]
                        if isinstance(m, dict) and isinstance(m.get("media_key"), str)}
        authors = {str(t.get("id")): str(t.get("author_id")) for t in got["tweets"]
                   if isinstance(t, dict) and t.get("author_id")}
        user_ids = {u["username"].lower(): str(u["id"]) for u in got["users"]
                    if isinstance(u, dict) and isinstance(u.get("username"), str) and u.get("id")}
        places = {p["id"]: p for p in got["places"]
                  if isinstance(p, dict) and isinstance(p.get("id"), str)}
        polls = {p["id"]: p for p in got["polls"]
                 if isinstance(p, dict) and isinstance(p.get("id"), str)}
        data = obj.get("data")
        items = data if isinstance(data, list) else ([data] if isinstance(data, dict) else [])
        if data is not None and not isinstance(data, (list, dict)):
            yield reject(src, "field 'data': expected a list or an object", line=lineno)
        for i, u in enumerate(got["users"]):
            try:
                yield user_v2(u, ref(f"includes.users[{i}]"), f"includes.users[{i}]")
            except (KeyError, TypeError, ValueError) as e:
                yield reject(src, e, line=lineno, path=f"includes.users[{i}]")
        for i, t in enumerate(got["tweets"]):
            try:
                p = tweet_v2(t, ref(f"includes.tweets[{i}]"), media_by_key, authors,
                             f"includes.tweets[{i}]", user_ids, places, polls)
                p.reference = True
                yield p
            except (KeyError, TypeError, ValueError) as e:
                yield reject(src, e, line=lineno, path=f"includes.tweets[{i}]")
        listed = follow_list(obj)
        seen = retrieved_at(obj) if listed else None
        for i, t in enumerate(items):
            path = f"data[{i}]" if isinstance(data, list) else "data"
            try:
                if isinstance(t, dict) and _is_user(t):
                    user = user_v2(t, ref(path), path)
                    yield user
                    if listed:
                        yield follow_edge(listed, user.platform_id, seen, ref(path))
                elif isinstance(t, dict) and "text" not in t and not _is_tweet(t) \
                        and "author_id" not in t:
                    # an X List, Space, DM event … (twarc2 lists / spaces commands):
                    # not a post; said, not stored as an empty one (the raw page is kept)
                    yield reject(src, "neither a tweet nor a user (an X list, space or other "
                                 "object: not stored)", line=lineno, path=path)
                else:
                    yield tweet_v2(t, ref(path), media_by_key, authors, path, user_ids, places,
                                   polls)
            except (KeyError, TypeError, ValueError) as e:
                yield reject(src, e, line=lineno, path=path)
        if "errors" in obj:
            yield from self._errors(obj["errors"], src, lineno, ref)

    def _zeeschuimer(self, obj: dict, src: str, lineno: int | None,
                     ref: Any) -> Iterator[Record]:
        """A Zeeschuimer line: ``{"source_platform", "timestamp_collected" (ms),
        "data": <the web app's object>, …}``; X's are read, other platforms'
        are said to be out of scope."""
        plat = obj.get("source_platform")
        if plat not in ZEESCHUIMER_X:
            yield reject(src, f"a Zeeschuimer capture from {str(plat)[:40]!r}: only X "
                         "(twitter.com, x.com) captures are read", line=lineno)
            return
        seen = None
        ts = obj.get("timestamp_collected")
        if isinstance(ts, (int, float)) and not isinstance(ts, bool) and ts > 0:
            try:
                seen = datetime.fromtimestamp(ts / 1000, UTC)
            except (OverflowError, OSError, ValueError):
                seen = None
        for rec in self._gql(obj["data"], src, lineno, lambda p: ref(
                "data" + ("." + p if p else ""))):
            if seen is not None and isinstance(rec, (Post, Account)):
                rec.observed_at = seen
            yield rec

    def _gql(self, obj: Any, src: str, lineno: int | None, ref: Any) -> Iterator[Record]:
        try:
            if isinstance(obj, dict) and obj.get("__typename") == "User":
                u = _gql_user(obj)
                if u is None:
                    raise KeyError("missing required field 'legacy'")
                yield user_v1(u, ref(None))
                return
            tw = gql_tweet(obj)
            if tw is None:
                typename = obj.get("__typename") if isinstance(obj, dict) else None
                yield reject(src, f"an X web object without a tweet ({str(typename)[:40]}: "
                             "deleted, withheld or unavailable?)", line=lineno)
                return
            post, extra = tweet_v1(tw, ref(None))
            yield from extra
            yield post
        except (KeyError, TypeError, ValueError) as e:
            yield reject(src, e, line=lineno)

    def _flat(self, t: dict, ref: Any) -> Iterator[Record]:
        """twarc2 flattened tweet: author and referenced tweets inlined."""
        if isinstance(t.get("author"), dict):
            yield user_v2(t["author"], ref("author"), "author")
        authors: dict[str, str] = {}
        for i, r in enumerate(t.get("referenced_tweets") or []):
            if isinstance(r, dict) and _is_tweet(r) and r.get("id"):
                if isinstance(r.get("author"), dict) and r["author"].get("id"):
                    yield user_v2(r["author"], ref(f"referenced_tweets[{i}].author"),
                                  f"referenced_tweets[{i}].author")
                rp = tweet_v2(r, ref(f"referenced_tweets[{i}]"), {}, {},
                              f"referenced_tweets[{i}]")
                rp.reference = True
                if rp.account_id:
                    authors[rp.platform_id] = rp.account_id
                yield rp
        inreply = t.get("in_reply_to_user")
        if isinstance(inreply, dict) and inreply.get("id"):
            yield user_v2(inreply, ref("in_reply_to_user"), "in_reply_to_user")
        yield tweet_v2(t, ref(None), {}, authors, "tweet")
