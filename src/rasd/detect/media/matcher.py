"""Match signals against the banks, then apply the bank rules.

1. **Lookup**: each signal type is served by its index kind (``exact`` → SQL on the
   normalised value; ``pdq`` → faiss radius search; ``vpdq`` → candidate videos from
   a faiss index of their frames, then the exact vPDQ match percentages; ``linear`` →
   a scan of the bank for the signals within the type's threshold, ``SignalType.near``,
   over the bank prepared once — ``LinearBank``, brought up to date after
   ``Matcher.refresh`` by preparing only the signals added since, where nothing
   was deleted or changed).
   A hit counts when its distance is within the bank's threshold (PDQ: the
   bank's ``pdq_threshold`` or 31) and its bank is enabled; disabled and tombstoned
   signals never hit.
2. **Rules** (``decide``): a hit in a *negative* bank suppresses every positive hit on
   the same item (a known false positive); a hit on a quarantined signal is recorded
   but not reported; **flood quarantine** — a signal that would be reported for more
   than ``flood_max`` distinct items within ``flood_window`` seconds is paused
   (status ``quarantined``) and queued for review (``signal_reviews``) instead of
   flooding the queue with what is usually a too-generic hash (a logo, a blank frame).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, select, update

from rasd.detect.media import schema as M
from rasd.detect.media import signals as sig
from rasd.detect.media.index import (
    VPDQ_FRAME_BITS,
    Generation,
    IndexManager,
    dead_if_addable,
    generations,
    hex_to_codes,
    snapshot,
)
from rasd.envvars import env_int
from rasd.model import Detection
from rasd.store import Store
from rasd.store.db import now

FLOOD_MAX = env_int("RASD_FLOOD_MAX", 50, 1, 2**62)
FLOOD_WINDOW_S = env_int("RASD_FLOOD_WINDOW_S", 86400, 1, 100 * 365 * 86400)
# a linear-scan bank is held in at most this many prepared parts (the bank as
# prepared whole, then the signals each refresh added): past it, the added ones
# are prepared again as one part
MAX_PARTS = 8


def quality_gate(signals: Mapping[str, sig.SignalValue]
                 ) -> tuple[dict[str, str], dict[str, str]]:
    """(values worth matching, why the others are not) of one item's signals: a
    signal below its type's ``min_quality`` (PDQ < 50: a flat image, whose all-zero
    hash every flat image shares) would match noise, so it is not looked up; nor is
    one its type calls ``unusable`` (a video without a frame of quality ≥ 50)."""
    reg = sig.registry()
    values: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for t, v in signals.items():
        st = reg.get(t)
        low = st.min_quality if st is not None else None
        if low is not None and v.quality is not None and v.quality < low:
            skipped[t] = f"quality {v.quality} below {low}"
        elif st is not None and (why := _unusable(st, v.value)):
            skipped[t] = why
        else:
            values[t] = v.value
    return values, skipped


def _unusable(st: sig.SignalType, value: str) -> str | None:
    try:
        return st.unusable(value)
    except ValueError:  # a stored value that no longer parses: the lookup says so
        return None


@dataclass
class Hit:
    signal_id: int
    bank_id: int
    bank: str
    signal_type: str
    distance: float
    threshold: float
    labels: dict[str, Any]
    negative: bool
    status: str
    outcome: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        if self.signal_type == "vpdq":
            return max(0.0, min(1.0, (100.0 - self.distance) / 100.0))
        if self.threshold <= 0:
            return 1.0 if self.distance <= 0 else 0.5
        return max(0.5, 1.0 - 0.5 * self.distance / (self.threshold + 1))

    @property
    def frame_match(self) -> bool:
        """Whether the hit was measured as shares of matching frames (vPDQ), whose
        ``distance`` is only 100 − the query's share."""
        return "query_match_pct" in self.detail

    def measured(self) -> str:
        """What the match measured, as people read it: vPDQ's frame match percentages
        (``query_match=96% compared_match=83.3%``), else ``distance=N``."""
        if self.frame_match:
            return (f"query_match={self.detail['query_match_pct']:g}% "
                    f"compared_match={self.detail['compared_match_pct']:g}%")
        return f"distance={self.distance:g}"

    def as_dict(self) -> dict[str, Any]:
        d = {"bank": self.bank, "signal_id": self.signal_id, "signal_type": self.signal_type,
             "distance": self.distance, "threshold": self.threshold, "labels": self.labels,
             "negative": self.negative, "outcome": self.outcome}
        if self.detail:
            d.update(self.detail)
        if self.frame_match:  # the rule the percentages were held to
            d["min_query_match_pct"] = round(100.0 - self.threshold, 1)
        return d


