"""Hash banks: named, labelled lists of signals (Meta HMA's "banks").

Import formats (``import_file``, format sniffed unless given):
- ``csv``: a CSV file with a header naming its columns — ThreatExchange/HMA-style
  ``signal_type,signal[,labels]`` and GIFCT/TCAP-style exports (``hash``/``hash_type``
  with ``entity``, ``content_type``, ``severity``… columns) alike: the signal column is
  one of signal/hash/hash_value/value, the type column one of signal_type/hash_type/
  type/algorithm, a ``status`` column (``bank export --all``) is the signal's status
  (a tombstone stays one), and every other non-empty column becomes a label. Without a header
  the columns are ``signal_type,signal[,labels]``.
- ``list``: one hash per line (``#`` comments allowed); the type is inferred where it
  is unambiguous (32 hex: md5; T1+70 hex: tlsh) and otherwise must be given
  (64 hex digits may be PDQ or SHA-256).
- ``vpdq``: a vPDQ hash file as Meta's ``vpdq`` writes it (``frame,quality,hex,sec``
  per line), or a vPDQ signal in HMA's JSON form (as python-threatexchange writes it:
  a list of ``"hex,quality,seconds"``) — one video signal. A CSV's vPDQ signal may be
  in either form too.
- ``tcap``: Tech Against Terrorism's TCAP hash list (JSON: the records, a page of its
  API holding them under ``results``, or a list of pages), read by ``tcap.py``.
- ``pytx``: python-threatexchange's local file, ``signal_type signal`` a line
  (``pdq <hex>``, ``video_md5 <hex>``, ``vpdq [...]``).

Labels are ``key=value`` pairs (``policy``, ``entity``, ``content``, ``severity``,
``ideology``…) separated by ``;`` or ``|``; a bare word is a policy label if it is one
of the policy's labels, else a tag; a JSON object is read as the labels (what export
writes when a value holds a separator). A policy label must be one of the policy's,
a GIFCT category name in ``GIFCT_POLICY``, or a name the import maps (``policy_map``,
``--map-policy``: how the analyst reads GIFCT categories that span several labels,
``GIFCT_SPANS``, and a partner's own names).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, or_, select, update

from rasd.detect.media import schema as M
from rasd.detect.media import signals as sig
from rasd.detect.media.signals import vpdq
from rasd.store import Store
from rasd.store.db import now
from rasd.store.upsert import fast_insert
from rasd.terminal import valid_text

STATUSES = ("active", "disabled", "tombstoned", "quarantined")
# a quarantined signal given another status: the decision that closes its open
# review (signal_reviews.decision); a disabled one no longer waits for anyone
DECISIONS = {"active": "restore", "tombstoned": "tombstone", "disabled": "disable"}
FORMATS = ("auto", "csv", "list", "vpdq", "tcap", "pytx")
MAX_IMPORT_BYTES = 512 << 20
MAX_FIELD = 4 << 20  # a vPDQ signal of 20k frames is ~1.5 MB
IMPORT_BATCH = 2000  # signals written a transaction
# winning rows the first reading of an import keeps for the second, which
# normalises the others again: a file of up to some 20,000 signals is parsed once
KEEP_ROWS = 20_000
KEEP_CHARS = 32 << 20
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")
SIGNAL_COLS = ("signal", "signal_value", "hash", "hash_value", "value", "pdq", "md5")
TYPE_COLS = ("signal_type", "hash_type", "type", "algorithm", "hash_algorithm")
LABEL_COLS = ("labels", "label", "tags")
QUALITY_COLS = ("quality", "pdq_quality", "hash_quality")  # PDQ hashers write it
STATUS_COLS = ("status",)  # `bank export --all` writes it: a status, never a label


class BankError(ValueError):
    """A user-facing problem with a bank or an import file."""


# GIFCT hash-sharing category names with one clear meaning under the policy (TCO
# Art. 2(7)).
GIFCT_POLICY = {
    "glorification of terrorist acts": "incitement",
    "glorification": "incitement",
    "imminent credible threat": "threat",
    "ict": "threat",
    "terrorist financing": "financing",
    "financing of terrorism": "financing",
}
# GIFCT categories that span several policy labels. Each names alternatives — an item
# in it is one of them, not all — so no mapping to several labels is sound (every
# item would get labels most of them do not deserve), and picking one would be a
# guess: the analyst maps them for a file (``--map-policy``, ``policy_map``).
GIFCT_SPANS = {
    "radicalization, recruitment, instruction": (
        "recruitment, instruction or incitement, item by item"),
    "graphic violence against defenseless people": (
        "graphic violence is a severity under the policy, not a label: the item may be "
        "incitement (glorifying the attack), a threat, or another label"),
}
_SEP = re.compile(r"[;|]")
_KV = re.compile(r"[=:]")


def _norm_policy(value: str) -> str:
    return " ".join(value.strip().lower().replace("_", " ").split())


def _own_label(v: str, ids: list[str]) -> str | None:
    """The policy's label a ``_norm_policy`` value names itself (spaces read as
    ``-`` too), or None."""
    if v in ids:
        return v
    if v.replace(" ", "-") in ids:
        return v.replace(" ", "-")
    return None


def parse_policy_map(items: Iterable[str]) -> dict[str, str]:
    """``CATEGORY=LABEL`` pairs (``--map-policy``) as {category: policy label}: how
    this file's policy values the policy does not know — a GIFCT category spanning
    several labels, a partner's own names — are to be read. The last ``=`` splits
    (a category may hold one); BankError for a label the policy does not have, and
    for a NAME that is already one of the policy's labels (it is read as that label:
    the mapping would be ignored without a word)."""
    out: dict[str, str] = {}
    ids = policy_labels()
    for item in items:
        name, sep, label = item.rpartition("=")
        if not sep or not name.strip() or not label.strip():
            raise BankError(f"--map-policy {item!r:.100}: use 'CATEGORY=LABEL', e.g. "
                            "'Radicalization, Recruitment, Instruction=recruitment'")
        key = _norm_policy(name)
        if _own_label(key, ids) is not None:
            raise BankError(f"--map-policy {item!r:.100}: {name.strip()!r:.60} is one of "
                            "the policy's labels and is read as itself; map only names "
                            "the policy does not have")
        try:
            out[key] = policy_label(label)
        except BankError:
            raise BankError(f"--map-policy {item!r:.100}: {label.strip()!r:.60} is not one "
                            f"of the policy's labels ({', '.join(ids)})") from None
    return out


def policy_labels() -> list[str]:
    """The policy's label ids (the shipped policy, or ``RASD_POLICY``): what a
    detection from a bank match may be labelled, as for text detections."""
    from rasd.detect.text.policy import load_policy

    return load_policy().label_ids


def policy_label(value: str, policy_map: Mapping[str, str] | None = None) -> str:
    """``value`` as one of the policy's labels: any case and spacing, a name the
    import's ``policy_map`` maps (``--map-policy``), or a GIFCT category name from
    ``GIFCT_POLICY``. BankError otherwise: a label the queue and reports do not know
    would make a detection no policy covers; for a GIFCT category spanning several
    labels it says how to map it."""
    ids = policy_labels()
    v = _norm_policy(value)
    if (own := _own_label(v, ids)) is not None:
        return own
    if policy_map and v in policy_map:
        return policy_map[v]
    if v in GIFCT_POLICY and GIFCT_POLICY[v] in ids:
        return GIFCT_POLICY[v]
    if v in GIFCT_SPANS:
        raise BankError(f"policy label {value!r:.80}: a GIFCT category spanning several "
                        f"of the policy's labels ({GIFCT_SPANS[v]}), so rasd does not map "
                        f"it; say what it means in this file: rasd bank import … "
                        f"--map-policy '{value.strip()}=LABEL' (LABEL one of "
                        f"{', '.join(ids)}), or give its rows a policy column")
    raise BankError(f"policy label {value!r:.80}: not one of the policy's labels "
                    f"({', '.join(ids)}) nor a GIFCT category rasd maps "
                    f"({', '.join(sorted(GIFCT_POLICY))}); a bank file's own names "
                    "can be mapped: rasd bank import … --map-policy 'NAME=LABEL'")


def _put_label(out: dict[str, Any], key: str, value: Any,
               policy_map: Mapping[str, str] | None = None) -> None:
    """Add one label: ``tags`` collect into a list, ``policy`` must be the policy's."""
    if key == "tags":
        tags = out.setdefault("tags", [])
        for t in value if isinstance(value, list) else [value]:
            if t not in tags:
                tags.append(t)
    elif key == "policy":
        out["policy"] = policy_label(str(value), policy_map)
    else:
        out[key] = value


