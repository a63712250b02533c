"""``rasd show``: one post as stored, with the raw record it was parsed from."""

from __future__ import annotations

import re
import sys
from shlex import quote
from typing import Any

import orjson
import typer

from rasd.cli.common import HISTORY, INT_MAX, account_text, echo, echo_json, fail, get_store
from rasd.cli.common import when_text as _when
from rasd.platforms import post_url
from rasd.terminal import term_safe

_LINK_COLS = (("reply", "reply_to"), ("repost", "repost_of"), ("quote", "quote_of"),
              ("forward", "forward_of"))


def _links(c: Any, p: Any) -> list[dict[str, Any]]:
    """What a post links to: each reply/repost/quote/forward target (the post,
    if stored, and its author; else whether its edge waits for it), then the
    accounts its edges name (mentions; a forward's source where no post is)."""
    from sqlalchemy import select

    from rasd.store import schema as S

    a, t, e, pl = S.accounts, S.posts, S.edges, S.pending_links
    waiting = {(r.kind, r.target_post_id) for r in c.execute(
        select(pl.c.kind, pl.c.target_post_id).where(pl.c.post_id == p.id))}
    edges = c.execute(select(e.c.kind, a.c.platform_id, a.c.handle, a.c.name, a.c.platform).join(
        a, a.c.id == e.c.dst_account_id).where(e.c.post_id == p.id).order_by(e.c.id)).all()
    out: list[dict[str, Any]] = []
    for kind, col in _LINK_COLS:
        target = getattr(p, col)
        if not target:
            continue
        got = c.execute(select(t.c.id, a.c.platform_id, a.c.handle, a.c.name).outerjoin(
            a, a.c.id == t.c.account_id).where(
            t.c.platform == p.platform, t.c.platform_id == target)).first()
        edge = next((x for x in edges if x.kind == kind), None)
        acc = got if got is not None and got.platform_id is not None else edge
        is_waiting = (kind, target) in waiting
        # a record that names only whom it reposts or forwards ("RT @user:" in a
        # CSV of tweets, a forward's source by name): the target is that account
        names_account = (got is None and not is_waiting and edge is not None and (
            target in (edge.platform_id, edge.name)
            or S.handle_key(target.lstrip("@")) == S.handle_key(edge.handle)))
        out.append({"kind": kind, "target": target, "stored": got is not None,
                    "target_is": "account" if names_account else "post",
                    "waiting": is_waiting,
                    "account": acc.platform_id if acc is not None else None,
                    "handle": acc.handle if acc is not None else None,
                    "name": acc.name if acc is not None else None})
    for x in edges:
        if x.kind == "mention":
            out.append({"kind": "mention", "target": None, "stored": False,
                        "target_is": "account", "waiting": False,
                        "account": x.platform_id, "handle": x.handle, "name": x.name})
    return out


_PHRASE = {"reply": "reply to", "repost": "repost of", "quote": "quote of",
           "forward": "forwarded from"}


MAX_ID = 2 ** 63 - 1  # the largest id SQLite's integer key holds


def _who(lk: dict[str, Any], platform: str | None = None) -> str:
    """An account as rasd prints it: ``PLATFORM:ID`` (quoted for a shell where
    it needs it; what `rasd accounts show` takes back), then its handle or name
    (``account_text``); without a platform id, the handle or name alone."""
    from rasd.accounts import account_ref

    if lk["account"] is None or platform is None:
        return (f"@{lk['handle']}" if lk["handle"] else lk["name"]) or lk["account"] or "-"
    return account_text(account_ref(platform, lk["account"]), lk["handle"], lk["name"])


_JSON_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[\d+\])*")
_STEP = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")


def item_at(data: bytes, path: str | None) -> Any:
    """The object at ``path`` (``data[5]``, ``includes.tweets[2]``) within a
    raw record holding more than the post (an X page); None where the record
    is not JSON or the path does not lead into it (a Telegram message is its
    own record: its path says where it was in the export)."""
    if not path or not _JSON_PATH.fullmatch(path):
        return None
    try:
        node: Any = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    for name, index in _STEP.findall(path):
        try:
            node = node[int(index)] if index else node[name]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _on_terminal() -> bool:
    return sys.stdout.isatty()


def _show_raw(data: bytes, ref: str, force: bool) -> None:
    """A raw record printed to a terminal. What is shown there is text, not
    the bytes: control characters (an escape sequence in a post could restyle
    or retitle the terminal) are written as escapes, and stderr says so, with
    how to get the bytes. A record that is not UTF-8 text (no parser of rasd
    keeps one, but a store is input too) was decoded with U+FFFD for its
    bytes: a screen of replacement characters that looked like the record.
    It is refused, as ``curl`` refuses binary output to a terminal, unless
    ``force``: then each byte that is not UTF-8 is written ``\\xNN``."""
    binary = b"\x00" in data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        binary = True
        text = data.decode("utf-8", "backslashreplace")
    save = f"rasd show {quote(ref)} --raw > record"
    if binary and not force:
        fail(f"the raw record is binary ({len(data):,} bytes, not UTF-8 text); printing it "
             f"would garble the terminal: save it ({save}), or show it escaped with --force",
             code=1)
    shown = term_safe(text)
    typer.echo(shown)
    if shown != text or binary:
        echo(f"rasd: note: shown with {'bytes and ' if binary else ''}control characters "
             f"escaped; for the bytes as received: {save}", err=True)


