"""``MediaDetector``: hash ingested media whose files are present, match the hashes
against the banks, store signals, matches and detections (``rasd scan --media``).

URLs are never fetched here (see ``rasd media fetch`` for the opt-in downloader); a
media row without a local file is skipped and counted. A file inside a ZIP archive
(a Telegram export ingested zipped: ``/abs/export.zip!/ChatExport/photos/p.jpg``) is
copied to a temporary file for the decoders and removed once hashed; the photos of
an export in a ``.tar.gz`` are scanned last, in the archive's order (``plan``),
so that a scan decompresses it once, not once a batch or a page. A file that cannot be hashed
(corrupt, truncated, a bomb…) is reported on stderr with its path and the batch goes
on. Signals are kept in ``media_signals`` so that banks imported later can be matched
retroactively without the files: ``rasd scan --media`` does it by itself when the
banks changed since the last match of stored signals (``catch_up``), and ``rasd
match --stored`` does it on request.
"""

from __future__ import annotations

import os
import re
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from rasd.detect.base import Detector, StoredMedia
from rasd.detect.media import schema as M
from rasd.detect.media import signals as sig
from rasd.detect.media.files import Limits
from rasd.detect.media.hasher import hash_path
from rasd.detect.media.matcher import Matcher, detections_for, quality_gate
from rasd.model import Detection
from rasd.store import Store
from rasd.store import schema as S
from rasd.store.db import now
from rasd.store.upsert import insert_ignore
from rasd.terminal import term_safe

VERSION = "media-1"
# meta key: the state of the banks (bank_state) when stored signals were last
# matched against all of them
BANKS_MATCHED_KEY = "media.banks_matched"
MAX_REPORTED_ERRORS = 20


def local_file(path: str | None, stack: ExitStack) -> Path | None:
    """The file a media row's local path names, readable until ``stack``
    closes: a file on disk, or a member of a ZIP archive copied to a temporary
    file (bounded by ``RASD_MEDIA_MAX_FILE_BYTES``). None when there is no
    such file; OSError when an archive or its member cannot be read."""
    from rasd.ingest.archive import SEP, member_file, split_member

    member = split_member(path) if path and SEP in path else None
    if member is None and path and SEP in path and "\\x" in path:  # under a folder
        member = split_member(_name_bytes(path))                  # named in non-UTF-8
    if member is not None:
        return stack.enter_context(member_file(*member, Limits.from_env().max_file_bytes))
    p = resolve_local(path)
    return p if p is not None and p.is_file() else None


def resolve_local(path: str | None) -> Path | None:
    """The file a stored local path names: relative ones under
    ``RASD_MEDIA_ROOT`` (or the working folder). A path stored with bytes of
    its name that are not UTF-8 written ``\\xNN`` (``path_text``: an export
    folder from a Windows or legacy archive) names the file with those bytes
    where no file has the written name."""
    if not path:
        return None
    p = _rooted(path)
    if "\\x" in path and not p.exists():
        raw = _rooted(_name_bytes(path))
        if raw.exists():
            return raw
    return p