def _json_labels(text: str, policy_map: Mapping[str, str] | None = None) -> dict[str, Any]:
    import json

    from rasd.jsonread import DuplicateKey, unique_keys

    try:
        data = json.loads(text, object_pairs_hook=unique_keys)
    except DuplicateKey as e:  # which of the two was meant is the sender's to say
        raise BankError(f"labels look like JSON but are not: {e}") from None
    except ValueError as e:
        raise BankError(f"labels look like JSON but are not: {e}") from None
    except RecursionError:  # "[[[[…" a few thousand deep
        raise BankError("labels look like JSON but are not: nested too deeply") from None
    ok = isinstance(data, dict) and all(
        isinstance(k, str) and (isinstance(v, str) or (
            isinstance(v, list) and all(isinstance(x, str) for x in v)))
        for k, v in data.items())
    if not ok:
        raise BankError("JSON labels must be an object of strings (tags: a list of strings)")
    out: dict[str, Any] = {}
    for k, v in data.items():
        _put_label(out, k, v, policy_map)
    return out


def parse_labels(text: str | None, policy_map: Mapping[str, str] | None = None
                 ) -> dict[str, Any]:
    """Labels from ``key=value`` pairs separated by ``;`` or ``|`` (a bare word is
    the policy label if it is one of the policy's, else a tag; ``tags=x`` adds a
    tag), or from a JSON object — what ``format_labels`` writes when a value holds
    a separator, so that every label survives an export and import. BankError for
    a policy label the policy does not have."""
    out: dict[str, Any] = {}
    if not text or not text.strip():
        return out
    if text.lstrip().startswith("{"):
        return _json_labels(text, policy_map)
    ids = policy_labels()
    for tok in _SEP.split(text):
        tok = tok.strip()
        if not tok:
            continue
        if _KV.search(tok):
            k, v = _KV.split(tok, maxsplit=1)
            k, v = k.strip().lower(), v.strip()
            if k and v:
                _put_label(out, k, v, policy_map)
            else:  # "=x", "x=": no pair; kept whole as a tag, not dropped
                _put_label(out, "tags", tok)
        elif tok.lower() in ids:
            out["policy"] = tok.lower()
        else:
            _put_label(out, "tags", tok)
    return out


def _plain(text: str, *, key: bool = False) -> bool:
    """Whether ``text`` reads back the same from the ``key=value;…`` form."""
    return (bool(text) and text == text.strip() and not _SEP.search(text)
            and not text.startswith("{") and not (key and (_KV.search(text)
                                                           or text != text.lower())))


# what makes a spreadsheet read a cell as a formula (CSV injection, CWE-1236)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def format_labels(labels: dict[str, Any] | None) -> str:
    """Labels as ``key=value;…`` with tags as bare words — or, when some label
    would not read back the same that way (a value holding ``;``, a tag that is a
    policy label or holds ``=``…), as a JSON object, which ``parse_labels`` reads."""
    import json

    if not labels:
        return ""
    ids = policy_labels()
    parts: list[str] = []
    plain = True
    for k, v in labels.items():
        if k == "tags":
            tags = [str(t) for t in (v if isinstance(v, list) else [v])]
            plain &= all(_plain(t) and not _KV.search(t) and t.lower() not in ids
                         for t in tags)
            parts.extend(tags)
        else:
            plain &= isinstance(v, str) and _plain(k, key=True) and _plain(v)
            parts.append(f"{k}={v}")
    text = ";".join(parts)
    if plain and not text.startswith(_FORMULA):
        return text
    # (also where the plain form would begin as a spreadsheet formula, "=", "@"…:
    # a partner's tag opened in Excel from `rasd bank export`; JSON begins "{")
    return json.dumps({k: ([str(t) for t in v] if isinstance(v, list) else
                           [str(v)] if k == "tags" else v) for k, v in labels.items()},
                      ensure_ascii=False)


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise BankError(f"bank name {name!r}: use 1-100 letters, digits, '_', '-', '.'")
    return name


@dataclass
class Bank:
    id: int
    name: str
    labels: dict[str, Any]
    negative: bool
    enabled: bool
    pdq_threshold: int | None
    description: str | None
    counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "labels": self.labels, "negative": self.negative,
                "enabled": self.enabled, "pdq_threshold": self.pdq_threshold,
                "description": self.description, "signals": self.counts}


def _bank(row: Any) -> Bank:
    return Bank(row.id, row.name, row.labels or {}, bool(row.negative), bool(row.enabled),
                row.pdq_threshold, row.description)


def create_bank(store: Store, name: str, *, labels: dict[str, Any] | None = None,
                negative: bool = False, description: str | None = None,
                pdq_threshold: int | None = None, exist_ok: bool = False) -> Bank:
    check_name(name)
    if pdq_threshold is not None and not 0 <= pdq_threshold <= 128:
        raise BankError(f"pdq threshold {pdq_threshold} out of range 0..128")
    ts = now()
    with store.begin() as c:
        existing = c.execute(select(M.hash_banks).where(M.hash_banks.c.name == name)).first()
        if existing is not None:
            if exist_ok:
                return _bank(existing)
            raise BankError(f"bank {name!r} already exists")
        c.execute(M.hash_banks.insert().values(
            name=name, labels=labels or {}, negative=negative, enabled=True,
            pdq_threshold=pdq_threshold, description=description, created_at=ts, updated_at=ts))
    return get_bank(store, name)


