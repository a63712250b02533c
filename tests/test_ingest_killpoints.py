"""A killed ``rasd ingest`` leaves a store that a re-run completes to the one an
uninterrupted run makes: a few formats of ``benchmarks/killpoints.py``, each
SIGKILLed (for real, in a subprocess) at a deterministic point, run again, and
compared row by row with the reference; a third run must change nothing. Two
formats, one kill each (~20 s on both stores): the harness itself covers every
format and more kill points (docs/ingest.md, "Crashes")."""

from __future__ import annotations

import random

import pytest
from benchmarks.killpoints import check_format
from tests.conftest import PG_URL

CASES = [
    # standard input reads ahead of its records (256 at a time): the fifth
    # batch wrote the raw records of pages whose profiles change, applied in
    # later batches (skipped by the re-run before the fix)
    ("stdin", ["after:5"]),
    # chats' accounts given at the end of each chat, "@name" forwards merged:
    # killed inside the middle batch's transaction
    ("telegram-account", ["commit:MID"]),
]


@pytest.mark.slow
@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
@pytest.mark.parametrize(("fmt", "points"), CASES, ids=[c[0] for c in CASES])
def test_killed_ingest_then_rerun_matches_one_run(tmp_path, db, fmt, points):
    if db == "postgresql" and not PG_URL:
        pytest.skip("PostgreSQL tests need RASD_TEST_PG_URL (CI sets it; e.g. "
                    "postgresql://postgres@127.0.0.1:5432/test)")
    outs = check_format(fmt, PG_URL if db == "postgresql" else None, tmp_path, points,
                        n_random=0, rng=random.Random(0), batch=60, scale=0.25)
    assert outs and all(o.note != "finished before the kill" for o in outs)
    bad = [f"{o.point}: {o.note}\n" + "\n".join(o.details) for o in outs if not o.ok]
    assert not bad, "\n".join(bad)
