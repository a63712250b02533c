"""Tables of the known-content matching stage (issue 4).

- ``hash_banks``: named, labelled lists of signals (HMA "banks"). A *negative* bank
  holds known false positives: a media item matching one of its signals is not
  reported even if it also matches a positive bank.
- ``bank_signals``: one fingerprint (md5, sha256, pdq, vpdq, tlsh, minhash…) in a bank,
  with its own labels and a status: ``active``, ``disabled``, ``tombstoned`` (removed
  for good, kept so that a re-import does not bring it back) or ``quarantined``
  (paused by flood protection and waiting for review).
- ``bank_signal_generations``: per signal type, counters of the bank signals
  inserted, changed or deleted, and tombstoned, kept by triggers: how an index
  knows it is current.
- ``media_signals``: the fingerprints computed for ingested media (so that a bank
  added later can be matched retroactively without re-reading files).
- ``hash_matches``: every match found, whether it became a detection, was suppressed by
  a negative bank, or hit a quarantined signal — the audit trail of the matcher and
  the input of flood quarantine.
- ``signal_reviews``: the review queue of quarantined signals.
- ``text_clusters`` / ``text_cluster_members``: near-duplicate text (copypasta)
  clusters from MinHash LSH; ``post_minhash`` caches signatures between runs.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from rasd.store.schema import TS, metadata

hash_banks = Table(
    "hash_banks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("description", Text),
    Column("labels", JSON),  # {"policy": "...", "entity": "...", "content": "..."}
    Column("negative", Boolean, nullable=False, default=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("pdq_threshold", Integer),  # None: the signal type's default (31)
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

bank_signals = Table(
    "bank_signals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("bank_id", Integer, ForeignKey("hash_banks.id", ondelete="CASCADE"), nullable=False),
    Column("signal_type", String(32), nullable=False),
    Column("signal", Text, nullable=False),
    Column("signal_key", String(64), nullable=False),  # sha256 of the normalised signal
    Column("labels", JSON),
    Column("status", String(16), nullable=False, default="active"),
    Column("source", String(200)),
    Column("note", Text),
    Column("added_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    # when the source list last updated the signal (TCAP's updated_on), if it says:
    # a re-import's newer record updates the labels, an older one changes nothing
    Column("source_updated_at", TS),
    UniqueConstraint("bank_id", "signal_type", "signal_key"),
    Index("ix_bank_signals_key", "signal_type", "signal_key"),
)

# Per signal type, how many bank_signals rows were ever inserted, deleted or
# changed past what adding rows can follow (``changed``: a new id, type or value,
# a signal leaving the tombstoned state), and tombstoned: bumped by triggers
# (migration 0022) in the transaction that writes bank_signals, whoever writes
# it. The PDQ/vPDQ indexes and the matcher's prepared banks read them to know
# exactly whether what they hold is current (``index.generations``).
bank_signal_generations = Table(
    "bank_signal_generations",
    metadata,
    Column("signal_type", String(32), primary_key=True),
    Column("inserted", BigInteger, nullable=False),
    Column("changed", BigInteger, nullable=False),
    Column("tombstoned", BigInteger, nullable=False),
)

media_signals = Table(
    "media_signals",
    metadata,
    Column("media_id", Integer, ForeignKey("media.id", ondelete="CASCADE"), primary_key=True),
    Column("signal_type", String(32), primary_key=True),
    Column("signal", Text, nullable=False),
    Column("quality", Integer),
    Column("signal_key", String(64), nullable=False),
    Column("computed_at", TS, nullable=False),
    Index("ix_media_signals_sig", "signal_type", "signal_key"),
)

hash_matches = Table(
    "hash_matches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("media_id", Integer, ForeignKey("media.id", ondelete="CASCADE")),
    Column("subject", String(300)),  # a file path for `rasd match`, else NULL
    Column("signal_id", Integer, ForeignKey("bank_signals.id", ondelete="CASCADE"),
           nullable=False),
    Column("bank_id", Integer, ForeignKey("hash_banks.id", ondelete="CASCADE"), nullable=False),
    Column("signal_type", String(32), nullable=False),
    Column("distance", Float, nullable=False),
    # reported | suppressed (negative bank) | quarantined (flood) | negative
    Column("outcome", String(16), nullable=False),
    Column("matched_at", TS, nullable=False),
    Index("ix_hash_matches_signal", "signal_id", "matched_at"),
    Index("ix_hash_matches_media", "media_id"),
)

signal_reviews = Table(
    "signal_reviews",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("signal_id", Integer, ForeignKey("bank_signals.id", ondelete="CASCADE"),
           nullable=False),
    Column("reason", Text, nullable=False),
    Column("opened_at", TS, nullable=False),
    Column("closed_at", TS),
    Column("decision", String(16)),  # restore | tombstone | disable (banks.DECISIONS)
    Column("actor", String(100)),
)

text_clusters = Table(
    "text_clusters",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("size", Integer, nullable=False),
    Column("n_accounts", Integer, nullable=False),
    Column("representative_post_id", Integer, ForeignKey("posts.id", ondelete="SET NULL")),
    Column("sample_text", Text),
    Column("first_at", TS),
    Column("last_at", TS),
    Column("params", JSON),
    Column("created_at", TS, nullable=False),
    Index("ix_text_clusters_size", "size"),
)

text_cluster_members = Table(
    "text_cluster_members",
    metadata,
    Column("cluster_id", Integer, ForeignKey("text_clusters.id", ondelete="CASCADE"),
           primary_key=True),
    Column("post_id", Integer, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("similarity", Float),  # estimated Jaccard to the representative
    Index("ix_text_cluster_members_post", "post_id"),
)

post_minhash = Table(
    "post_minhash",
    metadata,
    Column("post_id", Integer, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("params", String(40), nullable=False),  # e.g. "c5:128:1" (shingle, perms, seed)
    Column("text_key", String(32), nullable=False),  # md5 of the normalised text
    Column("signature", LargeBinary, nullable=False),  # uint32 * num_perm, little endian
)
