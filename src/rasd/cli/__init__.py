"""The ``rasd`` command line: a thin layer over the library.

Every module in this package that defines ``register(app)`` adds its commands;
stages add a module, the core is not touched. Global options (``--db``) live on
the root callback and reach commands through ``rasd.cli.common``.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from rasd import __version__
from rasd.cli import common

# The order in which `rasd --help` lists commands: the analyst's path through the
# pipeline. Commands not named here follow, alphabetically.
ORDER = ("demo", "ingest", "runs", "stats", "show", "quarantine", "links", "accounts", "scan",
         "classify", "train", "eval", "policy", "hash", "match", "bank", "media", "clusters",
         "finance", "lists", "screen")


class _Group(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        rank = {n: i for i, n in enumerate(ORDER)}
        return sorted(names, key=lambda n: (rank.get(n, len(ORDER)), n))

    def invoke(self, ctx: Any) -> Any:
        # A store that opened but cannot be written or read as asked (a read-only
        # file or folder, a lock another process holds past the 30 s wait, a full
        # disk, a server gone or refusing a privilege) is an error naming the store,
        # not a traceback: `rasd accounts mark`, `scan`, `bank create`, `lists
        # import`, `clusters build` … printed SQLAlchemy's whole trace
        import logging

        from rasd.envvars import EnvError
        from rasd.store.db import is_store_error

        # psycopg logs, through Python's last-resort handler, that it ignored an
        # error while closing a pipeline the failure had already aborted: a
        # second line, of psycopg's internals, under the error said here
        # (once: a long-lived process, tests or a notebook, invokes rasd many times)
        log = logging.getLogger("psycopg")
        if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
            log.addHandler(logging.NullHandler())
        common.route_warnings()
        args = list(ctx.args)  # the command's own (click empties ctx.args to invoke it)
        try:
            return super().invoke(ctx)
        except PermissionError as e:
            # a file or folder a command must make (or read) and may not: the hash index
            # beside a store in a read-only folder (`rasd match`, `scan --media`),
            # which printed a traceback; never rasd's own fault. (Also a file
            # it may not read: the words say only what the system said.)
            common.fail(f"permission denied: {e.filename}" if e.filename
                        else f"permission denied: {e}", code=1)
        except EnvError as e:  # a tuning variable set to what it cannot take
            common.fail(str(e))
        except Exception as e:
            if (bad := _not_utf8_argument(args, e)) is not None:
                common.fail(f"the argument '{bad}' is not UTF-8 text (a byte that is not "
                            "UTF-8 is written \\xNN here); rasd keeps names, labels and "
                            "notes as UTF-8 text: type it in UTF-8")
            if not is_store_error(e):  # (SQLAlchemy's, or the driver's own)
                raise
            why = common.store_failure(e)
            if why is None:  # a fault of rasd's own (a constraint, bad SQL): traced
                raise
            common.fail(why, code=1)


def _not_utf8_argument(args: list[str], e: BaseException) -> str | None:
    """The first argument of the command line that holds bytes that are not
    UTF-8 (which Python keeps as lone surrogates), as ``valid_text`` writes it,
    where ``e`` is the error of text that cannot be written as UTF-8; else
    None. Such an argument (`rasd show x:$'\\xff'`, `bank create --description`,
    `accounts list --platform`, a bank name) went into a query, and the
    driver's UnicodeEncodeError was a traceback. A file named so is read as it
    is (`rasd hash`): only text that is to be stored or looked up fails."""
    from rasd.terminal import valid_text

    seen: BaseException | None = e
    while seen is not None and "surrogates not allowed" not in str(seen):
        seen = getattr(seen, "orig", None) or seen.__cause__ or seen.__context__
    if seen is None:
        return None
    return next((valid_text(a) for a in args if valid_text(a) != a), None)


app = typer.Typer(
    name="rasd",
    cls=_Group,
    help=(
        "rasd (رصد, 'monitoring'): find violent-extremist and terrorist content and the "
        "account networks that spread it, and turn it into evidence.\n\n"
        "Quick start:\n\n"
        "  rasd demo              # a workspace from bundled synthetic data\n\n"
        "  rasd ingest tweets.jsonl export/result.json\n\n"
        "  rasd scan --media      # detectors over what was ingested\n\n"
        "  rasd stats --json\n\n"
        "The store is ./rasd.db (SQLite) unless --db or RASD_DB says otherwise; "
        "PostgreSQL works through the same option: --db postgresql://user@host/db"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rasd {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    db: str = typer.Option(
        None, "--db", envvar="RASD_DB", metavar="PATH_OR_URL",
        help="Store: a SQLite path (default ./rasd.db) or a SQLAlchemy URL "
             "(postgresql://user@host/db); before or after the command.",
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    common.STATE.db = db
    if common.STATE.store is not None:  # an earlier invocation in this process (tests,
        common.STATE.store.close()      # notebooks): each one opens the store it names
        common.STATE.store = None


_loaded = False

# click's mark for a paragraph it must print as written, not rewrap
_NO_REWRAP = "\b"


def examples_kept(text: str) -> str:
    """``text`` (a command's help) with each paragraph of indented lines — the
    examples — marked for click to print as written. Click rewrapped them to the
    terminal's width, and a pasted example broke where it had been wrapped
    (``rasd policy check my-`` / ``policy.json``, ``... | rasd`` / ``classify``)."""
    import inspect

    paras = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        f"{_NO_REWRAP}\n{p}" if all(line.startswith(" ") for line in p.splitlines())
        and not p.startswith(_NO_REWRAP) else p for p in paras)


def _keep_examples(typer_app: typer.Typer) -> None:
    """Mark the examples in the help of every command of ``typer_app`` and of
    its sub-apps (``examples_kept``)."""
    import inspect

    if isinstance(typer_app.info.help, str):
        typer_app.info.help = examples_kept(typer_app.info.help)
    for c in typer_app.registered_commands:
        text = c.help if isinstance(c.help, str) else inspect.getdoc(c.callback)
        if text:
            c.help = examples_kept(text)
    for g in typer_app.registered_groups:
        if isinstance(g.help, str):
            g.help = examples_kept(g.help)
        if g.typer_instance is not None:
            _keep_examples(g.typer_instance)


def _load_commands() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if mod.name == "common" or mod.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{mod.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)
    _keep_examples(app)


def global_options_first(argv: list[str]) -> list[str]:
    """``argv`` with ``--db`` moved before the command where it was given after
    it (``rasd stats --json --db x.db`` said only "No such option: --db"): the
    store is named the same wherever it is written. After ``--`` nothing moves."""
    out = list(argv)
    cmd = None
    i = 0
    while i < len(out):
        a = out[i]
        if a == "--":
            break
        if cmd is None:
            if a == "--db":
                i += 2
                continue
            if not a.startswith("-"):
                cmd = i
        elif a == "--db" and i + 1 < len(out) or a.startswith("--db="):
            n = 1 if a.startswith("--db=") else 2
            moved = out[i:i + n]
            del out[i:i + n]
            out[cmd:cmd] = moved
            cmd += n
            i += n
            continue
        i += 1
    return out


def main() -> None:
    _load_commands()
    # "rasd" however it was started: `python -m rasd` printed "Usage: python -m
    # rasd" and "Try 'python -m rasd -h'" above examples that all say "rasd"
    app(args=global_options_first(sys.argv[1:]), prog_name="rasd")


_load_commands()