def get_bank(store: Store, name: str) -> Bank:
    with store.connect() as c:
        row = c.execute(select(M.hash_banks).where(M.hash_banks.c.name == name)).first()
        if row is None:
            known = [r[0] for r in c.execute(select(M.hash_banks.c.name).order_by(
                M.hash_banks.c.name))]
            raise BankError(f"no bank named {name!r}; banks: {known or 'none yet'}")
        b = _bank(row)
        bs = M.bank_signals
        for st, n in c.execute(select(bs.c.status, func.count()).where(bs.c.bank_id == b.id)
                               .group_by(bs.c.status)):
            b.counts[st] = int(n)
    return b


def list_banks(store: Store) -> list[Bank]:
    with store.connect() as c:
        names = [r[0] for r in c.execute(select(M.hash_banks.c.name).order_by(
            M.hash_banks.c.name))]
    return [get_bank(store, n) for n in names]


def set_bank_enabled(store: Store, name: str, enabled: bool) -> Bank:
    b = get_bank(store, name)
    with store.begin() as c:
        c.execute(update(M.hash_banks).where(M.hash_banks.c.id == b.id)
                  .values(enabled=enabled, updated_at=now()))
    return get_bank(store, name)


@dataclass
class ImportReport:
    bank: str
    read: int = 0
    added: int = 0
    duplicates: int = 0
    invalid: int = 0
    errors: list[str] = field(default_factory=list)  # "FILE:LINE: why" (first 50)
    by_type: dict[str, int] = field(default_factory=dict)
    # signals added with the status the file gives them, other than active (a row
    # for a signal the bank already holds is a duplicate and changes nothing)
    by_status: dict[str, int] = field(default_factory=dict)
    # tombstone entries naming a signal the bank holds un-tombstoned: left alone
    # (a file does not silently change existing signals) or, when asked, applied
    tombstones_not_applied: int = 0
    tombstones_applied: int = 0
    # rows of python-threatexchange signal types rasd has no type for (url,
    # url_md5…), by type: passed over, as pytx passes over types it does not support
    skipped_types: dict[str, int] = field(default_factory=dict)
    # signals the bank held that a newer row (Entry.updated) updated: labels set
    # over theirs; and rows older than what the bank holds, which changed nothing
    updated: int = 0
    outdated: int = 0

    def error(self, msg: str) -> None:
        self.invalid += 1
        if len(self.errors) < 50:  # a file's bytes quoted in it are printed and stored
            self.errors.append(valid_text(msg))


@dataclass
class Entry:
    line: int
    signal_type: str
    signal: str
    labels: dict[str, Any]
    status: str = "active"
    quality: int | None = None  # when the file gives it (a quality column)
    at: str | None = None  # where in the file, when not a line: a JSON path ($[3])
    field: str = "signal"  # the file's name of the signal's field, for errors
    # when the source last updated the signal (TCAP's updated_on), if it says: of two
    # rows for one signal the newer wins, and a row newer than what the bank holds
    # updates the held signal's labels (an older one changes nothing)
    updated: datetime | None = None


def _not_unicode(labels: Mapping[str, Any]) -> str | None:
    """The first label (its name) that holds a string no store or terminal can take
    — a lone surrogate, which JSON may escape (``"\\ud800"``) — or None. Stored, it
    ended the import with a traceback."""
    for k, v in labels.items():
        for s in (k, *(v if isinstance(v, list) else [v])):
            if isinstance(s, str) and valid_text(s) != s:
                return valid_text(k)[:60]
    return None


def add_signals(store: Store, bank: str | Bank,
                entries: Iterable[Entry] | Callable[[bool], Iterable[Entry]], *,
                source: str | None = None, report: ImportReport | None = None,
                where: str = "input", apply_tombstones: bool = False,
                policy_map: Mapping[str, str] | None = None) -> ImportReport:
    """Normalise and insert signals; duplicates (also of tombstoned signals, which
    therefore stay tombstoned) are skipped and keep their status. Invalid entries are
    reported by line. An entry's own status (an export with ``--all``) is kept, so a
    tombstone stays one in its new bank; a quarantined signal is queued for review
    again, as nothing else would bring it back.

    Where ``entries`` name one signal more than once, the last entry wins — its
    status and labels are the signal's, as an HMA/ThreatExchange fetch applies its
    updates in order (python-threatexchange keys a fetch's updates by signal, a
    later one replacing an earlier): a file listing a signal active and then
    tombstoned adds it tombstoned. The earlier entries count as duplicates. For a
    signal the bank held before, the last entry is what the rules below see. Where
    entries give the time their source last updated the signal (``Entry.updated``:
    TCAP's ``updated_on``), the newest wins instead of the last (of entries of equal
    times, the last), the time is stored with the signal, and an entry newer than
    the held signal's time sets its labels over the held ones (``updated``) while
    one older changes nothing, tombstone included (``outdated``); one of the same
    time as the held signal's (that update, imported again) leaves its labels as
    they are.

    The entries are read twice: first all of them, to check them and find each
    signal's winning entry, then again to write the winners, ``IMPORT_BATCH`` a
    transaction (the winners' rows of a file of up to ``KEEP_ROWS`` signals are
    kept from the first reading, which is then the only one). So each signal is written once, by one batch — an import killed
    between two batches leaves each signal either as the file says or not added,
    and importing the file again gives the bank one uninterrupted import gives
    (were a signal's first row written by an early batch, the re-run read its last
    row as news for a signal the bank held, and left it). And a file that cannot be
    read to its end (malformed CSV) writes nothing. ``entries`` is a sequence, or a
    function giving them — called with True for the first reading (errors are
    reported then) and False for the second; a one-pass iterator is read into a list.

    A tombstone entry for a signal the bank already holds un-tombstoned (active,
    disabled, quarantined) is counted in ``tombstones_not_applied`` and changes
    nothing — unless ``apply_tombstones``: then the signal is tombstoned, as a
    tombstone in an HMA/ThreatExchange exchange fetch deletes the signal
    (``tombstones_applied``)."""
    b = bank if isinstance(bank, Bank) else get_bank(store, bank)
    rep = report or ImportReport(b.name)
    if callable(entries):
        read: Callable[[bool], Iterable[Entry]] = entries
    else:
        seq = entries if isinstance(entries, Sequence) else list(entries)

        def read(first: bool) -> Iterable[Entry]:
            return seq
    keep, kept = _winners(read(True), rep, b.id, source, where, policy_map)
    # (type, key) → id of each signal the bank held un-tombstoned whose winning row
    # is a tombstone: applied (or counted) once all are written
    live: dict[tuple[str, str], int] = {}
    batch: list[dict[str, Any]] = []
    for row in _winning_rows(read, keep, kept, b.id, source, where, policy_map):
        batch.append(row)
        if len(batch) >= IMPORT_BATCH:
            _write_batch(store, b.id, batch, rep, live, where)
            batch.clear()
    if batch:
        _write_batch(store, b.id, batch, rep, live, where)
    if live and apply_tombstones:
        ids = list(live.values())
        for start in range(0, len(ids), IMPORT_BATCH):  # SQL's bound on parameters
            set_signal_status(store, ids[start:start + IMPORT_BATCH], "tombstoned",
                              f"tombstoned by {where}"[:500], append_note=True)
        rep.tombstones_applied += len(live)
    elif live:
        rep.tombstones_not_applied += len(live)
    return rep


