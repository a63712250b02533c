"""``rasd accounts``: look up accounts, their history, and set analyst roles."""

from __future__ import annotations

import typer

from rasd.cli.common import echo, echo_json, fail, get_store
from rasd.cli.common import when_text as _when


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Look up accounts and set analyst roles (news, researcher …).",
                      no_args_is_help=True)
    app.add_typer(sub, name="accounts")

    @sub.command("mark")
    def mark(
        ref: str = typer.Argument(..., help="Handle (@name) or platform id, optionally "
                                  "after its platform (x:12345, telegram:@name)."),
        role: str = typer.Option(..., "--role", "-r",
                                 help="news, researcher, ngo, official, or none to clear."),
        platform: str = typer.Option(None, "--platform", "-p", help="Only on this platform."),
    ) -> None:
        """Mark an account as a news outlet, researcher, NGO or official body.

        Journalism and research about terrorism are exempt (EU TCO Art. 1(3)):
        detectors lower the prior that posts of such accounts are terrorist content.
        When the role changes, the next `rasd scan` evaluates the account's posts
        again under it.

        Examples:

          rasd accounts mark @dailyworld_news --role news

          rasd accounts mark ctr_research_lab --role researcher --platform x
        """
        from rasd.accounts import set_role

        try:
            rows = set_role(get_store(), ref, role, platform)
        except (ValueError, LookupError) as e:
            fail(str(e))
        for r in rows:
            echo(f"{r.platform} {r.platform_id} @{r.handle or '-'}: "
                 f"role {r.role or '-'}")
        echo("posts of an account whose role changed are evaluated again by the next `rasd scan`")

    @sub.command("show")
    def show(
        ref: str = typer.Argument(..., help="Handle (@name) or platform id, optionally "
                                  "after its platform (x:12345, telegram:@name)."),
        platform: str = typer.Option(None, "--platform", "-p"),
        json_: bool = typer.Option(False, "--json"),
    ) -> None:
        """Show an account: profile, role, counts, its links to and from other
        accounts by kind (replies, reposts, quotes, mentions, forwards, follows)
        and profile history.

        Examples:

          rasd accounts show @bbf_lion_media

          rasd accounts show x:1600000000000000001
        """
        from sqlalchemy import func, select

        from rasd.accounts import account_history, edge_counts, find_accounts
        from rasd.store import schema as S

        store = get_store()
        rows = find_accounts(store, ref, platform)
        if not rows:
            fail(f"no account matches {ref!r}")
        out = []
        with store.connect() as c:
            for r in rows:
                posts = c.execute(select(func.count()).select_from(S.posts).where(
                    S.posts.c.account_id == r.id)).scalar_one()
                out.append({"id": r.id, "platform": r.platform, "platform_id": r.platform_id,
                            "handle": r.handle, "name": r.name, "bio": r.bio, "role": r.role,
                            "kind": r.kind, "followers": r.followers, "stub": r.stub,
                            "posts": posts, "links": edge_counts(store, r.id),
                            "history": account_history(store, r.id)})
        if json_:
            echo_json(out)
            return
        for a in out:
            echo(f"{a['platform']} {a['platform_id']} @{a['handle'] or '-'} "
                 f"({a['name'] or '-'}) role={a['role'] or '-'} "
                 f"posts={a['posts']}")
            if a["bio"]:
                echo(f"  bio: {a['bio']}")
            lk = a["links"]
            for side, word in (("out", "to"), ("in", "from")):
                if lk[side]:
                    kinds = ", ".join(f"{k} {n}" for k, n in lk[side].items())
                    echo(f"  links {side}: {kinds} ({word} {lk[f'{side}_accounts']} "
                         "account(s))")
            for h in a["history"][:-1]:
                seen = f"collected {_when(h['seen'])}, " if h["seen"] else ""
                echo(f"  {seen}until {_when(h['until'])}: @{h['handle']} {h['name']!r} "
                     f"{h['bio']!r}")
