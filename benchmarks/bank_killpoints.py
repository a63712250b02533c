"""Crash consistency of ``rasd bank import``: kill it mid-file, run it again, compare.

A bank file of several write batches (``IMPORT_BATCH`` signals a transaction) is
generated (seeded): PDQ, MD5 and MinHash signals in a CSV with labels and
statuses (tombstoned, disabled, quarantined), signals named again further down
with another status or labels (the last row wins), tombstones of signals the bank
held before, bad rows (a wrong hash length, bad hex, bytes not UTF-8: each
rejected by line); or a TCAP JSON list whose records carry ``updated_on``, some of
one hash at several times. For each case:

1. the bank (made beforehand, maybe a negative one, maybe seeded with signals
   the file then names) is imported once, uninterrupted: the reference;
2. for each kill point, another store is made the same way, ``rasd bank import``
   run in a subprocess SIGKILLed there, the PDQ index built from what the killed
   run left (a match, as a scan between the two runs would), then the same
   import run again to its end: the bank tables (banks, signals with statuses,
   labels, source times and notes, reviews with their decisions) must equal the
   reference's by natural keys (times of rasd's own clock left out), and
   lookups of near and exact copies of the file's signals must find the same
   signals as in the reference (the PDQ index must not serve stale entries nor
   miss new ones).

Kill points: ``commit:N`` (inside the N-th batch's transaction, before it
commits), ``after:N`` (just after the N-th batch committed: the next batch's
transaction is killed before it commits, or, after the last, the tombstones of
held signals are about to be applied), ``time:S`` (SIGKILL from outside after S
seconds). Deterministic points are reached by running ``rasd`` through this
script (``--child``), which patches the step to kill its own process there.

    python benchmarks/bank_killpoints.py                     # SQLite, every case
    python benchmarks/bank_killpoints.py --db postgresql://postgres@127.0.0.1:5432/test

Exit status 1 when any kill left a different bank.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from benchmarks.killpoints import Outcome, diff, fresh_db

STATUSES = ("active", "active", "active", "tombstoned", "disabled", "quarantined")


def _pdq(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def _md5(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _minhash(rng: random.Random) -> str:
    return base64.b64encode(rng.getrandbits(128 * 32).to_bytes(512, "little")).decode()


def _signal(rng: random.Random) -> tuple[str, str]:
    t = rng.choices(["pdq", "md5", "minhash"], [6, 3, 1])[0]
    return t, {"pdq": _pdq, "md5": _md5, "minhash": _minhash}[t](rng)


def _labels(rng: random.Random, i: int) -> str:
    return rng.choice([f"entity=e{i % 7};content=c{i % 3}", "policy=incitement",
                       f"severity=s{i % 4}", "", f"tag{i % 5}"])


@dataclass
class Case:
    """A bank file, the bank it goes into and what the bank held before."""

    name: str
    file: Path
    negative: bool = False
    seed_file: Path | None = None
    options: list[str] = field(default_factory=list)
    queries: list[tuple[str, str]] = field(default_factory=list)


def gen_csv(d: Path, n: int, rng: random.Random, *, negative: bool = False,
            held: bool = False, apply: bool = False, name: str = "csv") -> Case:
    """``n`` rows of ``signal_type,signal,labels,status``: a tenth of the signals
    named again further down (another status or labels: the last row wins); with
    ``held``, a seed file the bank imports first, whose signals the file names
    again (tombstones among them, applied with ``apply``)."""
    rows: list[tuple[str, str, str, str]] = []
    for i in range(n):
        t, v = _signal(rng)
        rows.append((t, v, _labels(rng, i), rng.choice(STATUSES)))
    for i in range(n // 10):  # named again, later: another status and labels
        t, v, _, _ = rows[rng.randrange(len(rows) // 2)]
        at = rng.randrange(len(rows) // 2, len(rows))
        rows.insert(at, (t, v.upper() if t != "minhash" else v, _labels(rng, i + 1),
                         rng.choice(STATUSES)))
    bad: list[tuple[str, str, str, str]] = []
    for i in range(max(3, n // 300)):  # bad rows: rejected by line, the rest imported
        bad.append([
            ("md5", _md5(rng)[:-1], "", "active"),  # a wrong length
            ("pdq", "g" + _pdq(rng)[1:], "", "active"),  # bad hex
            ("md5", _md5(rng), "entity=caf\udce9", "active"),  # not UTF-8 (written so)
        ][i % 3])
        rows.insert(rng.randrange(len(rows)), bad[-1])
    seed: list[tuple[str, str, str, str]] = []
    if held:
        for i in range(n // 20):
            t, v = _signal(rng)
            seed.append((t, v, _labels(rng, i), rng.choice(["active", "disabled",
                                                             "quarantined"])))
            rows.insert(rng.randrange(len(rows)),
                        (t, v, _labels(rng, i + 3), rng.choice(["tombstoned", "active"])))

    def write(path: Path, rs: list[tuple[str, str, str, str]]) -> Path:
        path.write_bytes(("signal_type,signal,labels,status\n"
                          + "".join(f"{t},{v},{lab},{s}\n" for t, v, lab, s in rs))
                         .encode("utf-8", "surrogateescape"))
        return path

    f = write(d / f"{name}.csv", rows)
    sf = write(d / f"{name}-seed.csv", seed) if held else None
    return Case(name, f, negative, sf, ["--apply-tombstones"] if apply else [],
                _queries(rng, [(t, v) for t, v, _, _ in [r for r in rows if r not in bad]
                               + seed]))


def gen_tcap(d: Path, n: int, rng: random.Random) -> Case:
    """A TCAP JSON list of ``n`` records with ``updated_on``: some hashes under
    several ids and times (the newest record wins), some deleted."""
    t0 = 1704901040.0
    recs: list[dict[str, Any]] = []
    sigs: list[tuple[str, str]] = []
    for i in range(n):
        t = rng.choice(["PDQ", "PDQ", "MD5"])
        h = _pdq(rng) if t == "PDQ" else _md5(rng)
        if i and rng.random() < 0.1:  # the hash of an earlier record, under a new id
            prev = recs[rng.randrange(len(recs))]
            t, h = prev["algorithim"], prev["hash_digest"]
        sigs.append((t.lower(), h))
        recs.append({"id": i + 1, "hash_digest": h, "algorithim": t,
                     "ideology": rng.choice(["islamist", "far-right", "other"]),
                     "file_type": "jpg", "deleted": rng.random() < 0.05,
                     "updated_on": t0 + rng.choice([0, 10, 20, 20, 30])})
    f = d / "tcap.json"
    f.write_text(json.dumps({"count": len(recs), "next": None, "previous": None,
                             "results": recs}))
    return Case("tcap", f, queries=_queries(rng, sigs))


def _queries(rng: random.Random, sigs: list[tuple[str, str]], k: int = 300
             ) -> list[tuple[str, str]]:
    """Lookups: exact copies of some of the signals, and PDQs a few bits off."""
    out = []
    for t, v in rng.sample(sigs, min(k, len(sigs))):
        if t == "pdq":
            x = int(v, 16)
            for _ in range(rng.randrange(0, 12)):
                x ^= 1 << rng.randrange(256)
            v = f"{x:064x}"
        out.append((t, v.lower() if t != "minhash" else v))
    return out


def cases(d: Path, n: int, rng: random.Random) -> dict[str, Case]:
    return {
        "csv": gen_csv(d, n, rng),
        "csv-negative": gen_csv(d, n, rng, negative=True, name="csv-negative"),
        "csv-held": gen_csv(d, n, rng, held=True, name="csv-held"),
        "csv-held-apply": gen_csv(d, n, rng, held=True, apply=True, name="csv-held-apply"),
        "tcap": gen_tcap(d, n, rng),
    }


# ---------------------------------------------------------------- running


def child_main(point: str, argv: list[str]) -> None:
    """Run ``rasd`` with ``argv``, killing this process (SIGKILL) at ``point``.
    A batch's transaction ends with ``_review_quarantined``: its N-th call is the
    N-th batch, before its COMMIT."""
    from rasd.detect.media import banks as B

    def die() -> None:
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    if os.environ.get("BANK_KILLPOINTS_BATCH"):  # the harness's own batch size
        B.IMPORT_BATCH = int(os.environ["BANK_KILLPOINTS_BATCH"])
    if os.environ.get("BANK_KILLPOINTS_KEEP"):  # rows kept from the first reading
        B.KEEP_ROWS = int(os.environ["BANK_KILLPOINTS_KEEP"])
    kind, _, arg = point.partition(":")
    calls = Counter[str]()
    review, tomb = B._review_quarantined, B.set_signal_status
    n = int(arg) if kind in ("commit", "after") else -1

    def in_batch(*a: Any, **k: Any) -> Any:
        calls["batch"] += 1
        if (kind == "commit" and calls["batch"] == n) or (
                kind == "after" and calls["batch"] == n + 1):
            die()
        return review(*a, **k)

    def tombstoning(*a: Any, **k: Any) -> Any:
        if kind == "after" and calls["batch"] == n:
            die()
        return tomb(*a, **k)

    if kind == "count":
        import atexit

        atexit.register(lambda: Path(arg).write_text(str(calls["batch"])))
    elif kind not in ("commit", "after", "none"):
        raise SystemExit(f"unknown kill point {point!r}")
    B._review_quarantined = in_batch  # type: ignore[assignment]
    B.set_signal_status = tombstoning  # type: ignore[assignment]
    sys.argv = ["rasd", *argv]
    from rasd.cli import main

    main()


def rasd(db: str, args: list[str], tmp: Path, env: dict[str, str], point: str | None = None,
         kill_after: float | None = None) -> subprocess.CompletedProcess[str]:
    cli = ["--db", db, *args]
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", point or "none", "--",
           *cli]
    e = {**os.environ, **env, "RASD_HOME": str(tmp),
         "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                         cwd=tmp, text=True)
    try:
        out, err = p.communicate(timeout=kill_after if kill_after is not None else 600)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
        out, err = p.communicate()
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def prepare(db: str, case: Case, tmp: Path, env: dict[str, str]) -> None:
    """The bank, made and seeded as the case says, before the import."""
    r = rasd(db, ["bank", "create", "b", *(["--negative"] if case.negative else [])], tmp, env)
    assert r.returncode == 0, r.stderr
    if case.seed_file is not None:
        r = rasd(db, ["bank", "import", "b", str(case.seed_file)], tmp, env)
        assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- comparing


def dump(db: str, since: datetime) -> dict[str, Counter[str]]:
    """The bank tables as comparable text: ids replaced by natural keys (a signal
    by bank, type and key), times at or after ``since`` (rasd's own clock: the
    bank made, seeded and imported into) as ``<import time>``."""
    import sqlalchemy as sa

    from rasd.detect.media import schema as M
    from rasd.store import Store

    store = Store.open(db, migrate=False)
    cut = since.replace(tzinfo=None)

    def when(v: Any) -> Any:
        if isinstance(v, datetime):
            naive = v.astimezone(UTC).replace(tzinfo=None) if v.tzinfo else v
            return "<import time>" if naive >= cut else naive.isoformat()
        return v

    out: dict[str, Counter[str]] = {}
    try:
        with store.connect() as c:
            banks = dict(c.execute(sa.select(M.hash_banks.c.id, M.hash_banks.c.name)).all())
            bs = M.bank_signals
            sigs = {r.id: f"{banks[r.bank_id]}:{r.signal_type}:{r.signal_key}"
                    for r in c.execute(sa.select(bs.c.id, bs.c.bank_id, bs.c.signal_type,
                                                 bs.c.signal_key))}
            for t, ref in ((M.hash_banks, {}), (bs, {"bank_id": banks}),
                           (M.signal_reviews, {"signal_id": sigs}),
                           (M.hash_matches, {"signal_id": sigs, "bank_id": banks})):
                cols = [col for col in t.columns if col.name != "id"]
                rows: Counter[str] = Counter()
                for r in c.execute(sa.select(*cols)):
                    d = {col.name: (ref[col.name].get(v, f"<dangling {v}>")
                                    if col.name in ref and v is not None else when(v))
                         for col, v in zip(cols, r, strict=True)}
                    rows[json.dumps(d, sort_keys=True, default=str)] += 1
                out[t.name] = rows
    finally:
        store.close()
    return out


def lookups(db: str, queries: list[tuple[str, str]], index_dir: Path) -> Counter[str]:
    """What each query finds: (query, signal's type and key, distance, status)."""
    import sqlalchemy as sa

    from rasd.detect.media import schema as M
    from rasd.detect.media.matcher import Matcher
    from rasd.store import Store

    os.environ["RASD_INDEX_DIR"] = str(index_dir)
    store = Store.open(db, migrate=False)
    out: Counter[str] = Counter()
    try:
        m = Matcher(store)
        with store.connect() as c:
            keys = dict(c.execute(sa.select(
                M.bank_signals.c.id, M.bank_signals.c.signal_key)).all())
        for i, (t, v) in enumerate(queries):
            for h in m.lookup(t, v):
                out[f"{i}:{t}:{keys.get(h.signal_id)}:{h.distance}:{h.status}"] += 1
    finally:
        store.close()
    return out


def check_case(case: Case, db_base: str | None, tmp: Path, points: list[str],
               n_random: int, rng: random.Random, batch: int,
               keep: int | None = None) -> list[Outcome]:
    """``keep``: ``KEEP_ROWS`` of the imports (default: rasd's), less than the
    file's signals to have the second reading normalise entries again."""
    env = {"BANK_KILLPOINTS_BATCH": str(batch)}
    if keep is not None:
        env["BANK_KILLPOINTS_KEEP"] = str(keep)
    args = ["bank", "import", "b", str(case.file), *case.options, "--json"]
    with fresh_db(db_base, tmp, f"{case.name}-ref") as db:
        since = datetime.now(UTC)
        prepare(db, case, tmp, env)
        count = tmp / "count.txt"
        r = rasd(db, args, tmp, env, point=f"count:{count}")
        if r.returncode != 0:
            return [Outcome("reference", False, f"exit {r.returncode}", [r.stderr[-2000:]])]
        batches = int(count.read_text())
        ref = dump(db, since)
        ref_hits = lookups(db, case.queries, tmp / f"idx-{case.name}-ref")
    pts = [p.replace("LAST", str(batches)).replace("MID", str(max(1, batches // 2)))
           for p in points]
    pts += [f"time:{rng.uniform(0.5, 4.0):.2f}" for _ in range(n_random)]
    outs = []
    for k, point in enumerate(pts):
        o = Outcome(point, True)
        with fresh_db(db_base, tmp, f"{case.name}-kill{k}") as db:
            since = datetime.now(UTC)
            prepare(db, case, tmp, env)
            if point.startswith("time:"):
                killed = rasd(db, args, tmp, env, kill_after=float(point[5:]))
            else:
                killed = rasd(db, args, tmp, env, point=point)
            if killed.returncode == 0:
                o.note = "finished before the kill"
            elif killed.returncode != -signal.SIGKILL:
                o.ok, o.note = False, f"killed run exited {killed.returncode}"
                o.details.append(killed.stderr[-2000:])
            idx = tmp / f"idx-{case.name}-{k}"
            lookups(db, case.queries, idx)  # a scan between the two runs: the index
            again = rasd(db, args, tmp, env)
            if again.returncode != 0:
                o.ok, o.note = False, f"re-run exited {again.returncode}"
                o.details.append(again.stderr[-2000:])
            dd = diff(ref, dump(db, since))
            if dd:
                o.ok = False
                o.details += ["bank after kill + re-run differs:"] + dd
            hits = lookups(db, case.queries, idx)
            if hits != ref_hits:
                o.ok = False
                o.details += [(f"lookups differ: {sum((ref_hits - hits).values())} hit(s) "
                              f"only in the reference, {sum((hits - ref_hits).values())} "
                              "only after the kill")]
                o.details += [f"    ref : {h}" for h in list(ref_hits - hits)[:3]]
                o.details += [f"    kill: {h}" for h in list(hits - ref_hits)[:3]]
        outs.append(o)
    return outs


def run(names: list[str] | None, db: str | None, tmp: Path, points: list[str],
        n_random: int, seed: int, n: int, batch: int, keep: int | None = None,
        report: Callable[[str], None] = print) -> dict[str, list[Outcome]]:
    rng = random.Random(seed)
    d = tmp / "input"
    d.mkdir(exist_ok=True)
    all_cases = cases(d, n, rng)
    res = {}
    for name, case in all_cases.items():
        if names and name not in names:
            continue
        t0 = time.perf_counter()
        res[name] = outs = check_case(case, db, tmp, points, n_random, rng, batch, keep)
        bad = [o for o in outs if not o.ok]
        report(f"{name:<16}{len(outs):>6}{len(outs) - len(bad):>5}{len(bad):>8}"
               f"  {time.perf_counter() - t0:.1f}s")
        for o in bad:
            report(f"  {o.point}: {o.note}")
            for line in o.details[:12]:
                report(f"    {line}")
    return res


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child_main(sys.argv[2], sys.argv[4:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", help="PostgreSQL URL (each store a fresh schema); default SQLite")
    ap.add_argument("--only", help="cases, comma-separated")
    ap.add_argument("--points", default="commit:1,after:1,after:2,commit:MID,after:LAST")
    ap.add_argument("--random", type=int, default=0, help="random-time kills per case")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-n", type=int, default=3000, help="rows a file")
    ap.add_argument("--batch", type=int, default=500, help="signals a write transaction")
    ap.add_argument("--keep", type=int, help="rows the first reading keeps (KEEP_ROWS)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rasd-bankkill-") as tmp:
        print(f"{'case':<16}{'kills':>6}{'ok':>5}{'failed':>8}", flush=True)
        res = run(a.only.split(",") if a.only else None, a.db, Path(tmp),
                  a.points.split(","), a.random, a.seed, a.n, a.batch, a.keep,
                  report=lambda s: print(s, flush=True))
    return 1 if any(not o.ok for outs in res.values() for o in outs) else 0


if __name__ == "__main__":
    sys.exit(main())
