"""An account's place in the network, as the edges ingest drew: how it links
to others (replies, reposts, quotes, mentions, forwards, follows) and how
others link to it, by kind, with how many distinct accounts each way. A hub
shows as many accounts linking in; an amplifier as many reposts out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from rasd.accounts.listing import id_chunks
from rasd.store import Store
from rasd.store import schema as S


def edge_counts(store: Store, account_id: int) -> dict[str, Any]:
    """``{"out": {kind: n}, "out_accounts": n, "in": {kind: n},
    "in_accounts": n}`` for the store's account ``account_id`` (lookups on the
    edges' indexes on their ends; ``edge_counts_many``)."""
    return edge_counts_many(store, [account_id])[account_id]


def edge_counts_many(store: Store, account_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """``edge_counts`` of each of ``account_ids``: four grouped queries for all
    of them (four per ``ID_CHUNK`` accounts), not four per account."""
    ids = sorted(set(account_ids))
    e = S.edges
    out: dict[int, dict[str, Any]] = {
        i: {"out": {}, "out_accounts": 0, "in": {}, "in_accounts": 0} for i in ids}
    with store.connect() as c:
        for side, mine, other in (("out", e.c.src_account_id, e.c.dst_account_id),
                                  ("in", e.c.dst_account_id, e.c.src_account_id)):
            for chunk in id_chunks(ids):
                for m, k, n in c.execute(
                        select(mine, e.c.kind, func.count()).where(mine.in_(chunk))
                        .group_by(mine, e.c.kind).order_by(mine, e.c.kind)):
                    out[m][side][k] = int(n)
                for m, n in c.execute(
                        select(mine, func.count(func.distinct(other))).where(mine.in_(chunk))
                        .group_by(mine)):
                    out[m][f"{side}_accounts"] = int(n)
    return out
