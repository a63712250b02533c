"""Indicator sightings and the account links they imply.

A validated wallet, IBAN, phone number or payment link seen in the posts or
profiles of several accounts links those accounts: they collect money into the
same place. Sightings are stored in ``fin_sightings``; each pair of accounts
sharing a value gets one edge of kind ``shared_indicator`` in ``edges`` (from
the account that used it first to the later one, pointing at the later
account's first post with it), so that network analysis picks the link up.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, tuple_

from rasd.detect.finance import schema as F
from rasd.detect.finance.indicators import Indicator
from rasd.store import schema as S
from rasd.store.db import now
from rasd.store.upsert import insert_ignore

EDGE_KIND = "shared_indicator"
MAX_LINKED = 200  # accounts per value that are linked pairwise; beyond, only to the first


@dataclass(slots=True)
class Sighting:
    subject_type: str  # post | account
    subject_id: int
    account_id: int | None
    post_id: int | None
    indicator: Indicator
    seen_at: datetime | None = None


def record(store: Any, sightings: Iterable[Sighting], *, link: bool = True) -> int:
    """Store sightings of valid indicators and link the accounts that share them.
    Returns the number of new ``shared_indicator`` edges."""
    rows = []
    for s in sightings:
        ind = s.indicator
        if not ind.valid:
            continue
        rows.append({"subject_type": s.subject_type, "subject_id": s.subject_id,
                     "account_id": s.account_id, "post_id": s.post_id, "type": ind.type,
                     "value": ind.value[:300], "valid": True, "currency": ind.currency,
                     "asset": ind.asset, "span_start": ind.span[0], "span_end": ind.span[1],
                     "seen_at": s.seen_at or now()})
    if not rows:
        return 0
    with store.begin() as c:
        c.execute(insert_ignore(c, F.fin_sightings), rows)
    if not link:
        return 0
    return link_values(store, {(r["type"], r["value"]) for r in rows})


def link_values(store: Any, values: set[tuple[str, str]]) -> int:
    """(Re)build ``shared_indicator`` edges for these (type, value) pairs."""
    if not values:
        return 0
    made = 0
    vals = sorted(values)
    with store.begin() as c:
        for start in range(0, len(vals), 200):
            chunk = vals[start:start + 200]
            q = (select(F.fin_sightings.c.type, F.fin_sightings.c.value,
                        F.fin_sightings.c.account_id, func.min(F.fin_sightings.c.seen_at),
                        func.min(F.fin_sightings.c.post_id))
                 .where(tuple_(F.fin_sightings.c.type, F.fin_sightings.c.value).in_(chunk),
                        F.fin_sightings.c.account_id.is_not(None))
                 .group_by(F.fin_sightings.c.type, F.fin_sightings.c.value,
                           F.fin_sightings.c.account_id))
            by_val: dict[tuple[str, str], list[tuple[Any, int, int | None]]] = defaultdict(list)
            for typ, val, acc, first, post in c.execute(q):
                by_val[(typ, val)].append((first, acc, post))
            accounts = {a for lst in by_val.values() for _, a, _ in lst}
            plat = {r[0]: r[1] for r in c.execute(
                select(S.accounts.c.id, S.accounts.c.platform)
                .where(S.accounts.c.id.in_(accounts)))} if accounts else {}
            edges = []
            for (typ, val), lst in by_val.items():
                if len(lst) < 2:
                    continue
                lst.sort(key=lambda x: (str(x[0]), x[1]))
                h = hashlib.sha1(f"{typ}:{val}".encode()).hexdigest()[:16]
                for i, (first_b, b, post_b) in enumerate(lst[1:], 1):
                    partners = lst[:i] if i < MAX_LINKED else lst[:1]
                    for _, a, _ in partners:
                        edges.append({"platform": plat.get(b, "other"), "kind": EDGE_KIND,
                                      "src_account_id": a, "dst_account_id": b,
                                      "post_id": post_b, "created_at": first_b,
                                      "dedup_key": f"{EDGE_KIND}:{a}:{b}:{h}"})
            if edges:
                res = c.execute(insert_ignore(c, S.edges), edges)
                made += max(0, res.rowcount or 0)
    return made


def shared(store: Any, *, min_accounts: int = 2, types: list[str] | None = None,
           value: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Indicator values seen by at least ``min_accounts`` accounts, most shared first."""
    s = F.fin_sightings
    n_acc = func.count(func.distinct(s.c.account_id))
    q = (select(s.c.type, s.c.value, n_acc.label("accounts"),
                func.count(func.distinct(s.c.post_id)).label("posts"),
                func.min(s.c.seen_at), func.max(s.c.seen_at), func.max(s.c.currency),
                func.max(s.c.asset))
         .group_by(s.c.type, s.c.value).having(n_acc >= min_accounts)
         .order_by(n_acc.desc(), s.c.type, s.c.value).limit(limit))
    if types:
        q = q.where(s.c.type.in_(types))
    if value:
        q = q.where(s.c.value == value)
    out = []
    with store.connect() as c:
        groups = c.execute(q).all()
        for typ, val, nacc, nposts, first, last, cur, asset in groups:
            accs = c.execute(
                select(S.accounts.c.id, S.accounts.c.platform, S.accounts.c.handle,
                       S.accounts.c.name, func.count(s.c.id), func.min(s.c.post_id),
                       S.accounts.c.platform_id)
                .select_from(s.join(S.accounts, s.c.account_id == S.accounts.c.id))
                .where(and_(s.c.type == typ, s.c.value == val))
                .group_by(S.accounts.c.id, S.accounts.c.platform, S.accounts.c.handle,
                          S.accounts.c.name, S.accounts.c.platform_id)
                .order_by(S.accounts.c.id)).all()
            out.append({"type": typ, "value": val, "currency": cur, "asset": asset,
                        "accounts": int(nacc), "posts": int(nposts), "first_seen": first,
                        "last_seen": last,
                        # ref: as `rasd accounts show` takes it back (account_ref)
                        "linked_accounts": [{"account_id": a, "ref": f"{p}:{pid}",
                                             "platform": p, "handle": h,
                                             "name": n, "sightings": int(k),
                                             "first_post_id": fp}
                                            for a, p, h, n, k, fp, pid in accs]})
    return out