@dataclass
class LinearBank:
    """A linear-scan type's bank as ``SignalType.near`` scans it: the signals that
    are not tombstoned, prepared (``SignalType.prepare``) in parts — the bank as
    read whole, then the signals added since, each part with their ids — and what
    the store held when it was read: the type's counters (``index.generations``)
    and its highest signal id (of any status)."""

    generation: Generation
    max_id: int
    parts: list[tuple[list[int], Any]]  # (ids, prepared)
    tail: tuple[list[int], list[str]]  # the added signals (ids, values), once more
    signals: int  # entries in all parts
    dead: int = 0  # entries tombstoned since they were read


class Matcher:
    def __init__(self, store: Store, *, flood_max: int | None = None,
                 flood_window_s: int | None = None, indexes: IndexManager | None = None):
        self.store = store
        self.flood_max = FLOOD_MAX if flood_max is None else flood_max
        self.flood_window = timedelta(seconds=FLOOD_WINDOW_S if flood_window_s is None
                                      else flood_window_s)
        self.indexes = indexes or IndexManager(store)
        self._linear: dict[str, LinearBank] = {}
        self._fresh: set[str] = set()
        # how the last linear bank update went, by type: "full", "added", "kept"
        self.linear_updates: dict[str, str] = {}

    def refresh(self) -> None:
        """Pick up bank changes made since the last lookup, at each type's next
        lookup: the PDQ and vPDQ indexes are brought up to date (``IndexManager``);
        a linear-scan bank prepares only the signals added since it was read, and
        is read and prepared again whole only where a signal was deleted or
        changed (the counters that triggers keep, ``index.generations``) or more
        than ``DEAD_FRACTION`` of it was tombstoned since."""
        self._fresh.clear()

    def _linear_bank(self, st: sig.SignalType) -> LinearBank:
        """The prepared bank of linear-scan type ``st``, current as of the last
        ``refresh`` (or the first lookup)."""
        bank = self._linear.get(st.name)
        if bank is not None and st.name in self._fresh:
            return bank
        with snapshot(self.store) as c:  # counters and rows of one moment
            gen = generations(c, st.name)
            dead = None if bank is None else dead_if_addable(
                c, st.name, gen, bank.generation, bank.max_id, bank.dead, bank.signals)
            if bank is None or dead is None:
                bank = self._read_linear(c, st, gen, 0, None)
                self.linear_updates[st.name] = "full"
            elif gen.inserted != bank.generation.inserted:  # rows added since
                bank = self._read_linear(c, st, gen, bank.max_id, bank)
                bank.dead = dead
                self.linear_updates[st.name] = "added"
            else:
                self.linear_updates[st.name] = "kept"
        self._linear[st.name] = bank
        self._fresh.add(st.name)
        return bank

    @staticmethod
    def _read_linear(c: Any, st: sig.SignalType, gen: Generation, after_id: int,
                     bank: LinearBank | None) -> LinearBank:
        """``bank`` with the signals of ``st`` above ``after_id`` added, read in the
        snapshot ``c`` whose counters are ``gen``; the whole bank where ``bank`` is
        None. Only the added signals are prepared, as a part of their own; past
        ``MAX_PARTS`` parts, all the added ones are prepared again as one (the
        whole bank, where they outnumber the signals it was read with)."""
        bs = M.bank_signals
        mine = and_(bs.c.signal_type == st.name, bs.c.id > after_id)
        live = c.execute(select(bs.c.id, bs.c.signal).where(
            and_(mine, bs.c.status != "tombstoned")).order_by(bs.c.id)).all()
        max_id = int(c.execute(select(func.max(bs.c.id)).where(mine)).scalar() or after_id)
        ids, values = [r[0] for r in live], [r[1] for r in live]
        if bank is None:
            return LinearBank(gen, max_id, [(ids, st.prepare(values))], ([], []), len(ids))
        parts = list(bank.parts)
        tail_ids, tail_values = bank.tail[0] + ids, bank.tail[1] + values
        if len(parts) >= MAX_PARTS:
            if len(tail_ids) > len(parts[0][0]):  # the bank grew past twice its size
                return Matcher._read_linear(c, st, gen, 0, None)
            parts = [parts[0], (tail_ids, st.prepare(tail_values))]
        else:
            parts.append((ids, st.prepare(values)))
        return LinearBank(gen, max_id, parts, (tail_ids, tail_values),
                          bank.signals + len(ids), bank.dead)

    # --- lookup -----------------------------------------------------------------
    def _rows(self, ids: list[int]) -> dict[int, Any]:
        if not ids:
            return {}
        bs, hb = M.bank_signals, M.hash_banks
        q = (select(bs.c.id, bs.c.bank_id, bs.c.signal_type, bs.c.signal, bs.c.labels,
                    bs.c.status, hb.c.name, hb.c.labels.label("bank_labels"), hb.c.negative,
                    hb.c.enabled, hb.c.pdq_threshold)
             .select_from(bs.join(hb, hb.c.id == bs.c.bank_id)))
        out: dict[int, Any] = {}
        with self.store.connect() as c:
            for start in range(0, len(ids), 900):
                for r in c.execute(q.where(bs.c.id.in_(ids[start:start + 900]))):
                    out[r.id] = r
        return out

    def _hit(self, row: Any, distance: float, st: sig.SignalType,
             detail: dict[str, Any] | None = None) -> Hit | None:
        if not row.enabled or row.status not in ("active", "quarantined"):
            return None
        thr = float(st.default_threshold)
        if st.name == "pdq" and row.pdq_threshold is not None:
            thr = float(row.pdq_threshold)
        if distance > thr:
            return None
        labels = {**(row.bank_labels or {}), **(row.labels or {})}
        return Hit(row.id, row.bank_id, row.name, st.name, float(distance), thr, labels,
                   bool(row.negative), row.status, detail=detail or {})

    def _max_pdq_threshold(self) -> int:
        with self.store.connect() as c:
            m = c.execute(select(func.max(M.hash_banks.c.pdq_threshold)).where(
                M.hash_banks.c.enabled.is_(True))).scalar()
        return max(31, int(m or 0))

    def _index(self, signal_type: str):
        if signal_type not in self._fresh:
            self._fresh.add(signal_type)
            return self.indexes.get(signal_type)
        return self.indexes._cache.get(signal_type) or self.indexes.get(signal_type)

    def _pdq_hits(self, st: sig.SignalType, value: str, *, retry: bool = True) -> list[Hit]:
        """PDQ hits from the faiss index, each checked against the stored hash: the
        distance is the one to the signal the id names now. An entry that disagrees
        means the index is not this store's (a copy's, a stale one): it is dropped,
        the index rebuilt and the search run once more."""
        idx = self._index(st.name)
        ids, dists = idx.search(hex_to_codes([value]), self._max_pdq_threshold())[0]
        rows = self._rows([int(i) for i in ids])
        hits: list[Hit] = []
        for i, d in zip(ids, dists, strict=True):
            row = rows.get(int(i))
            stored = float(st.distance(value, row.signal)) if row is not None else None
            if stored != float(d):
                if retry:
                    self.indexes.invalidate(st.name)
                    self._fresh.discard(st.name)
                    return self._pdq_hits(st, value, retry=False)
                continue
            if (h := self._hit(row, stored, st)) is not None:
                hits.append(h)
        return hits

    def lookup(self, signal_type: str, value: str) -> list[Hit]:
        st = sig.get(signal_type)
        kind = st.index_kind
        hits: list[Hit] = []
        if kind == "exact":
            bs = M.bank_signals
            key = st.key(value)
            with self.store.connect() as c:
                ids = [r[0] for r in c.execute(select(bs.c.id).where(and_(
                    bs.c.signal_type == st.name, bs.c.signal_key == key)))]
            for row in self._rows(ids).values():
                if (h := self._hit(row, 0.0, st)) is not None:
                    hits.append(h)
        elif kind == "pdq":
            hits = self._pdq_hits(st, value)
        elif kind == "vpdq":
            from rasd.detect.media.signals.vpdq import (
                FRAME_DISTANCE,
                match_percent,
                parse,
                usable_unique,
            )

            frames = st.parsed(value)  # parsed once: quality_gate read it just now
            uniq = usable_unique(frames)
            if not uniq:
                return []
            idx = self._index(st.name)
            res = idx.search(hex_to_codes(uniq), FRAME_DISTANCE)
            cand = sorted({int(i) >> VPDQ_FRAME_BITS for ids, _ in res for i in ids})
            rows = self._rows(cand)
            for sid, row in rows.items():  # percentages from the stored signal
                qp, cp = match_percent(frames, parse(row.signal))
                h = self._hit(row, 100.0 - qp, st, {"query_match_pct": round(qp, 1),
                                                     "compared_match_pct": round(cp, 1)})
                if h is not None:
                    hits.append(h)
        else:  # linear scan
            limit = max(st.default_threshold, 0)
            near = [(ids[i], d) for ids, prepared in self._linear_bank(st).parts
                    for i, d in st.near(value, prepared, limit)]
            rows = self._rows([s for s, _ in near])
            for sid, d in near:
                if (row := rows.get(sid)) is not None and (h := self._hit(row, d, st)):
                    hits.append(h)
        hits.sort(key=lambda h: (h.distance, h.signal_id))
        return hits

    def lookup_all(self, signals: dict[str, str]) -> list[Hit]:
        out: list[Hit] = []
        reg = sig.registry()
        for t, v in signals.items():
            if t in reg:
                out.extend(self.lookup(t, v))
        return out

    # --- rules --------------------------------------------------------------------
    def decide(self, hits: list[Hit], media_id: int | None = None) -> list[Hit]:
        """Set each hit's outcome; with ``media_id`` also apply flood quarantine."""
        negative = any(h.negative and h.status == "active" for h in hits)
        for h in hits:
            if h.negative:
                h.outcome = "negative"
            elif negative:
                h.outcome = "suppressed"
            elif h.status == "quarantined":
                h.outcome = "quarantined"
            else:
                h.outcome = "reported"
        if media_id is not None and self.flood_max > 0:
            for h in hits:
                if h.outcome == "reported" and self._flooding(h.signal_id, media_id):
                    self._quarantine(h.signal_id,
                                     f"matched more than {self.flood_max} distinct items within "
                                     f"{int(self.flood_window.total_seconds())} s")
                    h.outcome = "quarantined"
                    h.status = "quarantined"
        return hits

    def _flooding(self, signal_id: int, media_id: int) -> bool:
        hm = M.hash_matches
        since = now() - self.flood_window
        with self.store.connect() as c:
            n = c.execute(select(func.count(func.distinct(hm.c.media_id))).where(and_(
                hm.c.signal_id == signal_id, hm.c.outcome == "reported",
                hm.c.matched_at >= since, hm.c.media_id != media_id))).scalar_one()
        return int(n) >= self.flood_max

    def _quarantine(self, signal_id: int, reason: str) -> None:
        ts = now()
        with self.store.begin() as c:
            c.execute(update(M.bank_signals).where(M.bank_signals.c.id == signal_id)
                      .values(status="quarantined", updated_at=ts))
            c.execute(M.signal_reviews.insert().values(signal_id=signal_id, reason=reason,
                                                       opened_at=ts))

    def record(self, hits: list[Hit], *, media_id: int | None = None,
               subject: str | None = None) -> None:
        if not hits and media_id is None:
            return
        ts = now()
        with self.store.begin() as c:
            if media_id is not None:  # a rescan replaces the item's previous matches
                c.execute(M.hash_matches.delete().where(M.hash_matches.c.media_id == media_id))
            if not hits:
                return
            c.execute(M.hash_matches.insert(), [
                {"media_id": media_id, "subject": subject, "signal_id": h.signal_id,
                 "bank_id": h.bank_id, "signal_type": h.signal_type, "distance": h.distance,
                 "outcome": h.outcome, "matched_at": ts} for h in hits])