def _rooted(path: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_absolute():
        root = os.environ.get("RASD_MEDIA_ROOT")
        p = (Path(root) / p) if root else p.resolve()
    return p


# a byte of a file name that was not UTF-8, as path_text writes it (0x80-0xff)
_NAME_BYTE = re.compile(r"\\x([89a-fA-F][0-9a-fA-F])")


def _name_bytes(path: str) -> str:
    """A stored path with its ``\\xNN`` back as the bytes they stand for (as
    Python names them: surrogate escapes)."""
    return _NAME_BYTE.sub(lambda m: chr(0xDC00 + int(m.group(1), 16)), path)


def save_signals(store: Store, media_id: int, signals: dict[str, sig.SignalValue]) -> None:
    ts = now()
    rows = []
    for t, v in signals.items():
        st = sig.get(t)
        rows.append({"media_id": media_id, "signal_type": t, "signal": v.value,
                     "quality": v.quality, "signal_key": st.key(v.value), "computed_at": ts})
    with store.begin() as c:
        c.execute(M.media_signals.delete().where(M.media_signals.c.media_id == media_id))
        if rows:
            c.execute(insert_ignore(c, M.media_signals), rows)


def stored_signals(store: Store, media_ids: Sequence[int]
                   ) -> dict[int, dict[str, sig.SignalValue]]:
    """The stored signals of media, with their quality (for ``quality_gate``)."""
    out: dict[int, dict[str, sig.SignalValue]] = {}
    ms = M.media_signals
    with store.connect() as c:
        for start in range(0, len(media_ids), 900):
            for mid, t, v, q in c.execute(
                    select(ms.c.media_id, ms.c.signal_type, ms.c.signal, ms.c.quality).where(
                        ms.c.media_id.in_(list(media_ids[start:start + 900])))):
                out.setdefault(mid, {})[t] = sig.SignalValue(v, q)
    return out


class MediaDetector(Detector):
    name = "media"
    subject_type = "media"
    batch_size = 64

    def __init__(self, matcher: Matcher | None = None):
        self.store: Store | None = None
        self.matcher = matcher
        self.stats: dict[str, Any] = {"hashed": 0, "missing": 0, "errors": 0, "matched": 0,
                                      "suppressed": 0, "quarantined": 0}
        self.errors: list[str] = []
        # while ``plan`` is being read (a scan): the batches ``detect`` gets are
        # cut from its runs, in the order to read them already
        self._planned = False

    @property
    def version(self) -> str:
        # read first by `rasd scan` to set a detector up: a RASD_MEDIA_* limit
        # that is no number is said there (ValueError), not met at the first file
        from rasd.detect.media.signals.vpdq import seconds_per_hash_default

        Limits.from_env()
        seconds_per_hash_default()
        return VERSION

    def bind(self, store: Store) -> None:
        self.store = store
        if self.matcher is None or self.matcher.store is not store:
            self.matcher = Matcher(store)
        else:
            self.matcher.refresh()

    def catch_up(self, store: Store) -> dict[str, int] | None:
        """Media hashed before the banks last changed (an import, a tombstone,
        a bank enabled, disabled or deleted) are matched again from their
        stored signals, once per change; None when the banks are as they
        were at the last match."""
        if banks_matched(store) == bank_state(store):
            return None
        res = rematch_stored(store, matcher=self.matcher)
        return res if res["media"] else None

    def plan(self, pages: Iterable[list[int]]) -> Iterator[list[int]]:
        """Media ids in the order to scan them: each page's media outside tar
        archives at once (in id order), the members of tar archives held back
        (8 bytes a medium) and yielded after every page, archive by archive,
        each in its order (``_in_archive_order``). ``scan`` cuts its batches
        from what this yields, so a .tar.gz export is read in one pass
        whatever its number of photos: put in order a page (``scan.PAGE``,
        20,000) at a time, an export of 45,000 photos was decompressed once a
        page, 3 times after its listing. The archives are not opened while
        the pages are read (each is listed once, when its turn comes: three
        exports listed on every page drove one another out of the archives
        kept open, ``archive._OPEN_MAX``). More than ``PLAN_MAX`` held back (a
        store of several exports of 100,000 photos, an archive's most,
        ``archive.MAX_MEMBERS``) are scanned then, and the archives read again
        for the rest: memory stays bounded. While it is read, ``detect`` takes
        its batches in the order they come (``scan`` cuts them from these runs,
        and ``load_subjects`` keeps their order), not sorted again."""
        self._planned = True
        try:
            yield from self._runs(pages)
        finally:
            self._planned = False

    def _runs(self, pages: Iterable[list[int]]) -> Iterator[list[int]]:
        """``plan``'s runs of ids."""
        from rasd.detect import scan as scan_mod
        from rasd.ingest.archive import TarArchive, split_member

        # runs of whole batches, about a page each (a list of a page's ids at a time)
        run = self.batch_size * max(1, scan_mod.PAGE // self.batch_size)
        held: dict[str, array[int]] = {}  # media ids by tar archive
        count = 0
        for page in pages:
            paths = self._archive_paths(page)
            now = []
            for i in page:
                member = split_member(paths[i]) if i in paths else None
                if member is not None and TarArchive.claims(member[0]):
                    held.setdefault(str(member[0]), array("q")).append(i)
                    count += 1
                else:
                    now.append(i)
            if now:
                yield now
            if count >= PLAN_MAX:
                for ids in held.values():
                    yield from self._in_archive_order(ids, run)
                held, count = {}, 0
        for ids in held.values():
            yield from self._in_archive_order(ids, run)

    def _in_archive_order(self, ids: array[int], run: int) -> Iterator[list[int]]:
        """The media ``ids`` of one tar archive in its order, ``run`` at a time:
        by the offset of their member in a compressed one (``reading_keys``:
        the archive is opened, and listed if it is not open yet), those it
        does not hold first (found missing at once), and in id order in a
        plain one (read from any place). Memory: 16 bytes a medium."""
        import numpy as np

        from rasd.ingest.archive import reading_keys

        offsets = array("q")
        for start in range(0, len(ids), 900):
            chunk = ids[start:start + 900].tolist()
            paths = self._archive_paths(chunk)
            offsets.extend(-1 if k is None else k[1]
                           for k in reading_keys([paths.get(i) for i in chunk]))
        cols = [np.frombuffer(a, dtype=np.int64) for a in (ids, offsets)]
        ordered = cols[0][np.lexsort(cols)]  # by offset, then id
        for start in range(0, len(ordered), run):
            yield ordered[start:start + run].tolist()

    def _archive_paths(self, ids: list[int]) -> dict[int, str]:
        """The local paths of those of ``ids`` that name a member of an archive."""
        from rasd.ingest.archive import SEP

        if self.store is None:
            raise RuntimeError("MediaDetector.bind(store) must be called first")
        paths: dict[int, str] = {}
        m = S.media
        with self.store.connect() as c:
            for start in range(0, len(ids), 900):
                paths.update(c.execute(select(m.c.id, m.c.local_path).where(
                    m.c.id.in_(ids[start:start + 900]), m.c.local_path.contains(SEP))).all())
        return paths

    def _error(self, msg: str) -> None:
        self.stats["errors"] += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(msg)
            print(term_safe(f"rasd: media: {msg}"), file=sys.stderr)

    def detect(self, subjects: Sequence[StoredMedia]) -> list[Detection]:
        if self.store is None or self.matcher is None:
            raise RuntimeError("MediaDetector.bind(store) must be called first")
        from rasd.ingest.archive import reading_order

        out: list[Detection] = []
        # members of a .tar.gz in its order: one pass over it, not one a photo;
        # a scan's batches come so (``plan``: ~5-9 ms a batch of 64 not spent
        # keying them again), a batch given directly is put so here
        order = (range(len(subjects)) if self._planned
                 else reading_order([s.local_path for s in subjects]))
        for m in (subjects[i] for i in order):
            with ExitStack() as stack:
                try:
                    p = local_file(m.local_path, stack)
                except FileNotFoundError:
                    p = None
                except OSError as e:
                    self._error(f"media #{m.id}: {e}")
                    continue
                if p is None:
                    self.stats["missing"] += 1
                    continue
                fh = hash_path(p)
            for k, v in fh.errors.items():
                self._error(f"media #{m.id} {m.local_path}: {k}: {v}")
            if not fh.signals:
                continue
            self.stats["hashed"] += 1
            save_signals(self.store, m.id, fh.signals)
            out.extend(self.match_one(m.id, quality_gate(fh.signals)[0], m.post_ids))
        return out

    def match_one(self, media_id: int, signals: dict[str, str],
                  post_ids: list[int] | None = None) -> list[Detection]:
        assert self.matcher is not None
        hits = self.matcher.decide(self.matcher.lookup_all(signals), media_id=media_id)
        self.matcher.record(hits, media_id=media_id)
        for h in hits:
            if h.outcome == "reported":
                self.stats["matched"] += 1
            elif h.outcome in ("suppressed", "quarantined"):
                self.stats[h.outcome] += 1
        return detections_for(media_id, hits, self.name, self.version, post_ids)


PLAN_MAX = 1_000_000  # media held back for their archive's order (MediaDetector.plan): 8 MB


def bank_state(store: Store) -> str:
    """A digest of everything matching depends on in the banks: each bank's
    settings and labels, the signals' count, newest id and newest change, and
    the counters of signals inserted, deleted or changed, and tombstoned, that
    triggers keep (``bank_signal_generations``: a value changed or a deletion
    and an insertion by SQL, which leave the others as they were, change them)."""
    import hashlib

    b, sg, g = M.hash_banks, M.bank_signals, M.bank_signal_generations
    with store.connect() as c:
        banks = c.execute(select(b.c.id, b.c.enabled, b.c.negative, b.c.pdq_threshold,
                                 b.c.labels, b.c.updated_at).order_by(b.c.id)).all()
        sigs = c.execute(select(func.count(), func.max(sg.c.id), func.max(sg.c.updated_at))
                         ).one()
        gens = c.execute(select(g.c.signal_type, g.c.inserted, g.c.changed, g.c.tombstoned)
                         .order_by(g.c.signal_type)).all()
    return hashlib.sha256(repr(([tuple(r) for r in banks], tuple(sigs),
                                [tuple(r) for r in gens])).encode()).hexdigest()


def banks_matched(store: Store) -> str | None:
    """``bank_state`` when stored signals were last matched against the banks."""
    with store.connect() as c:
        return c.execute(select(S.meta.c.value).where(S.meta.c.key == BANKS_MATCHED_KEY)
                         ).scalar()


def _record_banks_matched(store: Store, state: str) -> None:
    m = S.meta
    with store.begin() as c:
        c.execute(m.delete().where(m.c.key == BANKS_MATCHED_KEY))
        c.execute(m.insert().values(key=BANKS_MATCHED_KEY, value=state))


def rematch_stored(store: Store, *, matcher: Matcher | None = None,
                   media_ids: Sequence[int] | None = None) -> dict[str, int]:
    """Match the stored signals of already-hashed media against the current banks
    (retroactive matching after a bank import), replacing their media detections.
    With every hashed media (``media_ids`` None), records the banks' state as
    matched (``catch_up`` then has nothing to do until they change again)."""
    from rasd.detect.scan import store_detections

    state = bank_state(store)  # before: a change made meanwhile is caught next time
    det = MediaDetector(matcher)
    det.bind(store)
    everything = media_ids is None
    if media_ids is None:
        with store.connect() as c:
            media_ids = [r[0] for r in c.execute(
                select(M.media_signals.c.media_id).distinct().order_by(
                    M.media_signals.c.media_id))]
    done = 0
    found = 0
    for start in range(0, len(media_ids), 256):
        chunk = list(media_ids[start:start + 256])
        sigs = stored_signals(store, chunk)
        posts: dict[int, list[int]] = {}
        with store.connect() as c:
            for mid, pid in c.execute(select(S.post_media.c.media_id, S.post_media.c.post_id)
                                      .where(S.post_media.c.media_id.in_(chunk))):
                posts.setdefault(mid, []).append(pid)
        dets: list[Detection] = []
        for mid in chunk:
            if mid in sigs:
                dets.extend(det.match_one(mid, quality_gate(sigs[mid])[0], posts.get(mid)))
        found += store_detections(store, det, chunk, dets)
        done += len(chunk)
    if everything:
        _record_banks_matched(store, state)
    return {"media": done, "detections": found, **{k: v for k, v in det.stats.items()
                                                   if k in ("matched", "suppressed",
                                                            "quarantined")}}
