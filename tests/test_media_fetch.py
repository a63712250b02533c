"""The opt-in downloader, against a local HTTP server on 127.0.0.1 only."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path
from typing import ClassVar

import pytest

from rasd.detect.media.fetch import FetchError, FetchPolicy, fetch, fetch_pending
from rasd.store import schema as S
from rasd.store.db import now

POSTER = (Path(__file__).resolve().parents[1] / "src" / "rasd" / "data" / "demo" / "telegram"
          / "photos" / "photo_1@01-03-2024_10-00-00.jpg").read_bytes()


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, dict[str, str], bytes]]] = {}
    # a Content-Length sent instead of the body's (a hostile server's header)
    length_override: ClassVar[dict[str, str]] = {}

    def do_GET(self) -> None:
        status, headers, body = self.routes.get(self.path, (404, {}, b"nope"))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", self.length_override.get(self.path, str(len(body))))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    _Handler.routes = {
        "/poster.jpg": (200, {"Content-Type": "image/jpeg"}, POSTER),
        "/generic": (200, {"Content-Type": "application/octet-stream"}, POSTER),
        "/page.html": (200, {"Content-Type": "text/html"}, b"<html>hi</html>"),
        "/liar.jpg": (200, {"Content-Type": "image/jpeg"}, b"<html>not an image</html>" * 10),
        "/big.jpg": (200, {"Content-Type": "image/jpeg"}, POSTER * 20),
        "/redirect-ok": (302, {"Location": "/poster.jpg"}, b""),
        "/redirect-metadata": (302, {"Location": "http://169.254.169.254/latest/meta-data/"},
                               b""),
        "/redirect-private": (302, {"Location": "http://10.0.0.5/x.jpg"}, b""),
        "/redirect-file": (302, {"Location": "file:///etc/passwd"}, b""),
        "/loop": (302, {"Location": "/loop"}, b""),
        "/%C3%A4.jpg": (200, {"Content-Type": "image/jpeg"}, POSTER),
        "/redirect-bad-port": (302, {"Location": "http://127.0.0.1:99999/x.jpg"}, b""),
        "/length-superscript": (200, {"Content-Type": "image/jpeg"}, POSTER),
        "/redirect-bad-url": (302, {"Location": "http://[::1/x.jpg"}, b""),
    }
    yield base
    srv.shutdown()


TEST = FetchPolicy(allow_private=True, timeout=5, max_bytes=100_000)


def test_fetch_ok_and_content_checks(server, tmp_path):
    got = fetch(server + "/poster.jpg", tmp_path, TEST)
    assert Path(got["path"]).read_bytes() == POSTER
    assert got["content_type"] == "image/jpeg" and Path(got["path"]).name == got["sha256"]
    assert fetch(server + "/generic", tmp_path, TEST)["sha256"] == got["sha256"]
    assert fetch(server + "/redirect-ok", tmp_path, TEST)["final_url"].endswith("/poster.jpg")
    with pytest.raises(FetchError, match="content type 'text/html'"):
        fetch(server + "/page.html", tmp_path, TEST)
    with pytest.raises(FetchError, match="not an image or video"):
        fetch(server + "/liar.jpg", tmp_path, TEST)
    with pytest.raises(FetchError, match="exceeds"):
        fetch(server + "/big.jpg", tmp_path, TEST)
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(server + "/missing", tmp_path, TEST)
    with pytest.raises(FetchError, match="redirects"):
        fetch(server + "/loop", tmp_path, TEST)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".part")]


def test_private_addresses_refused(server, tmp_path):
    strict = FetchPolicy(timeout=5)
    with pytest.raises(FetchError, match="not a public address"):
        fetch(server + "/poster.jpg", tmp_path, strict)  # loopback itself
    # Only the test server's loopback is allowed; redirects elsewhere are refused
    # before any connection is made.
    pol = FetchPolicy(allow_private=True, timeout=5)
    import rasd.detect.media.fetch as F

    real = F._check_ip

    def only_loopback(ip: str, policy: FetchPolicy) -> None:
        if ip != "127.0.0.1":
            real(ip, FetchPolicy())
    F._check_ip = only_loopback
    try:
        with pytest.raises(FetchError, match="169.254.169.254 is not a public address"):
            fetch(server + "/redirect-metadata", tmp_path, pol)
        with pytest.raises(FetchError, match="10.0.0.5 is not a public address"):
            fetch(server + "/redirect-private", tmp_path, pol)
    finally:
        F._check_ip = real
    with pytest.raises(FetchError, match="scheme 'file'"):
        fetch(server + "/redirect-file", tmp_path, pol)
    with pytest.raises(FetchError, match="credentials"):
        fetch("http://user:pw@127.0.0.1/x", tmp_path, pol)


def test_hostile_urls_are_fetch_errors(server, tmp_path):
    """A URL urllib cannot read, a host IDNA cannot write, a path of non-ASCII
    letters: ValueError / UnicodeError tracebacks that stopped `rasd media
    fetch` before every later medium. Each is a FetchError now, and a path of
    other letters is fetched, percent-encoded."""
    for url, why in (("http://[::1/x.jpg", "not a URL"),
                     ("http://127.0.0.1:99999/x.jpg", "not a URL"),
                     ("http://127.0.0.1:abc/x.jpg", "not a URL"),
                     ("http://" + "a" * 70 + ".com/x.jpg", "not a host name"),
                     ("http://exa\u202emple.com/x.jpg", "not a host name"),
                     (server + "/redirect-bad-port", "not a URL"),
                     (server + "/redirect-bad-url", "not a URL in a redirect")):
        with pytest.raises(FetchError, match=why):
            fetch(url, tmp_path, TEST)
    assert Path(fetch(server + "/ä.jpg", tmp_path, TEST)["path"]).read_bytes() == POSTER
    # a Content-Length of "\xb2" ("²" as Latin-1 reads it) was int()'s ValueError
    _Handler.length_override["/length-superscript"] = "\xb2"
    assert fetch(server + "/length-superscript", tmp_path, TEST)["size"] == len(POSTER)


def test_fetch_pending_goes_on_past_a_url_it_cannot_read(server, sqlite_store, tmp_path):
    ts = now()
    with sqlite_store.begin() as c:
        c.execute(S.media.insert(), [
            {"platform": "x", "media_key": "a", "url": "http://[::1/x.jpg", "first_seen": ts},
            {"platform": "x", "media_key": "b", "url": server + "/poster.jpg", "first_seen": ts},
        ])
    res = fetch_pending(sqlite_store, tmp_path / "media", policy=TEST)
    assert (res["fetched"], res["failed"]) == (1, 1) and "not a URL" in res["errors"][0]


def test_fetch_pending_sets_local_path(server, sqlite_store, tmp_path):
    ts = now()
    with sqlite_store.begin() as c:
        c.execute(S.media.insert(), [
            {"platform": "x", "media_key": "a", "url": server + "/poster.jpg", "first_seen": ts},
            {"platform": "x", "media_key": "b", "url": server + "/page.html", "first_seen": ts},
        ])
    res = fetch_pending(sqlite_store, tmp_path / "media", policy=TEST)
    assert (res["fetched"], res["failed"]) == (1, 1)
    assert "content type" in res["errors"][0]
    with sqlite_store.connect() as c:
        paths = dict(c.execute(S.media.select().with_only_columns(
            S.media.c.media_key, S.media.c.local_path)).all())
    assert Path(paths["a"]).read_bytes() == POSTER and paths["b"] is None


def _store_of_one_medium(server: str, tmp_path: Path) -> Path:
    """A store file holding one medium to fetch, the server's poster."""
    from rasd.store import Store

    db = tmp_path / "f.db"
    st = Store.open(str(db))
    with st.begin() as c:
        c.execute(S.media.insert().values(platform="x", media_key="a",
                                          url=server + "/poster.jpg", first_seen=now()))
    st.close()
    return db


