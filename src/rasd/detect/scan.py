"""``rasd scan``: run detectors over stored subjects not yet scanned.

Idempotent: a subject whose latest scan by the detector was by this version
is skipped unless ``rescan`` is set (a new version scans again, and so does
going back to an earlier one); results of a rescan replace that version's
previous detections for the subject, older versions' stay as history. Each batch commits on its own, so a crash loses at
most the batch in flight and a re-run picks up where it stopped. The subjects
to scan are read a page of ids at a time: memory does not grow with the store;
the detector says in which order to scan them (``Detector.plan``: the media
detector holds back the photos of a .tar.gz, to read them last in the
archive's order, in one pass over it whatever their number), and its runs of
ids are cut into batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, select

from rasd.detect.base import Detector, StoredAccount, StoredMedia, StoredPost
from rasd.model import Detection, attached_text
from rasd.plugins import load_group
from rasd.store import Store
from rasd.store import schema as S
from rasd.store.db import current_detection, now
from rasd.store.upsert import insert_ignore


def available_detectors() -> dict[str, type[Detector]]:
    return {name: cls for name, cls in load_group("rasd.detectors")}


@dataclass
class ScanResult:
    detector: str
    version: str
    scanned: int = 0
    detections: int = 0
    by_label: dict[str, int] = field(default_factory=dict)
    caught_up: dict[str, int] | None = None  # Detector.catch_up's summary


PAGE = 20_000  # pending ids read at a time: memory stays bounded on stores of any size


def _pending_query(det: Detector, *, rescan: bool, since: datetime | None) -> Any:
    st = det.subject_type
    table = {"post": S.posts, "media": S.media, "account": S.accounts}[st]
    q = select(table.c.id)
    if not rescan:
        # done: scanned by this version, and no other version scanned it since
        # (going back to an earlier model scans again: what it said before is
        # no longer what the subject's detections say)
        mine = S.scans.alias("mine")
        done = exists().where(and_(
            mine.c.subject_type == st, mine.c.subject_id == table.c.id,
            mine.c.detector == det.name, mine.c.model_version == det.version,
            current_detection(mine, mine.c.scanned_at)))
        q = q.where(~done)
    if since is not None:
        col = table.c.created_at if st == "post" else table.c.first_seen
        q = q.where(col >= since)
    return q, table


def _pending(store: Store, det: Detector, *, rescan: bool, since: datetime | None,
             limit: int | None) -> Iterator[list[int]]:
    """The ids to scan, in id order, a page at a time (keyset: each page starts
    after the last id of the one before, so what the scan marks meanwhile
    changes nothing ahead of it)."""
    q, table = _pending_query(det, rescan=rescan, since=since)
    last, left = 0, limit
    while left is None or left > 0:
        n = PAGE if left is None else min(PAGE, left)
        with store.connect() as c:
            ids = [r[0] for r in c.execute(
                q.where(table.c.id > last).order_by(table.c.id).limit(n))]
        if not ids:
            return
        last, got = ids[-1], len(ids)  # before: what the page is given to may reorder it
        yield ids
        if left is not None:
            left -= got
        if got < n:
            return


def _count_pending(store: Store, det: Detector, *, rescan: bool, since: datetime | None,
                   limit: int | None) -> int:
    q, _ = _pending_query(det, rescan=rescan, since=since)
    with store.connect() as c:
        n = int(c.execute(select(func.count()).select_from(q.subquery())).scalar_one())
    return n if limit is None else min(n, limit)


def load_subjects(store: Store, subject_type: str, ids: Sequence[int]) -> list[Any]:
    """Fetch subjects in the shape detectors see them, in the order of ``ids``."""
    with store.connect() as c:
        if subject_type == "post":
            a = S.accounts
            q = (select(S.posts.c.id, S.posts.c.platform, S.posts.c.platform_id, S.posts.c.text,
                        S.posts.c.lang, S.posts.c.kind, S.posts.c.created_at,
                        S.posts.c.account_id, a.c.handle, a.c.name, a.c.bio, a.c.kind,
                        a.c.role, S.posts.c.extra)
                 .select_from(S.posts.outerjoin(a, S.posts.c.account_id == a.c.id))
                 .where(S.posts.c.id.in_(ids)))
            rows = {r[0]: StoredPost(*r[:13], extra=r[13] or {}) for r in c.execute(q)}
            for sp in rows.values():  # a poll's or contact card's words are the post's too
                words = attached_text(sp.extra)
                if words:
                    sp.text = f"{sp.text}\n\n{words}" if sp.text else words
            for pid, url in c.execute(select(S.urls.c.post_id, S.urls.c.url)
                                      .where(S.urls.c.post_id.in_(ids))):
                rows[pid].urls.append(url)
        elif subject_type == "media":
            q = select(S.media.c.id, S.media.c.platform, S.media.c.media_key, S.media.c.type,
                       S.media.c.url, S.media.c.local_path, S.media.c.mime_type
                       ).where(S.media.c.id.in_(ids))
            rows = {r[0]: StoredMedia(*r) for r in c.execute(q)}
            for mid, pid in c.execute(select(S.post_media.c.media_id, S.post_media.c.post_id)
                                      .where(S.post_media.c.media_id.in_(ids))):
                rows[mid].post_ids.append(pid)
        elif subject_type == "account":
            a = S.accounts
            q = select(a.c.id, a.c.platform, a.c.platform_id, a.c.handle, a.c.name, a.c.bio,
                       a.c.kind).where(a.c.id.in_(ids))
            rows = {r[0]: StoredAccount(*r) for r in c.execute(q)}
        else:
            raise ValueError(f"unknown subject type {subject_type!r}")
    return [rows[i] for i in ids if i in rows]


def store_detections(store: Store, det: Detector, ids: Sequence[int],
                     found: Iterable[Detection]) -> int:
    """Replace this version's detections for ``ids`` and mark them scanned
    now (a rescan moves the time: which version scanned a subject last decides
    which detections are current, ``store.db.current_detection``)."""
    found = list(found)
    ts = now()
    with store.begin() as c:
        for t in (S.detections, S.scans):
            c.execute(delete(t).where(and_(
                t.c.subject_type == det.subject_type, t.c.subject_id.in_(ids),
                t.c.detector == det.name, t.c.model_version == det.version)))
        if found:
            c.execute(insert_ignore(c, S.detections), [
                {"subject_type": d.subject_type, "subject_id": d.subject_id,
                 "detector": d.detector, "label": d.label, "score": float(d.score),
                 "model_version": d.model_version, "explanation": d.explanation,
                 "attributes": d.attributes, "created_at": ts} for d in found])
        c.execute(insert_ignore(c, S.scans), [
            {"subject_type": det.subject_type, "subject_id": i, "detector": det.name,
             "model_version": det.version, "scanned_at": ts} for i in ids])
    return len(found)


def scan(store: Store, detectors: Sequence[Detector], *, rescan: bool = False,
         since: datetime | None = None, limit: int | None = None,
         progress: Callable[[str, int, int], None] | None = None) -> list[ScanResult]:
    results = []
    for det in detectors:
        det.bind(store)
        caught_up = det.catch_up(store)
        total = _count_pending(store, det, rescan=rescan, since=since,
                               limit=limit) if progress else 0
        res = ScanResult(det.name, det.version, caught_up=caught_up)
        for ids in det.plan(_pending(store, det, rescan=rescan, since=since, limit=limit)):
            for start in range(0, len(ids), det.batch_size):
                chunk = ids[start:start + det.batch_size]
                subjects = load_subjects(store, det.subject_type, chunk)
                found = det.detect(subjects)
                res.detections += store_detections(store, det, chunk, found)
                for d in found:
                    res.by_label[d.label] = res.by_label.get(d.label, 0) + 1
                res.scanned += len(chunk)
                if progress:
                    progress(det.name, res.scanned, max(total, res.scanned))
        results.append(res)
    return results
