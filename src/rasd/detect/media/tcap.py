"""Tech Against Terrorism's TCAP hash list as a bank file.

TCAP's hash-list API (the one python-threatexchange's ``tat`` exchange reads) serves
pages ``{"count", "next", "previous", "checkpoint", "results": [...]}``; each result
is a record ``{"id", "hash_digest", "algorithm", "ideology", "file_type", "deleted",
"updated_on"}`` — the algorithm key also spelt ``algorithim``, as TCAP's own
documentation and downloads spell it. A bank file may be one page, a list of pages
(one fetch saved page by page) or the list of records itself.

Each record is one signal: its algorithm names the signal type (``PDQ``/``ImagePDQ``
→ pdq, ``MD5``/``VideoMD5``/``ImageMD5`` → md5, ``SHA256``… → sha256, ``vPDQ`` →
vpdq), its ``ideology`` and ``file_type`` become labels of those names and its
``id`` the label ``tcap_id``; a ``deleted`` record is a tombstone (as the exchange
deletes the signal). ``updated_on`` (seconds since 1970, UTC, as TCAP's API gives it
and python-threatexchange's client reads it; an ISO 8601 time is read too) is when
TCAP last changed the record: where a file holds one id more than once (a record
updated between two pages) the record updated last is read (of equal times, or
without one, the last in the file), and the import keeps the time with the signal,
so that a later list's newer record updates its labels and an older list changes
nothing (``banks.add_signals``).

Hostile input: the list is walked record by record (never decoded whole), nesting
and record counts are bounded, and JSON that does not parse imports nothing. A
bad record is an error naming its JSON path (``FILE:$.results[3]: field
algorithim: …``) and is skipped.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from rasd.detect.media.banks import MAX_FIELD, BankError, Entry, ImportReport, _bad
from rasd.jsonread import STREAMED, expect_end, members, raw_decode, skip_ws, with_end

# at most this many records a file: the ids of all of them are held to find a
# record's last version (TCAP's whole list is tens of thousands)
MAX_RECORDS = 2_000_000
MAX_LABEL = 500  # characters of an ideology, file type or id
ALGORITHM_KEYS = ("algorithim", "algorithm")
# TCAP's algorithm names → rasd signal types. A record's name is read in any case,
# with '-', '_' and spaces ignored (``algorithm_type``); these spellings are the
# ones an error lists as what rasd reads.
ALGORITHMS = {
    "PDQ": "pdq", "ImagePDQ": "pdq", "PhotoPDQ": "pdq",
    "MD5": "md5", "ImageMD5": "md5", "VideoMD5": "md5", "PhotoMD5": "md5",
    "FileMD5": "md5",
    "SHA256": "sha256", "ImageSHA256": "sha256", "VideoSHA256": "sha256",
    "PhotoSHA256": "sha256", "FileSHA256": "sha256",
    "vPDQ": "vpdq", "VideoVPDQ": "vpdq",
    "TLSH": "tlsh", "FileTLSH": "tlsh", "DocumentTLSH": "tlsh",
}


def _fold(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_BY_FOLDED = {_fold(k): v for k, v in ALGORITHMS.items()}
_HEAD = re.compile(r'\s*[\[{]')


def looks_like(text: str) -> bool:
    """Whether a bank file's text opens as a TCAP hash list: JSON whose first
    64 kB name ``hash_digest`` (a record), or an object with ``results`` (a page,
    maybe an empty one)."""
    m = _HEAD.match(text)
    if not m:
        return False
    head = text[:65536]
    return '"hash_digest"' in head or (m.group().endswith("{") and '"results"' in head)


def algorithm_type(name: str) -> str | None:
    """The rasd signal type of a TCAP algorithm name, None for one rasd lacks."""
    return _BY_FOLDED.get(_fold(name))


class _NotList:
    """The value of a page's ``results`` that is not a list (reported, not read)."""


def _records(text: str) -> Iterator[tuple[int, str, Any]]:
    """(offset, JSON path, record) of each record of a TCAP file: one page (the
    records under ``results``; its other members — count, next, checkpoint… — are
    passed over), a list of pages, a list of records, or one record.
    JSONDecodeError for text that is not one JSON list or object."""
    top = skip_ws(text, 0)
    end = top
    if text.startswith("{", top):
        page = False
        for at, _, p, v in with_end(members(text, top, "$", stream="results")):
            if not p:
                end = at
            elif p == "$.results":
                page = True
                if v is not STREAMED:
                    yield at, p, _NotList()
            elif p.startswith("$.results["):
                page = True
                yield at, p, v
        if not page:
            obj, end = raw_decode(text, top)
            if not (isinstance(obj, dict) and "hash_digest" in obj):
                raise BankError("a JSON object with neither results (a page of TCAP's "
                                "hash list) nor hash_digest (a record): not a TCAP "
                                "hash list")
            yield top, "$", obj
    else:
        for at, _, p, v in with_end(members(text, top, "$")):
            if not p:
                end = at
            elif isinstance(v, dict) and "results" in v and "hash_digest" not in v:
                res = v["results"]
                if not isinstance(res, list):
                    yield at, f"{p}.results", _NotList()
                    continue
                for j, r in enumerate(res):
                    yield at, f"{p}.results[{j}]", r
            else:
                yield at, p, v
    expect_end(text, end)