def _policy(hit: Hit) -> str:
    """The detection label of a hit: its policy label (``known_content`` when none),
    as the policy spells it; a label stored before imports checked them
    (``Incitement``) is normalised, one the policy does not know is kept as it is."""
    from rasd.detect.media.banks import BankError, policy_label

    raw = hit.labels.get("policy")
    if not raw:
        return "known_content"
    try:
        return policy_label(str(raw))
    except BankError:
        return str(raw)


def detections_for(media_id: int, hits: list[Hit], detector: str, version: str,
                   post_ids: list[int] | None = None) -> list[Detection]:
    """One detection per policy label from the reported hits of one media item
    (``post_ids``: the posts that carry the item, so the queue can show them)."""
    by_label: dict[str, list[Hit]] = {}
    for h in hits:
        if h.outcome != "reported":
            continue
        label = _policy(h)
        by_label.setdefault(label, []).append(h)
    out = []
    for label, hs in by_label.items():
        best = max(hs, key=lambda h: h.score)
        attrs: dict[str, Any] = {"banks": sorted({h.bank for h in hs}),
                                 "signal_types": sorted({h.signal_type for h in hs}),
                                 "best_distance": best.distance,
                                 "signal_ids": sorted({h.signal_id for h in hs})}
        if post_ids:
            attrs["post_ids"] = sorted(post_ids)[:1000]
        for k in ("entity", "content", "severity", "ideology"):
            vals = sorted({str(h.labels[k]) for h in hs if h.labels.get(k)})
            if vals:
                attrs[k] = vals[0] if len(vals) == 1 else vals
        expl = [f"{h.signal_type} match in bank {h.bank!r} (signal #{h.signal_id}): "
                + (f"{h.detail['query_match_pct']:g} % of the video's frames matched "
                   f"(≥ {100 - h.threshold:g} % needed), {h.detail['compared_match_pct']:g} "
                   "% of the bank video's" if h.frame_match else
                   f"at distance {h.distance:g} ≤ {h.threshold:g}") for h in hs[:10]]
        out.append(Detection("media", media_id, detector, label, round(best.score, 4), version,
                             expl, attrs))
    return out