def _winning_rows(read: Callable[[bool], Iterable[Entry]], keep: set[int],
                  kept: dict[int, dict[str, Any]], bank_id: int, source: str | None,
                  where: str, policy_map: Mapping[str, str] | None
                  ) -> Iterator[dict[str, Any]]:
    """The second reading of ``add_signals``: the rows of the winning entries
    ``keep``, in file order — those the first reading ``kept``, the others
    normalised again. Where it kept them all (a file of up to ``KEEP_ROWS``
    signals), the entries are not read again."""
    if len(kept) == len(keep):
        yield from (kept[i] for i in sorted(kept))
        return
    for i, e in enumerate(read(False)):
        if i not in keep:
            continue
        row = kept.pop(i, None) or _signal_row(e, bank_id, source, None, where, policy_map)
        if row is not None:  # always: it was valid in the first reading
            yield row


def _winners(entries: Iterable[Entry], rep: ImportReport, bank_id: int,
             source: str | None, where: str, policy_map: Mapping[str, str] | None
             ) -> tuple[set[int], dict[int, dict[str, Any]]]:
    """The first reading of ``add_signals``: the positions in ``entries`` of each
    signal's winning entry (the newest, ``Entry.updated``; of equal or unknown
    times the last), and the rows of the first winners (up to ``KEEP_ROWS`` and
    ``KEEP_CHARS``), which the second reading need not normalise again (a vPDQ
    signal of 4 MB is parsed once). Invalid entries are reported in ``rep``; the
    others count as read, by type, and, but for each signal's winner, as
    duplicates."""
    best: dict[tuple[str, str], tuple[int, datetime | None]] = {}
    kept: dict[int, dict[str, Any]] = {}
    chars = 0
    for i, e in enumerate(entries):
        rep.read += 1
        row = _signal_row(e, bank_id, source, rep, where, policy_map)
        if row is None:
            continue
        k = (row["signal_type"], row["signal_key"])
        prev = best.get(k)
        if prev is None:
            rep.by_type[k[0]] = rep.by_type.get(k[0], 0) + 1
        else:
            rep.duplicates += 1
            if _older(row["source_updated_at"], prev[1]):
                continue
            if (old := kept.pop(prev[0], None)) is not None:
                chars -= len(old["signal"])
        best[k] = (i, row["source_updated_at"])
        if len(kept) < KEEP_ROWS and chars + len(row["signal"]) <= KEEP_CHARS:
            kept[i] = row
            chars += len(row["signal"])
    return {i for i, _ in best.values()}, kept


def _signal_row(e: Entry, bank_id: int, source: str | None, rep: ImportReport | None,
                where: str, policy_map: Mapping[str, str] | None) -> dict[str, Any] | None:
    """The ``bank_signals`` row of entry ``e``, normalised; None for an invalid
    entry, reported by line in ``rep`` when one is given."""
    def bad(msg: str) -> None:
        if rep is not None:
            rep.error(msg)

    at = f"{where}:{e.at or e.line}"
    reg = sig.registry()
    tname = sig.resolve_alias(e.signal_type)
    st = reg.get(tname)
    if st is None:
        bad(f"{at}: field signal_type: unknown signal type {e.signal_type!r} "
            f"(known: {', '.join(sorted(reg))})")
        return None
    try:
        norm = st.normalize(e.signal)
    except ValueError as err:
        bad(f"{at}: field {e.field}: {err}")
        return None
    if st.min_quality is not None and e.quality is not None and e.quality < st.min_quality:
        bad(f"{at}: field quality: {tname.upper()} quality {e.quality} is below "
            f"{st.min_quality} (unreliable: a flat or near-flat image); not imported")
        return None
    if why := st.unusable(norm):  # it could never match: noise in the bank
        bad(f"{at}: field quality: {tname} signal with {why}; it could never match; "
            "not imported")
        return None
    labels = dict(e.labels or {})
    if invalid := _not_unicode(labels):  # JSON may escape a lone surrogate: "\ud800"
        bad(f"{at}: field {invalid}: not valid Unicode text (a lone surrogate escape); "
            "not imported")
        return None
    if labels.get("policy"):
        try:
            labels["policy"] = policy_label(str(labels["policy"]), policy_map)
        except BankError as err:
            bad(f"{at}: field policy: {err}")
            return None
    ts = now()
    return {"bank_id": bank_id, "signal_type": tname, "signal": norm,
            "signal_key": st.key(norm), "labels": labels, "status": e.status,
            "source": source, "added_at": ts, "updated_at": ts,
            "source_updated_at": _utc(e.updated)}


def _write_batch(store: Store, bank_id: int, batch: list[dict[str, Any]],
                 rep: ImportReport, live: dict[tuple[str, str], int], where: str) -> None:
    """Write one batch of winning rows (one a signal) in one transaction: the
    signals new to the bank, the labels newer rows give held ones, and the reviews
    of quarantined ones, all or none (an interrupt between two left quarantined
    signals with no review, the one way they come back). A held signal whose row is
    a tombstone goes into ``live``."""
    bs = M.bank_signals
    with store.begin() as c:
        old: dict[tuple[str, str], Any] = {}
        keys = [r["signal_key"] for r in batch]
        for start in range(0, len(keys), 900):
            for r in c.execute(select(bs.c.id, bs.c.signal_type, bs.c.signal_key,
                                      bs.c.status, bs.c.labels,
                                      bs.c.source_updated_at).where(and_(
                    bs.c.bank_id == bank_id, bs.c.signal_key.in_(keys[start:start + 900])))):
                old[(r.signal_type, r.signal_key)] = r
        before = c.execute(select(func.count()).where(bs.c.bank_id == bank_id)).scalar_one()
        # one statement on PostgreSQL (COPY, then INSERT … SELECT), not one a row
        # (psycopg's executemany): the trigger that counts insertions (migration
        # 0022) runs once a batch
        fast_insert(c, bs, batch)
        after = c.execute(select(func.count()).where(bs.c.bank_id == bank_id)).scalar_one()
        rep.added += after - before
        rep.duplicates += len(batch) - (after - before)
        for r in batch:
            k = (r["signal_type"], r["signal_key"])
            had = old.get(k)
            if had is None:  # added now, with the status the file gives it
                if r["status"] != "active":
                    rep.by_status[r["status"]] = rep.by_status.get(r["status"], 0) + 1
                continue
            held_at = _utc(had.source_updated_at)
            new_at = r["source_updated_at"]
            if _older(new_at, held_at):  # the bank holds newer news
                rep.outdated += 1
                continue
            if r["status"] == "tombstoned" and had.status != "tombstoned":
                live[k] = had.id
            if (new_at is not None and had.status != "tombstoned"
                    and (held_at is None or new_at > held_at)):
                rep.updated += 1
                c.execute(update(bs).where(bs.c.id == had.id).values(
                    labels={**(had.labels or {}), **r["labels"]},
                    source_updated_at=new_at, updated_at=now()))
        _review_quarantined(c, bank_id, [(r["signal_type"], r["signal_key"]) for r in batch
                                         if r["status"] == "quarantined"], where)


