"""The relational schema (SQLAlchemy Core), one ``MetaData`` for every stage.

Stages that need tables of their own (detect.media banks, detect.finance lists…)
define them in their own ``schema`` module on this same ``metadata`` and ship an
Alembic migration for them; ``load_all()`` imports those modules so that the
metadata is complete (for tests and for Alembic autogenerate).

Design notes
- Natural key of every platform object is (platform, platform_id); integer ``id``
  columns are the store's own and are what detections and edges point at.
- ``content_hash`` is a hash of the normalised record; ingest compares it to tell
  new / updated / unchanged records apart, so re-ingesting a file changes nothing.
- Old versions of accounts (handle/name/bio) and posts (edits) are kept in the
  ``*_versions`` tables; the main tables hold the current view.
- ``raw_sha256`` points at the compressed bytes as received (``raw_records``), and
  ``raw_path`` at the record inside them, so any row can be re-parsed and shown as
  evidence exactly as it arrived.
"""

from __future__ import annotations

import hashlib
import importlib
import unicodedata

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    literal_column,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

TS = DateTime(timezone=True)
# a detector's model version (model, policy, external tier: ``Detector.version``)
MODEL_VERSION_MAX = 200
# Python None is stored as SQL NULL (not the JSON text "null"), so IS NULL works.
J = JSON(none_as_null=True)

meta = Table(
    "meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text),
)

raw_records = Table(
    "raw_records",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("fmt", String(40), nullable=False),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),  # zstd-compressed bytes as received
    Column("first_seen", TS, nullable=False),
)

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
)

ingest_files = Table(
    "ingest_files",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", Integer, ForeignKey("sources.id"), nullable=False),
    Column("path", Text, nullable=False),
    Column("fmt", String(40), nullable=False),
    Column("size", BigInteger),
    Column("started_at", TS, nullable=False),
    Column("finished_at", TS),
    # running, done, interrupted (Ctrl-C), failed (an error), killed (found dead by a
    # later run), superseded (a later run completed the file)
    Column("status", String(20), nullable=False),
    Column("counts", J),
    # [highest post id, highest waiting-link id] when the run began to write: a run
    # that did not finish keeps later runs drawing waiting links from there (0011)
    Column("link_marks", J),
    # who runs it, and when it last wrote: a run recorded as running whose
    # process is gone, or that has not been seen for long, was killed (0012)
    Column("pid", Integer),
    Column("host", String(255)),
    Column("seen_at", TS),
)

def handle_key(handle: str | None) -> str | None:
    """A handle as it is matched whatever its case (``accounts.handle_key``;
    "@name" placeholders are keyed so too)."""
    return handle.lower()[:200] if handle else None


# characters of a handle key a "@name" placeholder's platform_id spells out
STUB_KEY_CHARS = 180


def stub_key(handle: str) -> str:
    """The ``platform_id`` of the "@name" placeholder for an account named only
    by ``handle`` (a mention, a reply to @name): "@" and its ``handle_key``.
    A key longer than ``STUB_KEY_CHARS`` (no real platform's; hostile or odd
    input) would not fit the column whole: it is cut and a digest of the whole
    key added ("@" + 178 characters + "#" + 20 hex digits, always 200 long, so
    no shorter handle's placeholder is spelt alike), one placeholder per key.
    Placeholders are merged by their ``handle_key`` (``merge_name_stubs``),
    which holds the key whole."""
    key = handle_key(handle) or ""
    if len(key) <= STUB_KEY_CHARS:
        return "@" + key
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=10).hexdigest()
    return "@" + key[:178] + "#" + digest


def fold_name(name: str) -> str:
    """A display name as names are compared whatever their case: NFC, then
    case-folded by Python (``Straße`` and ``STRASSE``, ``ÄRGER`` and ``ärger``
    alike, on SQLite as on PostgreSQL)."""
    return unicodedata.normalize("NFC", name).casefold()


# characters of a folded name its key holds (the column's length)
NAME_KEY_CHARS = 200


def name_key(name: str | None) -> str | None:
    """``accounts.name_key``: the folded name (``fold_name``), cut to
    ``NAME_KEY_CHARS`` characters; names that long or longer share a key with
    others that begin alike, so a lookup compares the names it finds in full."""
    return fold_name(name)[:NAME_KEY_CHARS] if name else None


accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(32), nullable=False),
    Column("platform_id", String(200), nullable=False),
    Column("handle", String(200)),
    # the handle folded by rasd (str.lower), as "@name" placeholders are keyed:
    # SQL's lower() folds only ASCII on SQLite (migration 0015)
    Column("handle_key", String(200)),
    Column("name", Text),
    # the name folded by rasd (name_key), so `accounts show NAME` is an index
    # lookup whatever the case, non-ASCII included (migration 0017)
    Column("name_key", String(200)),
    Column("bio", Text),
    Column("created_at", TS),
    Column("kind", String(32)),
    Column("followers", BigInteger),
    Column("following", BigInteger),
    Column("post_count", BigInteger),
    Column("location", Text),
    Column("url", Text),
    Column("verified", Boolean),
    # Set by analysts: news, researcher, ngo, official … lowers the prior that the
    # account's posts are terrorist content (TCO Art. 1(3)).
    Column("role", String(32)),
    Column("stub", Boolean, nullable=False, default=False),
    Column("extra", J),
    Column("content_hash", String(32)),
    Column("raw_sha256", String(64)),
    Column("raw_path", String(200)),
    Column("source_id", Integer, ForeignKey("sources.id")),
    Column("first_seen", TS, nullable=False),
    Column("last_seen", TS, nullable=False),
    Column("observed_at", TS),  # snapshot time of the current view (migration 0005)
    # earliest collection time of a copy keeping the current profile; NULL: the
    # same as observed_at (migration 0020)
    Column("first_observed_at", TS),
    UniqueConstraint("platform", "platform_id"),
)
Index("ix_accounts_handle_key", accounts.c.platform, accounts.c.handle_key)
Index("ix_accounts_name_key", accounts.c.name_key)
# accounts with a handle or a name but no key (written by SQL, or by an older
# rasd): few or none, keyed by the next lookup (``accounts.roles``; migration 0021)
# (an empty handle or name has no key: handle_key, name_key). Written so that
# SQLite takes these indexes for them: with "key IS NULL" it took the index on
# the key (every account without a name), and a bound "''" matches no index's
# WHERE, so the empty string is written out.
_EMPTY = literal_column("''")
HANDLE_UNKEYED = ((accounts.c.handle != _EMPTY)
                  & (func.coalesce(accounts.c.handle_key, _EMPTY) == _EMPTY))
NAME_UNKEYED = (accounts.c.name != _EMPTY) & (func.coalesce(accounts.c.name_key, _EMPTY) == _EMPTY)
Index("ix_accounts_unkeyed_handle", accounts.c.id, sqlite_where=HANDLE_UNKEYED,
      postgresql_where=HANDLE_UNKEYED)
Index("ix_accounts_unkeyed_name", accounts.c.id, sqlite_where=NAME_UNKEYED,
      postgresql_where=NAME_UNKEYED)

account_versions = Table(
    "account_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("handle", String(200)),
    Column("name", Text),
    Column("bio", Text),
    Column("snapshot", J),
    Column("content_hash", String(32)),
    Column("raw_sha256", String(64)),
    # when this version was superseded: the superseding copy's collection time
    # where known, else the time of the ingest that replaced it
    Column("valid_until", TS, nullable=False),
    # when the copy this version holds was collected: the last copy keeping it
    Column("observed_at", TS),
    Column("first_observed_at", TS),  # … and the first (NULL: the same; migration 0020)
    Index("ix_account_versions_account", "account_id"),
)

posts = Table(
    "posts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(32), nullable=False),
    Column("platform_id", String(200), nullable=False),
    Column("account_id", Integer, ForeignKey("accounts.id")),
    Column("chat_id", String(200)),
    Column("kind", String(16), nullable=False),
    Column("text", Text),
    Column("lang", String(16)),
    Column("created_at", TS),
    Column("conversation_id", String(200)),
    Column("reply_to", String(200)),  # platform ids of the linked posts
    Column("repost_of", String(200)),
    Column("quote_of", String(200)),
    Column("forward_of", String(200)),
    Column("edited_at", TS),
    Column("edit_of", String(200)),
    Column("metrics", J),
    Column("withheld", J),
    Column("extra", J),
    Column("deleted_at", TS),  # from compliance notices
    Column("content_hash", String(32)),
    Column("raw_sha256", String(64)),
    Column("raw_path", String(200)),
    Column("source_id", Integer, ForeignKey("sources.id")),
    Column("first_seen", TS, nullable=False),
    Column("last_seen", TS, nullable=False),
    Column("observed_at", TS),  # collection time of the current copy (migration 0005)
    Column("first_observed_at", TS),  # as accounts (migration 0020)
    UniqueConstraint("platform", "platform_id"),
)
Index("ix_posts_account", posts.c.account_id)
Index("ix_posts_created", posts.c.created_at)

post_versions = Table(
    "post_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("post_id", Integer, ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
    Column("text", Text),
    Column("edited_at", TS),
    Column("snapshot", J),
    Column("content_hash", String(32)),
    Column("raw_sha256", String(64)),
    Column("valid_until", TS, nullable=False),  # as account_versions
    Column("observed_at", TS),
    Column("first_observed_at", TS),  # as account_versions (migration 0020)
    Index("ix_post_versions_post", "post_id"),
)

