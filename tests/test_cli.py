"""The command line as a user meets it: help everywhere, stats shape, demo,
accounts, scan idempotency with a detector plugin."""

from __future__ import annotations

import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rasd.cli import app, common

runner = CliRunner()


@pytest.fixture(autouse=True)
def _fresh_state():
    common.STATE.db = None
    common.STATE.store = None
    yield
    if common.STATE.store is not None:
        common.STATE.store.close()
    common.STATE.store = None


def _commands(group=app) -> list[list[str]]:
    import typer.main

    click_group = typer.main.get_command(group)
    out = []

    def walk(cmd, path):
        out.append(path)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, path + [name])

    walk(click_group, [])
    return out


def test_help_everywhere_with_examples():
    cmds = _commands()
    assert ["ingest"] in cmds and ["stats"] in cmds and ["scan"] in cmds and ["demo"] in cmds
    for path in cmds:
        r = runner.invoke(app, path + ["--help"])
        assert r.exit_code == 0, (path, r.output)
        if path and path[-1] in ("ingest", "stats", "scan", "demo", "mark"):
            assert "Example" in r.output, path


def test_stats_json_shape(tmp_path):
    """Of a store not made yet: the shape, all zeros, and a warning; no empty
    store is left behind (a mistyped --db made one, and its zeros looked like
    data)."""
    db = tmp_path / "s.db"
    r = runner.invoke(app, ["--db", str(db), "stats", "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    for k in ("accounts", "posts", "media", "edges", "by_platform", "by_source"):
        assert k in s
    assert s["posts"] == 0 and "no store at" in r.stderr and not db.exists()


def test_rasd_db_env(tmp_path, monkeypatch):
    db = tmp_path / "env.db"
    monkeypatch.setenv("RASD_DB", str(db))
    page = tmp_path / "p.jsonl"
    page.write_text(json.dumps({"data": [{"id": "1", "text": "t", "author_id": "2"}]}) + "\n")
    r = subprocess.run([sys.executable, "-m", "rasd", "ingest", str(page)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert db.exists()
    r = subprocess.run([sys.executable, "-m", "rasd", "stats", "--json"], capture_output=True,
                       text=True)
    assert r.returncode == 0 and json.loads(r.stdout)["posts"] == 1, r.stderr


@pytest.mark.parametrize("kind", ["not a database", "a folder", "a server that is not there",
                                  "a driver that is not installed"])
def test_a_store_that_cannot_be_opened_is_an_error_not_a_traceback(tmp_path, kind):
    if kind == "not a database":
        db = tmp_path / "g.db"
        db.write_text("garbage")
    elif kind == "a folder":
        db = tmp_path
    url = {"a server that is not there": "postgresql://me:s3cret@127.0.0.1:1/x",
           "a driver that is not installed": "mysql://x@y/z"}.get(kind) or str(db)
    for cmd in (["stats"], ["ingest", str(tmp_path / "none.jsonl")], ["runs"]):
        r = subprocess.run([sys.executable, "-m", "rasd", "--db", url, *cmd],
                           capture_output=True, text=True)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (cmd, r.stderr)
        assert "s3cret" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "rasd", "--db", url, "stats"],
                       capture_output=True, text=True)
    assert r.stderr.startswith("rasd: error: cannot open the store "), r.stderr


def test_demo_ingests_bundled_data_and_is_rerunnable(tmp_path):
    w = tmp_path / "ws"
    r = runner.invoke(app, ["demo", "--workdir", str(w), "--json"])
    assert "[10_ingest]" in r.stderr  # the steps' lines; standard output is the JSON
    assert json.loads(r.stdout)["10_ingest"]["stats"]["posts"] >= 40
    assert (w / "rasd.db").exists()
    common.STATE.store.close()
    common.STATE.store = None
    r = runner.invoke(app, ["--db", str(w / "rasd.db"), "stats", "--json"])
    s = json.loads(r.output)
    assert s["posts"] >= 40 and s["by_platform"]["telegram"]["media"] == 4
    assert set(s["by_source"]) >= {"demo-x", "demo-telegram", "demo-csv"}
    common.STATE.store.close()
    common.STATE.store = None
    again = runner.invoke(app, ["demo", "--workdir", str(w)])
    assert "0 new, 0 updated" in again.output


def test_demo_says_when_an_exported_rasd_db_is_not_the_workdir(tmp_path, monkeypatch):
    """The README says `export RASD_DB=demo-workspace/rasd.db`; `rasd demo
    --workdir /tmp/rasd-demo` (its --help example) then wrote into the exported
    store without a word, and `rasd --db /tmp/rasd-demo/rasd.db stats` found
    none. RASD_DB still names the store (a PostgreSQL one, say), and says so."""
    import rasd.demo

    monkeypatch.setattr(rasd.demo, "run_demo", lambda store, workdir, log: {})
    exported = tmp_path / "exported.db"
    env = {"RASD_DB": str(exported)}

    def demo(*args: str) -> str:
        r = runner.invoke(app, list(args), env=env)
        assert r.exit_code == 0, r.output
        common.STATE.store.close()
        common.STATE.store = None
        return r.output

    out = demo("demo", "--workdir", str(tmp_path / "w"))
    assert f"(store {exported})" in out
    assert (f"rasd: warning: the store is RASD_DB's ({exported}), not "
            f"{tmp_path / 'w' / 'rasd.db'}") in out
    out = demo("--db", str(tmp_path / "named.db"), "demo", "-w", str(tmp_path / "w2"))
    assert f"(store {tmp_path / 'named.db'})" in out and "warning" not in out
    monkeypatch.chdir(tmp_path)
    out = demo("demo")
    assert f"(store {exported})" in out and "warning" not in out
    env["RASD_DB"] = str(tmp_path / "w" / "rasd.db")  # the workdir's own store
    assert "warning" not in demo("demo", "-w", str(tmp_path / "w"))


def test_ingest_cli_summary_and_missing_file(tmp_path):
    data = Path(__file__).resolve().parents[1] / "src/rasd/data/demo/x/demo_tweets.jsonl"
    db = str(tmp_path / "c.db")
    r = runner.invoke(app, ["--db", db, "ingest", str(data)])
    assert r.exit_code == 0 and "new" in r.output
    r = runner.invoke(app, ["--db", db, "ingest", str(tmp_path / "nope.jsonl")])
    assert r.exit_code == 2 and "no such file" in r.output


def test_accounts_mark_and_show(tmp_path):
    data = Path(__file__).resolve().parents[1] / "src/rasd/data/demo/x/demo_tweets.jsonl"
    db = str(tmp_path / "a.db")
    runner.invoke(app, ["--db", db, "ingest", str(data)])
    r = runner.invoke(app, ["--db", db, "accounts", "mark", "@dailyworld_news", "--role", "news"])
    assert r.exit_code == 0 and "role news" in r.output
    r = runner.invoke(app, ["--db", db, "accounts", "show", "dailyworld_news", "--json"])
    got = json.loads(r.output)[0]
    assert got["role"] == "news"
    # platform:id and platform:@handle, as `accounts show` prints them
    for ref in (f"x:{got['platform_id']}", "x:@dailyworld_news", "x:dailyworld_news"):
        r = runner.invoke(app, ["--db", db, "accounts", "show", ref, "--json"])
        assert r.exit_code == 0 and json.loads(r.output)[0]["id"] == got["id"], ref
    r = runner.invoke(app, ["--db", db, "accounts", "show", "telegram:dailyworld_news"])
    assert r.exit_code == 2 and "no account matches" in r.output
    r = runner.invoke(app, ["--db", db, "accounts", "mark", "@nobody", "--role", "news"])
    assert r.exit_code == 2
    r = runner.invoke(app, ["--db", db, "accounts", "mark", "@dailyworld_news", "--role", "x"])
    assert r.exit_code == 2 and "unknown role" in r.output


def test_marking_a_role_has_the_next_scan_evaluate_the_accounts_posts(tmp_path):
    """Detectors read the author's role; a scan after `accounts mark` scanned
    nothing (the posts were scanned already) and kept the detections made
    under the old role until `scan --all`."""
    data = Path(__file__).resolve().parents[1] / "src/rasd/data/demo/x/demo_tweets.jsonl"
    db = str(tmp_path / "r.db")
    runner.invoke(app, ["--db", db, "ingest", str(data)])

    def text_scan() -> dict:
        r = runner.invoke(app, ["--db", db, "scan", "-d", "text", "--json"])
        assert r.exit_code == 0, r.output
        return json.loads(r.stdout)[0]

    def labels() -> list[str]:
        r = runner.invoke(app, ["--db", db, "show", "x:1800000000000000007", "--json"])
        return [d["label"] for d in json.loads(r.stdout)["detections"]
                if d["detector"] == "text"]

    text_scan()
    assert labels() == ["financing"]
    r = runner.invoke(app, ["--db", db, "accounts", "mark", "@relief_for_orphans",
                            "--role", "news"])
    assert r.exit_code == 0 and "next `rasd scan`" in r.output
    again = text_scan()
    r = runner.invoke(app, ["--db", db, "accounts", "show", "@relief_for_orphans", "--json"])
    n_posts = json.loads(r.stdout)[0]["posts"]
    assert again["scanned"] == n_posts > 0  # that account's posts, and only those
    assert labels() == []  # news about a financing appeal is not flagged
    runner.invoke(app, ["--db", db, "accounts", "mark", "@relief_for_orphans", "--role", "news"])
    assert text_scan()["scanned"] == 0  # the same role again changes nothing


def test_show_raw_on_a_terminal_refuses_binary_and_says_what_it_escaped(tmp_path,
                                                                          monkeypatch):
    """On a terminal `show --raw` prints text, not the bytes: control
    characters are escaped and stderr says so, with how to get the bytes. A
    record that is not UTF-8 text was printed as replacement characters, which
    looked like the record; it is refused there (exit 1) unless --force, which
    writes its bytes \\xNN. Redirected, the bytes are written as stored."""
    from sqlalchemy import update

    from rasd.cli import show
    from rasd.store import Store
    from rasd.store import schema as S
    from rasd.store.db import compress

    data = Path(__file__).resolve().parents[1] / "src/rasd/data/demo/telegram"
    db = str(tmp_path / "show.db")
    runner.invoke(app, ["--db", db, "ingest", str(data)])
    ref = "telegram:channel7000000001/2"
    args = ["--db", db, "show", ref, "--raw"]
    sha = json.loads(runner.invoke(app, ["--db", db, "show", ref, "--json"]).stdout)["raw"][
        "sha256"]
    monkeypatch.setattr(show, "_on_terminal", lambda: True)
    r = runner.invoke(app, args)
    assert r.exit_code == 0 and json.loads(r.stdout)["id"] == 2 and r.stderr == ""

    def store_raw(data: bytes) -> None:  # a store is input too: any bytes may be there
        st = Store.open(db)
        with st.begin() as c:
            c.execute(update(S.raw_records).where(S.raw_records.c.sha256 == sha).values(
                data=compress(data)))
        st.close()

    store_raw(b'{"text": "red \x1b[31malert"}')
    r = runner.invoke(app, args)
    assert r.exit_code == 0 and r.stdout == '{"text": "red \\x1b[31malert"}\n'
    assert "control characters escaped" in r.stderr and "--raw > record" in r.stderr
    binary = b"\xff\xd8\xff\xe0\x00\x10JFIF\x1b[2J"
    store_raw(binary)
    r = runner.invoke(app, args)
    assert r.exit_code == 1 and r.stdout == "" and "binary (14 bytes" in r.stderr
    r = runner.invoke(app, [*args, "--force"])
    assert r.exit_code == 0 and "\x1b" not in r.stdout
    assert r.stdout == "\\xff\\xd8\\xff\\xe0\\x00\\x10JFIF\\x1b[2J\n"
    monkeypatch.setattr(show, "_on_terminal", lambda: False)
    assert runner.invoke(app, args).stdout_bytes == binary
    assert runner.invoke(app, ["--db", db, "show", ref, "--force"]).exit_code == 2


def test_show_post_with_raw_evidence(tmp_path):
    data = Path(__file__).resolve().parents[1] / "src/rasd/data/demo/telegram"
    db = str(tmp_path / "show.db")
    runner.invoke(app, ["--db", db, "ingest", str(data)])
    r = runner.invoke(app, ["--db", db, "show", "telegram:channel7000000001/2", "--raw"])
    assert r.exit_code == 0
    raw = json.loads(r.output)
    assert raw["id"] == 2 and raw["photo"].startswith("photos/")
    raw_bytes = r.stdout_bytes
    r = runner.invoke(app, ["--db", db, "show", "telegram:channel7000000001/2", "--json"])
    shown = json.loads(r.output)
    assert shown["text"].startswith("New release")
    from rasd.store import Store

    st = Store.open(db)
    assert raw_bytes == st.raw(shown["raw"]["sha256"])  # byte for byte, when redirected
    st.close()
    r = runner.invoke(app, ["--db", db, "show", "telegram:channel7000000001/2"])
    assert r.exit_code == 0 and "New release" in r.output
    assert "https://t.me/c/7000000001/2" in r.output  # no public username in the export
    assert re.search(r"collected \S+; stored \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, last seen ",
                     r.output), r.output
    r = runner.invoke(app, ["--db", db, "show", "telegram:nope/1"])
    assert r.exit_code == 2


def test_show_lists_a_posts_media_with_their_matches(tmp_path, monkeypatch):
    """An analyst looking at a post sees its photo, where the file is, and the
    bank match on it (the media detection is the photo's, not the post's)."""
    demo = Path(__file__).resolve().parents[1] / "src/rasd/data/demo"
    monkeypatch.setenv("RASD_INDEX_DIR", str(tmp_path / "idx"))
    db = str(tmp_path / "m.db")
    assert runner.invoke(app, ["--db", db, "ingest", str(demo / "telegram")]).exit_code == 0
    runner.invoke(app, ["--db", db, "bank", "create", "demo", "-l", "entity=demo-group"])
    runner.invoke(app, ["--db", db, "bank", "import", "demo",
                        str(demo / "banks" / "demo-known-content.csv")])
    r = runner.invoke(app, ["--db", db, "scan", "--media", "--detector", "media"])
    assert r.exit_code == 0, r.output
    ref = "telegram:channel7000000001/2"
    r = runner.invoke(app, ["--db", db, "show", ref, "--json"])
    media = json.loads(r.stdout)["media"]
    assert [m["type"] for m in media] == ["photo"]
    assert media[0]["local_path"].endswith("photos/photo_1@01-03-2024_10-00-00.jpg")
    assert [(d["detector"], d["label"]) for d in media[0]["detections"]] == [
        ("media", "incitement")]
    r = runner.invoke(app, ["--db", db, "show", ref])
    assert re.search(r"media photo #\d+: \S+photo_1@01-03-2024_10-00-00\.jpg\n"
                     r"    detection media/incitement 1\.00 \(media-1\) entity=demo-group",
                     r.stdout), r.stdout


def test_ingest_a_folder_of_files(tmp_path):
    import shutil

    demo = Path(__file__).resolve().parents[1] / "src/rasd/data/demo"
    for sub in ("x", "telegram", "csv"):
        shutil.copytree(demo / sub, tmp_path / "coll" / sub)
    (tmp_path / "coll" / "notes.md").write_text("not data")
    (tmp_path / "coll" / "other.csv").write_text("a,b\n1,2\n")
    db = str(tmp_path / "f.db")
    r = runner.invoke(app, ["--db", db, "ingest", str(tmp_path / "coll"), "--json"])
    assert r.exit_code == 0, r.output
    assert "skipped" in r.stderr and "other.csv" in r.stderr
    formats = sorted(x["format"] for x in json.loads(r.stdout))
    assert formats == ["csv", "telegram", "x"]


def test_quarantine_lists_rejects(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"data": [{"id": "1", "text": "ok", "author_id": "2"}]}\n{oops\n')
    db = str(tmp_path / "q.db")
    runner.invoke(app, ["--db", db, "ingest", str(f)])
    r = runner.invoke(app, ["--db", db, "quarantine"])
    assert r.exit_code == 0 and "1 rejected record" in r.stdout and "bad.jsonl:line 2" in r.stdout
    r = runner.invoke(app, ["--db", db, "quarantine", "--json"])
    assert json.loads(r.stdout)[0]["line"] == 2


def test_ingest_reads_standard_input(tmp_path):
    """`twarc2 search … | rasd ingest -`: plain or compressed, read as it comes
    (nothing spooled to disk); the summary and the source say stdin."""
    import gzip

    db = tmp_path / "s.db"
    page = json.dumps({"data": [{"id": "1", "text": "piped", "author_id": "2"}],
                       "includes": {"users": [{"id": "2", "username": "u2"}]}}) + "\n"
    # a temporary folder of its own: other processes on the machine may make
    # rasd-* files in the shared one at the same moment
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    cmd = [sys.executable, "-m", "rasd.cli", "--db", str(db), "ingest", "-", "--json"]
    r = subprocess.run(cmd, input=page.encode(), capture_output=True, check=False, env=env)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)[0]
    assert rep["path"] == "-" and rep["source"] == "stdin" and rep["new"] == 2
    page2 = page.replace('"1"', '"3"').replace("piped", "gzipped")
    r = subprocess.run(cmd, input=gzip.compress(page2.encode()), capture_output=True,
                       check=False, env=env)
    assert r.returncode == 0 and json.loads(r.stdout)[0]["by_kind"]["posts"] == {"new": 1}
    import lzma

    page3 = page.replace('"1"', '"4"').replace("piped", "xz")
    r = subprocess.run(cmd, input=lzma.compress(page3.encode()), capture_output=True,
                       check=False, env=env)
    assert r.returncode == 0 and json.loads(r.stdout)[0]["by_kind"]["posts"] == {"new": 1}
    r = subprocess.run(cmd[:-1], input=b"", capture_output=True, check=False, env=env)
    assert r.returncode == 2 and b"standard input: file is empty" in r.stderr
    assert not list(tmp.iterdir())  # nothing spooled to disk
    # a JSON array whose second item is broken: the reader starts again on the
    # kept first bytes (JSON Lines fallback) and keeps the item before
    r = subprocess.run(cmd, input=b'[{"data": [{"id": "7", "text": "a", "author_id": "2"}]},'
                       b'\n{oops', capture_output=True, check=False, env=env)
    rep = json.loads(r.stdout)[0]
    assert r.returncode == 0 and rep["by_kind"]["posts"] == {"new": 1} and rep["rejected"] == 1
    q = (tmp_path / "s.quarantine.jsonl").read_text().splitlines()
    assert json.loads(q[-1])["file"] == "-"
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT path, status FROM ingest_files").fetchall()
    assert rows and all(p == "-" and st == "done" for p, st in rows)


def test_ingest_from_a_pipe_writes_while_the_pipe_is_quiet(tmp_path):
    """`twarc2 stream | rasd ingest -` never ends: what has arrived is in the
    store once the pipe goes quiet, not after a batch of 5,000 or at the end."""
    import time

    db = tmp_path / "live.db"
    proc = subprocess.Popen([sys.executable, "-m", "rasd.cli", "--db", str(db), "ingest", "-",
                             "--json"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdin is not None

    def posts() -> int:
        if not db.exists():
            return 0
        try:
            with sqlite3.connect(db, timeout=5) as c:
                return c.execute("SELECT count(*) FROM posts").fetchone()[0]
        except sqlite3.OperationalError:  # not migrated yet
            return 0

    try:
        for k in (1, 2):
            page = {"data": [{"id": str(100 + k), "text": f"live {k}", "author_id": "2"}],
                    "includes": {"users": [{"id": "2", "username": "u2"}]}}
            proc.stdin.write(json.dumps(page).encode() + b"\n")
            proc.stdin.flush()
            deadline = time.monotonic() + 30
            while posts() < k and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.1)
            assert posts() == k, proc.stderr.read() if proc.poll() is not None else "timeout"
        out, err = proc.communicate(timeout=60)  # closes the pipe: end of input
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    rep = json.loads(out)[0]
    assert rep["path"] == "-" and rep["by_kind"]["posts"] == {"new": 2}


def test_content_printed_to_a_terminal_cannot_drive_it(tmp_path):
    """Names, bios and raw records are adversaries' text: control characters and
    bidi overrides are shown as escapes, never sent to the terminal."""
    esc, rlo = "\x1b[2J\x1b]0;pwned\x07", "\u202e"
    page = {"data": [{"id": "9", "text": f"hi {esc}", "author_id": "5"}],
            "includes": {"users": [{"id": "5", "username": f"evil{rlo}", "name": f"N{esc}",
                                    "description": f"bio {esc}{rlo}"}]}}
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps(page) + "\n")
    html = tmp_path / "export" / "messages.html"
    html.parent.mkdir()
    html.write_text('<div class="page_header"><div class="text bold">C</div></div>'
                    '<div class="history">\n<div class="message default clearfix" id="message1">'
                    '<div class="body"><div class="pull_right date details" '
                    'title="01.03.2024 10:00:05 UTC+03:00">10:00</div>'
                    f'<div class="from_name">Bad{esc}</div><div class="text">x{esc}</div>'
                    "</div></div>\n", "utf-8")
    db = str(tmp_path / "t.db")
    assert runner.invoke(app, ["--db", db, "ingest", str(f), str(html)]).exit_code == 0
    outs = [runner.invoke(app, ["--db", db, "show", "x:9"]).output,
            runner.invoke(app, ["--db", db, "show", "telegram:name:C/1"]).output,
            runner.invoke(app, ["--db", db, "accounts", "show", "5"]).output]
    for out in outs:
        assert "\x1b" not in out and "\x07" not in out and rlo not in out, out
    assert "\\x1b" in outs[1] and "\\u202e" in outs[2]


def test_chat_id_option(tmp_path):
    from tests.test_ingest_telegram_html import html_export, message

    d = html_export(tmp_path, [[message(2, "hi")]])
    other = tmp_path / "t.jsonl"
    other.write_text(json.dumps({"data": [{"id": "1", "text": "x", "author_id": "2"}]}) + "\n")
    db = str(tmp_path / "c.db")
    r = runner.invoke(app, ["--db", db, "ingest", str(d), "--chat-id", "bogus"])
    assert r.exit_code == 2 and "expected a Telegram chat id" in r.output
    r = runner.invoke(app, ["--db", db, "ingest", str(other), "--chat-id", "channel1"])
    assert r.exit_code == 2 and "for Telegram HTML exports" in r.output
    r = runner.invoke(app, ["--db", db, "ingest", str(d), str(other), "--chat-id", "channel9"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["--db", db, "show", "telegram:channel9/2"])
    assert r.exit_code == 0 and "https://t.me/c/9/2" in r.output


def test_a_folder_of_compressed_files(tmp_path):
    import bz2
    import lzma

    d = tmp_path / "crawl"
    d.mkdir()
    for i, (ext, pack) in enumerate((("jsonl.xz", lzma.compress), ("jsonl.bz2", bz2.compress),
                                     ("txt.xz", lzma.compress))):
        (d / f"p{i}.{ext}").write_bytes(pack(json.dumps(
            {"data": [{"id": str(i), "text": "t", "author_id": "9"}]}).encode() + b"\n"))
    db = str(tmp_path / "z.db")
    r = runner.invoke(app, ["--db", db, "ingest", str(d), "--json"])
    assert r.exit_code == 0, r.output
    assert sorted(Path(x["path"]).name for x in json.loads(r.output)) == [
        "p0.jsonl.xz", "p1.jsonl.bz2"]  # .txt.xz is not an ingestible name


def test_dry_run_reads_and_writes_nothing(tmp_path):
    """--dry-run is for trying a mapping or vetting a file: the counts of what it
    holds and its rejects, no store created, no quarantine written; --strict
    still fails on rejects."""
    f = tmp_path / "a.csv"
    f.write_text("id,who,body\n1,u,hi\n2,,x\n3,v,#tag\n")
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"post": {"id": "{id}", "text": "body", "account_id": "{who}"},
                             "account": {"id": "{who}", "handle": "who"}}))
    db = tmp_path / "never.db"
    r = runner.invoke(app, ["--db", str(db), "ingest", str(f), "--mapping", str(m),
                            "--dry-run", "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)[0]
    assert rep["records"] == {"accounts": 2, "posts": 2} and rep["rejected"] == 1
    assert rep["rejects"][0]["line"] == 3 and rep["rejects"][0]["field"] == "who"
    assert not db.exists() and not list(tmp_path.glob("*.quarantine.jsonl"))
    r = runner.invoke(app, ["--db", str(db), "ingest", str(f), "--mapping", str(m),
                            "--dry-run", "--strict"])
    assert r.exit_code == 1 and "2 posts" in r.output
    # the reason names the field: said once ("line 3 field who: missing required field 'who'")
    assert "rejected line 3: missing required field 'who'" in r.output, r.output
    assert not db.exists()


def test_several_files_end_with_a_total_and_names_are_escaped(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    page = {"data": [{"id": "1", "text": "a", "author_id": "2"}]}
    (d / "a.jsonl").write_text(json.dumps(page) + "\n")
    (d / "b\x1b[2J.jsonl").write_text(json.dumps(page).replace('"1"', '"3"') + "\n")
    r = runner.invoke(app, ["--db", str(tmp_path / "t.db"), "ingest", str(d)])
    assert r.exit_code == 0, r.output
    assert "2 files: 2 new, 0 updated, 0 unchanged, 0 rejected" in r.output
    assert "\x1b" not in r.output and "b\\x1b[2J.jsonl" in r.output


def test_each_invocation_opens_the_store_it_names(tmp_path):
    """In one process (tests, notebooks), a second invocation with another --db
    must not write into the first one's store."""
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps({"data": [{"id": "1", "text": "a", "author_id": "2"}]}) + "\n")
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    assert runner.invoke(app, ["--db", str(a), "stats"]).exit_code == 0
    assert runner.invoke(app, ["--db", str(b), "ingest", str(f)]).exit_code == 0
    sa = json.loads(runner.invoke(app, ["--db", str(a), "stats", "--json"]).stdout)
    sb = json.loads(runner.invoke(app, ["--db", str(b), "stats", "--json"]).stdout)
    assert sa["posts"] == 0 and sb["posts"] == 1


def test_what_adversaries_wrote_is_printed_escaped(tmp_path, monkeypatch):
    """Handles, names, indicator values, cluster texts and file names are input:
    their control characters (a terminal title, a screen clear, a C1 CSI) and
    bidi overrides reach the terminal escaped, from every command that prints
    them. JSON output keeps the values (escaped as \\uXXXX, which JSON reads back
    the same)."""
    monkeypatch.setenv("RASD_INDEX_DIR", str(tmp_path / "idx"))
    esc = "\x1b]0;PWNED\x07\x1b[2J\u202eevil\x9b31m"
    wallet = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
    lines = []
    for i, uid in enumerate(["77", "78"]):
        user = {"id": uid, "username": f"bad{esc}{uid}", "name": f"N{esc}",
                "description": f"bio {esc}"}
        lines.append(json.dumps({
            "id": str(500 + i), "author_id": uid, "author": user,
            "created_at": "2024-01-01T00:00:00.000Z",
            "text": f"Brothers, the caravan is waiting, make hijrah now, send {wallet} {esc}",
            # (an id with a control character rejects its tweet: a bidi override is left)
            "referenced_tweets": [{"type": "replied_to", "id": "9\u202eevil"}],
            "entities": {"urls": [{"start": 0, "end": 1, "url": "https://t.co/x",
                                   "expanded_url": f"https://paypal.me/x{esc}"}]}}))
    f = tmp_path / "e.jsonl"
    f.write_text("\n".join(lines) + "\n")
    png = tmp_path / f"img{esc}.png"
    from PIL import Image

    Image.new("RGB", (64, 64), (200, 10, 10)).save(png, format="PNG")
    db = str(tmp_path / "e.db")
    outputs = []
    for args in (["ingest", str(f)], ["scan", "--detector", "finance"], ["finance", "links"],
                 ["clusters", "build"], ["clusters", "list"], ["clusters", "show", "1"],
                 ["accounts", "show", "x:77"], ["show", "x:500"], ["hash", str(png)],
                 ["bank", "create", "b"], ["match", str(png)], ["quarantine"], ["links"],
                 ["links", "--ids"], ["runs"], ["runs", "--json"],
                 ["show", "x:500", "--json"], ["finance", "links", "--json"],
                 ["accounts", "show", "x:77", "--json"], ["clusters", "show", "1", "--json"]):
        r = runner.invoke(app, ["--db", db, *args])
        assert r.exception is None or isinstance(r.exception, SystemExit), (args, r.output)
        outputs.append((args, r.output))
    printed = "".join(o for _, o in outputs)
    assert "bc1qar0srrr7" in printed and "evil" in printed  # the content is shown …
    for args, out in outputs:  # … its control characters are not
        assert not set(out) & {"\x1b", "\x07", "\u202e", "\x9b"}, (args, out)
    shown = json.loads({tuple(a): o for a, o in outputs}[("show", "x:500", "--json")])
    assert esc in shown["text"]  # the same string once read back


def test_links_lists_the_posts_links_wait_for(tmp_path):
    """`rasd links`: the missing posts, most awaited first; --ids for twarc2
    hydrate; once they are ingested, nothing waits and the edges are there."""
    db = str(tmp_path / "r.db")
    replies = tmp_path / "replies.jsonl"
    replies.write_text("".join(json.dumps({"data": [
        {"id": str(10 + i), "text": "re", "author_id": str(i),
         "referenced_tweets": [{"type": kind, "id": target}]}]}) + "\n"
        for i, (kind, target) in enumerate((("replied_to", "500"), ("replied_to", "500"),
                                            ("quoted", "500"), ("replied_to", "600")))))
    assert runner.invoke(app, ["--db", db, "ingest", str(replies)]).exit_code == 0
    r = runner.invoke(app, ["--db", db, "links"])
    assert r.exit_code == 0
    assert r.output.splitlines() == ["x:500  3 link(s): quote 1, reply 2",
                                     "x:600  1 link(s): reply 1"]
    r = runner.invoke(app, ["--db", db, "links", "--ids", "-n", "0", "--platform", "x"])
    assert r.output.split() == ["500", "600"]
    for extra in ([], ["--ids"]):  # --json with --ids keeps the kinds (review)
        r = runner.invoke(app, ["--db", db, "links", "--json", "-n", "1", *extra])
        assert json.loads(r.output) == [{"platform": "x", "post_id": "500", "links": 3,
                                         "kinds": {"quote": 1, "reply": 2}}]
    assert runner.invoke(app, ["--db", db, "links", "--draw"]).output == "0 edge(s) drawn\n"
    assert "no links wait" in runner.invoke(app, ["--db", db, "links", "-p", "telegram"]).output
    shown = runner.invoke(app, ["--db", db, "show", "x:12"]).output
    assert "  quote of x:500 (not ingested: its edge waits for it; rasd links)" in shown
    parents = tmp_path / "parents.jsonl"
    parents.write_text(json.dumps({"data": [{"id": "500", "text": "p", "author_id": "9"},
                                            {"id": "600", "text": "p", "author_id": "9"}]}))
    r = runner.invoke(app, ["--db", db, "ingest", str(parents)])
    assert "links: drawn 4" in r.output
    assert "no links wait for a post" in runner.invoke(app, ["--db", db, "links"]).output
    assert "  quote of x:500 by x:9\n" in runner.invoke(app, ["--db", db, "show", "x:12"]).output
    got = json.loads(runner.invoke(app, ["--db", db, "show", "x:10", "--json"]).output)["links"]
    assert got == [{"kind": "reply", "target": "500", "stored": True, "target_is": "post",
                    "waiting": False, "account": "9", "handle": None, "name": None}]
    stats = json.loads(runner.invoke(app, ["--db", db, "stats", "--json"]).output)
    assert stats["links_waiting"] == 0 and stats["edges_by_kind"] == {"reply": 3, "quote": 1}
    acc = json.loads(runner.invoke(app, ["--db", db, "accounts", "show", "x:9", "--json"]).output)
    assert acc[0]["links"] == {"out": {}, "out_accounts": 0, "in": {"quote": 1, "reply": 3},
                               "in_accounts": 4}
    shown = runner.invoke(app, ["--db", db, "accounts", "show", "x:0"]).output
    assert "  links out: reply 1 (to 1 account(s))" in shown


def test_file_names_in_bytes_that_are_not_utf8_print(tmp_path, monkeypatch):
    """JSON output that names a file named in bytes that are not UTF-8 (Python
    keeps them as lone surrogates) writes them \\xNN: `rasd hash` raised
    TypeError from the JSON encoder, for the file and for a missing one."""
    import os

    from PIL import Image

    monkeypatch.setenv("RASD_INDEX_DIR", str(tmp_path / "idx"))
    png = os.fsdecode(os.fsencode(tmp_path) + b"/img\xff.png")
    Image.new("RGB", (64, 64), (200, 10, 10)).save(png, format="PNG")
    db = str(tmp_path / "h.db")
    for args in (["hash", png], ["hash", png[:-4] + "-missing.png"], ["match", "--json", png]):
        r = runner.invoke(app, ["--db", db, *args])
        assert r.exception is None or isinstance(r.exception, SystemExit), (args, r.exception)
        first = json.loads(r.stdout.splitlines()[0] if args[0] == "hash" else r.stdout)
        first = first[0] if isinstance(first, list) else first
        assert "img\\xff" in first["path"], r.stdout
    bank = os.fsdecode(os.fsencode(tmp_path) + b"/bank\xff.csv")
    with open(bank, "w") as fh:  # its name is stored as the signals' source (it raised)
        fh.write("signal_type,signal,labels\npdq," + "f" * 64 + ",category=terror\n")
    assert runner.invoke(app, ["--db", db, "bank", "create", "b"]).exit_code == 0
    r = runner.invoke(app, ["--db", db, "bank", "import", "b", bank])
    assert r.exit_code == 0 and "added 1" in r.output, r.output


def test_runs_lists_what_was_ingested_and_how_it_ended(tmp_path):
    """`rasd runs`: the ingest runs recorded, newest first, with their counts; a
    run recorded as running whose process is gone shows as dead, and the next
    ingest records it killed."""
    from sqlalchemy import update

    from rasd.store import Store
    from rasd.store import schema as S

    db = str(tmp_path / "r.db")
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(json.dumps({"data": [{"id": "1", "text": "t", "author_id": "5"}]}) + "\n{bad\n")
    b.write_text(json.dumps({"data": [{"id": "2", "text": "t", "author_id": "5"}]}) + "\n")
    assert runner.invoke(app, ["--db", db, "ingest", str(a), "--source", "op"]).exit_code == 0
    assert runner.invoke(app, ["--db", db, "ingest", str(b)]).exit_code == 0
    out = runner.invoke(app, ["--db", db, "runs"]).output.splitlines()
    assert len(out) == 2 and out[0].startswith("#2 ") and str(b) in out[0]
    assert "done" in out[1] and "[op]" in out[1] and "new 1, updated 0, unchanged 0, " \
        "rejected 1" in out[1]
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    s = Store.open(db)
    with s.begin() as c:  # run 1 as a run killed hard leaves it
        c.execute(update(S.ingest_files).where(S.ingest_files.c.id == 1).values(
            status="running", pid=gone.pid, host=__import__(
                "rasd.ingest.runner", fromlist=["this_host"]).this_host()))
    runs = json.loads(runner.invoke(app, ["--db", db, "runs", "--json"]).output)
    assert [(r["id"], r["status"], r["state"]) for r in runs] == [
        (2, "done", "done"), (1, "running", "dead")]
    assert runs[1]["source"] == "op" and runs[1]["counts"]["rejected"] == 1
    dead = json.loads(runner.invoke(app, ["--db", db, "runs", "--status", "dead",
                                          "--json"]).output)
    assert [r["id"] for r in dead] == [1]
    r = runner.invoke(app, ["--db", db, "ingest", str(b)])
    assert "did not finish" in r.output and "rasd runs" in r.output
    got = json.loads(runner.invoke(app, ["--db", db, "runs", "--json", "-n", "0"]).output)
    assert [(r["id"], r["state"]) for r in got] == [(3, "done"), (2, "done"), (1, "killed")]
    assert runner.invoke(app, ["--db", db, "runs", "--source", "op", "-n", "1"]).output \
        .startswith("#1 ")
    bad = runner.invoke(app, ["--db", db, "runs", "--status", "bogus"])
    assert bad.exit_code == 2 and "status must be one of" in bad.output
    # runs are there, none of that source: said so ("no ingest runs recorded")
    none = runner.invoke(app, ["--db", db, "runs", "--source", "op-banner", "--status", "done"])
    assert none.output == "no ingest runs recorded with status done and source 'op-banner'\n"
    # a file named with a line break cannot forge a row (review)
    odd = tmp_path / "x\n#99  2026-01-01 00:00:00 UTC  done  x  forged.jsonl"
    odd.write_text(json.dumps({"data": [{"id": "3", "text": "t", "author_id": "5"}]}) + "\n")
    assert runner.invoke(app, ["--db", db, "ingest", str(odd)]).exit_code == 0
    out = runner.invoke(app, ["--db", db, "runs", "-n", "1"]).stdout
    assert out.count("\n") == 1 and "x\\n#99" in out and " UTC " in out


def test_a_file_of_no_known_format_leaves_no_store_behind(tmp_path):
    """Issue 2: "a file that is no known format: clear error, exit 2, nothing
    written" — not even an empty store, nor for a folder of files rasd cannot
    read (a CSV no mapping fits), which --strict makes an error; the first
    readable file creates it."""
    db = tmp_path / "new.db"
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello\x00world\n")
    r = runner.invoke(app, ["--db", str(db), "ingest", str(junk)])
    assert r.exit_code == 2 and "not a known format" in r.output and not db.exists()
    d = tmp_path / "d"
    d.mkdir()
    (d / "a.csv").write_text("colour,size\nred,3\n")
    r = runner.invoke(app, ["--db", str(db), "ingest", str(d)])
    assert r.exit_code == 0 and "skipped" in r.output and not db.exists()
    assert runner.invoke(app, ["--db", str(db), "ingest", str(d), "--strict"]).exit_code == 1
    import zipfile

    with zipfile.ZipFile(tmp_path / "a.zip", "w") as z:  # nor does an archive of such files
        z.writestr("junk.jsonl", "hello\x00world\n")
        z.writestr("b.csv", "colour,size\nred,3\n")
    r = runner.invoke(app, ["--db", str(db), "ingest", str(tmp_path / "a.zip")])
    assert "skipped" in r.output and not db.exists()
    ok = tmp_path / "ok.jsonl"
    ok.write_text(json.dumps({"data": [{"id": "1", "text": "t", "author_id": "2"}]}) + "\n")
    assert runner.invoke(app, ["--db", str(db), "ingest", str(d), str(ok)]).exit_code == 0
    assert db.exists()


def test_quarantine_counts_each_files_latest_run(tmp_path):
    """Re-ingesting a file writes its rejects again; `rasd quarantine` counts
    those of each file's latest run (it said "2 rejected" for one bad line read
    twice), `--all` every entry; each entry names its run, and a file whose
    records were all rejected is a run too (rasd runs)."""
    db = str(tmp_path / "q.db")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"data": [{"id": "1", "text": "t", "author_id": "2"}]})
                   + "\n{bad\n")
    for _ in range(2):
        assert runner.invoke(app, ["--db", db, "ingest", str(bad)]).exit_code == 0
    out = runner.invoke(app, ["--db", db, "quarantine"]).output
    assert out.startswith("1 rejected record(s)") and "1 more from earlier runs" in out
    assert runner.invoke(app, ["--db", db, "quarantine", "--all"]).output.startswith(
        "2 rejected record(s)")
    last = json.loads(runner.invoke(app, ["--db", db, "quarantine", "--json"]).output)
    assert [r["run"] for r in last] == [2] and last[0]["line"] == 2
    only = tmp_path / "only.jsonl"
    only.write_text("".join(json.dumps({"data": [{"text": f"no id {i}"}]}) + "\n"
                            for i in range(3)))
    assert runner.invoke(app, ["--db", db, "ingest", str(only)]).exit_code == 0
    run = json.loads(runner.invoke(app, ["--db", db, "runs", "--json", "-n", "1"]).output)[0]
    assert run["path"] == str(only.resolve()) and run["counts"]["rejected"] == 3
    out = runner.invoke(app, ["--db", db, "quarantine", "--file", "only"]).output
    assert out.startswith("3 rejected record(s)")


