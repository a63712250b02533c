"""Tables of the finance stage: designation lists and indicator sightings.

- ``fin_lists``: one row per imported list (UN, OFAC SDN, EU, an OpenSanctions
  export, a user's own list). Re-importing a list replaces its entities.
- ``fin_entities``: a designated person, organisation, vessel … with the list's
  own reference (UN "QDi.317", OFAC uid, EU logical id, FtM id) and programmes.
- ``fin_names``: every name and alias of an entity, in every script, with the
  script and a normalised (latinised) form used for screening.
- ``fin_identifiers``: identifiers listed for an entity — digital-currency
  addresses, passports, national ids, e-mail, websites — matched exactly.
- ``fin_sightings``: an indicator (wallet, IBAN, phone, payment link) seen in a
  post or an account profile. A value seen by several accounts links them; those
  links are also written to ``edges`` with kind ``shared_indicator``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from rasd.store.schema import TS, metadata

fin_lists = Table(
    "fin_lists",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),  # un_sc, ofac_sdn, eu_fsf …
    Column("format", String(32), nullable=False),  # un_xml, ofac_csv, eu_xml, eu_csv, ftm_json
    Column("source_file", Text),
    Column("sha256", String(64)),
    Column("published", String(40)),  # generation date stated by the file, if any
    Column("entities", Integer, nullable=False, default=0),
    Column("names", Integer, nullable=False, default=0),
    Column("identifiers", Integer, nullable=False, default=0),
    Column("imported_at", TS, nullable=False),
)

fin_entities = Table(
    "fin_entities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("list_id", Integer, ForeignKey("fin_lists.id", ondelete="CASCADE"), nullable=False),
    Column("list_ref", String(200), nullable=False),
    Column("schema", String(32), nullable=False),  # person, organization, vessel, other
    Column("caption", Text, nullable=False),
    Column("programmes", JSON),  # list of programme codes / regimes
    Column("listed_on", String(40)),
    Column("remarks", Text),
    Column("data", JSON),  # nationality, dates of birth, addresses … as listed
    UniqueConstraint("list_id", "list_ref"),
    Index("ix_fin_entities_ref", "list_ref"),
)

fin_names = Table(
    "fin_names",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("entity_id", Integer, ForeignKey("fin_entities.id", ondelete="CASCADE"),
           nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", String(16), nullable=False),  # primary, alias, weak, former, original
    Column("script", String(32)),  # Latin, Arabic, Cyrillic … (dominant script)
    Column("norm", Text),  # normalised latin key used by the screener
    Index("ix_fin_names_entity", "entity_id"),
)

fin_identifiers = Table(
    "fin_identifiers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("entity_id", Integer, ForeignKey("fin_entities.id", ondelete="CASCADE"),
           nullable=False),
    Column("type", String(40), nullable=False),  # crypto_wallet, passport, national_id …
    Column("value", Text, nullable=False),  # as listed
    Column("norm", String(300), nullable=False),  # normalised for exact lookup
    Column("currency", String(16)),  # XBT, ETH, USDT … for wallets, as OFAC names them
    Index("ix_fin_identifiers_norm", "norm"),
    Index("ix_fin_identifiers_entity", "entity_id"),
)

fin_sightings = Table(
    "fin_sightings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subject_type", String(16), nullable=False),  # post | account
    Column("subject_id", Integer, nullable=False),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE")),
    Column("post_id", Integer, ForeignKey("posts.id", ondelete="CASCADE")),
    Column("type", String(20), nullable=False),  # wallet, iban, phone, payment_link
    Column("value", String(300), nullable=False),  # normalised value (Indicator.value)
    Column("valid", Boolean, nullable=False),
    Column("currency", String(16)),
    Column("asset", String(16)),
    Column("span_start", Integer, nullable=False),
    Column("span_end", Integer, nullable=False),
    Column("seen_at", TS),  # the post's time, else when it was found
    UniqueConstraint("subject_type", "subject_id", "type", "value", "span_start"),
    Index("ix_fin_sightings_value", "type", "value"),
    Index("ix_fin_sightings_account", "account_id"),
)
