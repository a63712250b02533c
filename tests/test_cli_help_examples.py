"""Every example in every command's ``--help``, as printed, run against the demo
workspace (``rasd demo``) the README sends users to: each must parse as a shell
line and end with exit status 0. Those that need what a test cannot have (an X
API account, a server, a video, a model of one's own, minutes of training) are
listed in SKIP with the reason; SKIP naming an example that no help shows is an
error too, so the list follows the help."""

from __future__ import annotations

import gzip
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rasd.cli import app, common, global_options_first

runner = CliRunner()
DEMO = Path(__file__).resolve().parents[1] / "src" / "rasd" / "data" / "demo"
EXAMPLE = re.compile(r"^    ((?:rasd|echo|twarc2) .*)$")

WORKSPACE = "the fixture builds the workspace with `rasd demo`"
SKIP = {
    "rasd demo              # a workspace from bundled synthetic data": WORKSPACE,
    "rasd demo": WORKSPACE,
    "rasd demo --workdir /tmp/rasd-demo && rasd --db /tmp/rasd-demo/rasd.db stats": WORKSPACE,
    "twarc2 search 'query' | rasd ingest - --source my-search": "needs twarc2 and X API keys",
    "twarc2 stream | rasd ingest - --source live   # stored as it arrives":
        "needs twarc2 and X API keys",
    "twarc2 hydrate ids.txt parents.jsonl && rasd ingest parents.jsonl":
        "needs twarc2 and X API keys",
    "rasd --db postgresql://me@db/rasd ingest a.jsonl b.jsonl --strict":
        "names a PostgreSQL server of the user's",
    "rasd ingest ~/Downloads/ChatExport_2024-03-01/   # Telegram export folder":
        "the user's own export, in their home folder",
    "rasd ingest ChatExport_html/      # HTML export (messages*.html)":
        "the demo data has no HTML export",
    "rasd ingest scraped.jsonl         # Telethon Message.to_dict() lines":
        "the demo data has no Telethon file",
    "rasd ingest zeeschuimer.ndjson    # X web captures (Zeeschuimer, 4CAT)":
        "the demo data has no Zeeschuimer capture",
    "rasd ingest a.csv -m my.json --dry-run   # check only":
        "a CSV and a mapping of the user's own",
    "rasd hash poster.jpg clip.mp4": "the demo data has no video",
    "rasd bank import videos known.vpdq.txt --format vpdq": "the demo data has no video",
    "rasd bank import videos hma_signal.json": "the demo data has no video",
    "rasd bank import tcap tcap_hash_list.json": "a TCAP download (needs an account)",
    "rasd bank import tcap tcap_export_all.csv --apply-tombstones":
        "a TCAP download (needs an account)",
    "rasd bank import gifct gifct.csv --map-policy "
    "\"Radicalization, Recruitment, Instruction=recruitment\"":
        "a GIFCT hash-sharing export (members only)",
    "rasd classify posts.jsonl --external ./my-finetuned-onnx/": "a model of the user's own",
    "rasd classify posts.jsonl --model models/my-model": "a model of the user's own",
    "rasd train labelled.csv --out models/my-model": "trains a model: minutes",
    "rasd train a.jsonl b.jsonl --out m2 --policy my-policy.json --tiers char":
        "trains a model: minutes",
    "rasd eval --functional": "scores 2,548 cases: ~7 s of CPU",
    "rasd eval heldout.jsonl --json > report.json": "a labelled held-out set of the user's",
    "rasd eval heldout.jsonl --tiers char --functional --failures":
        "a labelled held-out set of the user's",
    "rasd lists import sdn.csv --companion alt.csv      # OFAC SDN":
        "the demo data has no OFAC file",
    "rasd lists import eu_global.xml --name eu": "the demo data has no EU list",
}


def help_examples() -> list[tuple[str, str]]:
    """(command, example) for every example line every --help prints."""
    import typer.main

    out = []

    def walk(cmd, path):
        r = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
        assert r.exit_code == 0, (path, r.output)
        out.extend((" ".join(path) or "rasd", m.group(1))
                   for m in map(EXAMPLE.match, r.stdout.splitlines()) if m)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return out


EXAMPLES = help_examples()