def test_ingest_quarantine_limit_option(tmp_path):
    """`--quarantine-limit N` writes N rejects of a file one by one and counts
    the rest in one entry (`rasd quarantine` counts them all); 0 writes every
    one."""
    db = str(tmp_path / "q.db")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"data": [{"id": "1", "text": "t", "author_id": "2"}]})
                   + "\n" + "{bad\n" * 4)
    r = runner.invoke(app, ["--db", db, "ingest", str(bad), "--quarantine-limit", "1", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["rejected"] == 4
    q = tmp_path / "q.quarantine.jsonl"
    assert len(q.read_text().splitlines()) == 2
    out = runner.invoke(app, ["--db", db, "quarantine"]).output
    assert out.startswith("4 rejected record(s)") and "3 more rejected record(s)" in out
    r = runner.invoke(app, ["--db", db, "ingest", str(bad), "--quarantine-limit", "0"])
    assert r.exit_code == 0 and len(q.read_text().splitlines()) == 2 + 4
    assert runner.invoke(app, ["--db", db, "ingest", str(bad), "--quarantine-limit",
                               "-1"]).exit_code == 2


def test_quarantine_of_a_rerun_cut_short_and_of_another_store(tmp_path, monkeypatch):
    """Review: a re-run cut short does not hide the complete run's rejects; the
    entries of a quarantine file that name runs of another store (kept from a
    deleted one, or shared: x.db and x.sqlite wrote one file) do not count."""
    from rasd.ingest import runner as r
    from rasd.ingest.writer import Writer

    db = tmp_path / "q.db"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"data": [{"id": "1", "text": "t", "author_id": "2"}]})
                   + "\n{bad\n")
    assert runner.invoke(app, ["--db", str(db), "ingest", str(bad)]).exit_code == 0

    def cut(self, b):
        raise KeyboardInterrupt

    monkeypatch.setattr(Writer, "apply", cut)
    runner.invoke(app, ["--db", str(db), "ingest", str(bad)])
    monkeypatch.undo()
    runs = json.loads(runner.invoke(app, ["--db", str(db), "runs", "--json"]).output)
    assert [x["state"] for x in runs] == ["interrupted", "done"]
    # what the interrupted run did is recorded too (exploratory testing: it had no counts)
    assert runs[0]["counts"] is not None and runs[0]["counts"]["rejected"] == 1
    out = runner.invoke(app, ["--db", str(db), "quarantine"]).output
    assert out.startswith("1 rejected record(s)")
    last = json.loads(runner.invoke(app, ["--db", str(db), "quarantine", "--json"]).output)
    assert [x["run"] for x in last] == [1]  # the complete run's
    # the store deleted, its quarantine kept: the new store's run 1 is another run
    for p in tmp_path.glob("q.db*"):
        p.unlink()
    assert runner.invoke(app, ["--db", str(db), "ingest", str(bad)]).exit_code == 0
    out = runner.invoke(app, ["--db", str(db), "quarantine"]).output
    # the old store's two entries name runs this one does not hold (its run 1
    # began at another time): only this store's run 1 counts, with --all too
    assert out.startswith("1 rejected record(s)"), out
    from rasd.store import Store

    assert r.read_quarantine(Store.open(str(db))).count == 1
    assert r.read_quarantine(Store.open(str(db)), every_run=True).count == 1
    # a store named x.sqlite beside x.db has a quarantine file of its own
    other = tmp_path / "q.sqlite"
    assert runner.invoke(app, ["--db", str(other), "ingest", str(bad)]).exit_code == 0
    assert r.quarantine_path(Store.open(str(other))).name == "q.sqlite.quarantine.jsonl"
    assert r.read_quarantine(Store.open(str(other))).count == 1
    assert r.read_quarantine(Store.open(str(db))).count == 1


