"""``python -m rasd.ingest._parse_child JSON``: the parsing process of a
two-process ingest (see ``rasd.ingest.pipeline``). A module of its own so that
the classes it pickles are ``rasd.ingest.*`` ones, not ``__main__`` ones."""

import sys

from rasd.ingest.pipeline import _child_main

if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
