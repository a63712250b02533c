"""Small helpers shared by tests (not fixtures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from rasd.store import Store
from rasd.store import schema as S


def count(store: Store, table: Any, *where: Any) -> int:
    with store.connect() as c:
        q = select(func.count()).select_from(table)
        for w in where:
            q = q.where(w)
        return int(c.execute(q).scalar_one())


def post(store: Store, platform: str, pid: str) -> Any:
    with store.connect() as c:
        return c.execute(select(S.posts).where(S.posts.c.platform == platform,
                                               S.posts.c.platform_id == pid)).first()


def account(store: Store, platform: str, pid: str) -> Any:
    with store.connect() as c:
        return c.execute(select(S.accounts).where(S.accounts.c.platform == platform,
                                                  S.accounts.c.platform_id == pid)).first()


def live_processes() -> list[tuple[int, int, bytes]]:
    """(pid, parent pid, command line) of every live process; zombies and
    processes that end while being read are left out."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat, cmdline = (d / "stat").read_text(), (d / "cmdline").read_bytes()
        except OSError:  # ended meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (name)": state, ppid, ...
        if fields[0] != "Z":
            out.append((int(d.name), int(fields[1]), cmdline))
    return out