def _utc(t: datetime | None) -> datetime | None:
    """``t`` as an aware UTC time (SQLite gives back naive UTC)."""
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _older(new: datetime | None, held: datetime | None) -> bool:
    """Whether a row updated at ``new`` is older than the ``held`` one (unknown
    times are never older: a row without one is read in file order)."""
    return new is not None and held is not None and new < held


def _close_reviews(c: Connection, ids: list[int], status: str, ts: datetime) -> None:
    """Close the open reviews of signals ``ids`` given ``status``, with its
    decision (``DECISIONS``); none for quarantined (still to be decided)."""
    if status in DECISIONS:
        rv = M.signal_reviews
        c.execute(update(rv).where(and_(rv.c.signal_id.in_(ids), rv.c.closed_at.is_(None)))
                  .values(closed_at=ts, decision=DECISIONS[status]))


def _review_quarantined(c: Connection, bank_id: int, keys: list[tuple[str, str]],
                        where: str) -> None:
    """Open a review for each quarantined signal of ``keys`` that has none open (an
    imported one: the review queue is the only way a quarantined signal comes back).
    In the transaction ``c`` that stored them."""
    if not keys:
        return
    bs, rv = M.bank_signals, M.signal_reviews
    ts = now()
    for t, key in keys:
        sid = c.execute(select(bs.c.id).where(and_(
            bs.c.bank_id == bank_id, bs.c.signal_type == t, bs.c.signal_key == key,
            bs.c.status == "quarantined"))).scalar()
        if sid is None or c.execute(select(rv.c.id).where(and_(
                rv.c.signal_id == sid, rv.c.closed_at.is_(None)))).first():
            continue
        c.execute(rv.insert().values(signal_id=sid, opened_at=ts,
                                     reason=f"imported as quarantined from {where}"))


_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
_TLSH = re.compile(r"(T1|t1)?[0-9a-fA-F]{70}")
# a vPDQ frame line, and the opening of a vPDQ signal in HMA's JSON forms: the
# parser's own patterns (signals/vpdq.py), so a file sniffed as vPDQ parses as it
_VPDQ_LINE = vpdq.LINE
_HMA_VPDQ = vpdq.HMA_OPENING


def _infer_type(value: str, given: str | None, where: str) -> str:
    if given:
        return given
    v = value.strip()
    if _HEX32.fullmatch(v):
        return "md5"
    if _TLSH.fullmatch(v):
        return "tlsh"
    if _HMA_VPDQ.match(v) or _VPDQ_LINE.fullmatch(v.split(";", 1)[0]):
        return "vpdq"
    if sig.HEX64.fullmatch(v):
        raise BankError(f"{where}: 64 hex digits may be pdq or sha256: pass --type pdq "
                        "or --type sha256")
    raise BankError(f"{where}: cannot tell the signal type of {v[:80]!r}; pass --type")


# python-threatexchange's local-file exchange: one ``signal_type signal`` a line
_PYTX_LINE = re.compile(r"\s*([A-Za-z][\w.-]{0,40})[ \t]+(\S.*?)\s*")
# python-threatexchange's signal types rasd has no type for: their lines are passed
# over and counted by type (``ImportReport.skipped_types``), as pytx itself passes
# over the types it is not configured for — one line of a URL must not fail a file
# of PDQ hashes. ``raw_text`` is not among them: it is imported as MinHash.
PYTX_SKIPPED_TYPES = ("url", "url_md5", "trend_query", "video_tmk_pdqf", "pdq_ocr",
                      "photo_dna")
PYTX_OTHER_TYPES = (*PYTX_SKIPPED_TYPES, "raw_text")
_SIGNALISH = re.compile(r"(T1|t1)?[0-9a-fA-F]{16,}")


def _pytx_line(ln: str) -> bool:
    """Whether a line reads as python-threatexchange's ``signal_type signal``: a
    type rasd knows (or an alias) and a value like a hash or HMA's vPDQ JSON, or
    one of pytx's types rasd lacks and any value."""
    m = _PYTX_LINE.fullmatch(ln)
    if not m:
        return False
    t, v = m.group(1).lower(), m.group(2)
    if t in PYTX_OTHER_TYPES:
        return True
    return sig.resolve_alias(t) in sig.registry() and bool(
        _SIGNALISH.fullmatch(v) or v[:1] in ("[", "{"))


def sniff_format(text: str) -> str:
    """The format of a bank file from its first lines: vPDQ when the first line and
    most of the first 50 are frame lines (one damaged line must not turn a video's
    frames into CSV rows, each an error) or when it opens as a vPDQ signal in HMA's
    JSON form; a TCAP hash list when it opens as JSON naming ``hash_digest`` (or a
    page of TCAP's API: an object with ``results``); python-threatexchange's local
    file when the first line and most of the first 50 are ``signal_type signal``;
    CSV when there are commas, else a list."""
    from rasd.detect.media import tcap

    if _HMA_VPDQ.match(text):
        return "vpdq"
    if tcap.looks_like(text):
        return "tcap"
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return "list"
    head = lines[:50]
    if (_VPDQ_LINE.fullmatch(head[0])
            and 2 * sum(1 for ln in head if _VPDQ_LINE.fullmatch(ln)) > len(head)):
        return "vpdq"
    if _pytx_line(head[0]) and 2 * sum(1 for ln in head if _pytx_line(ln)) > len(head):
        return "pytx"
    if any("," in ln for ln in lines[:5]):
        return "csv"
    return "list"


def _pytx_entries(text: str, where: str, signal_type: str | None,
                  report: ImportReport | None, clean: bool = False) -> Iterator[Entry]:
    """python-threatexchange's local file: ``signal_type signal`` a line (``pdq
    <hex>``, ``video_md5 <hex>``, ``vpdq ["<hex>,<quality>,<seconds>", …]``) — what
    its local-file exchange reads and writes. A line with a bare hash is read as a
    list's line (``--type`` or the inferred type), as pytx reads it with a
    configured type. A ``raw_text`` line (pytx's near-duplicate text signal) is
    imported as rasd's near-duplicate text signal, the MinHash of its text; one
    too short for MinHash (under 20 characters once normalised) is an error naming
    its line. Lines of pytx's types rasd has no type for (``url``…) are passed
    over and counted by type in ``report.skipped_types``. ``clean``: ``text``
    holds no byte that is not UTF-8 (its lines are not searched for one)."""
    from rasd.detect.media.signals.minhash import MinHashSignal

    for n, ln in enumerate(text.splitlines(), 1):
        v = ln.strip()
        if not v or v.startswith("#"):
            continue
        if len(v) > MAX_FIELD:
            _bad(report, f"{where}:{n}: line longer than {MAX_FIELD} characters")
            continue
        if not clean and _not_utf8(v) is not None:
            _bad(report, _utf8_error(where, n, v))
            continue
        parts = v.split(None, 1)
        if len(parts) != 2:
            if (e := _list_entry(n, v, where, signal_type, report)) is not None:
                yield e
            continue
        t, value = parts[0].lower(), parts[1].strip()
        if t in PYTX_SKIPPED_TYPES:
            if report is not None:
                report.read += 1
                report.skipped_types[t] = report.skipped_types.get(t, 0) + 1
        elif t == "raw_text":
            if (mh := MinHashSignal().hash_text(value)) is None:
                _bad(report, f"{where}:{n}: field signal: raw_text {value!r:.60} is too "
                             "short for MinHash text matching (under 20 characters once "
                             "normalised); not imported")
            else:
                yield Entry(n, "minhash", mh.value, {})
        else:
            yield Entry(n, parts[0], value, {})


