"""``rasd finance …``, ``rasd lists …`` and ``rasd screen``: the money trail."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from rasd.cli.common import (
    INT_MAX,
    echo,
    echo_json,
    fail,
    get_store,
    jsonl_line,
    markup_escaped,
    progress_enabled,
    warn,
    when_text,
)


def _read_items(src: str):
    """Yield (id, text) from JSONL {"id","text"} or plain lines; '-' is stdin.

    The same reader as ``rasd classify``: a bad line is reported with its number
    and skipped, and every good line is still read."""
    from rasd.detect.text.io import InputError, iter_posts

    try:
        for n, item, err in iter_posts(src):
            if err:
                warn(f"{src}: line {n}: {err} (skipped)")
                continue
            yield item["id"], item["text"]
    except InputError as e:
        fail(str(e))


def _utf8(line: str) -> bool:
    """Whether a line read with ``surrogateescape`` was valid UTF-8."""
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def register(app: typer.Typer) -> None:
    fin = typer.Typer(help="Financial indicators in text and the accounts they link.",
                      no_args_is_help=True)
    lists = typer.Typer(help="Designation lists (UN, OFAC SDN, EU, OpenSanctions FtM).",
                        no_args_is_help=True)
    app.add_typer(fin, name="finance")
    app.add_typer(lists, name="lists")

    @fin.command("extract")
    def extract_cmd(
        src: str = typer.Argument("-", metavar="[FILE|-]",
                                  help="JSONL with {\"id\", \"text\"} or plain text lines; "
                                       "'-' or nothing reads stdin."),
        all_: bool = typer.Option(False, "--all", help="Also print lines without indicators."),
        valid_only: bool = typer.Option(False, "--valid-only",
                                        help="Drop indicators whose checksum fails."),
        region: list[str] = typer.Option(None, "--region", metavar="CC",
                                         help="Also read phone numbers written without +CC "
                                              "as numbers of this region (repeatable)."),
    ) -> None:
        """Print the wallets, IBANs, phones (in transfer context) and payment links
        found in each input line, each validated, as JSONL
        {"id", "indicators": [{"type", "value", "valid", "span", …}]}.

        Examples:

          echo 'BTC: bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq' | rasd finance extract

          rasd finance extract posts.jsonl --valid-only > indicators.jsonl

          rasd finance extract notes.txt --region TR --region DE
        """
        import phonenumbers

        from rasd.detect.finance.indicators import extract

        regions = (None, *[r.upper() for r in region or []])
        # libphonenumber's matcher refuses a region it does not know, and extract passes
        # over it: --region TUR (or turkey, '') read no national number, without a word
        bad = [r for r in region or [] if r.upper() not in phonenumbers.SUPPORTED_REGIONS]
        if bad:
            fail(f"--region {bad[0]!r}: not a region code libphonenumber knows (two "
                 "letters, ISO 3166-1: TR, DE, SY …)")
        out = sys.stdout
        for ident, text in _read_items(src):
            inds = extract(text, phone_regions=regions)
            if valid_only:
                inds = [i for i in inds if i.valid]
            if inds or all_:
                out.write(jsonl_line({"id": ident,
                                      "indicators": [i.to_dict() for i in inds]}) + "\n")

    @fin.command("links")
    def links_cmd(
        # (a number past SQLite's integers was an OverflowError traceback)
        min_accounts: int = typer.Option(2, "--min-accounts", min=1, max=INT_MAX,
                                         help="Only values seen by at least this many accounts."),
        type_: list[str] = typer.Option(None, "--type",
                                        help="wallet, iban, phone or payment_link (repeatable)."),
        value: str = typer.Option(None, "--value", help="Only this indicator value."),
        limit: int = typer.Option(100, "--limit", min=1, max=100_000),
        json_: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Accounts linked by a shared wallet, IBAN, phone or payment link.

        Sightings are recorded by `rasd scan` (detectors finance and
        finance_account); each pair of accounts sharing a value is also an edge
        of kind shared_indicator in the network.

        Examples:

          rasd finance links

          rasd finance links --type wallet --json

          rasd finance links --value 135wCRn97GorukdPmxn2JSiWD1cBFKXNFa
        """
        from rasd.accounts import quoted_ref
        from rasd.detect.finance.indicators import INDICATOR_TYPES
        from rasd.detect.finance.links import shared

        bad = [t for t in type_ or [] if t not in INDICATOR_TYPES]
        if bad:
            fail(f"--type {bad[0]!r}: one of {', '.join(INDICATOR_TYPES)}")
        rows = shared(get_store(), min_accounts=min_accounts, types=type_ or None,
                      value=value, limit=limit)
        if json_:
            echo_json(rows)
            return
        if not rows:
            typer.echo("no indicator is shared by that many accounts "
                       "(run `rasd scan` first?)")
            return
        for r in rows:
            cur = "/".join(x for x in (r["currency"], r["asset"]) if x)
            echo(f"{r['type']} {cur + ' ' if cur else ''}{r['value']}: "
                 f"{_counted(r['accounts'], 'account')}, {_counted(r['posts'], 'post')}")
            for a in r["linked_accounts"]:  # as `rasd accounts show` takes it back
                shown = f"@{a['handle']}" if a["handle"] else a["name"]
                echo(f"  {quoted_ref(a['ref'])}{f' ({shown})' if shown else ''}: "
                     f"{_counted(a['sightings'], 'sighting')}")

    @lists.command("import")
    def import_cmd(
        file: Path = typer.Argument(..., help="The list file."),
        fmt: str = typer.Option(None, "--format",
                                help="un_xml, ofac_csv, eu_xml, eu_csv or ftm_json "
                                     "(default: detected from the content)."),
        name: str = typer.Option(None, "--name",
                                 help="List name (default by format: un_sc, ofac_sdn, eu_fsf, "
                                      "opensanctions). Re-importing a name replaces it."),
        companion: list[Path] = typer.Option(None, "--companion",
                                             help="OFAC alt.csv / add.csv / sdn_comments.csv "
                                                  "(found automatically beside sdn.csv)."),
        json_: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Import a designation list: every entity, every alias in every script,
        programmes, and identifiers (incl. the digital-currency addresses OFAC lists).
        A list is stored, replacing an earlier import of its name, in one transaction:
        interrupted (Ctrl-C), the lists are as they were (status 130).

        Examples:

          rasd lists import consolidated.xml                 # UN Security Council

          rasd lists import sdn.csv --companion alt.csv      # OFAC SDN

          rasd lists import eu_global.xml --name eu

          rasd lists import entities.ftm.json --name opensanctions_default
        """
        from rasd.detect.finance.lists import FORMATS, ListFormatError, import_list

        if fmt and fmt not in FORMATS:
            fail(f"--format {fmt!r}: one of {', '.join(FORMATS)}")
        store = get_store(create=True)
        try:
            if progress_enabled() and not json_:
                from rich.console import Console

                with Console(stderr=True).status(markup_escaped(f"importing {file} …")):
                    res = import_list(store, file, fmt=fmt, name=name, companions=companion)
            else:
                res = import_list(store, file, fmt=fmt, name=name, companions=companion)
        except ListFormatError as e:
            fail(str(e))
        except KeyboardInterrupt:  # Ctrl-C ended it without a word, status 130
            # import_list stores a list (and drops the earlier import) in one transaction
            warn("interrupted: the store's lists are as they were (an import replaces a "
                 "list in one transaction, at its end); run the import again")
            raise typer.Exit(130) from None
        if json_:
            echo_json(res.__dict__)
            return
        echo(f"{res.list_name} ({res.format}): {res.entities} entities, {res.names} "
             f"names [{_scripts_text(res.scripts)}], {res.identifiers} identifiers "
             f"({res.wallets} crypto wallets)" + (" — replaced the earlier import"
                                                   if res.replaced else ""))

    @lists.command("status")
    def status_cmd(json_: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Show the imported lists: entities, names and names per script (Arabic,
        Latin, Cyrillic, other), identifiers, wallets, programmes, publication
        date and when each was imported.

        Examples:

          rasd lists status

          rasd lists status --json
        """
        from rasd.detect.finance.lists import list_status

        rows = list_status(get_store())
        if json_:
            echo_json(rows)
            return
        if not rows:
            typer.echo("no designation list imported; try `rasd lists import FILE`")
            return
        for r in rows:
            progs = ", ".join(f"{k} {v}" for k, v in r["top_programmes"].items())
            echo(f"{r['list']} ({r['format']}): {r['entities']} entities, {r['names']} "
                 f"names, {r['identifiers']} identifiers ({r['wallets']} wallets); "
                 f"published {r['published'] or '?'}; imported {when_text(r['imported_at'])}")
            echo(f"  names per script: {_scripts_text(r['scripts'])}")
            if progs:
                echo(f"  programmes: {progs}")

    @app.command("screen")
    def screen_cmd(
        names: list[str] = typer.Argument(None, metavar="NAME...",
                                          help="Names, wallet addresses or identifiers."),
        file: Path = typer.Option(None, "--file", "-f",
                                  help="Screen each line of this file ('-' for stdin)."),
        threshold: float = typer.Option(0.70, "--threshold", min=0.0, max=1.0,
                                        help="Minimum score (yente's default is 0.70)."),
        limit: int = typer.Option(10, "--limit", min=1, max=100),
        list_: list[str] = typer.Option(None, "--list",
                                        help="Only these lists (repeatable)."),
        strict: bool = typer.Option(False, "--strict",
                                    help="Screen as `rasd scan` screens display names: "
                                         "two firm, distinctive name parts or more. (A name "
                                         "in a post or bio must hold every part of the "
                                         "listed name as well, or a person's first and "
                                         "last: docs/finance.md.)"),
        json_: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Screen names (any script) or identifiers against the imported lists and
        print ranked matches per name; --json prints [{"query", "matches":
        [{"entity_id", "list_ref", "name", "score", "list", "programme",
        "explanation"}]}], one entry per name, however many names.

        Arabic, Latin and Cyrillic spellings are compared after transliteration;
        particles and honorifics (al-, bin, abu, sheikh…) are set aside; rare name
        parts weigh more than common ones. Wallet addresses match exactly.

        Examples (the first three find the demo workspace's SYNTHETIC lists'
        entries, `rasd demo`; the next two, real UN/OFAC lists once imported):

          rasd screen "خالد محمود القسواري"

          rasd screen "Khaled al-Qaswari" --json

          rasd screen 135wCRn97GorukdPmxn2JSiWD1cBFKXNFa

          rasd screen "أيمن الظواهري"

          rasd screen 12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h

          rasd screen --file account_names.txt --json --threshold 0.8

          rasd screen "Joel" --strict      # as a display name is screened: one part is no match
        """
        from rasd.detect.finance.screen import Screener, get_screener

        if not names and file is None:
            fail("give a NAME or --file; see `rasd screen --help`")
        store = get_store()
        if list_:  # a misspelt --list screened against nothing (or only the others) silently
            from rasd.detect.finance.lists import list_names

            known = list_names(store)
            bad = [x for x in list_ if x not in known]
            if bad:
                fail(f"--list {bad[0]!r}: no list of that name; imported: "
                     + (", ".join(known) or "none (rasd lists import FILE)"))
        scr = Screener.load(store, list_) if list_ else get_screener(store)
        if not scr.entries and not scr.identifiers:
            fail("no designation list imported; run `rasd lists import FILE` first", code=1)

        def queries() -> Iterator[str]:
            yield from names or []
            if file is None:
                return
            from rasd.ingest.base import iter_lines

            # read as screened: a list of a million names starts printing at once.
            # Bytes that are not UTF-8 are kept as surrogates, so that the line
            # holding them is reported and skipped, as every text command treats
            # a bad line; the names around it are still screened
            try:
                f = (io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8",
                                      errors="surrogateescape") if str(file) == "-"
                     else file.open(encoding="utf-8", errors="surrogateescape"))
                with f:
                    for n_line, line in iter_lines(f, 4000, ("\n", "\r")):
                        if line is None:
                            warn(f"{file}: line {n_line}: longer than 4,000 characters; "
                                 "not a name, skipped")
                        elif not _utf8(line):
                            warn(f"{file}: line {n_line}: not valid UTF-8; skipped")
                        elif line.strip():
                            yield line.strip()[:400]
            except OSError as e:
                fail(f"{file}: {e.strerror or e}")

        out: list[dict[str, Any]] = []
        n = 0
        for q in queries():
            n += 1
            ms = [m.to_dict() for m in scr.screen(q, threshold=threshold, limit=limit,
                                                  strict=strict)]
            if json_:
                out.append({"query": q, "matches": ms})
                continue
            echo(f"{q}: {_counted(len(ms), 'match', 'matches')}")
            for m in ms:
                echo(f"  {m['score']:.2f}  {m['name']}  [{m['list']} {m['list_ref']}; "
                     f"{m['programme'] or '-'}]")
                for line in m["explanation"]:
                    echo(f"        {line}")
        if not n:
            fail(f"{file}: no names to screen")
        if json_:
            echo_json(out)


def _scripts_text(scripts: dict[str, int]) -> str:
    """Names per script as `lists import` and `lists status` both print them."""
    return ", ".join(f"{k} {v}" for k, v in scripts.items())


def _counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun, plural but for one ("1 sighting", "2 sightings";
    ``plural`` where adding "s" is not it)."""
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"