media = Table(
    "media",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(32), nullable=False),
    Column("media_key", String(300), nullable=False),
    Column("type", String(32)),
    Column("url", Text),
    Column("local_path", Text),
    Column("mime_type", String(100)),
    Column("width", BigInteger),
    Column("height", BigInteger),
    Column("duration_ms", BigInteger),
    Column("extra", J),
    Column("first_seen", TS, nullable=False),
    UniqueConstraint("platform", "media_key"),
)

post_media = Table(
    "post_media",
    metadata,
    Column("post_id", Integer, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("media_id", Integer, ForeignKey("media.id", ondelete="CASCADE"), primary_key=True),
)

edges = Table(
    "edges",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("src_account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("dst_account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("post_id", Integer, ForeignKey("posts.id", ondelete="CASCADE")),
    Column("created_at", TS),
    # kind:src:dst:post — unique even where post_id is NULL (follows)
    Column("dedup_key", String(120), nullable=False, unique=True),
    # edges read as such (follows): the raw record they came from (migration 0007)
    Column("raw_sha256", String(64)),
    Index("ix_edges_src", "src_account_id"),
    Index("ix_edges_dst", "dst_account_id"),
    Index("ix_edges_post", "post_id"),  # a post's edges; deleting a post (migration 0010)
)

# links of posts to a post not stored yet, named by its id alone (a reply whose
# parent comes in a later file, or later in a newest-first crawl): no edge can be
# drawn until that post, and its author, are known; each ingest draws the edges of
# those whose target has come since (migration 0009)
pending_links = Table(
    "pending_links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(32), nullable=False),
    Column("post_id", Integer, ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("target_post_id", String(200), nullable=False),
    UniqueConstraint("post_id", "kind", "target_post_id"),
    Index("ix_pending_links_target", "platform", "target_post_id"),
)

hashtags = Table(
    "hashtags",
    metadata,
    Column("post_id", Integer, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(300), primary_key=True),  # case-folded, without '#'
    Index("ix_hashtags_tag", "tag"),
)

urls = Table(
    "urls",
    metadata,
    Column("post_id", Integer, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("url", String(2000), primary_key=True),
)

events = Table(
    # Non-post happenings: Telegram service messages (joins, pins, title changes,
    # calls…). Recorded as such, never counted as posts.
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(32), nullable=False),
    Column("platform_id", String(200), nullable=False),
    Column("chat_id", String(200)),
    Column("actor_id", Integer, ForeignKey("accounts.id")),
    Column("action", String(64), nullable=False),
    Column("at", TS),
    Column("extra", J),
    Column("raw_sha256", String(64)),
    Column("raw_path", String(200)),
    Column("source_id", Integer, ForeignKey("sources.id")),
    UniqueConstraint("platform", "platform_id"),
)

compliance_events = Table(
    "compliance_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(32), nullable=False),
    Column("subject_type", String(16), nullable=False),
    Column("platform_id", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("reason", String(200)),
    Column("at", TS),
    Column("raw_sha256", String(64)),
    Column("dedup_key", String(400), nullable=False, unique=True),
    Index("ix_compliance_subject", "platform", "platform_id"),  # a post's deletions (0013)
)

detections = Table(
    "detections",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subject_type", String(16), nullable=False),  # post | account | media
    Column("subject_id", Integer, nullable=False),
    Column("detector", String(64), nullable=False),
    Column("label", String(64), nullable=False),
    Column("score", Float, nullable=False),
    Column("model_version", String(MODEL_VERSION_MAX), nullable=False),
    Column("explanation", J),
    Column("attributes", J),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("subject_type", "subject_id", "detector", "model_version", "label"),
    Index("ix_detections_label", "label", "score"),
)

scans = Table(
    "scans",
    metadata,
    Column("subject_type", String(16), primary_key=True),
    Column("subject_id", Integer, primary_key=True),
    Column("detector", String(64), primary_key=True),
    Column("model_version", String(MODEL_VERSION_MAX), primary_key=True),
    Column("scanned_at", TS, nullable=False),
)

# Modules of later stages that add tables to ``metadata``.
STAGE_SCHEMAS = (
    "rasd.detect.text.schema",
    "rasd.detect.media.schema",
    "rasd.detect.finance.schema",
)


def load_all() -> MetaData:
    """Import every stage's schema module so ``metadata`` lists all tables."""
    for mod in STAGE_SCHEMAS:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:  # a stage without tables of its own
            if e.name != mod:
                raise
    return metadata