def _list_entry(n: int, v: str, where: str, signal_type: str | None,
                report: ImportReport | None) -> Entry | None:
    """Line ``n`` of a hash list (a bare hash ``v``), of ``--type`` or the
    type its form tells; None where neither tells (noted in ``report``)."""
    try:
        t = _infer_type(v, signal_type, f"{where}:{n}")
    except BankError as e:
        _bad(report, str(e))
        return None
    return Entry(n, t, v, {})


def read_entries(path: Path, *, fmt: str = "auto", signal_type: str | None = None,
                 report: ImportReport | None = None,
                 policy_map: Mapping[str, str] | None = None) -> Iterator[Entry]:
    """Entries of a bank file. Hostile input: size-bounded, UTF-8 (a BOM is
    allowed; a row or line holding other bytes is rejected alone, a TCAP or vPDQ
    file whole), errors name the file and line."""
    return entries_of_text(_read_text(path), path, fmt=fmt, signal_type=signal_type,
                           report=report, policy_map=policy_map)


def _read_text(path: Path) -> str:
    """The text of bank file ``path``: at most ``MAX_IMPORT_BYTES``, no NUL
    (BankError naming the file otherwise), read as UTF-8 (a BOM is allowed) with
    other bytes kept as lone surrogates, for the readers to reject by line."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise BankError(f"{path}: cannot read: {e.strerror or e}") from None
    if size > MAX_IMPORT_BYTES:
        raise BankError(f"{path}: larger than {MAX_IMPORT_BYTES} bytes")
    # bytes that are not UTF-8 are kept as lone surrogates (U+DC80-U+DCFF): a CSV
    # row or a line holding one is rejected alone, as ingest rejects the record
    text = path.read_bytes().decode("utf-8-sig", "surrogateescape")
    if "\x00" in text:
        raise BankError(f"{path}: contains NUL bytes; not a text bank file")
    return text


def entries_of_text(text: str, path: Path, *, fmt: str = "auto",
                    signal_type: str | None = None, report: ImportReport | None = None,
                    policy_map: Mapping[str, str] | None = None) -> Iterator[Entry]:
    """Entries of the text of bank file ``path`` (``_read_text``), in format
    ``fmt`` (sniffed when ``auto``)."""
    if fmt == "auto":
        fmt = sniff_format(text)
    if signal_type:
        signal_type = sig.resolve_alias(signal_type)
        try:
            sig.get(signal_type)  # validates the name
        except ValueError as e:  # (`bank import --type nope` was its traceback)
            raise BankError(str(e)) from None
    where = valid_text(str(path))
    # one search of the whole text (none where it is ASCII, which a str knows):
    # a file that holds no byte that is not UTF-8, as most do, has its lines
    # and cells not searched again, one by one
    bad = None if text.isascii() else _not_utf8(text)
    if fmt in ("vpdq", "tcap") and bad is not None:
        # one JSON document, or one video's signal: no part of it stands alone
        raise BankError(f"{where}:{text.count(chr(10), 0, bad) + 1}: not UTF-8 text "
                        f"(byte {len(text[:bad].encode('utf-8', 'surrogateescape'))}: "
                        f"{valid_text(text[bad])}); a {fmt} file is one "
                        f"{'JSON document' if fmt == 'tcap' else 'signal'}: nothing imported")
    if fmt == "vpdq":
        yield from _vpdq_entry(text, where, report)
        return
    if fmt == "tcap":
        from rasd.detect.media import tcap

        yield from tcap.entries(text, where, report)
        return
    if fmt == "pytx":
        yield from _pytx_entries(text, where, signal_type, report, clean=bad is None)
        return
    if fmt == "list":
        for n, ln in enumerate(text.splitlines(), 1):
            v = ln.strip()
            if not v or v.startswith("#"):
                continue
            if bad is not None and _not_utf8(v) is not None:
                _bad(report, _utf8_error(where, n, v))
            elif (e := _list_entry(n, v, where, signal_type, report)) is not None:
                yield e
        return
    if fmt != "csv":
        raise BankError(f"unknown import format {fmt!r} ({', '.join(FORMATS)})")
    csv.field_size_limit(MAX_FIELD)
    # strict: a quote never closed (a cut-off file, a stray '"' in a label) read
    # every later line into its cell to the end of the file, and their signals
    # were lost without a word; so was the text after a closing quote ('"a"b')
    # (newline=None: lines that end in a lone CR, classic Mac OS and Excel for
    # Mac's old "CSV", were "new-line character seen in unquoted field")
    rows = _Rows(csv.reader(io.StringIO(text, newline=None), strict=True))
    try:
        yield from _csv_entries(rows, where, signal_type, report, policy_map,
                                clean=bad is None)
    except csv.Error as e:
        if str(e) == "unexpected end of data":
            raise BankError(f"{where}:{rows.ended + 1}: malformed CSV: a quoted field in "
                            "the row of this line is not closed by the end of the file "
                            "(every later line would be its text)") from None
        raise BankError(f"{where}:{rows.line_num}: malformed CSV: {e}") from None


class _Rows:
    """A CSV reader's rows, and the line the last whole row ended on (``ended``:
    where the row that a quote left open at the end of the file began)."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.ended = 0

    @property
    def line_num(self) -> int:
        return self.reader.line_num

    def __iter__(self) -> Iterator[list[str]]:
        for r in self.reader:
            yield r
            self.ended = self.reader.line_num


_SURROGATE = re.compile("[\udc80-\udcff]")


def _not_utf8(text: str) -> int | None:
    """Where in ``text`` (read with ``surrogateescape``) the first byte that is
    not UTF-8 stands, or None."""
    m = _SURROGATE.search(text)
    return m.start() if m else None


def _utf8_error(where: str, n: int, text: str, then: str = "line not imported") -> str:
    """The error for line ``n``, whose ``text`` holds bytes that are not UTF-8:
    the bytes around the first shown ``\\xNN``."""
    at = _not_utf8(text) or 0
    return (f"{where}:{n}: not UTF-8 text: '{valid_text(text[max(0, at - 20):at + 20])}'; "
            f"{then}")


def _bad(report: ImportReport | None, msg: str, *, read: bool = True) -> None:
    """A bad entry of a bank file: an error where no ``report`` collects them,
    else noted there (counted as read unless ``read`` is false) and passed over."""
    if report is None:
        raise BankError(msg)
    if read:
        report.read += 1
    report.error(msg)