def test_help_prints_each_example_whole_on_one_line():
    """Examples were rewrapped to the terminal's width: a pasted one broke where
    it was cut (``rasd policy check my-`` / ``policy.json``)."""
    import inspect

    import typer.main

    shown = {e for _, e in EXAMPLES}
    written = []

    def walk(cmd):
        for para in inspect.cleandoc(cmd.help or "").split("\n\n"):
            lines = para.replace("\b\n", "").splitlines()
            if lines and all(line.startswith("  ") for line in lines):
                written.extend(line.strip() for line in lines)
        for sub in getattr(cmd, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    assert len(written) > 100
    missing = [w for w in written if w not in shown]
    assert not missing, missing
    for e in shown:
        shlex.split(e, comments=True)  # whole: no quote left open


def test_every_skip_names_an_example_the_help_shows():
    assert not set(SKIP) - {e for _, e in EXAMPLES}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """The demo workspace, and the files the examples name beside it, made from
    the demo data."""
    w = tmp_path_factory.mktemp("ws")
    r = runner.invoke(app, ["demo", "--workdir", str(w)])
    assert r.exit_code == 0, r.output
    _close()
    posts = ('{"id": "a", "text": "Make hijrah to the land of the caliphate, brothers"}\n'
             '{"id": "b", "text": "USDT TRC20: T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb"}\n'
             '{"id": "c", "text": "Lovely weather in Rome today"}\n')
    for name in ("posts.jsonl", "big.jsonl"):
        (w / name).write_text(posts)
    (w / "notes.txt").write_text("Join the caravan\nIBAN TR330006100519786457841326 to donate\n")
    (w / "account_names.txt").write_text("Khaled al-Qaswari\nMarco\n")
    tweets = DEMO / "x" / "demo_tweets.jsonl"
    shutil.copy(tweets, w / "tweets.jsonl")
    (w / "collected").mkdir()
    shutil.copy(tweets, w / "collected" / "tweets.jsonl")
    (w / "big-crawl.jsonl.gz").write_bytes(gzip.compress(tweets.read_bytes()))
    with zipfile.ZipFile(w / "archive.zip", "w") as z:
        z.write(tweets, "crawl/tweets.jsonl")
    with tarfile.open(w / "dump.tar.gz", "w:gz") as t:
        t.add(tweets, "dump/tweets.jsonl")
    shutil.copy(DEMO / "csv" / "demo_kaggle_format.csv", w / "tweets.csv")
    shutil.copytree(DEMO / "telegram", w / "export")
    shutil.copytree(DEMO / "telegram" / "photos", w / "downloads")
    photo = DEMO / "telegram" / "photos" / "photo_1@01-03-2024_10-00-00.jpg"
    for name in ("suspect.jpg", "poster.jpg"):
        shutil.copy(photo, w / name)
    bank = DEMO / "banks" / "demo-known-content.csv"
    for name in ("hashes.csv", "tcap_hashes.csv"):
        shutil.copy(bank, w / name)
    pdq = next(line.split(",")[1] for line in bank.read_text().splitlines()
               if line.startswith("pdq,"))
    (w / "pdq_list.txt").write_text(pdq + "\n")
    (w / "pytx_signals.txt").write_text(f"pdq {pdq}\n")
    shutil.copy(DEMO / "lists" / "demo_un_format.xml", w / "consolidated.xml")
    shutil.copy(DEMO / "lists" / "demo_opensanctions.ftm.json", w / "entities.ftm.json")
    return w


def _close() -> None:
    if common.STATE.store is not None:
        common.STATE.store.close()
    common.STATE.store = None
    common.STATE.db = None


def _split(words: list[str], sep: str) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for w in words:
        if w == sep:
            out.append([])
        else:
            out[-1].append(w)
    return out


def run_example(example: str, cwd: Path) -> None:
    """Run ``example`` as a shell would, in-process: ``A && B``, ``echo TEXT |
    rasd …`` and ``rasd … > FILE``."""
    for step in _split(shlex.split(example, comments=True), "&&"):
        stdin = None
        if "|" in step:
            left, step = _split(step, "|")
            assert left[0] == "echo", example
            stdin = " ".join(left[1:]) + "\n"
        out = None
        if ">" in step:
            step, (out,) = _split(step, ">")
        assert step[0] == "rasd", example
        r = runner.invoke(app, global_options_first(step[1:]), input=stdin,
                          env={"RASD_DB": str(cwd / "rasd.db"), "COLUMNS": "80"})
        _close()
        assert r.exception is None or isinstance(r.exception, SystemExit), (
            example, r.output)
        assert r.exit_code == 0, (example, r.output)
        if out:
            (cwd / out).write_bytes(r.stdout_bytes)


def test_every_help_example_runs_in_the_demo_workspace(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    failed = []
    for cmd, example in EXAMPLES:
        if example in SKIP:
            continue
        try:
            run_example(example, workspace)
        except AssertionError as e:
            failed.append(f"{cmd}: {e}")
    assert not failed, "\n".join(failed)


def test_python_m_rasd_names_itself_rasd():
    """``python -m rasd`` printed "Usage: python -m rasd" and "Try 'python -m rasd
    -h'" above examples that all say ``rasd``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run([sys.executable, "-m", "rasd", "no-such-command"], capture_output=True,
                       text=True, env=env, check=False)
    assert r.returncode == 2 and "Usage: rasd [OPTIONS]" in r.stderr, r.stderr
    assert "Try 'rasd -h' for help." in r.stderr, r.stderr


def test_readme_screen_examples_say_which_need_real_lists(workspace):
    """Found by a new user's walk-through: the README says the examples name
    what the demo workspace holds, yet `rasd screen "أيمن الظواهري"` and the
    OFAC wallet found nothing there (they are on the real UN/OFAC lists, which
    the demo's SYNTHETIC lists do not copy). Each README `rasd screen` line
    either finds something in the demo workspace or says it needs real lists."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    lines = re.findall(r"^(rasd screen (?!--file).*?)\s+#\s*(.*)$", readme, re.MULTILINE)
    assert len(lines) >= 4
    db = str(workspace / "rasd.db")
    for example, comment in lines:
        words = shlex.split(example)[2:]
        _close()
        r = runner.invoke(app, ["--db", db, "screen", *words, "--json"])
        _close()
        assert r.exit_code == 0, r.output
        found = [m for x in json.loads(r.stdout) for m in x["matches"]]
        if not found:
            assert "real" in comment and "lists" in comment, (example, comment)
