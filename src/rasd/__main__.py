"""``python -m rasd``, and the ``rasd`` script's entry point (``main``)."""

import sys


def main() -> None:
    """Run the command line. Its modules take a second or more to import
    (SQLAlchemy, typer, every command's module), before any command can handle
    a Ctrl-C: one then printed a traceback of whichever import it stopped. It
    says, in one line and status 130 as every command does, that nothing was
    done."""
    try:
        from rasd.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("rasd: warning: interrupted as it started: nothing was done\n")
        raise SystemExit(130) from None
    cli_main()


if __name__ == "__main__":
    main()
