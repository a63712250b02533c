"""An account's place in the network, as the edges ingest drew: how it links
to others (replies, reposts, quotes, mentions, forwards, follows) and how
others link to it, by kind, with how many distinct accounts each way. A hub
shows as many accounts linking in; an amplifier as many reposts out."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from rasd.store import Store
from rasd.store import schema as S


def edge_counts(store: Store, account_id: int) -> dict[str, Any]:
    """``{"out": {kind: n}, "in": {kind: n}, "out_accounts": n,
    "in_accounts": n}`` for the store's account ``account_id`` (two lookups
    on the edges' indexes on their ends)."""
    e = S.edges
    out: dict[str, Any] = {}
    with store.connect() as c:
        for side, mine, other in (("out", e.c.src_account_id, e.c.dst_account_id),
                                  ("in", e.c.dst_account_id, e.c.src_account_id)):
            out[side] = {k: int(n) for k, n in c.execute(
                select(e.c.kind, func.count()).where(mine == account_id)
                .group_by(e.c.kind).order_by(e.c.kind))}
            out[f"{side}_accounts"] = int(c.execute(
                select(func.count(func.distinct(other))).where(mine == account_id)).scalar_one())
    return out