def test_a_file_name_with_a_line_break_cannot_forge_output_lines(tmp_path):
    """Exploratory testing: the ingest summary, its warnings and `rasd
    quarantine` printed a line break in a file name as is (`rasd runs` did
    not): each now keeps to its line."""
    db = str(tmp_path / "n.db")
    odd = tmp_path / "a\nrasd: 0 rejected.jsonl"
    odd.write_text(json.dumps({"data": [{"id": "1", "text": "t", "author_id": "2"}]})
                   + "\n{bad\n")
    r = runner.invoke(app, ["--db", db, "ingest", str(odd)])
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert not any(x.startswith("rasd: 0 rejected") for x in lines), lines
    assert any("a\\nrasd: 0 rejected.jsonl" in x for x in lines)  # the summary
    q = runner.invoke(app, ["--db", db, "quarantine"]).output.splitlines()
    assert not any(x.startswith("rasd: 0 rejected") for x in q), q


def test_stats_shows_source_names_as_text(tmp_path, monkeypatch):
    """Source names are input (a file name by default): Rich read markup in
    them — "[link=…]" made a hyperlink, "op[/]x" stopped `rasd stats` with a
    traceback — and let control characters through."""
    db = str(tmp_path / "s.db")
    names = ["op[/]x", "[link=https:evil.example]x", "evil\x1b]0;TITLE\x07\u202e", "two\nlines"]
    for i, name in enumerate(names):
        f = tmp_path / f"p{i}.jsonl"
        f.write_text(json.dumps({"data": [{"id": str(i), "text": "t",
                                           "author_id": str(10 + i)}]}) + "\n")
        r = runner.invoke(app, ["--db", db, "ingest", str(f), "--source", name])
        assert r.exit_code == 0, r.output
    for terminal in (True, False):  # Rich tables on a terminal, tab-separated elsewhere
        monkeypatch.setattr(common, "stdout_is_terminal", lambda terminal=terminal: terminal)
        r = runner.invoke(app, ["--db", db, "stats"])
        assert r.exit_code == 0, r.output
        out = r.stdout
        assert "op[/]x" in out and "[link=https:evil.example]x" in out
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
        assert "evil\\x1b]0;TITLE\\x07\\u202e" in out and "two\\nlines" in out


