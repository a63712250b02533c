"""Opt-in media downloader (``rasd media fetch``). Nothing in rasd fetches a URL unless
the user runs this.

Safety rules, each enforced here rather than left to a library default:
- only ``http`` and ``https``; at most ``max_redirects`` redirects, each one checked
  like the first URL;
- the host name is resolved once and **every** address must be public (no private,
  loopback, link-local, multicast, reserved or unspecified address — the usual SSRF
  targets such as 169.254.169.254); the connection then goes to that checked address
  (no second DNS lookup that could be rebound), with the original Host / SNI;
- connect and read timeouts, and a wall-clock deadline per download;
- ``Content-Type`` must be an image or video type (or a generic binary type, then
  the bytes are sniffed), and the body is cut off above ``max_bytes``
  (``Content-Length`` is checked first when present);
- files are written under their sha256 to a temporary name and renamed when complete.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from sqlalchemy import and_, delete, select, update

from rasd.detect.media.files import sniff
from rasd.store import Store
from rasd.store import schema as S

ALLOWED_TYPES = ("image/", "video/")
GENERIC_TYPES = ("application/octet-stream", "binary/octet-stream")
USER_AGENT = "rasd-media-fetch/1 (+research; opt-in)"


class FetchError(Exception):
    pass


@dataclass
class FetchPolicy:
    max_bytes: int = 50 << 20
    timeout: float = 20.0
    deadline: float = 120.0
    max_redirects: int = 3
    allow_private: bool = False


def _check_ip(ip: str, policy: FetchPolicy) -> None:
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    if policy.allow_private:
        return
    if (addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_multicast
            or addr.is_reserved or addr.is_unspecified or not addr.is_global):
        raise FetchError(f"refused: {ip} is not a public address")


def resolve_checked(host: str, port: int, policy: FetchPolicy) -> str:
    """Resolve ``host`` and return one address, after checking all of them."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise FetchError(f"cannot resolve {host!r}: {e}") from None
    except UnicodeError as e:  # no host name IDNA can write (a label of 64+ letters, U+202E)
        raise FetchError(f"not a host name: {host[:200]!r} ({e})") from None
    addrs = sorted({i[4][0] for i in infos})
    if not addrs:
        raise FetchError(f"no address for {host!r}")
    for a in addrs:
        _check_ip(a, policy)
    return addrs[0]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, ip: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, ip: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._ip = ip

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def fetch(url: str, dest_dir: Path, policy: FetchPolicy | None = None) -> dict[str, Any]:
    """Download one URL under the policy; returns {path, sha256, size, content_type, url}."""
    import hashlib

    pol = policy or FetchPolicy()
    start = time.monotonic()
    current = url
    for _hop in range(pol.max_redirects + 1):
        # a URL is input (a post's, a server's Location): one that urllib cannot
        # read ("http://[::1/x", a port 99999 or "abc") raised ValueError, and its
        # traceback stopped `rasd media fetch` before every later medium
        try:
            parts = urlsplit(current)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as e:
            raise FetchError(f"not a URL: {current[:200]!r} ({e})") from None
        if parts.scheme not in ("http", "https"):
            raise FetchError(f"refused scheme {parts.scheme!r} in {current[:200]!r}")
        if not parts.hostname:
            raise FetchError(f"no host in {current[:200]!r}")
        if parts.username or parts.password:
            raise FetchError("refused: credentials in URL")
        ip = resolve_checked(parts.hostname, port, pol)
        cls = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
        conn = cls(parts.hostname, port, ip, pol.timeout)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        # http.client writes the request line in ASCII: a path of other letters
        # ("/ä.jpg") raised UnicodeEncodeError; sent percent-encoded, as a browser does
        path = "".join(ch if ch.isascii() else quote(ch) for ch in path)
        try:
            conn.request("GET", path, headers={"User-Agent": USER_AGENT, "Accept":
                                               "image/*, video/*;q=0.9"})
            resp = conn.getresponse()
            if resp.status in (301, 302, 303, 307, 308):
                loc = resp.getheader("Location")
                if not loc:
                    raise FetchError(f"redirect without Location from {current[:200]}")
                try:
                    current = urljoin(current, loc)
                except ValueError as e:  # "http://[::1/x": the server's, a traceback
                    raise FetchError(f"not a URL in a redirect from {current[:200]}: "
                                     f"{loc[:200]!r} ({e})") from None
                continue
            if resp.status != 200:
                raise FetchError(f"HTTP {resp.status} for {current[:200]}")
            ctype = (resp.getheader("Content-Type") or "").split(";")[0].strip().lower()
            if not (ctype.startswith(ALLOWED_TYPES) or ctype in GENERIC_TYPES):
                raise FetchError(f"refused content type {ctype or 'none'!r}")
            clen = resp.getheader("Content-Length")
            # ASCII digits: a header is read as Latin-1, and "\xb2" ("²") is a digit
            # to str.isdigit that int() refuses (a ValueError traceback)
            if clen and clen.isascii() and clen.isdigit() and int(clen) > pol.max_bytes:
                raise FetchError(f"Content-Length {clen} exceeds {pol.max_bytes} bytes")
            dest_dir.mkdir(parents=True, exist_ok=True)
            tmp = dest_dir / f".part-{os.getpid()}-{time.monotonic_ns()}"
            sha = hashlib.sha256()
            size = 0
            head = b""
            try:
                with open(tmp, "wb") as fh:
                    while True:
                        if time.monotonic() - start > pol.deadline:
                            raise FetchError(f"took longer than {pol.deadline:.0f} s")
                        chunk = resp.read(65536)
                        if not chunk:
                            break
                        size += len(chunk)
                        if size > pol.max_bytes:
                            raise FetchError(f"body exceeds {pol.max_bytes} bytes")
                        if len(head) < 4096:
                            head += chunk[:4096 - len(head)]
                        sha.update(chunk)
                        fh.write(chunk)
                kind, mime = sniff(head)
                if kind not in ("photo", "video"):
                    raise FetchError(f"content is {kind}, not an image or video "
                                     f"(server said {ctype})")
                digest = sha.hexdigest()
                final = dest_dir / digest
                os.replace(tmp, final)
            finally:
                if tmp.exists():
                    tmp.unlink()
            return {"url": url, "final_url": current, "path": str(final), "sha256": digest,
                    "size": size, "content_type": mime or ctype}
        except (OSError, http.client.HTTPException) as e:
            raise FetchError(f"{type(e).__name__}: {e}") from None
        finally:
            conn.close()
    raise FetchError(f"more than {pol.max_redirects} redirects")


def fetch_pending(store: Store, dest_dir: Path, *, policy: FetchPolicy | None = None,
                  limit: int = 100) -> dict[str, Any]:
    """Fetch media rows with a URL and no local file; set their ``local_path``."""
    m = S.media
    with store.connect() as c:
        rows = c.execute(select(m.c.id, m.c.url).where(and_(
            m.c.url.is_not(None), m.c.local_path.is_(None))).order_by(m.c.id)
            .limit(limit)).all()
    res: dict[str, Any] = {"tried": 0, "fetched": 0, "failed": 0, "errors": []}
    for mid, url in rows:
        res["tried"] += 1
        try:
            got = fetch(url, dest_dir, policy)
        except FetchError as e:
            res["failed"] += 1
            res["errors"].append(f"media #{mid} {url[:200]}: {e}")
            continue
        with store.begin() as c:
            c.execute(update(m).where(m.c.id == mid).values(local_path=got["path"],
                                                            mime_type=got["content_type"]))
            # scanned while it had no file (never hashed): `rasd scan --media` reads it now
            c.execute(delete(S.scans).where(S.scans.c.subject_type == "media",
                                            S.scans.c.subject_id == mid))
        res["fetched"] += 1
    return res
