#!/usr/bin/env python3
"""Build rasd/data/lexicons/entities.json from the designation lists in ../shared/data/sanctions.

Sources (see ../shared/data/sanctions/SOURCE.txt):
  * UN Security Council consolidated list, 2018-10-29 XML: ENTITY records of the
    ISIL (Da'esh) & Al-Qaida (1267) list (reference numbers QDe.*), names, aliases and
    original-script names.
  * OFAC SDN list, 2024-05-03 CSV: non-individual rows whose programme includes
    [FTO] or [SDGT], names and ``a.k.a.`` aliases from the Remarks column.

Each output entry keeps its source (list + reference number). Aliases too short or
too generic to be useful as text indicators (e.g. "THE YOUTH", "AL HAYAT", two-letter
acronyms) are dropped and counted. Run:

    python scripts/build_text_lexicons.py [--data ../shared/data] [--out src/rasd/data/lexicons/entities.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from rasd.detect.text.lexicon import alias_key

# Aliases that collide with ordinary words or unrelated names in news/chatter.
GENERIC = {"the youth", "youth wing", "al hijra", "al-hijra", "al hayat", "al-hayat", "the base",
           "the unity of islamic youth", "muslim youth center", "al-tawhid", "al tawhid",
           "the movement", "al-jihad", "jihad", "al jihad", "islamic jihad", "al-qaida",
           "al furqan", "al-furqan", "al-furkan", "al-forkan", "the brothers", "al-nur", "al nour"}
AKA_RE = re.compile(r"a\.k\.a\.\s+'([^']+)'")


def keep(alias: str) -> bool:
    k = alias_key(alias)
    if not k or alias.lower().strip() in GENERIC or k in {alias_key(g) for g in GENERIC}:
        return False
    toks = k.split()
    if len(toks) > 8 or all(len(t) <= 2 for t in toks):  # too long, or initials like "K.A.S."
        return False
    return len(k) >= 6 or (len(toks) >= 2 and len(k) >= 5)


def from_un(path: Path) -> list[dict]:
    root = ET.parse(path).getroot()
    out = []
    for e in root.iter("ENTITY"):
        if (e.findtext("UN_LIST_TYPE") or "").strip() != "Al-Qaida":
            continue
        ref = (e.findtext("REFERENCE_NUMBER") or "").strip()
        name = " ".join((e.findtext("FIRST_NAME") or "").split())
        aliases = [name]
        orig = (e.findtext("NAME_ORIGINAL_SCRIPT") or "").strip()
        if orig:
            aliases.append(orig)
        for a in e.iter("ENTITY_ALIAS"):
            n = " ".join((a.findtext("ALIAS_NAME") or "").split())
            if n:
                aliases.append(n)
        out.append({"kind": "entity", "entity": name, "ideology": "jihadist",
                    "source": f"UN 1267 ISIL/Al-Qaida list {ref} (consolidated list 2018-10-29)",
                    "aliases": aliases})
    return out


def from_ofac(path: Path) -> list[dict]:
    out = []
    with path.open(encoding="latin-1", newline="") as f:
        for row in csv.reader(f):
            if len(row) < 12:
                continue
            ent, name, typ, prog, remarks = row[0], row[1], row[2].strip(), row[3], row[11]
            if typ != "-0-" or not ("FTO" in prog or "SDGT" in prog):
                continue
            progs = "".join(f"[{p.strip(' []')}]" for p in prog.split("]") if p.strip(" []"))
            aliases = [name.strip()] + AKA_RE.findall(remarks)
            out.append({"kind": "entity", "entity": name.strip(), "ideology": None,
                        "source": f"OFAC SDN ent_num {ent} {progs} (sdn.csv 2024-05-03)",
                        "aliases": aliases})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=REPO / "src/rasd/data/lexicons/entities.json")
    args = ap.parse_args()
    sanc = args.data / "sanctions"
    entries = from_un(sanc / "un_sc_consolidated_2018-10-29.xml") + from_ofac(sanc / "ofac_sdn_2024-05-03.csv")
    dropped = 0
    for e in entries:
        kept = []
        for a in dict.fromkeys(e["aliases"]):
            if keep(a):
                kept.append(a)
            else:
                dropped += 1
        e["aliases"] = kept
    entries = [e for e in entries if e["aliases"]]
    doc = {"name": "designated entities (UN 1267 + OFAC SDN FTO/SDGT)", "version": "2026.11.1",
           "built_by": "scripts/build_text_lexicons.py",
           "sources": ["UN SC consolidated list 2018-10-29 (scsanctions.un.org), via github.com/perchrh/sanction_list_search@807c8f6",
                       "OFAC SDN sdn.csv 2024-05-03 (treasury.gov), via github.com/jackdwyer/specially-designated-nationals-list@a5ec3c5"],
           "note": f"{len(entries)} entities; {dropped} short or generic aliases dropped",
           "entries": entries}
    args.out.write_text(json.dumps(doc, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {len(entries)} entities, "
          f"{sum(len(e['aliases']) for e in entries)} aliases, {dropped} dropped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
