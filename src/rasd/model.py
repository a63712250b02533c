"""Domain types shared by every stage.

These are plain dataclasses, not ORM objects: parsers produce them, the store
persists them, detectors read and return them. Keeping them free of any database
or framework lets each stage be tested (and later run on Dask) as batch-in,
batch-out functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Platform(StrEnum):
    """Where content came from. Free strings are accepted by the store too, so a
    parser for a new platform needs no change here; these are the known ones."""

    X = "x"
    TELEGRAM = "telegram"
    CSV = "csv"
    OTHER = "other"


class EdgeKind(StrEnum):
    """Account→account interactions. Every edge points at the post it came from."""

    REPLY = "reply"
    REPOST = "repost"
    QUOTE = "quote"
    MENTION = "mention"
    FORWARD = "forward"
    FOLLOW = "follow"


class PostKind(StrEnum):
    POST = "post"
    REPLY = "reply"
    REPOST = "repost"
    QUOTE = "quote"
    FORWARD = "forward"
    SERVICE = "service"  # Telegram service messages: joins, pins, title changes…


@dataclass(slots=True)
class RawRef:
    """Where a record came from: the raw bytes as received (stored compressed,
    addressed by sha256), the format that parsed them, and the position in the file."""

    sha256: str
    fmt: str
    source_file: str
    line: int | None = None  # 1-based line for line formats
    path: str | None = None  # JSON path inside the raw blob, e.g. "data[3]"


@dataclass(slots=True)
class Account:
    platform: str
    platform_id: str
    handle: str | None = None
    name: str | None = None
    bio: str | None = None
    created_at: datetime | None = None
    kind: str | None = None  # user, channel, group, bot …
    followers: int | None = None
    following: int | None = None
    post_count: int | None = None
    location: str | None = None
    url: str | None = None
    verified: bool | None = None
    # "stub" accounts are only known by reference (e.g. a mention); they never
    # overwrite fields that a full profile record set.
    stub: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    raw: RawRef | None = None
    # When this snapshot of the profile was taken (X: the page's retrieval time,
    # a CSV row: the post's time). An older snapshot never replaces a newer one.
    observed_at: datetime | None = None


@dataclass(slots=True)
class Media:
    """A file or URL attached to a post. ``local_path`` is set where the file is
    present (a Telegram export folder); URLs are recorded, never fetched by default."""

    platform: str
    media_key: str
    type: str | None = None  # photo, video, animated_gif, file, sticker …
    url: str | None = None
    local_path: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Link:
    """A post-to-post relation (reply/repost/quote/forward) with the target's
    author where known, so that an Edge can be derived."""

    kind: str  # PostKind value: reply, repost, quote, forward
    target_post_id: str | None = None
    target_account_id: str | None = None
    target_account_name: str | None = None


@dataclass(slots=True)
class Post:
    platform: str
    platform_id: str
    account_id: str | None
    text: str | None
    created_at: datetime | None = None
    kind: str = PostKind.POST
    lang: str | None = None
    conversation_id: str | None = None
    chat_id: str | None = None  # Telegram chat/channel the message belongs to
    edited_at: datetime | None = None
    edit_of: str | None = None  # X: earliest id in edit_history_tweet_ids
    links: list[Link] = field(default_factory=list)
    mentions: list[tuple[str | None, str | None]] = field(default_factory=list)  # (id, handle)
    hashtags: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    media: list[Media] = field(default_factory=list)
    metrics: dict[str, int] = field(default_factory=dict)
    withheld: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    raw: RawRef | None = None
    # True for a post seen only as an expansion of another (X includes.tweets,
    # a quoted/retweeted original): it is stored if new but never overwrites.
    reference: bool = False
    # When this copy was collected (X: the page's retrieval time). An older copy
    # never replaces a newer one; Telegram edits are ordered by ``edited_at``.
    observed_at: datetime | None = None


@dataclass(slots=True)
class Event:
    """A non-post happening in a chat (Telegram service message)."""

    platform: str
    platform_id: str
    action: str
    chat_id: str | None = None
    actor_id: str | None = None
    actor_name: str | None = None
    at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    raw: RawRef | None = None


@dataclass(slots=True)
class Edge:
    """An account→account relation read as such, not derived from a post: a
    follow from an X following/followers list. (Replies, reposts, quotes,
    mentions and forwards are derived from posts' links by the writer.) Traced to
    the raw record it was read from; ``created_at`` is when it was observed."""

    platform: str
    kind: str
    src_account_id: str
    dst_account_id: str
    post_id: str | None = None  # the post the interaction was observed in, if any
    created_at: datetime | None = None
    raw: RawRef | None = None


@dataclass(slots=True)
class Compliance:
    """A deletion / suspension / withholding notice about a post or account
    (X compliance streams). Kept so that takedown tracking can use it."""

    platform: str
    subject_type: str  # post | account
    platform_id: str
    action: str
    reason: str | None = None
    at: datetime | None = None
    raw: RawRef | None = None


# rejects of one ingest run written one by one to the quarantine file; the
# rest are counted by reason in one entry at the run's end (a 35 KB .jsonl.gz of
# 3 million tiny non-records wrote a 752 MB quarantine file in 105 s: a hostile
# file must not fill the disk beside the store)
QUARANTINE_LIMIT = 10_000


@dataclass(slots=True)
class Reject:
    """A record that could not be used, and exactly why. Written to the
    quarantine file next to the store (past ``QUARANTINE_LIMIT`` a run,
    counted there by reason); never silently dropped."""

    source_file: str
    reason: str
    line: int | None = None
    path: str | None = None
    field: str | None = None
    excerpt: str | None = None


@dataclass(slots=True)
class Detection:
    """What every detector returns, whatever it looks at (text, media, money).

    subject_type is ``post``, ``account`` or ``media``; subject_id is the store's
    integer id of that row. The queue, reports and evaluation treat all
    detections alike.
    """

    subject_type: str
    subject_id: int
    detector: str
    label: str
    score: float
    model_version: str
    explanation: list[Any] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)


Record = Account | Post | Edge | Event | Compliance | Reject


def poll_text(poll: Any) -> str:
    """A stored poll's words (question, then one option a line), for reading
    and for detectors; empty when there is none."""
    if not isinstance(poll, dict):
        return ""
    parts = [poll.get("question")] + [o.get("text") for o in poll.get("options") or []
                                       if isinstance(o, dict)]
    return "\n".join(p for p in parts if isinstance(p, str) and p)


def attached_text(extra: Any) -> str:
    """The words a post carries beside its text: a poll's question and options,
    a shared contact's name and number. Detectors read them after the text."""
    if not isinstance(extra, dict):
        return ""
    parts = [poll_text(extra.get("poll"))]
    c = extra.get("contact")
    if isinstance(c, dict):
        parts.append(" ".join(v for v in (c.get("name"), c.get("phone")) if isinstance(v, str)))
    return "\n".join(p for p in parts if p)