def test_stats_into_a_pipe_is_tab_separated(tmp_path):
    """Found by a new user's walk-through: `rasd stats | grep posts` got
    box-drawing characters, where every other list prints tab-separated lines
    into a pipe or a file."""
    db = str(tmp_path / "s.db")
    data = Path(__file__).resolve().parents[1] / "src/rasd/data/demo/x/demo_tweets.jsonl"
    assert runner.invoke(app, ["--db", db, "ingest", str(data),
                               "--source", "demo x"]).exit_code == 0
    s = json.loads(runner.invoke(app, ["--db", db, "stats", "--json"]).stdout)
    r = subprocess.run([sys.executable, "-m", "rasd", "--db", db, "stats"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert not set(r.stdout) & set("┏━┃│└─┡╇"), r.stdout
    tables = [[line.split("\t") for line in t.splitlines()] for t in r.stdout.split("\n\n")]
    assert [t[0][0] for t in tables] == ["what", "platform", "source"]
    assert ["posts", str(s["posts"])] in tables[0] and ["edges", str(s["edges"])] in tables[0]
    assert tables[1][0] == ["platform", *sorted(s["by_platform"]["x"])]
    assert tables[2][1] == ["demo x", *(str(s["by_source"]["demo x"][c])
                                         for c in sorted(s["by_source"]["demo x"]))]


def test_each_server_store_has_a_quarantine_file_of_its_own(pg_store, tmp_path, monkeypatch):
    """Every PostgreSQL store (each database, each schema) wrote
    ./rasd.quarantine.jsonl and listed the others' rejects."""
    import re

    monkeypatch.setenv("RASD_HOME", str(tmp_path))

    from rasd.ingest import ingest_path
    from rasd.ingest.runner import quarantine_path, read_quarantine

    q = quarantine_path(pg_store)
    assert re.fullmatch(r"rasd-test-t_[0-9a-f]{12}\.quarantine\.jsonl", q.name), q.name
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{bad\n")
    ingest_path(pg_store, bad, fmt="x")
    assert read_quarantine(pg_store).count == 1 and q.exists()


def test_every_file_named_is_checked_before_any_is_ingested(tmp_path):
    """One unreadable file among several named stopped the command after the
    files before it were stored, and --json printed nothing of them."""
    good = [tmp_path / f"g{i}.jsonl" for i in range(2)]
    for i, g in enumerate(good):
        g.write_text(json.dumps({"data": [{"id": str(i), "text": "t", "author_id": "2"}]})
                     + "\n")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    db = tmp_path / "j.db"
    r = runner.invoke(app, ["--db", str(db), "ingest", "--json", str(good[0]), str(notes),
                            str(good[1])])
    assert r.exit_code == 2 and r.stdout == ""
    assert "notes.txt: not a known format" in r.stderr and "nothing was ingested" in r.stderr
    assert not db.exists()


def test_data_files_beside_a_telegram_export_are_named_not_passed_over(tmp_path):
    """A folder with a result.json is a Telegram export, and only that is read:
    a crawl copied in beside it was passed over without a word (its ZIP was
    read whole)."""
    import shutil

    demo = Path(__file__).resolve().parents[1] / "src" / "rasd" / "data" / "demo" / "telegram"
    case = tmp_path / "case"
    shutil.copytree(demo, case)
    (case / "sub").mkdir()
    line = json.dumps({"data": [{"id": "1", "text": "t", "author_id": "2"}]}) + "\n"
    (case / "tweets.jsonl").write_text(line)
    (case / "sub" / "more.jsonl").write_text(line)
    (case / "files").mkdir(exist_ok=True)
    (case / "files" / "posted.json").write_text("{}")  # a document posted in the chat
    db = str(tmp_path / "c.db")
    r = runner.invoke(app, ["--db", db, "ingest", str(case)])
    assert r.exit_code == 0
    assert "only result.json is read, not the 2 other data file(s)" in r.stderr
    assert runner.invoke(app, ["--db", db, "ingest", str(case), "--strict"]).exit_code == 1
    r = runner.invoke(app, ["--db", db, "ingest", str(demo), "--strict"])
    assert r.exit_code == 0 and "skipped" not in r.stderr


def test_line_breaks_in_names_cannot_forge_lines(tmp_path):
    """A profile named "N\\nFAKE LINE" forged a line of `rasd accounts show`
    and `rasd show` (control characters were escaped, line breaks were not)."""
    db = str(tmp_path / "n.db")
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"data": [{"id": "1", "text": "t", "author_id": "1001"}],
                             "includes": {"users": [{"id": "1001", "username": "u",
                                                     "name": "N\nFAKE LINE",
                                                     "description": "bio\nFAKE BIO"}]}})
                 + "\n")
    assert runner.invoke(app, ["--db", db, "ingest", str(f)]).exit_code == 0
    for cmd in (["accounts", "show", "x:1001"], ["show", "x:1"]):
        r = runner.invoke(app, ["--db", db, *cmd])
        assert r.exit_code == 0, r.output
        assert not any(x.lstrip().startswith("FAKE") for x in r.stdout.splitlines()), r.stdout


