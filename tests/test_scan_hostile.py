"""Posts written by an adversary, past ingest: every later stage that reads
them (text, finance and account detectors under `rasd scan`, copypasta
clusters, shared-indicator links) stores what it finds within the store's
column limits — on PostgreSQL too, whose VARCHAR limits and refusal of NUL
SQLite does not enforce — and a second scan finds nothing left to do."""

from __future__ import annotations

import json

import sqlalchemy as sa

from rasd.detect.finance.detector import FinanceAccountDetector, FinanceDetector
from rasd.detect.finance.links import shared
from rasd.detect.media.textdup import build_clusters
from rasd.detect.scan import scan
from rasd.detect.text.detector import TextDetector
from rasd.ingest import ingest_path
from rasd.store import schema as S

N = 5000
WALLET = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
TEXTS = [
    "send to bc1q" + "q" * N,  # a wallet-shaped token of 5,000 characters
    "iban DE89" + "1" * N,
    "donate paypal.me/" + "a" * N,
    "call +44" + "7" * N,
    "eth 0x" + "a" * N,
    "t.me/" + "b" * N + " join",
    "cash app $" + "c" * N,
    "kill them all \x00 now " + "x" * N,  # a NUL in the text
    "a" * 200_000,  # one 200,000-character word
    "Donate to the mujahideen: " + " ".join([WALLET] * 3000),  # thousands of indicators
    "IBAN DE89370400440532013000 " * 2000,
    "#" + "h" * N + " @" + "m" * N,
    "\u202e\x00 عملية استشهادية " + "ج" * N,
    # the same copypasta from two accounts (a cluster), padded past any sample size
    "Brothers, the caravan is waiting, make hijrah now and send " + WALLET + " " + "z" * N,
]


def _lines() -> list[str]:
    bio = ("wallet bc1q" + "q" * N + " iban GB" + "2" * N + " \x00 paypal.me/" + "z" * N
           + " " + WALLET)
    authors = [{"id": uid, "username": "u" + uid, "name": "n" * N, "description": bio,
                "created_at": "2020-01-01T00:00:00.000Z"} for uid in ("9", "10")]
    out = []
    for i, text in enumerate(TEXTS + TEXTS[-1:]):
        out.append(json.dumps({
            "id": str(1000 + i), "text": text, "author_id": authors[i % 2]["id"],
            "created_at": "2024-01-01T00:00:00.000Z", "author": authors[i % 2],
            "entities": {
                "urls": [{"start": 0, "end": 1, "url": "https://t.co/x",
                          "expanded_url": "https://paypal.me/" + "u" * N}],
                "hashtags": [{"start": 0, "end": 1, "tag": "h" * N}]}}))
    return out


def test_hostile_posts_scan_within_limits(store, tmp_path):
    f = tmp_path / "hostile.jsonl"
    f.write_text("\n".join(_lines()) + "\n", encoding="utf-8")
    res = ingest_path(store, f)
    assert res.counts["rejected"] == 0 and res.counts["new"] >= len(TEXTS)
    dets = [TextDetector(), FinanceDetector(), FinanceAccountDetector()]
    results = {r.detector: r for r in scan(store, dets)}
    assert results["finance"].scanned == len(TEXTS) + 1
    assert results["finance_account"].scanned == 2
    # the wallets in the posts and in the bios were found and stored
    assert results["finance"].by_label.get("fin_indicator", 0) >= 3
    assert results["finance_account"].detections == 2
    with store.connect() as c:
        values = [r[0] for r in c.execute(sa.text("SELECT value FROM fin_sightings"))]
        attrs = [r[0] for r in c.execute(sa.select(S.detections.c.attributes))]
    assert WALLET in values and all(len(v) <= 300 and "\x00" not in v for v in values)
    assert all(len(json.dumps(a)) < 200_000 for a in attrs)  # bounded, not the whole text
    # nothing left: a second scan has no post or account to read
    again = scan(store, [TextDetector(), FinanceDetector(), FinanceAccountDetector()])
    assert all(r.scanned == 0 for r in again)
    # the copypasta is one cluster across both accounts; the shared wallet links them
    got = build_clusters(store, min_chars=40)
    assert got is not None
    with store.connect() as c:
        members = c.execute(sa.text("SELECT count(*) FROM text_cluster_members")).scalar()
    assert members >= 2
    links = shared(store, min_accounts=2)
    assert any(WALLET in json.dumps(row, default=str) for row in links)
