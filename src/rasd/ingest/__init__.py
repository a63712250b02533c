"""Ingest: read the formats analysts actually hold and yield model records.

- ``base``: the ``Parser`` interface, the format registry and ``--format auto``.
- ``x``: X API v2 pages, twarc2 flattened lines, v1.1 tweets, users, compliance.
- ``telegram``: Telegram Desktop JSON exports (one chat, or a full account export).
- ``telegram_html``: Telegram Desktop HTML exports (messages*.html; names, no ids).
- ``telethon``: Telegram API messages as Telethon serialises them (scrapers' output).
- ``jsonitems``: JSON objects from JSON Lines, documents or arrays (shared by X, Telethon).
- ``csvfmt``: CSV with a column mapping (built in: Kaggle ISIS, twarc-csv, QUT CNT,
  far-right Telegram).
- ``archive``: the members of ZIP archives, read in place.
- ``writer``: batched, idempotent, historical upserts into the store.
- ``runner``: ``ingest_path``: the whole job for one file, with quarantine and summary;
  ``check_path``: the same reading, nothing written (``--dry-run``).
"""

from rasd.ingest.base import PARSERS, IngestError, detect_format, get_parser
from rasd.ingest.runner import IngestReport, check_path, ingest_path

__all__ = ["PARSERS", "IngestError", "IngestReport", "check_path", "detect_format", "get_parser",
           "ingest_path"]