def test_a_link_to_nothing_in_a_folder_is_named(tmp_path):
    d = tmp_path / "crawl"
    d.mkdir()
    (d / "a.jsonl").write_text(json.dumps({"data": [{"id": "1", "text": "t",
                                                     "author_id": "2"}]}) + "\n")
    (d / "gone.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    db = str(tmp_path / "l.db")
    r = runner.invoke(app, ["--db", db, "ingest", str(d)])
    assert r.exit_code == 0 and "gone.jsonl: a symbolic link to nothing" in r.stderr
    assert runner.invoke(app, ["--db", db, "ingest", str(d), "--strict"]).exit_code == 1


def test_read_commands_on_a_store_not_made_yet(tmp_path, monkeypatch):
    """Review: the in-memory stand-in was taken for a server store by
    `rasd quarantine` (a traceback). Every read command answers, none leaves a
    store behind."""
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "nothere.db")
    for cmd in (["stats"], ["runs"], ["quarantine"], ["links"], ["links", "--ids"],
                ["show", "x:1"], ["accounts", "show", "x:1"], ["clusters", "list"],
                ["bank", "list"], ["lists", "status"]):
        r = runner.invoke(app, ["--db", db, *cmd])
        assert r.exit_code in (0, 2), (cmd, r.output)
        assert r.exception is None or isinstance(r.exception, SystemExit), (cmd, r.output)
        assert "Traceback" not in r.output
    assert not (tmp_path / "nothere.db").exists()


def test_named_pipes_are_not_read_twice(tmp_path):
    """Review: checking every named file first read the start of a FIFO
    (`rasd ingest <(zcat a.gz) <(zcat b.gz)`), and what it read was gone."""
    import os
    import threading

    pipes = []
    for k in range(2):
        p = tmp_path / f"p{k}"
        os.mkfifo(p)
        pipes.append(p)
    body = ["".join(json.dumps({"data": [{"id": f"{k}-{i}", "text": "t" * 40,
                                          "author_id": "2"}]}) + "\n" for i in range(3000))
            for k in range(2)]

    def feed(p: Path, text: str) -> None:
        with open(p, "w") as fh:
            fh.write(text)

    threads = [threading.Thread(target=feed, args=(p, b), daemon=True)
               for p, b in zip(pipes, body, strict=True)]
    for t in threads:
        t.start()
    db = str(tmp_path / "f.db")
    r = subprocess.run([sys.executable, "-m", "rasd", "--db", db, "ingest", "--format", "x",
                        str(pipes[0]), str(pipes[1])], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "rasd", "--db", db, "stats", "--json"],
                       capture_output=True, text=True)
    assert json.loads(r.stdout)["posts"] == 6000


def test_a_store_that_fails_while_writing_is_one_line_not_a_traceback(tmp_path):
    """Exploratory testing: a database error in the middle of an ingest (a full
    disk, a lost connection) printed a 100-line chained traceback. It is one
    line naming the file and the store, exit 1; the run is recorded failed."""
    db = str(tmp_path / "r.db")
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps({"data": [{"id": "1", "text": "x", "author_id": "2"}]}) + "\n")
    from rasd.store import Store

    Store.open(db).close()
    con = sqlite3.connect(db)
    con.execute("CREATE TRIGGER boom BEFORE INSERT ON posts "
                "BEGIN SELECT RAISE(ABORT, 'simulated disk full'); END")
    con.commit()
    con.close()
    r = runner.invoke(app, ["--db", db, "ingest", str(f)])
    assert r.exit_code == 1, r.output
    assert "writing to the store" in r.output and "simulated disk full" in r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) <= 2
    r = runner.invoke(app, ["--db", db, "runs", "--json"])
    assert json.loads(r.stdout)[0]["status"] == "failed"


@pytest.mark.parametrize("url, secret", [
    ("postgresql://u:s3cretPW@127.0.0.1:abc/x", "s3cretPW"),
    ("postgresql://postgres@127.0.0.1:1/x?password=s3cretPW", "s3cretPW"),
    ("postgresql://postgres@127.0.0.1:1/x?sslpassword=s3cretPW", "s3cretPW"),
    # found by review: URLs that cannot be read, with a password in the query
    # or an "@" in the password
    ("postgresql://u@127.0.0.1:abc/db?password=s3cretPW", "s3cretPW"),
    ("postgresql://u:s3c@retPW@127.0.0.1:abc/db", "retPW"),
    ("postgresql://u:s3c/retPW@127.0.0.1:abc/db", "retPW"),
])
def test_store_urls_that_cannot_be_read_or_reached_hide_the_password(url, secret):
    """Exploratory testing: a URL whose port is not a number gave a ValueError
    traceback; a password given as a query parameter (libpq takes
    ?password=) was printed in the error."""
    for cmd in (["stats"], ["runs"], ["ingest", "-"]):
        r = runner.invoke(app, ["--db", url, *cmd], input="")
        assert r.exit_code == 2, (cmd, r.output)
        assert "cannot open the store" in r.output and secret not in r.output
        assert "Traceback" not in r.output


@pytest.mark.parametrize("ref", ["99999999999999999999999", "9223372036854775808", "²"])
def test_show_a_numeric_id_past_any_stored_one_is_no_post(tmp_path, ref):
    """An id past 64 bits raised OverflowError binding it; a digit that is no
    ASCII digit ("²", which isdigit() accepts) raised ValueError."""
    data = Path(__file__).resolve().parents[1] / "src/rasd/data/demo/x/demo_tweets.jsonl"
    db = str(tmp_path / "s.db")
    runner.invoke(app, ["--db", db, "ingest", str(data)])
    r = runner.invoke(app, ["--db", db, "show", ref])
    assert r.exit_code == 2 and ("no post" in r.output or "expected" in r.output), r.output
    assert runner.invoke(app, ["--db", db, "show", "1"]).exit_code == 0


@pytest.mark.parametrize("limit", ["0", "-5"])
def test_scan_limit_must_be_positive(tmp_path, limit):
    r = runner.invoke(app, ["--db", str(tmp_path / "l.db"), "scan", "--limit", limit])
    assert r.exit_code == 2 and "--limit" in r.output


def test_show_a_tweet_id_typed_without_its_platform_on_postgresql(tmp_path):
    """Exploratory testing: `rasd show 1394735776701816833` (a tweet id without
    "x:") raised NumericValueOutOfRange on PostgreSQL, whose post ids are
    32-bit; it is no post there as on SQLite, with a hint."""
    from tests.conftest import PG_URL, _drop_pg, _pg_store

    if not PG_URL:
        pytest.skip("PostgreSQL tests need RASD_TEST_PG_URL (CI sets it; e.g. "
                    "postgresql://postgres@127.0.0.1:5432/test)")
    s, schema = _pg_store()
    try:
        url = s.engine.url.render_as_string(hide_password=False)
        s.close()
        for db in (url, str(tmp_path / "s.db")):
            r = runner.invoke(app, ["--db", db, "show", "1394735776701816833"])
            assert r.exit_code == 2 and "no post" in r.output and "x:1394" in r.output, r.output
    finally:
        _drop_pg(schema)


