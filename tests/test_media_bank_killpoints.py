"""A killed ``rasd bank import`` leaves a bank that a re-run completes to the one an
uninterrupted import makes: bank files of ``benchmarks/bank_killpoints.py`` (CSV
with statuses, signals named again in later batches and tombstones of signals the
bank held; TCAP JSON with ``updated_on``), the import SIGKILLed (for real, in a
subprocess) just after its first write batch committed, the PDQ index built from
what it left, the import run again, and the bank's tables and lookups compared
with the reference's. Before each signal was written once, the re-run read a
signal's later row (in a batch the kill cut off) as news for a signal the bank
held, and left it as the first row said: other statuses, labels and reviews."""

from __future__ import annotations

import random

import pytest
from benchmarks.bank_killpoints import cases, check_case
from tests.conftest import PG_URL


@pytest.mark.slow
@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
@pytest.mark.parametrize(("name", "keep"), [("csv-held-apply", 100), ("tcap", None)])
def test_killed_bank_import_then_rerun_matches_one_import(tmp_path, db, name, keep):
    """``keep``: the rows the import's first reading keeps for the second; 100,
    fewer than the file's signals, has the second read the file again."""
    if db == "postgresql" and not PG_URL:
        pytest.skip("PostgreSQL tests need RASD_TEST_PG_URL (CI sets it; e.g. "
                    "postgresql://postgres@127.0.0.1:5432/test)")
    d = tmp_path / "input"
    d.mkdir()
    case = cases(d, 800, random.Random(0))[name]
    outs = check_case(case, PG_URL if db == "postgresql" else None, tmp_path,
                      ["after:1"], n_random=0, rng=random.Random(0), batch=200,
                      keep=keep)
    assert outs and all(o.note != "finished before the kill" for o in outs)
    bad = [f"{o.point}: {o.note}\n" + "\n".join(o.details) for o in outs if not o.ok]
    assert not bad, "\n".join(bad)
