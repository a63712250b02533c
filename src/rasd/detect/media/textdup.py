"""Near-duplicate text clusters (copypasta campaigns) with MinHash LSH.

Method
1. Each post's text is normalised (``signals.minhash.normalize_text``: NFKC, case-fold,
   URLs/@mentions/diacritics/punctuation dropped) and cut into character 5-grams;
   reposts, forwards and service messages are left out (they copy by design; the
   network stage counts those), as are texts shorter than ``min_chars``.
2. Posts with the same normalised text share one MinHash (128 permutations);
   signatures are cached in ``post_minhash`` so a re-run only hashes new or edited posts.
3. MinHash LSH (datasketch) proposes candidate pairs at Jaccard ≥ ``threshold``; each
   pair is verified on the estimated Jaccard, and verified pairs are joined with
   union-find into clusters.
4. Clusters with at least ``min_size`` posts are stored (``text_clusters`` /
   ``text_cluster_members``), replacing the previous run: size, distinct accounts,
   first/last time, the earliest post as representative and each member's estimated
   similarity to it. The network stage reads them for co-similarity edges; the
   console shows "posted by N accounts".

Union-find chains: A~B and B~C put A and C together even if A and C differ more; the
stored per-member similarity shows how far each member is from the representative.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import and_, select

from rasd.accounts.listing import account_ref
from rasd.detect.media import schema as M
from rasd.detect.media.signals.minhash import NUM_PERM, SEED, SHINGLE, minhash_of, normalize_text
from rasd.store import Store
from rasd.store import schema as S
from rasd.store.db import now
from rasd.store.upsert import insert_ignore


def _scheme() -> str | None:
    """datasketch ≥ 2 names its hashing scheme; signatures of different schemes must
    not be mixed, so the scheme is part of the cache key."""
    from datasketch import MinHash

    return getattr(MinHash(num_perm=NUM_PERM, seed=SEED), "scheme", None)


PARAMS = f"c{SHINGLE}:{NUM_PERM}:{SEED}:{_scheme() or 'v1'}"[:40]
SKIP_KINDS = ("repost", "forward", "service")


@dataclass
class ClusterReport:
    posts_considered: int = 0
    distinct_texts: int = 0
    hashed: int = 0
    clusters: int = 0
    clustered_posts: int = 0
    largest: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


class _UF:
    def __init__(self) -> None:
        self.p: dict[int, int] = {}

    def find(self, x: int) -> int:
        p = self.p
        p.setdefault(x, x)
        root = x
        while p[root] != root:
            root = p[root]
        while p[x] != root:
            p[x], x = root, p[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.p[max(ra, rb)] = min(ra, rb)


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a == b))


def build_clusters(store: Store, *, threshold: float = 0.7, min_chars: int = 40,
                   min_size: int = 2, since: datetime | None = None,
                   progress: Callable[[str, int, int], None] | None = None) -> ClusterReport:
    from datasketch import LeanMinHash, MinHashLSH

    if not 0.1 <= threshold <= 1.0:
        raise ValueError(f"threshold {threshold} outside 0.1..1.0")
    rep = ClusterReport(params={"threshold": threshold, "min_chars": min_chars,
                                "min_size": min_size, "minhash": PARAMS,
                                "since": since.isoformat() if since else None})
    p = S.posts
    q = select(p.c.id, p.c.text, p.c.account_id, p.c.created_at).where(and_(
        p.c.text.is_not(None), p.c.kind.not_in(SKIP_KINDS), p.c.deleted_at.is_(None)))
    if since is not None:
        q = q.where(p.c.created_at >= since)
    # 1. normalise, group identical normalised texts
    groups: dict[str, list[int]] = {}
    meta: dict[int, tuple[int | None, datetime | None, str]] = {}
    with store.connect() as c:
        for pid, text, acc, created in c.execute(q.order_by(p.c.id)):
            norm = normalize_text(text)
            if len(norm) < min_chars:
                continue
            key = hashlib.md5(norm.encode(), usedforsecurity=False).hexdigest()
            groups.setdefault(key, []).append(pid)
            meta[pid] = (acc, created, text)
            rep.posts_considered += 1
        cached = {r[0]: (r[1], r[2]) for r in c.execute(
            select(M.post_minhash.c.post_id, M.post_minhash.c.text_key,
                   M.post_minhash.c.signature).where(M.post_minhash.c.params == PARAMS))}
    rep.distinct_texts = len(groups)
    # 2. one signature per distinct text (cached per post)
    sigs: dict[str, np.ndarray] = {}
    new_rows: list[dict[str, Any]] = []
    total = len(groups)
    for n, (key, pids) in enumerate(groups.items(), 1):
        hv = None
        for pid in pids:
            got = cached.get(pid)
            if got and got[0] == key:
                hv = np.frombuffer(got[1], dtype="<u4")
                break
        if hv is None:
            hv = np.asarray(minhash_of(normalize_text(meta[pids[0]][2])).hashvalues,
                            dtype="<u4")
            rep.hashed += 1
        sigs[key] = hv
        for pid in pids:
            got = cached.get(pid)
            if not got or got[0] != key:
                new_rows.append({"post_id": pid, "params": PARAMS, "text_key": key,
                                 "signature": hv.tobytes()})
        if progress and n % 1000 == 0:
            progress("minhash", n, total)
    if new_rows:
        with store.begin() as c:
            ids = [r["post_id"] for r in new_rows]
            for s in range(0, len(ids), 900):
                c.execute(M.post_minhash.delete().where(
                    M.post_minhash.c.post_id.in_(ids[s:s + 900])))
            for s in range(0, len(new_rows), 2000):
                c.execute(insert_ignore(c, M.post_minhash), new_rows[s:s + 2000])
    # 3. LSH candidates, verified, union-find over distinct texts
    keys = list(sigs)
    kid = {k: i for i, k in enumerate(keys)}
    # LSH proposes candidates (it needs ≥ 2 bands, so at most 0.95); pairs are verified
    lsh = MinHashLSH(threshold=min(threshold, 0.95), num_perm=NUM_PERM)
    lean = {}
    scheme = _scheme()
    kw = {"scheme": scheme} if scheme else {}
    for k in keys:
        lean[k] = LeanMinHash(seed=SEED, hashvalues=sigs[k].astype(np.uint64), **kw)
        lsh.insert(k, lean[k], check_duplication=False)
    uf = _UF()
    for n, k in enumerate(keys, 1):
        for other in lsh.query(lean[k]):
            if other != k and _jaccard(sigs[k], sigs[other]) >= threshold:
                uf.union(kid[k], kid[other])
        if progress and n % 1000 == 0:
            progress("lsh", n, total)
    comps: dict[int, list[str]] = {}
    for k in keys:
        comps.setdefault(uf.find(kid[k]), []).append(k)
    # 4. store clusters (replace the previous run)
    ts = now()
    clusters: list[tuple[list[int], str]] = []
    for members in comps.values():
        pids = sorted(pid for k in members for pid in groups[k])
        if len(pids) >= min_size:
            clusters.append((pids, members[0]))
    clusters.sort(key=lambda x: -len(x[0]))
    with store.begin() as c:
        c.execute(M.text_cluster_members.delete())
        c.execute(M.text_clusters.delete())
        for pids, _ in clusters:
            def when(pid: int) -> datetime:
                t = meta[pid][1]
                return t if t is not None else datetime.max.replace(tzinfo=ts.tzinfo)

            rep_pid = min(pids, key=lambda x: (when(x), x))
            times = [meta[x][1] for x in pids if meta[x][1] is not None]
            accounts = {meta[x][0] for x in pids if meta[x][0] is not None}
            cid = c.execute(M.text_clusters.insert().values(
                size=len(pids), n_accounts=len(accounts), representative_post_id=rep_pid,
                sample_text=meta[rep_pid][2][:500], first_at=min(times) if times else None,
                last_at=max(times) if times else None, params=rep.params, created_at=ts)
            ).inserted_primary_key[0]
            rkey = hashlib.md5(normalize_text(meta[rep_pid][2]).encode(),
                               usedforsecurity=False).hexdigest()
            rows = []
            for x in pids:
                xkey = hashlib.md5(normalize_text(meta[x][2]).encode(),
                                   usedforsecurity=False).hexdigest()
                rows.append({"cluster_id": cid, "post_id": x,
                             "similarity": round(_jaccard(sigs[rkey], sigs[xkey]), 4)})
            for s in range(0, len(rows), 2000):
                c.execute(M.text_cluster_members.insert(), rows[s:s + 2000])
            rep.clusters += 1
            rep.clustered_posts += len(pids)
            if not rep.largest:
                rep.largest = {"cluster_id": cid, "size": len(pids),
                               "accounts": len(accounts), "sample": meta[rep_pid][2][:160]}
    return rep


def list_clusters(store: Store, *, limit: int = 20, min_accounts: int = 1
                  ) -> list[dict[str, Any]]:
    t = M.text_clusters
    q = (select(t).where(t.c.n_accounts >= min_accounts)
         .order_by(t.c.n_accounts.desc(), t.c.size.desc(), t.c.id).limit(limit))
    with store.connect() as c:
        return [{"cluster": r.id, "size": r.size, "accounts": r.n_accounts,
                 "first_at": r.first_at, "last_at": r.last_at,
                 "representative_post_id": r.representative_post_id,
                 "sample": r.sample_text} for r in c.execute(q)]


def cluster_members(store: Store, cluster_id: int) -> list[dict[str, Any]]:
    m, p, a = M.text_cluster_members, S.posts, S.accounts
    q = (select(m.c.post_id, m.c.similarity, p.c.platform, p.c.platform_id, p.c.created_at,
                p.c.text, a.c.handle, a.c.name, a.c.platform.label("account_platform"),
                a.c.platform_id.label("account_platform_id"))
         .select_from(m.join(p, p.c.id == m.c.post_id).outerjoin(a, a.c.id == p.c.account_id))
         .where(m.c.cluster_id == cluster_id).order_by(p.c.created_at, m.c.post_id))
    with store.connect() as c:
        return [{"post_id": r.post_id, "similarity": r.similarity, "platform": r.platform,
                 "platform_id": r.platform_id, "created_at": r.created_at,
                 "account": r.handle,
                 "account_ref": (account_ref(r.account_platform, r.account_platform_id)
                                 if r.account_platform_id is not None else None),
                 "account_name": r.name,
                 "text": (r.text or "")[:280]} for r in c.execute(q)]