@pytest.mark.parametrize("cmd", [["quarantine", "-n", "99999999999999999999"],
                                 ["links", "-n", "99999999999999999999"],
                                 ["runs", "-n", "99999999999999999999"],
                                 ["clusters", "show", "3000000000"],
                                 ["clusters", "list", "-n", "99999999999999999999"]])
def test_numbers_past_what_a_store_holds_are_usage_errors(tmp_path, cmd):
    """Exploratory testing: a limit past 64 bits raised OverflowError on SQLite,
    a cluster id past 32 bits NumericValueOutOfRange on PostgreSQL."""
    r = runner.invoke(app, ["--db", str(tmp_path / "s.db"), *cmd])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output


def test_show_and_accounts_json_print_times_alike_on_both_stores(tmp_path):
    """Exploratory testing: times printed `2020-06-25 08:15:41+00:00` from
    PostgreSQL and `2020-06-25 08:15:41` from SQLite (in JSON and in the
    history lines), so the same store compared different."""
    from tests.conftest import PG_URL, _drop_pg, _pg_store

    if not PG_URL:
        pytest.skip("PostgreSQL tests need RASD_TEST_PG_URL (CI sets it; e.g. "
                    "postgresql://postgres@127.0.0.1:5432/test)")
    f = tmp_path / "t.jsonl"
    f.write_text("".join(json.dumps({
        "data": [{"id": "7", "text": t, "author_id": "5",
                  "created_at": "2020-06-25T08:15:41.000Z"}],
        "includes": {"users": [{"id": "5", "username": "u5", "name": n}]},
        "__twarc": {"retrieved_at": at}}) + "\n" for t, n, at in (
            ("one", "A", "2021-01-01T00:00:00+00:00"), ("two", "B", "2021-02-01T00:00:00+00:00"))))
    s, schema = _pg_store()
    try:
        url = s.engine.url.render_as_string(hide_password=False)
        s.close()
        outs = []
        for db in (url, str(tmp_path / "s.db")):
            assert runner.invoke(app, ["--db", db, "ingest", str(f)]).exit_code == 0
            shown = json.loads(runner.invoke(app, ["--db", db, "show", "x:7", "--json"]).stdout)
            acc = runner.invoke(app, ["--db", db, "accounts", "show", "@u5"]).stdout
            outs.append(({k: shown[k] for k in ("created_at", "observed_at", "versions")}, acc))
        assert outs[0] == outs[1]
        assert outs[0][0]["created_at"] == "2020-06-25T08:15:41+00:00"
    finally:
        _drop_pg(schema)


def test_ctrl_c_on_a_stream_says_what_was_committed(tmp_path):
    """Ctrl-C is how `twarc2 stream | rasd ingest -` ends: it printed only
    "Aborted!" and no summary. It now says what the run committed before the
    interrupt (as `rasd runs` records it) and exits 130."""
    import os
    import signal
    import time

    db = str(tmp_path / "s.db")
    proc = subprocess.Popen([sys.executable, "-m", "rasd.cli", "--db", db, "ingest", "-"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdin is not None
    for i in range(1, 6):
        proc.stdin.write((json.dumps({"data": [{"id": str(i), "text": "t",
                                                "author_id": "2"}]}) + "\n").encode())
    proc.stdin.flush()  # then the pipe goes quiet: what it gave is written
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.3)
        if os.path.exists(db):
            with sqlite3.connect(db) as con:
                try:
                    if con.execute("SELECT count(*) FROM posts").fetchone()[0] == 5:
                        break
                except sqlite3.OperationalError:
                    pass
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"interrupted: standard input: committed before the interrupt: 5 new" in err, err


def test_show_raw_item_gives_the_posts_own_object(tmp_path):
    """Found by a new user's walk-through: `show --raw` of an X post prints its
    whole page (other people's posts with it), and the text view's excerpt
    began at the page's first tweet while naming the post's path. `--raw
    --item` prints the post's own object; the excerpt is of it."""
    db = str(tmp_path / "s.db")
    page = {"data": [{"id": "1", "text": "first", "author_id": "2"},
                     {"id": "5", "text": "the one asked for", "author_id": "2"}]}
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps(page) + "\n")
    assert runner.invoke(app, ["--db", db, "ingest", str(f)]).exit_code == 0
    r = runner.invoke(app, ["--db", db, "show", "x:5", "--raw", "--item"])
    assert r.exit_code == 0 and json.loads(r.stdout) == page["data"][1], r.output
    excerpt = runner.invoke(app, ["--db", db, "show", "x:5"]).stdout.split("  raw ")[-1]
    assert "at data[1]:" in excerpt and "the one asked for" in excerpt
    assert "first" not in excerpt
    assert json.loads(runner.invoke(app, ["--db", db, "show", "x:5", "--raw"]).stdout) == page
    assert runner.invoke(app, ["--db", db, "show", "x:5", "--item"]).exit_code == 2


@pytest.mark.parametrize("argv, expected", [
    (["stats", "--json", "--db", "x.db"], ["--db", "x.db", "stats", "--json"]),
    (["bank", "list", "--db=x.db"], ["--db=x.db", "bank", "list"]),
    (["--db", "a.db", "stats"], ["--db", "a.db", "stats"]),
    (["screen", "--", "--db", "x"], ["screen", "--", "--db", "x"]),
    (["ingest", "f.jsonl", "--db"], ["ingest", "f.jsonl", "--db"]),  # no value: click says so
])
def test_db_may_come_after_the_command(argv, expected):
    """Found by a new user's walk-through: `rasd stats --json --db x.db` said
    only "No such option: --db"."""
    from rasd.cli import global_options_first

    assert global_options_first(argv) == expected