def _vpdq_entry(text: str, where: str, report: ImportReport | None) -> Iterator[Entry]:
    """The one video signal of a vPDQ file. A damaged frame line is an error naming
    its line (with a report: skipped, the other frames make the signal). The file
    is one signal, bounded as a signal in a CSV or TCAP file is (``MAX_FIELD``: some
    50,000 frames; rasd hashes at most 20,000 a video): a 512 MB file was read
    whole, at some 13 times its size in memory, into one row that every match
    would load."""
    if len(text) > MAX_FIELD:
        _bad(report, f"{where}: a vPDQ signal file longer than {MAX_FIELD} characters "
                     "(one video's signal; rasd hashes at most 20,000 frames a video, "
                     "some 1.5 MB); nothing imported", read=False)
        return
    if text.lstrip()[:1] in ("[", "{"):
        yield from _vpdq_json_entry(text, where, report)
        return
    good: list[str] = []
    first = 0
    for n, ln in enumerate(text.splitlines(), 1):
        if not ln.strip() or ln.lstrip().startswith("#"):
            continue
        if not _VPDQ_LINE.fullmatch(ln):
            msg = (f"{where}:{n}: field frame: not 'frame,quality,pdq_hex,seconds': "
                   f"{ln.strip()!r:.80}")
            _bad(report, msg, read=False)
            continue
        first = first or n
        good.append(ln.strip())
    if not good:
        _bad(report, f"{where}: no vPDQ frames", read=False)
        return
    yield Entry(first, "vpdq", "\n".join(good), {})


def _vpdq_json_entry(text: str, where: str, report: ImportReport | None
                     ) -> Iterator[Entry]:
    """The one video signal of a vPDQ file in HMA's JSON form (what
    python-threatexchange writes: a list of ``"pdq_hex,quality,seconds"``, or the
    older object). A damaged frame is an error naming its line (with a report:
    skipped, the other frames make the signal); JSON that does not parse imports
    nothing — a cut-off list would be another video."""
    import json

    good: list[vpdq.Frame] = []
    first, line, pos = 0, 1, 0
    try:
        for at, key, value in vpdq.json_items(text):
            line += text.count("\n", pos, at)
            pos = at
            try:
                good.append(vpdq.hma_item(key, value))
            except ValueError as e:
                _bad(report, f"{where}:{line}: field frame: {e}", read=False)
                continue
            first = first or line
    except json.JSONDecodeError as e:
        _bad(report, f"{where}:{e.lineno}: not valid JSON (HMA's vPDQ form): {e.msg} "
                     f"(column {e.colno}); nothing imported", read=False)
        return
    if not good:
        _bad(report, f"{where}: no vPDQ frames", read=False)
        return
    yield Entry(first, "vpdq", vpdq.serialize(good), {})


def _csv_entries(rows: Any, where: str, signal_type: str | None,
                 report: ImportReport | None,
                 policy_map: Mapping[str, str] | None = None, *,
                 clean: bool = False) -> Iterator[Entry]:
    """The entries of a CSV bank file's ``rows``; ``clean``: the file holds no
    byte that is not UTF-8 (its cells are not searched for one)."""
    header: list[str] | None = None
    sig_i = type_i = None
    label_i: list[int] = []
    status_i: int | None = None
    quality_i: int | None = None
    extra_i: list[tuple[int, str]] = []
    for row in rows:
        n = rows.line_num
        if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in row]
        if not clean and (bad := next((c for c in cells if _not_utf8(c) is not None),
                                      None)) is not None:
            if header is None and sig_i is None:  # the columns cannot be known
                raise BankError(_utf8_error(where, n, bad, "the header row; nothing imported"))
            _bad(report, _utf8_error(where, n, bad, "row not imported"))
            continue
        if header is None and sig_i is None:
            lower = [c.lower().replace(" ", "_").replace("-", "_") for c in cells]
            looks_like_data = any(re.fullmatch(r"(t1)?[0-9a-f]{32,}", c) for c in lower)
            if any(c in SIGNAL_COLS for c in lower) and not looks_like_data:
                for kind, cols in (("signal", SIGNAL_COLS), ("signal type", TYPE_COLS),
                                   ("status", STATUS_COLS), ("quality", QUALITY_COLS)):
                    named = [cells[i] for i, c in enumerate(lower) if c in cols]
                    if len(named) > 1:  # (the values of all but the first were lost)
                        raise BankError(f"{where}:{n}: the header has {len(named)} {kind} "
                                        f"columns ({', '.join(map(repr, named))}): which one "
                                        "to read is unknown; nothing imported (give each its "
                                        "own file)")
                header = lower
                sig_i = next(i for i, c in enumerate(lower) if c in SIGNAL_COLS)
                type_i = next((i for i, c in enumerate(lower) if c in TYPE_COLS), None)
                label_i = [i for i, c in enumerate(lower) if c in LABEL_COLS]
                status_i = next((i for i, c in enumerate(lower) if c in STATUS_COLS), None)
                quality_i = next((i for i, c in enumerate(lower) if c in QUALITY_COLS), None)
                extra_i = [(i, c) for i, c in enumerate(lower) if c and i not in label_i
                           and i not in (sig_i, type_i, status_i, quality_i)]
                if type_i is None and signal_type is None and "pdq" in lower[sig_i]:
                    signal_type = "pdq"
                if type_i is None and signal_type is None and "md5" in lower[sig_i]:
                    signal_type = "md5"
                continue
            header = []
            sig_i, type_i, label_i = 1, 0, [2]
        try:
            value = cells[sig_i]
            if type_i is not None and type_i < len(cells) and cells[type_i]:
                t = cells[type_i]
            else:
                t = _infer_type(value, signal_type, f"{where}:{n}")
        except IndexError:
            if report is not None:
                report.read += 1
                report.error(f"{where}:{n}: row has {len(cells)} columns; the signal "
                             f"column is number {sig_i + 1}")
                continue
            raise BankError(f"{where}:{n}: too few columns") from None
        except BankError as e:
            _bad(report, str(e))
            continue
        status = "active"
        if status_i is not None and status_i < len(cells) and cells[status_i]:
            status = cells[status_i].lower()
            if status not in STATUSES:
                msg = (f"{where}:{n}: field status: {cells[status_i]!r:.80} is not one of "
                       f"{', '.join(STATUSES)}")
                _bad(report, msg)
                continue
        try:
            labels = _row_labels(cells, header, label_i, extra_i, policy_map)
            quality = _cell_quality(cells, quality_i)
        except BankError as e:
            _bad(report, f"{where}:{n}: {e}")
            continue
        yield Entry(n, t, value, labels, status, quality)


def _cell_quality(cells: list[str], i: int | None) -> int | None:
    """The quality column of a row (0-100), None when there is none."""
    if i is None or i >= len(cells) or not cells[i]:
        return None
    try:
        q = int(float(cells[i]))
    except ValueError:
        raise BankError(f"field quality: {cells[i]!r:.40} is not a number") from None
    if not 0 <= q <= 100:
        raise BankError(f"field quality: {q} is outside 0..100")
    return q


