"""``rasd show``: one post as stored, with the raw record it was parsed from."""

from __future__ import annotations

import sys
from typing import Any

import typer

from rasd.cli.common import echo, echo_json, fail, get_store
from rasd.platforms import post_url


def _when(t: Any) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S") if t is not None else "-"


def register(app: typer.Typer) -> None:
    @app.command("show")
    def show_cmd(
        ref: str = typer.Argument(..., metavar="PLATFORM:ID",
                                  help="A post: x:1576994789110992896, "
                                  "telegram:channel555/2, or the store's numeric id."),
        raw: bool = typer.Option(False, "--raw", help="Print only the raw record, exactly "
                                 "as received (the bytes, decompressed; on a terminal "
                                 "with control characters escaped)."),
        json_: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Show a stored post: its fields, versions, detections, its media (with
        their hash-match detections), and the raw record it was parsed from — the
        evidence exactly as received.

        Examples:

          rasd show x:1394735776701816833

          rasd show telegram:channel7000000001/2 --raw > evidence.json
        """
        from sqlalchemy import select

        from rasd.store import schema as S

        store = get_store()
        t = S.posts
        if ref.isdigit():
            cond = t.c.id == int(ref)
        elif ":" in ref:
            plat, pid = ref.split(":", 1)
            cond = (t.c.platform == plat) & (t.c.platform_id == pid)
        else:
            fail(f"{ref!r}: expected PLATFORM:ID or a numeric id")
        with store.connect() as c:
            p = c.execute(select(t).where(cond)).first()
            if p is None:
                fail(f"no post {ref}")
            versions = c.execute(select(S.post_versions).where(
                S.post_versions.c.post_id == p.id).order_by(S.post_versions.c.id)).all()
            dets = c.execute(select(S.detections).where(
                S.detections.c.subject_type == "post", S.detections.c.subject_id == p.id)).all()
            media = c.execute(select(S.media).join(
                S.post_media, S.post_media.c.media_id == S.media.c.id).where(
                S.post_media.c.post_id == p.id).order_by(S.media.c.id)).all()
            media_dets = c.execute(select(S.detections).where(
                S.detections.c.subject_type == "media",
                S.detections.c.subject_id.in_([m.id for m in media])).order_by(
                S.detections.c.id)).all() if media else []
            author = c.execute(select(S.accounts.c.handle, S.accounts.c.name).where(
                S.accounts.c.id == p.account_id)).first() if p.account_id else None
            chat_handle = c.execute(select(S.accounts.c.handle).where(
                S.accounts.c.platform == p.platform, S.accounts.c.platform_id == p.chat_id)
            ).scalar() if p.chat_id else None
        data = store.raw(p.raw_sha256) if p.raw_sha256 else None
        if raw:
            if data is None:
                fail("no raw record stored for this post")
            if sys.stdout.isatty():  # shown: its control characters escaped
                echo(data.decode("utf-8", "replace"))
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
        out["versions"] = [{"text": v.text, "edited_at": v.edited_at, "until": v.valid_until}
                           for v in versions]
        out["detections"] = [{"detector": d.detector, "label": d.label, "score": d.score,
                              "model_version": d.model_version, "explanation": d.explanation}
                             for d in dets]
        out["media"] = [{"id": m.id, "type": m.type, "local_path": m.local_path, "url": m.url,
                         "detections": [{"detector": d.detector, "label": d.label,
                                         "score": d.score, "model_version": d.model_version,
                                         "attributes": d.attributes}
                                        for d in media_dets if d.subject_id == m.id]}
                        for m in media]
        out["raw"] = {"sha256": p.raw_sha256, "path": p.raw_path,
                      "bytes": len(data) if data else None}
        if json_:
            echo_json(out)
            return
        who = "-"
        if author is not None:
            who = f"@{author.handle}" if author.handle else (author.name or "-")
        echo(f"{p.platform}:{p.platform_id} [{p.kind}] {p.created_at} "
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
        typer.echo(f"  collected {_when(p.observed_at)}; stored {_when(p.first_seen)}, "
                   f"last seen {_when(p.last_seen)}")
        for v in out["versions"]:
            typer.echo(f"  earlier version (until {v['until']}): {v['text']!r}")
        for d in out["detections"]:
            typer.echo(f"  detection {d['detector']}/{d['label']} {d['score']:.2f} "
                       f"({d['model_version']})")
        for m in out["media"]:
            where = m["local_path"] or m["url"] or "(no file, no URL)"
            echo(f"  media {m['type'] or '-'} #{m['id']}: {where}")
            for d in m["detections"]:
                entity = (d["attributes"] or {}).get("entity")
                echo(f"    detection {d['detector']}/{d['label']} "
                     f"{d['score']:.2f} ({d['model_version']})"
                     + (f" entity={entity}" if entity else ""))
        if data is not None:
            snippet = data[:300].decode("utf-8", "replace")
            echo(f"  raw {p.raw_sha256[:12]}… at {p.raw_path or '-'}: {snippet}"
                 + ("…" if len(data) > 300 else ""))