def test_db_after_the_command_names_the_store(tmp_path):
    db = tmp_path / "s.db"
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps({"data": [{"id": "1", "text": "x", "author_id": "2"}]}) + "\n")
    r = subprocess.run([sys.executable, "-m", "rasd", "ingest", str(f), "--db", str(db)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "rasd", "stats", "--json", "--db", str(db)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["posts"] == 1, r.stderr
    assert not (tmp_path / "rasd.db").exists()


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> str:
    """The workspace `make run` builds (`rasd demo`), for examples to be tried on."""
    w = tmp_path_factory.mktemp("demo") / "demo-workspace"
    common.STATE.db = None
    r = runner.invoke(app, ["demo", "--workdir", str(w)])
    assert r.exit_code == 0, r.output
    common.STATE.store.close()
    common.STATE.store = None
    _DEMO_LOG.append(r.output)
    return str(w / "rasd.db")


_DEMO_LOG: list[str] = []  # what `rasd demo` printed


def _account_refs(text: str) -> set[str]:
    """The accounts named in lines that list them (`accounts show` links,
    `finance links`, the demo's shared-indicator line); a reference may hold
    spaces (a stub Telegram account named by a forward)."""
    refs = set(re.findall(r"^    (?:to|from) (.+?) \([^()]*\): ", text, re.MULTILINE))
    refs |= set(re.findall(r"^  (.+?) \([^()]*\): \d+ sightings?$", text, re.MULTILINE))
    for shared in re.findall(r"shared wallet \S+: (.*)$", text, re.MULTILINE):
        refs |= {x.rsplit(" (", 1)[0] for x in shared.split(", ")}
    return refs


def test_every_account_rasd_prints_is_taken_back_by_accounts_show(demo_db):
    """`finance links`, the demo summary, `accounts list` and `accounts show`
    print accounts as PLATFORM:ID; `accounts show` takes each back, and that
    account alone ("telegram:Banner Relay Channel" was printed and refused)."""
    printed = {}
    for cmd in (["finance", "links"], ["accounts", "list", "-n", "0"],
                ["accounts", "show", "@bbf_lion_media"],
                ["accounts", "show", "telegram:channel7000000001"]):
        r = runner.invoke(app, ["--db", demo_db, *cmd])
        assert r.exit_code == 0, r.output
        printed[" ".join(cmd)] = r.output
    shared = next(ln for ln in _DEMO_LOG[-1].splitlines() if "shared wallet" in ln)
    assert "x:9000000013 (@relief_for_orphans)" in shared
    assert "telegram:channel7000000001 (Banner Relay Channel)" in shared
    refs = _account_refs(shared) | {ln.split("\t")[0] for ln in
                                    printed["accounts list -n 0"].splitlines()[1:]}
    for out in printed.values():
        refs |= _account_refs(out)
    # quoted for a shell where a reference needs it (a forward's source, with spaces)
    assert {"x:9000000013", "telegram:channel7000000001", "x:9000000004",
            "'telegram:@lions media archive'"} <= refs
    assert len(refs) >= 19
    for ref in sorted(refs):
        # as a shell passes it on when pasted, and with its quotes kept
        for arg in {shlex.split(ref)[0], ref}:
            r = runner.invoke(app, ["--db", demo_db, "accounts", "show", arg, "--json"])
            assert r.exit_code == 0, (ref, r.output)
            assert [a["ref"] for a in json.loads(r.stdout)] == [shlex.split(ref)[0]]
    # the name as the summary printed it before: taken too
    r = runner.invoke(app, ["--db", demo_db, "accounts", "show",
                            "telegram:Banner Relay Channel", "--json"])
    assert json.loads(r.stdout)[0]["ref"] == "telegram:channel7000000001"


def test_a_reference_with_spaces_is_printed_quoted_and_works_pasted(demo_db):
    """A Telegram account known only from forwards is "telegram:@lions media
    archive": printed bare, pasted into a shell it was three arguments."""
    lines = runner.invoke(app, ["--db", demo_db, "accounts", "list", "-n", "0"]).output
    ref = next(ln.split("\t")[0] for ln in lines.splitlines() if "lions media" in ln)
    assert ref == "'telegram:@lions media archive'"
    shown = runner.invoke(app, ["--db", demo_db, "accounts", "show", "telegram:channel7000000001"])
    assert "    to 'telegram:@lions media archive' (@Lions Media Archive): forward 1" in (
        shown.output.splitlines())
    # JSON keeps the reference bare
    got = json.loads(runner.invoke(app, ["--db", demo_db, "accounts", "list", "--json",
                                         "-n", "0"]).stdout)
    assert "telegram:@lions media archive" in {a["ref"] for a in got}
    # pasted into a shell as printed
    r = subprocess.run(f"{shlex.quote(sys.executable)} -m rasd --db {shlex.quote(demo_db)} "
                       f"accounts show {ref} --json", shell=True, capture_output=True,
                       text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert [a["ref"] for a in json.loads(r.stdout)] == ["telegram:@lions media archive"]
    # an unbalanced quote is no shell quoting: nothing matches, cleanly
    r = runner.invoke(app, ["--db", demo_db, "accounts", "show", "'telegram:@lions media"])
    assert r.exit_code == 2 and "no account matches" in r.output


def test_accounts_show_lists_the_accounts_linked_each_way(demo_db):
    r = runner.invoke(app, ["--db", demo_db, "accounts", "show", "@bbf_lion_media"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("x:9000000001 @bbf_lion_media (Lions of the Banner)")
    assert "    from x:9000000004 (@banner_relay_07): mention 1, repost 1" in lines
    assert "    from x:9000000007 (@ctr_research_lab): mention 1, quote 1" in lines
    r = runner.invoke(app, ["--db", demo_db, "accounts", "show", "x:9000000004"])
    assert "    to x:9000000002 (@abu_qaswara_bbf): mention 1, reply 1" in r.output
    r = runner.invoke(app, ["--db", demo_db, "accounts", "show", "@bbf_lion_media",
                            "--links", "2"])
    assert r.output.count("    from ") == 2 and "… and 4 more account(s)" in r.output
    r = runner.invoke(app, ["--db", demo_db, "accounts", "show", "@bbf_lion_media", "--json"])
    got = json.loads(r.stdout)[0]
    assert len(got["linked"]["in"]) == 6 and got["linked"]["out"] == []


def test_accounts_list(demo_db):
    r = runner.invoke(app, ["--db", demo_db, "accounts", "list", "--sort", "flagged",
                            "-n", "3"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split("\t") == ["account", "handle", "name", "role", "posts", "flagged"]
    assert len(lines) == 4
    flagged = [int(ln.split("\t")[5]) for ln in lines[1:]]
    assert flagged == sorted(flagged, reverse=True) and flagged[0] > 0
    r = runner.invoke(app, ["--db", demo_db, "accounts", "list", "--platform", "telegram",
                            "--json", "-n", "0"])
    rows = json.loads(r.stdout)
    assert {x["platform"] for x in rows} == {"telegram"} and len(rows) == 4
    r = runner.invoke(app, ["--db", demo_db, "accounts", "list", "--sort", "followers"])
    assert r.exit_code == 2 and "--sort 'followers'" in r.output
    r = runner.invoke(app, ["--db", demo_db, "accounts", "list", "--role", "nws"])
    assert r.exit_code == 2
    r = runner.invoke(app, ["--db", demo_db, "accounts", "list", "--source", "nothing"])
    assert r.exit_code == 0 and "no accounts match" in r.output


def test_accounts_list_prints_names_escaped(tmp_path):
    """A name's line breaks are escaped, U+2028 and U+2029 (LINE and PARAGRAPH
    SEPARATOR) too: a program that splits lines as Unicode does (Python's
    str.splitlines) read a name holding one as a second, forged row."""
    db = str(tmp_path / "e.db")
    f = tmp_path / "t.jsonl"
    name = "A\tB\x1b[31m\nFAKE\u2028x:1\t@forged\u2029"
    f.write_text(json.dumps({"data": [{"id": "1", "text": "hi", "author_id": "5"}],
                             "includes": {"users": [{"id": "5", "username": "u5",
                                                     "name": name}]}}) + "\n")
    assert runner.invoke(app, ["--db", db, "ingest", str(f)]).exit_code == 0
    r = runner.invoke(app, ["--db", db, "accounts", "list"])
    row = r.output.splitlines()[1].split("\t")
    assert len(r.output.splitlines()) == 2 and len(row) == 6, r.output
    assert "\x1b" not in r.output
    assert row[2] == "A\\tB\\x1b[31m\\nFAKE\\u2028x:1\\t@forged\\u2029"


def test_show_names_the_account_a_csv_repost_names_not_a_post(demo_db):
    """A CSV of tweets (isis-kaggle) says only "RT @user:": the repost's target
    is that account; it was shown as the post x:bbf_lion_media."""
    r = runner.invoke(app, ["--db", demo_db, "show", "x:e8a5d491482b85d46e46"])
    assert r.exit_code == 0, r.output
    assert ("repost of a post by x:9000000001 (@bbf_lion_media) (the record names the "
            "account") in r.output
    assert "x:bbf_lion_media" not in r.output
    r = runner.invoke(app, ["--db", demo_db, "show", "x:e8a5d491482b85d46e46", "--json"])
    lk = json.loads(r.stdout)["links"][0]
    assert lk["kind"] == "repost" and lk["target_is"] == "account"
    r = runner.invoke(app, ["--db", demo_db, "show", "x:1800000000000000024"])
    assert "repost of x:1800000000000000001 by x:9000000001 (@bbf_lion_media)" in r.output


def test_show_names_every_account_as_a_reference_to_type_back(demo_db):
    """The README: rasd prints every account as PLATFORM:ID, which `rasd accounts
    show` takes back; `rasd show` printed the author, the accounts replied to,
    reposted, forwarded and mentioned by handle or display name ("by Banner Relay
    Channel", "forwarded from Lions Media Archive"), which a shell splits or
    several accounts may bear."""
    r = runner.invoke(app, ["--db", demo_db, "show", "x:1800000000000000024"])
    assert r.exit_code == 0, r.output
    assert " by x:9000000004 (@banner_relay_07)\n" in r.output
    assert "  mentions x:9000000001 (@bbf_lion_media)\n" in r.output
    r = runner.invoke(app, ["--db", demo_db, "show", "telegram:channel7000000001/3"])
    assert " by telegram:channel7000000001 (Banner Relay Channel)\n" in r.output
    line = next(x for x in r.output.splitlines() if "forwarded from" in x)
    ref = shlex.split(line.split("forwarded from ", 1)[1])[0]
    assert ref == "telegram:@lions media archive"
    r = runner.invoke(app, ["--db", demo_db, "accounts", "show", ref])
    assert r.exit_code == 0 and "(stub: only referenced)" in r.output, r.output


def test_show_a_kaggle_isis_repost(tmp_path, shared_data):
    src = shared_data / "isis-twitter" / "tweets.csv"
    if not src.exists():
        pytest.skip(f"{src} not found")
    with src.open(encoding="utf-8") as f:
        head = [next(f) for _ in range(300)]
    part = tmp_path / "part.csv"
    part.write_text("".join(head), encoding="utf-8")
    db = str(tmp_path / "k.db")
    r = runner.invoke(app, ["--db", db, "ingest", str(part), "--mapping", "isis-kaggle"])
    assert r.exit_code == 0, r.output
    con = sqlite3.connect(db)
    pid, target = con.execute("SELECT platform_id, repost_of FROM posts WHERE kind='repost' "
                              "ORDER BY id LIMIT 1").fetchone()
    con.close()
    r = runner.invoke(app, ["--db", db, "show", f"x:{pid}"])
    assert re.search(rf"repost of a post by x:\S+ \(@{re.escape(target)}\)", r.output), r.output
    assert f"repost of x:{target}" not in r.output


def test_scan_help_lists_every_installed_detector(monkeypatch):
    """From the registry (finance and finance_account were left out of a
    hand-written list), a plugin's too."""
    from rasd.detect import scan as scan_mod
    from rasd.detect.base import Detector

    r = runner.invoke(app, ["scan", "--help"])
    assert r.exit_code == 0
    listed = r.output.split("Installed detectors")[1]
    for name in scan_mod.available_detectors():
        assert re.search(rf"^  {name}\s", listed, re.MULTILINE), name
    assert {"text", "finance", "finance_account", "media"} <= set(
        re.findall(r"^  (\w+)\s", listed, re.MULTILINE))

    class Plugged(Detector):
        """Counts posts that say hello."""

        name = "hello"
        subject_type = "post"
        version = "1"

        def detect(self, subjects):
            return []

    real = scan_mod.available_detectors
    monkeypatch.setattr(scan_mod, "available_detectors", lambda: {**real(), "hello": Plugged})
    r = runner.invoke(app, ["scan", "--help"])
    assert re.search(r"^  hello\s+posts: Counts posts that say hello\.$", r.output, re.MULTILINE)


@pytest.mark.parametrize("content", [
    '{"entries": [{"source": "s", "aliases": ["a"], }',  # not JSON
    '{"entries": [{"source": "s", "aliases": ["a"], "entity": {"n": 1}}]}',  # stopped a scan
    '{"entries": [{"source": "s", "aliases": ["a"], "ideology": ["x"]}]}',
    '[]',
])
def test_scan_with_a_policy_whose_lexicon_is_broken_is_one_line(tmp_path, monkeypatch, content):
    from rasd.detect.text.policy import default_policy_path

    data = Path(__file__).resolve().parents[1] / "src/rasd/data/demo/x/demo_tweets.jsonl"
    db = str(tmp_path / "l.db")
    assert runner.invoke(app, ["--db", db, "ingest", str(data)]).exit_code == 0
    lex = tmp_path / "broken-lexicon.json"
    lex.write_text(content)
    pol = json.loads(Path(default_policy_path()).read_text(encoding="utf-8"))
    pol["lexicons"] = [str(lex)]
    (tmp_path / "p.json").write_text(json.dumps(pol))
    monkeypatch.setenv("RASD_POLICY", str(tmp_path / "p.json"))
    r = runner.invoke(app, ["--db", db, "scan"])
    assert r.exit_code == 2, r.output
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rasd: error: detector text cannot be set up")
    assert str(lex) in err[0] and "Traceback" not in r.output


def test_policy_show_json_is_a_policy_file_policy_check_reads_back(tmp_path, monkeypatch):
    """It printed example counts, not examples: `policy check` refused it."""
    import dataclasses
    import shutil

    from rasd.detect.text.lexicon import lexicon_dir
    from rasd.detect.text.policy import load_policy, load_policy_file

    monkeypatch.delenv("RASD_POLICY", raising=False)
    r = runner.invoke(app, ["policy", "show", "--json"])
    assert r.exit_code == 0
    saved = tmp_path / "elsewhere" / "my-policy.json"
    saved.parent.mkdir()
    saved.write_text(r.stdout, encoding="utf-8")
    r = runner.invoke(app, ["policy", "check", str(saved)])
    assert r.exit_code == 0 and "ok (" in r.output, r.output
    original = load_policy()
    assert dataclasses.replace(load_policy_file(saved), source="-") == dataclasses.replace(
        original, source="-")
    # a policy with a lexicon of its own, beside it: saved anywhere, it still finds it
    own = tmp_path / "team"
    own.mkdir()
    shutil.copy(lexicon_dir() / "entities.json", own / "team-lexicon.json")
    doc = json.loads(saved.read_text(encoding="utf-8"))
    doc["lexicons"] = ["team-lexicon.json", "indicators.json"]
    (own / "p.json").write_text(json.dumps(doc), encoding="utf-8")
    r = runner.invoke(app, ["policy", "show", "--policy", str(own / "p.json"), "--json"])
    again = saved.parent / "again.json"
    again.write_text(r.stdout, encoding="utf-8")
    r = runner.invoke(app, ["policy", "check", str(again)])
    assert r.exit_code == 0, r.output
    assert load_policy_file(again).lexicons == (str((own / "team-lexicon.json").resolve()),
                                                "indicators.json")


def _examples() -> list[tuple[str, list[str]]]:
    """Every `rasd …` example line of the README and of every --help, split as
    a shell would (where: README or the command's help)."""
    import shlex

    texts = [("README", (Path(__file__).resolve().parents[1] / "README.md").read_text())]
    for path in _commands():
        texts.append((" ".join(path) or "rasd", runner.invoke(app, path + ["--help"]).output))
    out = []
    for where, text in texts:
        for line in text.splitlines():
            at = line.find("rasd ")
            before = line[:at]  # nothing, or what pipes into rasd ("twarc2 stream | ")
            if at < 0 or before.strip() and "|" not in before and "&&" not in before:
                continue
            for part in line[at:].split("&&"):
                part = part.strip()
                if not part.startswith("rasd "):
                    continue
                try:
                    argv = shlex.split(part.split(" | ")[0].split(" > ")[0], comments=True)
                except ValueError:
                    continue
                out.append((where, argv[1:]))
    return out


def test_readme_and_help_examples_name_what_the_demo_workspace_holds(demo_db):
    """A user who ran `make run` pastes the examples with --db demo-workspace/rasd.db:
    the posts, accounts, clusters and indicator values they name are there
    (x:1394735776701816833 and x:1600000000000000001 were not)."""
    tried = set()
    for where, argv in _examples():
        if argv[:1] == ["show"] and len(argv) > 1 and ":" in argv[1]:
            cmd = ["show", argv[1], "--json"]
        elif argv[:2] in (["accounts", "show"], ["accounts", "mark"]) and len(argv) > 2 \
                and argv[2] not in ("@handle",) and not argv[2].startswith("-"):
            plat = argv[argv.index("--platform") + 1] if "--platform" in argv else None
            cmd = ["accounts", "show", argv[2], "--json"] + (["-p", plat] if plat else [])
        elif argv[:2] == ["clusters", "show"] and len(argv) > 2 and argv[2].isdigit():
            cmd = ["clusters", "show", argv[2]]
        elif argv[:2] == ["finance", "links"] and "--value" in argv:
            cmd = argv + ["--json"]
        else:
            continue
        tried.add(" ".join(cmd))
        r = runner.invoke(app, ["--db", demo_db, *cmd])
        assert r.exit_code == 0, (where, argv, r.output)
        if cmd[-1] == "--json":
            assert json.loads(r.stdout), (where, argv)
    assert {"show x:1800000000000000024 --json", "show telegram:channel7000000001/2 --json",
            "accounts show @dailyworld_news --json", "clusters show 1",
            "accounts show x:9000000001 --json"} <= tried, tried
    # the demo's own lists answer the screening examples given for them
    for q in ("خالد محمود القسواري", "Khaled al-Qaswari", "135wCRn97GorukdPmxn2JSiWD1cBFKXNFa"):
        assert ["screen", q] in [a[:2] for _, a in _examples()], q
        r = runner.invoke(app, ["--db", demo_db, "screen", q, "--json"])
        assert json.loads(r.stdout)[0]["matches"], q


def test_accounts_show_lists_the_accounts_a_name_names(tmp_path):
    """A display name is looked up whatever its case; where several accounts
    bear it, `accounts show` lists them by reference (each then shown by it)
    and `accounts mark` marks none of them."""
    from rasd.ingest.runner import _source_id
    from rasd.ingest.writer import Writer
    from rasd.model import Account
    from rasd.store import Store

    db = str(tmp_path / "n.db")
    s = Store.open(db)
    w = Writer(s, _source_id(s, "t"))
    for a in (Account("telegram", "channel1", name="Ärger Kanal"),
              Account("telegram", "@ärger kanal", handle="ÄRGER KANAL", stub=True),
              Account("x", "9", handle="ak", name="ärger kanal"),
              Account("telegram", "channel2", name="Straße")):
        w.add(a)
    w.flush()
    s.close()
    r = runner.invoke(app, ["--db", db, "accounts", "show", "STRASSE"])
    assert r.exit_code == 0 and r.output.startswith("telegram:channel2 (Straße)"), r.output
    r = runner.invoke(app, ["--db", db, "accounts", "show", "ÄRGER kanal"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    # the handle matched: the stub alone
    assert lines[0].startswith("'telegram:@ärger kanal' @ÄRGER KANAL"), r.output
    r = runner.invoke(app, ["--db", db, "accounts", "show", "telegram:Ärger Kanal"])
    assert r.output.splitlines()[0].startswith("'telegram:@ärger kanal'"), r.output
    # by name: one on a platform shown, several listed by reference, each taken back
    r = runner.invoke(app, ["--db", db, "accounts", "show", "ärger KANAL", "-p", "x"])
    assert r.output.startswith("x:9 @ak (ärger kanal)"), r.output
    w = Writer(s := Store.open(db), _source_id(s, "t"))
    w.add(Account("telegram", "@ärger kanal", handle="ak2", name="ÄRGER KANAL"))
    w.flush()
    s.close()
    r = runner.invoke(app, ["--db", db, "accounts", "show", "Ärger Kanal"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "3 accounts are named 'Ärger Kanal'; name one by its reference:"
    assert [ln.split("\t")[0] for ln in lines[1:]] == [
        "telegram:channel1", "'telegram:@ärger kanal'", "x:9"]
    assert lines[3] == "x:9\t@ak\tärger kanal\tposts=0"
    for ln in lines[1:]:
        ref = shlex.split(ln.split("\t")[0])[0]
        got = json.loads(runner.invoke(app, ["--db", db, "accounts", "show", ref,
                                             "--json"]).stdout)
        assert [a["ref"] for a in got] == [ref]
    got = json.loads(runner.invoke(app, ["--db", db, "accounts", "show", "Ärger Kanal",
                                         "--json"]).stdout)
    assert len(got) == 3
    r = runner.invoke(app, ["--db", db, "accounts", "mark", "ärger kanal", "--role", "news"])
    assert r.exit_code == 2 and "3 accounts are named" in r.output and "x:9" in r.output


def test_times_print_alike_on_both_stores(store, tmp_path):
    """README walkthrough: text lines printed times with "+00:00" (and
    microseconds, `lists status`) on PostgreSQL and without on SQLite. Every
    time in `runs`, `show`, `accounts show`, `lists status` and `clusters show`
    is now UTC to the second, marked "UTC", on both stores."""
    from rasd.ingest import ingest_path

    def tweet(i, handle, day):
        return json.dumps({"data": [{"id": str(i), "text": "the same long message, shared again and again",
                                     "author_id": "42",
                                     "created_at": f"2024-03-0{day}T10:00:00.000Z"}],
                           "includes": {"users": [{"id": "42", "username": handle,
                                                   "name": "Tester"}]}}) + "\n"

    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(tweet(1, "old_handle", 1) + tweet(3, "old_handle", 1))
    b.write_text(tweet(2, "new_handle", 2))
    db = store.url.render_as_string(hide_password=False)
    ingest_path(store, a)
    ingest_path(store, b)
    lst = tmp_path / "l.ftm.json"
    lst.write_text(json.dumps({"id": "e", "schema": "Organization", "caption": "Some Front",
                               "properties": {"name": ["Some Front"]}}) + "\n")
    assert runner.invoke(app, ["--db", db, "lists", "import", str(lst)]).exit_code == 0
    assert runner.invoke(app, ["--db", db, "clusters", "build"]).exit_code == 0
    stamp = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d\S*(?: UTC)?")
    seen = []
    for cmd in (["runs"], ["show", "x:1"], ["accounts", "show", "x:42"], ["lists", "status"],
                ["clusters", "show", "1"]):
        r = runner.invoke(app, ["--db", db, *cmd])
        assert r.exit_code == 0, (cmd, r.output)
        # (the raw record, shown as the file gave it, keeps its own times)
        shown = "\n".join(x for x in r.stdout.splitlines() if not x.startswith("  raw "))
        times = stamp.findall(shown)
        assert times, (cmd, r.stdout)
        for t in times:
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", t), (cmd, t, r.stdout)
        seen += times
    assert "2024-03-01 10:00:00 UTC" in seen  # the post's own time, as the file gave it
    assert "+00:00" not in "".join(seen)


def test_when_text_is_utc_whatever_the_zone():
    from datetime import UTC, datetime, timedelta, timezone

    from rasd.cli.common import when_text

    t = datetime(2024, 3, 1, 16, 5, 9, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert when_text(t) == "2024-03-01 10:35:09 UTC"
    assert when_text(t.astimezone(UTC).replace(tzinfo=None)) == "2024-03-01 10:35:09 UTC"
    assert when_text(t.isoformat()) == "2024-03-01 10:35:09 UTC"
    assert when_text(None) == "-"


def test_a_list_cut_at_its_limit_says_there_are_more(tmp_path):
    """`rasd accounts list` printed the 50 accounts its default allows of
    thousands, `rasd links --ids` (for twarc2 hydrate) 50 of the posts waited
    for, and nothing said more were there."""
    db = str(tmp_path / "r.db")
    data = Path(__file__).resolve().parents[1] / "src" / "rasd" / "data" / "demo"
    assert runner.invoke(app, ["--db", db, "ingest", str(data / "x" / "demo_tweets.jsonl"),
                               str(data / "telegram")]).exit_code == 0
    for args, what in ((["accounts", "list", "-n", "3"], "accounts"),
                       (["runs", "-n", "1"], "runs")):
        r = runner.invoke(app, ["--db", db, *args])
        assert r.exit_code == 0
        assert r.stderr == f"rasd: more {what} than the {args[-1]} shown (-n 0 lists all)\n", \
            r.stderr
        whole = runner.invoke(app, ["--db", db, *args[:-1], "0"])
        assert whole.stderr == "" and whole.stdout.startswith(r.stdout)
        as_json = runner.invoke(app, ["--db", db, *args, "--json"])
        assert len(json.loads(as_json.stdout)) == int(args[-1]) and as_json.stderr == ""
    ids = [f"{i}00" for i in range(1, 4)]  # three replies whose parents are not stored
    (tmp_path / "r.jsonl").write_text("".join(json.dumps({"data": [{
        "id": f"9{i}", "text": "t", "author_id": "5", "referenced_tweets": [
            {"type": "replied_to", "id": i}]}]}) + "\n" for i in ids))
    assert runner.invoke(app, ["--db", db, "ingest", str(tmp_path / "r.jsonl")]).exit_code == 0
    r = runner.invoke(app, ["--db", db, "links", "--ids", "-n", "2"])
    assert len(r.stdout.split()) == 2 and "more posts waited for than the 2 shown" in r.stderr
    r = runner.invoke(app, ["--db", db, "links", "--ids", "-n", "3"])
    assert sorted(r.stdout.split()) == ids and r.stderr == ""


def test_scan_interrupted_keeps_what_it_stored_and_says_so(tmp_path, monkeypatch):
    """Ctrl-C ended `rasd scan` with status 130 and not a word: what it had
    stored, and what to do, were left to guess. Each batch's detections are
    committed with it; the next scan goes on with the rest."""
    from rasd.detect import scan as scan_mod
    from rasd.detect.base import Detector
    from rasd.model import Detection

    db = str(tmp_path / "r.db")
    data = Path(__file__).resolve().parents[1] / "src" / "rasd" / "data" / "demo"
    assert runner.invoke(app, ["--db", db, "ingest",
                               str(data / "x" / "demo_tweets.jsonl")]).exit_code == 0
    batches = []

    class Slow(Detector):
        """Flags every post; interrupted (Ctrl-C) at its third batch."""

        name = "slow"
        subject_type = "post"
        version = "1"
        batch_size = 10

        def detect(self, subjects):
            batches.append(len(subjects))
            if len(batches) == 3 and interrupt:
                raise KeyboardInterrupt
            return [Detection(subject_type="post", subject_id=s.id, detector=self.name,
                              label="incitement", score=0.9, model_version=self.version)
                    for s in subjects]

    interrupt = True
    monkeypatch.setattr(scan_mod, "available_detectors", lambda: {"slow": Slow})
    r = runner.invoke(app, ["--db", db, "scan", "-d", "slow"])
    common.STATE.store.close()
    common.STATE.store = None
    assert r.exit_code == 130
    assert r.stderr == ("rasd: warning: interrupted: the subjects scanned before it are "
                        "stored with their detections; `rasd scan` again scans the rest\n")
    interrupt = False
    r = runner.invoke(app, ["--db", db, "scan", "-d", "slow", "--json"])
    assert json.loads(r.stdout)[0]["scanned"] == 29 - 20  # the two batches before: kept


def test_clusters_list_cut_at_its_bound_does_not_say_a_larger_n_lists_more(tmp_path):
    """`rasd clusters list` lists at most 10,000 clusters whatever its -n: cut
    there, it said "-n N lists more", which listed no more."""
    from datetime import UTC, datetime

    from rasd.detect.media import schema as M
    from rasd.store import Store

    db = str(tmp_path / "r.db")
    store = Store.open(db)
    now = datetime.now(UTC)
    with store.begin() as c:
        c.execute(M.text_clusters.insert(), [
            {"id": i, "size": 2, "n_accounts": 2, "sample_text": f"s{i}", "created_at": now}
            for i in range(1, 10_002)])
    store.close()
    r = runner.invoke(app, ["--db", db, "clusters", "list", "-n", "2"])
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 2, r.output
    assert r.stderr == "rasd: more clusters than the 2 shown (-n N lists more)\n", r.stderr
    r = runner.invoke(app, ["--db", db, "clusters", "list", "-n", "20000"])
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 10_000, r.stderr
    assert "-n N lists more" not in r.stderr, r.stderr
    assert r.stderr == ("rasd: more clusters than the 10,000 shown (at most 10,000 are "
                        "listed: --min-accounts N narrows them)\n"), r.stderr