_COLUMN_LABEL = {"organization": "entity", "group": "entity", "content_type": "content",
                 "behaviour": "content", "behavior": "content"}


def _row_labels(cells: list[str], header: list[str], label_i: list[int],
                extra_i: list[tuple[int, str]],
                policy_map: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The labels of one CSV row; BankError naming the column of a bad one."""
    labels: dict[str, Any] = {}
    for i in label_i:
        if i < len(cells):
            try:
                for k, v in parse_labels(cells[i], policy_map).items():
                    _put_label(labels, k, v, policy_map)
            except BankError as e:
                raise BankError(f"field {header[i] if i < len(header) else 'labels'}: {e}"
                                ) from None
    for i, col in extra_i:
        if i < len(cells) and cells[i]:
            try:
                _put_label(labels, _COLUMN_LABEL.get(col, col), cells[i], policy_map)
            except BankError as e:
                raise BankError(f"field {col}: {e}") from None
    return labels


def import_file(store: Store, bank: str, path: Path, *, fmt: str = "auto",
                signal_type: str | None = None, apply_tombstones: bool = False,
                policy_map: Mapping[str, str] | None = None) -> ImportReport:
    """Import a bank file; ``policy_map`` ({name: policy label}, ``parse_policy_map``)
    says how the file's policy values the policy does not know are to be read. The
    file is read once and its text parsed twice (``add_signals``: all of it is
    checked before anything is written); the second parsing's errors, the first's
    again, are not reported twice."""
    b = get_bank(store, bank)
    rep = ImportReport(b.name)
    text = _read_text(path)

    kind = fmt

    def entries(first: bool) -> Iterator[Entry]:
        nonlocal kind
        if kind == "auto":  # sniffed once (it splits the whole text into lines)
            kind = sniff_format(text)
        yield from entries_of_text(text, path, fmt=kind, signal_type=signal_type,
                                   report=rep if first else ImportReport(b.name),
                                   policy_map=policy_map)

    return add_signals(store, b, entries, source=valid_text(path.name)[:200], report=rep,
                       where=valid_text(str(path)), apply_tombstones=apply_tombstones,
                       policy_map=policy_map)


def export_rows(store: Store, bank: str, *, include_inactive: bool = False
                ) -> Iterator[dict[str, Any]]:
    b = get_bank(store, bank)
    bs = M.bank_signals
    q = select(bs.c.id, bs.c.signal_type, bs.c.signal, bs.c.labels, bs.c.status).where(
        bs.c.bank_id == b.id).order_by(bs.c.id)
    if not include_inactive:
        q = q.where(bs.c.status == "active")
    with store.connect() as c:
        for r in c.execute(q):
            labels = {**b.labels, **(r.labels or {})}
            yield {"id": r.id, "signal_type": r.signal_type, "signal": r.signal,
                   "labels": labels, "status": r.status}


def write_csv(rows: Iterable[dict[str, Any]], out: io.TextIOBase, *,
              with_status: bool = False) -> int:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["signal_type", "signal", "labels"] + (["status"] if with_status else []))
    n = 0
    for r in rows:
        w.writerow([r["signal_type"], r["signal"], format_labels(r["labels"])]
                   + ([r["status"]] if with_status else []))
        n += 1
    return n


def find_signals(store: Store, bank: str, signal: str, signal_type: str | None = None
                 ) -> list[int]:
    """Ids of a bank's signals equal to ``signal`` (any status) — or the id itself."""
    b = get_bank(store, bank)
    bs = M.bank_signals
    with store.connect() as c:
        # ASCII digits: "²" is a digit to str.isdigit and int() refuses it (a
        # ValueError traceback)
        if signal.isascii() and signal.isdigit() and len(signal) < 12:
            rows = c.execute(select(bs.c.id).where(and_(bs.c.bank_id == b.id,
                                                        bs.c.id == int(signal)))).all()
            return [r[0] for r in rows]
        types = [sig.resolve_alias(signal_type)] if signal_type else list(sig.registry())
        ids: list[int] = []
        for t in types:
            try:
                st = sig.get(t)
            except ValueError as e:  # `bank tombstone --type nope`: its traceback
                raise BankError(str(e)) from None
            try:
                key = st.key(st.normalize(signal))
            except ValueError:
                continue
            ids += [r[0] for r in c.execute(select(bs.c.id).where(and_(
                bs.c.bank_id == b.id, bs.c.signal_type == t, bs.c.signal_key == key)))]
    return ids


def set_signal_status(store: Store, ids: Iterable[int], status: str,
                      note: str | None = None, *, append_note: bool = False) -> int:
    """Set the status of signals. A tombstone is for good (a re-import does not
    revive it, and neither does this): a tombstoned signal cannot be set to another
    status — BankError naming it, and nothing changes. Importing it into a new bank
    is the way back, if a tombstone was a mistake. Any status but quarantined
    closes the signal's open review (``DECISIONS``: restore, tombstone, disable). ``note`` replaces the signal's
    note, or with ``append_note`` is added after it (``OLD; NOTE``): an import that
    tombstones keeps what the analyst wrote."""
    if status not in STATUSES:
        raise BankError(f"status must be one of {STATUSES}")
    ids = list(ids)
    if not ids:
        return 0
    values: dict[str, Any] = {"status": status, "updated_at": now()}
    if note and append_note:
        col = M.bank_signals.c.note
        values["note"] = case((or_(col.is_(None), col == ""), literal(note)),
                              else_=col + literal(f"; {note}"))
    elif note:
        values["note"] = note
    with store.begin() as c:
        if status != "tombstoned":
            bs = M.bank_signals
            dead = [r[0] for r in c.execute(select(bs.c.id).where(and_(
                bs.c.id.in_(ids), bs.c.status == "tombstoned")).order_by(bs.c.id).limit(5))]
            if dead:
                raise BankError(
                    f"signal #{dead[0]} is tombstoned: a tombstone is for good and cannot "
                    f"be set {status}" + (f" (also #{', #'.join(map(str, dead[1:]))})"
                                          if dead[1:] else ""))
        res = c.execute(update(M.bank_signals).where(M.bank_signals.c.id.in_(ids))
                        .values(**values))
        # a decision closes open reviews (disabled: no longer quarantined, nothing
        # left to decide; it stayed in the queue)
        _close_reviews(c, ids, status, now())
    return int(res.rowcount or 0)


def open_reviews(store: Store) -> list[dict[str, Any]]:
    r, bs, hb = M.signal_reviews, M.bank_signals, M.hash_banks
    q = (select(r.c.id, r.c.signal_id, r.c.reason, r.c.opened_at, bs.c.signal_type,
                bs.c.signal, hb.c.name)
         .select_from(r.join(bs, bs.c.id == r.c.signal_id).join(hb, hb.c.id == bs.c.bank_id))
         .where(r.c.closed_at.is_(None)).order_by(r.c.id))
    with store.connect() as c:
        return [{"review": x.id, "signal_id": x.signal_id, "bank": x.name,
                 "signal_type": x.signal_type, "signal": x.signal[:120], "reason": x.reason,
                 "opened_at": x.opened_at} for x in c.execute(q)]