def _check(text: str, where: str) -> dict[str, int]:
    """First pass: the whole file parses (a cut-off download imports nothing: some
    of its deletions would be lost), there are at most MAX_RECORDS records, and
    {id: ordinal of its newest record} — updated last (``updated_on``), and of
    records updated at the same time (or without a readable time) the last."""
    last: dict[str, int] = {}
    rank: dict[str, tuple[float, int]] = {}
    try:
        for n, (_, _, rec) in enumerate(_records(text), 1):
            if n > MAX_RECORDS:
                raise BankError(f"{where}: more than {MAX_RECORDS} records; split the file")
            rid = _id(rec)
            if rid is None:
                continue
            try:
                u = _updated(rec)
            except BankError:  # reported when the record is read
                u = None
            r = (u.timestamp() if u is not None else -math.inf, n)
            if rid not in rank or r > rank[rid]:
                rank[rid], last[rid] = r, n
    except json.JSONDecodeError as e:
        raise BankError(f"{where}:{e.lineno}: not valid JSON (a TCAP hash list): {e.msg} "
                        f"(column {e.colno}); nothing imported") from None
    except BankError as e:
        if str(e).startswith(where):
            raise
        raise BankError(f"{where}: {e}") from None
    return last


def _id(rec: Any) -> str | None:
    if not isinstance(rec, dict):
        return None
    v = rec.get("id")
    if isinstance(v, bool) or not isinstance(v, (int, str)) or v == "":
        return None
    return str(v)[:MAX_LABEL]


def _updated(rec: Any) -> datetime | None:
    """A record's ``updated_on`` as a UTC time: seconds since 1970 (TCAP's API and
    python-threatexchange's client: ``1704901040.222779``), a string of them, or
    an ISO 8601 time; None when absent. BankError for anything else."""
    if not isinstance(rec, dict) or rec.get("updated_on") in (None, ""):
        return None
    v = rec["updated_on"]
    t: float | None = None
    if (isinstance(v, (int, float)) and not isinstance(v, bool)) or (
            isinstance(v, str) and re.fullmatch(r"[0-9]{1,12}(\.[0-9]{0,9})?", v.strip())):
        t = float(v)
    elif isinstance(v, str) and len(v) <= 40:
        try:
            d = datetime.fromisoformat(v.strip())
            # an offset may move the time out of Python's years 1..9999 (OverflowError)
            return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)
        except (ValueError, OverflowError):
            pass
    if t is None or not math.isfinite(t) or not 0 <= t < 1e11:
        raise BankError(f"field updated_on: {json.dumps(v)[:60]} is not a time (seconds "
                        "since 1970, or ISO 8601)")
    return datetime.fromtimestamp(t, UTC)


def _label(rec: dict[str, Any], key: str) -> str | None:
    """A string field of a record as a label (None: absent, null or empty)."""
    v = rec.get(key)
    if v is None or v == "":
        return None
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise BankError(f"field {key}: {json.dumps(v)[:60]} is not a string")
    v = str(v).strip()
    if len(v) > MAX_LABEL:
        raise BankError(f"field {key}: longer than {MAX_LABEL} characters")
    return v or None


def _entry(rec: Any, at: str, n: int) -> Entry:
    """The signal of one record; BankError (without the place) for a bad one."""
    if isinstance(rec, _NotList):
        raise BankError("not a list of records")
    if not isinstance(rec, dict):
        raise BankError("not a TCAP record (an object with hash_digest and algorithim)")
    digest = rec.get("hash_digest")
    if not isinstance(digest, str) or not digest.strip():
        raise BankError("field hash_digest: missing or not a string")
    if len(digest) > MAX_FIELD:
        raise BankError(f"field hash_digest: longer than {MAX_FIELD} characters")
    keys = [k for k in ALGORITHM_KEYS if rec.get(k) not in (None, "")]
    if not keys:
        raise BankError("field algorithim: missing")
    algo = rec[keys[0]]
    if not isinstance(algo, str):
        raise BankError(f"field {keys[0]}: {json.dumps(algo)[:60]} is not a string")
    if len(keys) > 1 and algorithm_type(str(rec[keys[1]])) != algorithm_type(algo):
        raise BankError(f"fields algorithim and algorithm disagree: {algo!r:.40} and "
                        f"{str(rec[keys[1]])!r:.40}")
    t = algorithm_type(algo)
    if t is None:
        raise BankError(f"field {keys[0]}: algorithm {algo!r:.60} is not one rasd reads "
                        f"({', '.join(sorted(ALGORITHMS, key=str.lower))})")
    deleted = rec.get("deleted", False)
    if deleted is None:
        deleted = False
    if not isinstance(deleted, bool):
        raise BankError(f"field deleted: {json.dumps(deleted)[:40]} is not true or false")
    labels: dict[str, Any] = {}
    for key, label in (("ideology", "ideology"), ("file_type", "file_type"),
                       ("id", "tcap_id")):
        if (v := _label(rec, key)) is not None:
            labels[label] = v
    return Entry(n, t, digest.strip(), labels, "tombstoned" if deleted else "active",
                 at=at, field="hash_digest", updated=_updated(rec))


def entries(text: str, where: str, report: ImportReport | None) -> Iterator[Entry]:
    """The signals of a TCAP hash-list file (see the module's doc). Where a record's
    id comes more than once in the file, all but its newest record (``_check``)
    are passed over (counted as read and as duplicates)."""
    last = _check(text, where)
    line, pos = 1, 0
    for n, (at, path, rec) in enumerate(_records(text), 1):
        line += text.count("\n", pos, at)
        pos = at
        rid = _id(rec)
        if rid is not None and last.get(rid, n) != n:
            if report is not None:
                report.read += 1
                report.duplicates += 1
            continue
        try:
            yield _entry(rec, path, line)
        except BankError as e:
            _bad(report, f"{where}:{path}: {e}")
