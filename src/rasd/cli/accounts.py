"""``rasd accounts``: look up accounts, their history, and set analyst roles."""

from __future__ import annotations

import typer

from rasd.accounts.names import list_all
from rasd.cli.common import (
    HISTORY,
    INT_MAX,
    account_text,
    echo,
    echo_json,
    echo_table,
    fail,
    get_store,
    more_shown,
)
from rasd.cli.common import when_text as _when


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="List and look up accounts (each printed as PLATFORM:ID, which "
                           "these commands take back) and set analyst roles (news, "
                           "researcher …).", no_args_is_help=True)
    app.add_typer(sub, name="accounts")

    @sub.command("mark")
    def mark(
        ref: str = typer.Argument(..., help="An account as rasd prints it (x:9000000001), "
                                  "a handle (@name), a platform id or a display name (any "
                                  "case), optionally after its platform "
                                  "(telegram:@name). One that names several accounts (a "
                                  "shared name, a handle on several platforms), or "
                                  "none on the platform it gives, is refused: name "
                                  "one by PLATFORM:ID."),
        role: str = typer.Option(..., "--role", "-r",
                                 help="news, researcher, ngo, official, or none to clear."),
        platform: str = typer.Option(None, "--platform", "-p", help="Only on this platform."),
    ) -> None:
        """Mark an account as a news outlet, researcher, NGO or official body.

        Journalism and research about terrorism are exempt (EU TCO Art. 1(3)):
        detectors lower the prior that posts of such accounts are terrorist content.
        When the role changes, the next `rasd scan` evaluates the account's posts
        again under it. One account at a time: a reference that names several
        (a display name they share, a handle on X and on Telegram) is refused
        with the PLATFORM:ID of each, to name the one meant.

        Examples:

          rasd accounts mark @dailyworld_news --role news

          rasd accounts mark ctr_research_lab --role researcher --platform x
        """
        from rasd.accounts import account_ref, quoted_ref, set_role

        try:
            rows = set_role(get_store(), ref, role, platform)
        except (ValueError, LookupError) as e:
            fail(str(e))
        for r in rows:
            echo(f"{quoted_ref(account_ref(r.platform, r.platform_id))} @{r.handle or '-'}: "
                 f"role {r.role or '-'}")
        echo("posts of an account whose role changed are evaluated again by the next `rasd scan`")

    @sub.command("show")
    def show(
        ref: str = typer.Argument(..., help="An account as rasd prints it (x:9000000001, "
                                  "telegram:channel7000000001), a handle (@name), a "
                                  "platform id, or a display name (any case); any of these "
                                  "after its platform (telegram:@name, \"telegram:Banner "
                                  "Relay Channel\")."),
        platform: str = typer.Option(None, "--platform", "-p"),
        links: int = typer.Option(10, "--links", "-l", min=0, max=INT_MAX,
                                  help="Linked accounts to list each way, most linked "
                                       "first (0: all)."),
        policy: str = typer.Option(None, "--policy", envvar="RASD_POLICY",
                                   help="Policy JSON file whose flagged labels count "
                                        "(default: the shipped policy)."),
        json_: bool = typer.Option(False, "--json"),
    ) -> None:
        """Show an account: profile, role, its posts and flagged posts (as
        `rasd accounts list` counts them), the detections about the account
        itself (a profile matching a designated entity: finance_account's
        designation_match, with the entity it names), its links to and from other
        accounts by kind (replies, reposts, quotes, mentions, forwards, follows),
        the accounts it links to and that link to it (with counts by kind), and
        profile history.

        Each account is printed as PLATFORM:ID, which names it alone (handles and
        names may be shared); every account rasd prints can be typed back here.
        A display name several accounts bear lists them, by PLATFORM:ID (with
        --json, each in full: at most 100, each kind of data read for all of
        them at once). Where more bear it, a last line says how many in all
        and the command that lists every one, ready to paste ("showing 100 of
        250 accounts named 'x'; all: rasd accounts list --name x -n 0 (narrow
        with --platform PLATFORM)"; add --offset N to page through them). With
        --json each account's "matches" is that count (the accounts the
        reference names in all; as many as listed where all are), and
        "matches_exact" false where it is at most that many: a name of 200
        characters or more is counted with the longer names that begin alike.
        One a shell would split is printed quoted, ready to paste
        ('telegram:@lions media archive', known only from forwards), one with
        control characters in $'…' with those as escapes the shell reads back.

        Examples:

          rasd accounts show @bbf_lion_media

          rasd accounts show x:9000000001 --links 0

          rasd accounts show "telegram:Banner Relay Channel"

          rasd accounts show "Banner Relay Channel" --platform telegram --json
        """
        from rasd.accounts import (
            account_detections_many,
            account_histories,
            account_ref,
            edge_counts_many,
            flagged_counts,
            flagged_labels,
            linked_accounts_many,
            lookup_accounts,
            post_counts,
            quoted_ref,
        )
        from rasd.detect.finance.detector import about
        from rasd.detect.text.policy import PolicyError, load_policy

        try:
            flagged = flagged_labels(load_policy(policy))
        except PolicyError as e:
            fail(str(e))
        store = get_store()
        found = lookup_accounts(store, ref, platform)
        rows = found.rows
        if not rows:
            fail(f"no account matches {ref!r}")

        posts = post_counts(store, [r.id for r in rows])  # one query, not one an account
        # how many it names in all: more than are listed where more than NAME_MATCHES
        # bear a name (counted by one query), lest the 100 listed be taken for all
        total = found.matches_text
        if found.by_name and len(rows) > 1 and not json_:
            # a name several accounts share: which they are, each to be named by its reference
            echo(f"{total} accounts are named {ref!r}; name one by its reference:")
            echo_table([(quoted_ref(account_ref(r.platform, r.platform_id)),
                         f"@{r.handle}" if r.handle else "-", r.name or "-",
                         f"posts={posts[r.id]}") for r in rows])
            if found.more:
                # narrowed to a platform already? by --platform, or as telegram:NAME
                on = found.platform
                echo(f"showing {len(rows)} of {total} {on + ' ' if on else ''}accounts named "
                     f"{ref!r}; all: {list_all(found.name or ref, on)}"
                     + ("" if on else " (narrow with --platform PLATFORM)"))
            return
        # each kind of data in one query (or a few) for every account matched, not
        # a query per account: a name may match up to NAME_MATCHES namesakes
        ids = [r.id for r in rows]
        flagged_n = flagged_counts(store, ids, flagged)
        detections = account_detections_many(store, ids)
        edges = edge_counts_many(store, ids)
        linked = linked_accounts_many(store, ids, limit=links or None)
        history = account_histories(store, ids)
        out = [{"id": r.id, "ref": account_ref(r.platform, r.platform_id),
                "platform": r.platform, "platform_id": r.platform_id,
                "handle": r.handle, "name": r.name, "bio": r.bio, "role": r.role,
                "kind": r.kind, "followers": r.followers, "stub": r.stub,
                "posts": posts[r.id], "flagged": flagged_n[r.id],
                "detections": detections[r.id], "links": edges[r.id],
                "linked": linked[r.id], "history": history[r.id],
                "matches": found.matches, "matches_exact": found.total_exact} for r in rows]
        if json_:
            echo_json(out)
            return
        if len(out) > 1:
            echo(f"{len(out)} accounts match {ref!r}: "
                 + ", ".join(quoted_ref(a["ref"]) for a in out)
                 + " (name one by its reference)")
        for a in out:
            echo(f"{quoted_ref(a['ref'])}{' @' + a['handle'] if a['handle'] else ''} "
                 f"({a['name'] or '-'}) role={a['role'] or '-'} "
                 f"posts={a['posts']} flagged={a['flagged']}"
                 + (" (stub: only referenced)" if a["stub"] else ""))
            if a["bio"]:
                echo(f"  bio: {a['bio']}")
            for d in a["detections"]:
                echo(f"  detection {d['detector']}/{d['label']} {d['score']:.2f} "
                     f"({d['model_version']})"
                     + ("" if d["current"] else HISTORY))
                if what := about(d["detector"], d["attributes"]):  # the entity it names
                    echo(f"    about: {what}")
            lk = a["links"]
            for side, word in (("out", "to"), ("in", "from")):
                if lk[side]:
                    kinds = ", ".join(f"{k} {n}" for k, n in lk[side].items())
                    echo(f"  links {side}: {kinds} ({word} {lk[f'{side}_accounts']} "
                         "account(s))")
                    for o in a["linked"][side]:
                        kinds = ", ".join(f"{k} {n}" for k, n in o["kinds"].items())
                        echo(f"    {word} {_who(o)}: {kinds}")
                    more = lk[f"{side}_accounts"] - len(a["linked"][side])
                    if more > 0:
                        echo(f"    … and {more} more account(s) (--links 0 lists all)")
            for h in a["history"][:-1]:
                seen = f"collected {_when(h['seen'])}, " if h["seen"] else ""
                echo(f"  {seen}until {_when(h['until'])}: @{h['handle']} {h['name']!r} "
                     f"{h['bio']!r}")

    @sub.command("list")
    def list_cmd(
        platform: str = typer.Option(None, "--platform", "-p", help="Only on this platform."),
        role: str = typer.Option(None, "--role", "-r",
                                 help="Only with this role (news, researcher, ngo, "
                                      "official; none: without one)."),
        source: str = typer.Option(None, "--source", "-s",
                                   help="Only accounts last written by this ingest source."),
        sort: str = typer.Option("posts", "--sort",
                                 help="posts or flagged (most first), or handle (A-Z)."),
        limit: int = typer.Option(50, "--limit", "-n", min=0, max=INT_MAX,
                                  help="Accounts to list (0: all)."),
        policy: str = typer.Option(None, "--policy", envvar="RASD_POLICY",
                                   help="Policy JSON file whose flagged labels count "
                                        "(default: the shipped policy)."),
        detected: str = typer.Option(None, "--detected", "-d", metavar="LABEL",
                                     help="Only accounts with a detection of this label "
                                          "about the account itself (designation_match: "
                                          "a profile naming a designated entity)."),
        name: str = typer.Option(None, "--name", metavar="TEXT",
                                 help="Only accounts whose display name is TEXT, in any "
                                      "case (as `accounts show TEXT` matches it, which "
                                      "lists at most 100)."),
        handle: str = typer.Option(None, "--handle", metavar="HANDLE",
                                   help="Only accounts with this handle (@ optional, any "
                                        "case)."),
        offset: int = typer.Option(0, "--offset", min=0, max=INT_MAX,
                                   help="Skip this many first (pages: --offset 50 -n 50 "
                                        "lists the next 50 after the first; the order ends "
                                        "by account, so pages neither overlap nor skip)."),
        json_: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """List accounts: reference, handle, name, role, posts, and flagged
        posts (a post with a detection of a label the policy flags — the shipped
        policy's: incitement, solicitation, recruitment, instruction, threat,
        financing — on the post or a hash match on its media; run `rasd scan`
        first). One account a line: on a terminal in aligned columns (a long
        handle or name cut with "…"), else (a pipe, a file) tab-separated, for
        `cut -f1`. The reference is quoted only where a shell needs it, ready
        to paste into `rasd accounts show`; control characters in any field
        are written as escapes.

        Examples:

          rasd accounts list

          rasd accounts list --sort flagged -n 10

          rasd accounts list --platform telegram --role none --json

          rasd accounts list --detected designation_match   # then accounts show REF

          rasd accounts list --name "Banner Relay Channel" --platform telegram -n 0

          rasd accounts list --name "Same Name" -n 100 --offset 100   # the second 100
        """
        from rasd.accounts import ROLES, SORTS, flagged_labels, list_accounts, quoted_ref
        from rasd.detect.text.policy import PolicyError, load_policy

        if sort not in SORTS:
            fail(f"--sort {sort!r}: one of {', '.join(SORTS)}")
        if role is not None and role not in ROLES:
            fail(f"--role {role!r}: one of {', '.join(ROLES)}")
        try:
            flagged = flagged_labels(load_policy(policy))
        except PolicyError as e:
            fail(str(e))
        rows = list_accounts(get_store(), platform=platform, role=role, source=source,
                             sort=sort, limit=limit + 1 if limit else None, flagged=flagged,
                             detected=detected, name=name, handle=handle,
                             offset=offset)  # one more: to tell whether there are
        more = bool(limit) and len(rows) > limit
        rows = rows[:limit] if limit else rows
        if json_:
            echo_json(rows)
            return
        if not rows:
            filtered = (platform or role or source or detected or name is not None
                        or handle is not None)
            echo("no accounts" + (" match" if filtered else "" if offset else " stored")
                 + (f" past --offset {offset}" if offset else ""))
            return
        echo_table([(quoted_ref(r["ref"]), f"@{r['handle']}" if r["handle"] else "-",
                     r["name"] or "-", r["role"] or "-", str(r["posts"]), str(r["flagged"]))
                    for r in rows],
                   header=("account", "handle", "name", "role", "posts", "flagged"))
        if more:
            more_shown(limit, "accounts", f"--offset {offset + limit} lists the next"
                       if offset else "-n 0 lists all")


def _who(a: dict) -> str:
    """A linked account as lines name it (``account_text``)."""
    return account_text(a["ref"], a["handle"], a["name"])