def test_cli_media_fetch(server, tmp_path):
    from typer.testing import CliRunner

    from rasd.cli import app, common

    db = _store_of_one_medium(server, tmp_path)
    common.STATE.store = None
    r = CliRunner().invoke(app, ["--db", str(db), "media", "fetch"])
    assert "fetched 0 of 1" in r.stdout and "not a public address" in r.output
    common.STATE.store = None
    r = CliRunner().invoke(app, ["--db", str(db), "media", "fetch", "--allow-private",
                                 "--dest", str(tmp_path / "m")])
    assert r.exit_code == 0 and "fetched 1 of 1" in r.stdout
    common.STATE.store = None


def test_cli_media_fetch_bad_options(server, tmp_path):
    """A timeout a socket does not take (-1, nan, 1e308) was a ValueError /
    OverflowError traceback at the first connection; --limit -1 fetched
    without a limit (SQLite's LIMIT -1). Each is an error of usage now."""
    from typer.testing import CliRunner

    from rasd.cli import app, common

    db = _store_of_one_medium(server, tmp_path)
    for opts in (["--timeout", "-1"], ["--timeout", "nan"], ["--timeout", "1e308"],
                 ["--limit", "-1"], ["--max-bytes", "-5"]):
        common.STATE.store = None
        r = CliRunner().invoke(app, ["--db", str(db), "media", "fetch", "--allow-private",
                                     "--dest", str(tmp_path / "m"), *opts])
        assert r.exit_code == 2, (opts, r.output)
        assert "Traceback" not in r.output and "fetched" not in r.output, (opts, r.output)
    common.STATE.store = None


def test_a_medium_scanned_without_a_file_is_hashed_once_fetched(server, sqlite_store, tmp_path):
    """`rasd media fetch && rasd scan --media` (media fetch --help): the scan
    before the fetch had marked the URL-only medium scanned, so the fetched file
    was never hashed nor matched."""
    from rasd.detect.media import schema as M
    from rasd.detect.media.detector import MediaDetector
    from rasd.detect.scan import scan

    with sqlite_store.begin() as c:
        c.execute(S.media.insert().values(platform="x", media_key="a",
                                          url=server + "/poster.jpg", first_seen=now()))
    assert scan(sqlite_store, [MediaDetector()])[0].scanned == 1  # no file: nothing hashed
    assert fetch_pending(sqlite_store, tmp_path / "media", policy=TEST)["fetched"] == 1
    det = MediaDetector()
    assert scan(sqlite_store, [det])[0].scanned == 1 and det.stats["hashed"] == 1
    with sqlite_store.connect() as c:
        assert c.execute(M.media_signals.select()).first() is not None
