"""Shared fixtures.

- ``store``: a fresh migrated store, on SQLite and — when RASD_TEST_PG_URL is set —
  also on PostgreSQL (each test in its own schema). Tests that take ``store`` run on
  both; tests that take ``sqlite_store`` run on SQLite only.
- ``shared_data``: the path of ../shared/data (RASD_SHARED_DATA); tests skip with a
  clear reason where it is absent.

Property tests (hypothesis): CI (``.ci/run`` sets HYPOTHESIS_PROFILE=ci) draws the
same examples every run, so a landing is never refused by an input drawn for the
first time that day; a local run (the default profile) draws new ones each time and
keeps the failures it finds in .hypothesis/ to replay them. The fuzzers in
benchmarks/fuzz_parsers.py search further.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import settings

from rasd.store import Store

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("default", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

PG_URL = os.environ.get("RASD_TEST_PG_URL")
REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("RASD_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    p = shared_data_dir()
    if not p.is_dir():
        pytest.skip(f"shared data not found at {p} (set RASD_SHARED_DATA)")
    return p


def _pg_store() -> tuple[Store, str]:
    import sqlalchemy as sa

    schema = "t_" + uuid.uuid4().hex[:12]
    url = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = sa.create_engine(url)
    with admin.begin() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in url else "?"
    store = Store.open(f"{url}{sep}options=-csearch_path%3D{schema}")
    return store, schema


def _drop_pg(schema: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as c:
        c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@contextmanager
def _fresh_store(kind: str, path: Path) -> Iterator[Store]:
    """A new migrated store: a SQLite file at ``path``, or a PostgreSQL schema
    of its own (dropped afterwards)."""
    if kind == "sqlite":
        s = Store.open(str(path))
        try:
            yield s
        finally:
            s.close()
        return
    s, schema = _pg_store()
    try:
        yield s
    finally:
        s.close()
        _drop_pg(schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path, monkeypatch):
    # files that live beside a server store (quarantine, indexes) go to RASD_HOME
    monkeypatch.setenv("RASD_HOME", str(tmp_path))
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("PostgreSQL tests need RASD_TEST_PG_URL (CI sets it; e.g. "
                    "postgresql://postgres@127.0.0.1:5432/test)")
    with _fresh_store(request.param, tmp_path / "rasd.db") as s:
        yield s


@pytest.fixture
def sqlite_store(tmp_path):
    s = Store.open(str(tmp_path / "rasd.db"))
    yield s
    s.close()


@pytest.fixture
def second_store(store, tmp_path):
    """Another fresh store of the same kind as ``store`` (to compare two runs)."""
    with _fresh_store("sqlite" if store.is_sqlite else "postgresql",
                      tmp_path / "second.db") as s:
        yield s


@pytest.fixture
def pg_store(tmp_path):
    """A fresh PostgreSQL store, for PostgreSQL-only behaviour."""
    if not PG_URL:
        pytest.skip("PostgreSQL tests need RASD_TEST_PG_URL (CI sets it; e.g. "
                    "postgresql://postgres@127.0.0.1:5432/test)")
    with _fresh_store("postgresql", tmp_path) as s:
        yield s