def register(app: typer.Typer) -> None:
    @app.command("show")
    def show_cmd(
        ref: str = typer.Argument(..., metavar="PLATFORM:ID",
                                  help="A post: x:1800000000000000024, "
                                  "telegram:channel7000000001/2, or the store's numeric id."),
        raw: bool = typer.Option(False, "--raw", help="Print only the raw record, exactly "
                                 "as received (the bytes, decompressed) when redirected; on "
                                 "a terminal its text with control characters escaped (a "
                                 "note on stderr says when any were), and a record that is "
                                 "not UTF-8 text is refused there (see --force). For an X "
                                 "page that is the whole page, other posts with it: see "
                                 "--item."),
        force: bool = typer.Option(False, "--force", help="With --raw on a terminal: show "
                                   "a binary record anyway, its bytes that are not UTF-8 "
                                   "written \\xNN and control characters escaped."),
        item: bool = typer.Option(False, "--item", help="With --raw: only the post's own "
                                  "object within the record (at its JSON path), "
                                  "re-serialised; the record byte for byte is --raw alone."),
        json_: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Show a stored post: its fields, what it replies to, quotes, reposts or
        forwards (the post and its author, or that it is not ingested) and whom it
        mentions, versions, detections, its media (with their hash-match
        detections), and the raw record it was parsed from — the evidence exactly
        as received. Accounts (its author, those it links to) are printed as
        PLATFORM:ID (@handle or name), which `rasd accounts show` takes back.

        Examples (posts of the demo workspace, `rasd demo`):

          rasd show x:1800000000000000024

          rasd show telegram:channel7000000001/2 --raw > evidence.json

          rasd show x:1800000000000000024 --raw --item   # the tweet, not its whole page
        """
        from sqlalchemy import select

        from rasd.accounts.roles import version_order
        from rasd.store import schema as S
        from rasd.store.db import current_detection

        store = get_store()
        t = S.posts
        missing = f"no post {ref}"
        if ref.isascii() and ref.isdigit():
            missing += (" (a number is a store id; a platform's post id is PLATFORM:ID, "
                        f"e.g. x:{ref})")
            # past any stored id: SQLite cannot even bind it, nor PostgreSQL an
            # id past its 32-bit integer (a tweet id typed without "x:")
            if int(ref) > (MAX_ID if store.is_sqlite else INT_MAX):
                fail(missing)
            cond = t.c.id == int(ref)
        elif ":" in ref:
            plat, pid = ref.split(":", 1)
            cond = (t.c.platform == plat) & (t.c.platform_id == pid)
        else:
            fail(f"{ref!r}: expected PLATFORM:ID or a numeric id")
        with store.connect() as c:
            p = c.execute(select(t).where(cond)).first()
            if p is None:
                fail(missing)
            versions = c.execute(select(S.post_versions).where(
                S.post_versions.c.post_id == p.id).order_by(S.post_versions.c.id)).all()
            dets = c.execute(select(S.detections, current_detection().label("current")).where(
                S.detections.c.subject_type == "post", S.detections.c.subject_id == p.id)).all()
            media = c.execute(select(S.media).join(
                S.post_media, S.post_media.c.media_id == S.media.c.id).where(
                S.post_media.c.post_id == p.id).order_by(S.media.c.id)).all()
            media_dets = c.execute(select(S.detections, current_detection().label("current")).where(
                S.detections.c.subject_type == "media",
                S.detections.c.subject_id.in_([m.id for m in media])).order_by(
                S.detections.c.id)).all() if media else []
            author = c.execute(select(S.accounts.c.handle, S.accounts.c.name,
                                      S.accounts.c.platform_id).where(
                S.accounts.c.id == p.account_id)).first() if p.account_id else None
            chat_handle = c.execute(select(S.accounts.c.handle).where(
                S.accounts.c.platform == p.platform, S.accounts.c.platform_id == p.chat_id)
            ).scalar() if p.chat_id else None
            links = _links(c, p)
        data = store.raw(p.raw_sha256) if p.raw_sha256 else None
        own = item_at(data, p.raw_path) if data is not None else None
        if item and not raw:
            fail("--item goes with --raw")
        if force and not raw:
            fail("--force goes with --raw")
        if raw:
            if data is None:
                fail("no raw record stored for this post")
            if item:
                if own is None:
                    fail(f"the raw record holds no object at {p.raw_path or '-'}: it is the "
                         "post's own (print it with --raw alone)")
                echo_json(own, indent=False)
                return
            if _on_terminal():  # shown: its control characters escaped
                _show_raw(data, ref, force)
            else:  # redirected (evidence): the bytes exactly as received
                sys.stdout.flush()
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
            return
        out = {k: v for k, v in p._mapping.items()}
        out["author"] = dict(author._mapping) if author else None
        out["url"] = post_url(p.platform, p.platform_id, extra=p.extra,
                              author_handle=author.handle if author else None,
                              chat_handle=chat_handle)
        out["versions"] = [{"text": v.text, "edited_at": v.edited_at, "seen": v.observed_at,
                            "until": v.valid_until} for v in sorted(versions, key=version_order)]
        out["detections"] = [{"detector": d.detector, "label": d.label, "score": d.score,
                              "model_version": d.model_version, "explanation": d.explanation,
                              "current": bool(d.current)}
                             for d in dets]
        out["media"] = [{"id": m.id, "type": m.type, "local_path": m.local_path, "url": m.url,
                         "detections": [{"detector": d.detector, "label": d.label,
                                         "score": d.score, "model_version": d.model_version,
                                         "attributes": d.attributes, "current": bool(d.current)}
                                        for d in media_dets if d.subject_id == m.id]}
                        for m in media]
        out["links"] = links
        out["raw"] = {"sha256": p.raw_sha256, "path": p.raw_path,
                      "bytes": len(data) if data else None}
        if json_:
            echo_json(out)
            return
        who = "-"
        if author is not None:
            who = _who({"account": author.platform_id, "handle": author.handle,
                        "name": author.name}, p.platform)
        echo(f"{p.platform}:{p.platform_id} [{p.kind}] {_when(p.created_at)} "
             f"by {who}")
        typer.echo(f"  {p.text!r}")
        poll = (p.extra or {}).get("poll")
        if isinstance(poll, dict):
            state = {True: "closed", False: "open"}.get(poll.get("closed"), "")
            total = poll.get("total_voters")
            echo(f"  poll{' ' + state if state else ''}"
                 f"{f', {total} voters' if total is not None else ''}: "
                 f"{poll.get('question') or '(the text asks)'!r}")
            for o in poll.get("options") or []:
                votes = o.get("votes")
                echo(f"    - {o.get('text')!r}"
                     + (f" ({votes})" if votes is not None else ""))
        if out["url"]:
            echo(f"  {out['url']}")
        for lk in links:
            if lk["kind"] == "mention":
                echo(f"  mentions {_who(lk, p.platform)}")
                continue
            if lk["kind"] == "forward" and not lk["stored"] and not lk["waiting"]:
                # from a channel or user named, not from a post of theirs we hold
                echo(f"  forwarded from "
                     f"{_who(lk, p.platform) if lk['account'] else repr(lk['target'])}")
                continue
            if lk["target_is"] == "account":  # the record names the author, not the post
                echo(f"  {_PHRASE[lk['kind']]} a post by {_who(lk, p.platform)} (the record names "
                     "the account, not the post)")
                continue
            line = f"  {_PHRASE[lk['kind']]} {p.platform}:{lk['target']}"
            if not lk["stored"]:
                line += (" (not ingested: its edge waits for it; rasd links)" if lk["waiting"]
                         else " (not ingested)")
            echo(line + (f" by {_who(lk, p.platform)}" if lk["account"] else ""))
        typer.echo(f"  collected {_when(p.observed_at)}; stored {_when(p.first_seen)}, "
                   f"last seen {_when(p.last_seen)}")
        if p.deleted_at is not None:  # a compliance event said so (delete, unavailable)
            typer.echo(f"  DELETED on the platform {_when(p.deleted_at)} (compliance event)")
        for v in out["versions"]:
            seen = f"collected {_when(v['seen'])}, " if v["seen"] else ""
            typer.echo(f"  earlier version ({seen}until {_when(v['until'])}): {v['text']!r}")
        from rasd.detect.finance.detector import about

        for d, row in zip(out["detections"], dets, strict=True):
            typer.echo(f"  detection {d['detector']}/{d['label']} {d['score']:.2f} "
                       f"({d['model_version']})" + ("" if d["current"] else HISTORY))
            if what := about(row.detector, row.attributes):  # the entity / wallet it names
                echo(f"    about: {what}")
        for m in out["media"]:
            where = m["local_path"] or m["url"] or "(no file, no URL)"
            echo(f"  media {m['type'] or '-'} #{m['id']}: {where}")
            for d in m["detections"]:
                entity = (d["attributes"] or {}).get("entity")
                echo(f"    detection {d['detector']}/{d['label']} "
                     f"{d['score']:.2f} ({d['model_version']})"
                     + (f" entity={entity}" if entity else "")
                     + ("" if d["current"] else HISTORY))
        if data is not None:  # the post's own object where the record holds more
            shown = orjson.dumps(own) if own is not None else data
            snippet = shown[:300].decode("utf-8", "replace")
            echo(f"  raw {p.raw_sha256[:12]}… at {p.raw_path or '-'}: {snippet}"
                 + ("…" if len(shown) > 300 else ""))
