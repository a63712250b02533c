"""Benchmark of the finance stage (issue 5 §5). Prints figures; asserts nothing.

1. Extraction: precision/recall of indicator extraction on real-format addresses
   (generated with each chain's own encoding, plus the digital-currency addresses
   OFAC lists in the SDN file when shared data is present) embedded in sentences
   in 7 languages, and on corrupted variants (one character substituted, two
   adjacent characters swapped, one deleted), which must not come out valid.
   Then false indicators on benign text (news, tweets) and what a real corpus of
   far-right Telegram posts yields.
2. Screening Recall@1 on the lists' own aliases (UN 2018 XML, OFAC SDN 2024 CSV
   from ../shared/data/sanctions): query one alias and expect its entity first;
   "self" keeps the alias in the index, "leave-one-out" removes that alias so that
   another name of the entity (often in another script) must be found.
   "leave_one_out strict" applies the strict rule that profiles and text are
   screened with (Screener.strict_ok: two firm, distinctive parts or more).
3. False-match rate: share of common personal names (rasd/data/finance/
   common_names.json, 9 groups x 100) that match any listed entity at 0.70/0.80/0.90,
   and under the strict rule at 0.70.

    python benchmarks/finance.py                       # all sections
    python benchmarks/finance.py --max-queries 1500 --json out.json
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from importlib.resources import files
from pathlib import Path

import base58

from rasd.detect.finance import crypto
from rasd.detect.finance.indicators import extract

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = [
    "Send your support to {x} today",
    "تبرعوا عبر {x} جزاكم الله خيرا",
    "Faites un don : {x}.",
    "Spendet bitte an {x}, danke!",
    "Donate qui ({x}) per la causa",
    "Bağış için: {x}",
    "Переведите на {x} — спасибо",
]


# ------------------------------------------------------------------ section 1
def _gen_addresses(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """(kind, address) in each chain's real format, checksums computed."""
    out = []
    rb = lambda k: bytes(rng.getrandbits(8) for _ in range(k))
    makers = {
        "BTC p2pkh": lambda: crypto.base58check_encode(0x00, rb(20)),
        "BTC p2sh": lambda: crypto.base58check_encode(0x05, rb(20)),
        "BTC bech32 p2wpkh": lambda: crypto.segwit_encode("bc", 0, rb(20)),
        "BTC bech32 p2wsh": lambda: crypto.segwit_encode("bc", 0, rb(32)),
        "BTC bech32m p2tr": lambda: crypto.segwit_encode("bc", 1, rb(32)),
        "LTC p2pkh": lambda: crypto.base58check_encode(0x30, rb(20)),
        "LTC bech32": lambda: crypto.segwit_encode("ltc", 0, rb(20)),
        "DOGE p2pkh": lambda: crypto.base58check_encode(0x1E, rb(20)),
        "TRX": lambda: crypto.base58check_encode(0x41, rb(20)),
        "ETH eip55": lambda: crypto.eip55(rb(20).hex()),
        "ETH lowercase (no checksum)": lambda: "0x" + rb(20).hex(),
        "BCH cashaddr": lambda: crypto.cashaddr_encode("p2pkh", rb(20)),
        "DASH p2pkh": lambda: crypto.base58check_encode(0x4C, rb(20)),
        "ZEC transparent": lambda: base58.b58encode_check(b"\x1c\xb8" + rb(20)).decode(),
        "XMR standard": lambda: crypto.xmr_encode(18, rb(64)),
        "XMR subaddress": lambda: crypto.xmr_encode(42, rb(64)),
        "IBAN": lambda: _gen_iban(rng),
    }
    for kind, mk in makers.items():
        for _ in range(n):
            out.append((kind, mk()))
    return out


_IBAN_FORMATS = {"DE": "8n10n", "GB": "4a14n", "AT": "5n11n", "CH": "5n12n", "TR": "5n1n16n",
                 "SA": "2n18n", "AE": "3n16n", "LT": "5n11n", "NL": "4a10n", "PS": "4a21n"}


def _gen_iban(rng: random.Random) -> str:
    from schwifty import IBAN

    for _ in range(200):
        cc = rng.choice(sorted(_IBAN_FORMATS))
        bban = ""
        for part in _IBAN_FORMATS[cc].replace("n", "n,").replace("a", "a,").split(","):
            if not part:
                continue
            k, t = int(part[:-1]), part[-1]
            pool = "0123456789" if t == "n" else "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
            bban += "".join(rng.choice(pool) for _ in range(k))
        num = "".join(str(int(c, 36)) for c in bban + cc + "00")
        iban = f"{cc}{98 - int(num) % 97:02d}{bban}"
        try:
            IBAN(iban)
            return iban
        except ValueError:
            continue
    raise RuntimeError("could not generate an IBAN")


def _ofac_wallets(shared: Path | None) -> list[tuple[str, str]]:
    if shared is None:
        return []
    p = shared / "sanctions" / "ofac_sdn_2024-05-03.csv"
    if not p.exists():
        return []
    import re

    out = []
    for m in re.finditer(r"Digital Currency Address - ([A-Z0-9]+) ([A-Za-z0-9]{20,120})",
                         p.read_bytes().decode("latin-1")):
        addr = m.group(2)
        low = addr.startswith("0x") and addr[2:] == addr[2:].lower()
        out.append((f"OFAC-listed {m.group(1)}" + (" (no checksum)" if low else ""), addr))
    return out


def _alphabet(addr: str) -> str:
    if addr.lower().startswith(("bc1", "ltc1")):
        return crypto.BECH32_CHARSET
    if addr.startswith("0x"):
        return "0123456789abcdefABCDEF"
    if addr[:2].isalpha() and addr[2:4].isdigit():
        return "0123456789"
    return crypto.B58_ALPHABET


def _corrupt(rng: random.Random, addr: str, how: str) -> str:
    lo = 4 if addr.startswith(("0x", "bc1", "ltc1")) or addr[:2].isalpha() else 1
    if ":" in addr:
        lo = addr.index(":") + 2
    for _ in range(50):
        i = rng.randrange(lo, len(addr) - 1)
        if how == "substitute":
            c = rng.choice(_alphabet(addr))
            if c.lower() == addr[i].lower():
                continue
            if addr.islower() or addr.isupper():
                c = c.lower() if addr.islower() else c.upper()
            return addr[:i] + c + addr[i + 1:]
        if how == "swap":
            if addr[i].lower() == addr[i + 1].lower():
                continue
            return addr[:i] + addr[i + 1] + addr[i] + addr[i + 2:]
        if how == "delete":
            return addr[:i] + addr[i + 1:]
    return addr


def _same(value: str, addr: str) -> bool:
    """Does an extracted value denote ``addr``? (hex and bech32 are case-insensitive;
    CashAddr is reported with its prefix)."""
    if addr.lower().startswith(("0x", "bc1", "ltc1", "bitcoincash:")):
        return value.lower() == addr.lower()
    return value == addr or value == "bitcoincash:" + addr


def bench_extraction(shared: Path | None, n_per_kind: int, seed: int = 7) -> dict:
    rng = random.Random(seed)
    addrs = _gen_addresses(rng, n_per_kind) + _ofac_wallets(shared)
    per = defaultdict(Counter)
    tp = fp = fp_nochk = 0
    for idx, (kind, addr) in enumerate(addrs):
        tpl = TEMPLATES[idx % len(TEMPLATES)]
        text = tpl.format(x=addr)
        found = extract(text)
        hit = [i for i in found if _same(i.value, addr)]
        ok = bool(hit) and hit[0].valid
        per[kind]["clean"] += 1
        per[kind]["recall"] += ok
        per[kind]["span_ok"] += bool(hit) and text[hit[0].span[0]:hit[0].span[1]] == addr
        tp += sum(1 for i in found if i.valid and i in hit)
        fp += sum(1 for i in found if i.valid and i not in hit)
        for how in ("substitute", "swap", "delete"):
            bad = _corrupt(rng, addr, how)
            if bad == addr:
                continue
            found = extract(tpl.format(x=bad))
            per[kind][f"{how}_n"] += 1
            acc = [i for i in found if i.valid]
            per[kind][f"{how}_accepted"] += bool(acc)
            per[kind][f"{how}_flagged"] += bool(found) and not acc
            fp += len(acc)
            if "no checksum" in kind:
                fp_nochk += len(acc)
    rows = {}
    for kind, c in per.items():
        n_bad = sum(c[f"{h}_n"] for h in ("substitute", "swap", "delete"))
        rows[kind] = {
            "n": c["clean"], "recall": c["recall"] / c["clean"],
            "span_exact": c["span_ok"] / c["clean"],
            "corrupted_n": n_bad,
            "corrupted_accepted": sum(c[f"{h}_accepted"] for h in ("substitute", "swap",
                                                                   "delete")) / max(1, n_bad),
            "corrupted_flagged_invalid": sum(c[f"{h}_flagged"] for h in ("substitute", "swap",
                                                                         "delete"))
            / max(1, n_bad),
        }
    total_clean = sum(c["clean"] for c in per.values())
    return {"by_kind": rows, "precision_valid": tp / max(1, tp + fp),
            "precision_valid_checksummed": tp / max(1, tp + fp - fp_nochk),
            "recall_valid": sum(c["recall"] for c in per.values()) / max(1, total_clean),
            "n_clean": total_clean, "true_valid": tp, "false_valid": fp}


def _benign_texts(shared: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    tw = shared / "tweeteval" / "sentiment_val_text.txt"
    if not tw.exists():
        cands = sorted((shared / "tweeteval").glob("*_val_text.txt"))
        tw = cands[0] if cands else tw
    if tw.exists():
        out["tweeteval (en tweets)"] = tw.read_text("utf-8").splitlines()[:5000]
    for name, path, field in (("BBC news (en)", "news/bbc-en/bbc_news_all.csv.gz", "text"),
                              ("10kGNAD (de)", "news/10kgnad-de/10kgnad_test_all.csv.gz", None)):
        p = shared / path
        if p.exists():
            csv.field_size_limit(10**8)
            with gzip.open(p, "rt", encoding="utf-8") as fh:
                rows = list(csv.reader(fh))
            col = rows[0].index(field) if field and field in rows[0] else -1
            out[name] = [r[col] for r in rows[1:] if r][:3000]
    for name, path in (("SaudiNewsNet (ar)", "news/saudinewsnet-ar/saudinewsnet_random4000.jsonl.gz"),
                       ("Telegram news (ru)", "news/ru-telegram-news/ru_telegram_news_all.jsonl.gz")):
        p = shared / path
        if p.exists():
            texts = []
            with gzip.open(p, "rt", encoding="utf-8") as fh:
                for line in fh:
                    o = json.loads(line)
                    t = o.get("text") or o.get("content") or o.get("message") or ""
                    if t:
                        texts.append(t)
                    if len(texts) >= 3000:
                        break
            out[name] = texts
    return out


def bench_benign(shared: Path | None) -> dict:
    if shared is None:
        return {}
    res = {}
    for name, texts in _benign_texts(shared).items():
        c = Counter()
        examples = []
        for t in texts:
            for i in extract(t):
                if i.valid:
                    c[i.type] += 1
                    if len(examples) < 3:
                        examples.append(f"{i.type}:{i.value}")
        res[name] = {"texts": len(texts), "valid_indicators": dict(c),
                     "per_1000": round(1000 * sum(c.values()) / max(1, len(texts)), 2),
                     "examples": examples}
    return res


def bench_wild(shared: Path | None) -> dict:
    """What a real corpus yields: far-right Telegram posts (no labels)."""
    if shared is None:
        return {}
    p = shared / "far-right-telegram" / "far_right_telegram_sample.csv.gz"
    if not p.exists():
        return {}
    csv.field_size_limit(10**8)
    c = Counter()
    n = 0
    with gzip.open(p, "rt", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            n += 1
            for i in extract(row.get("cleaned_message") or ""):
                c[(i.type, i.currency or i.kind or "-", "valid" if i.valid else "invalid")] += 1
    return {"posts": n, "indicators": {" ".join(k): v for k, v in c.most_common()}}


# ------------------------------------------------------------------ section 2/3
def _load_lists(shared: Path, workdir: Path):
    from rasd.detect.finance.lists import import_list
    from rasd.store import Store

    store = Store.open(str(workdir / "bench.db"))
    d = shared / "sanctions"
    import_list(store, d / "un_sc_consolidated_2018-10-29.xml")
    import_list(store, d / "ofac_sdn_2024-05-03.csv")
    return store


def bench_recall(store, max_queries: int, seed: int = 11) -> dict:
    from rasd.detect.finance.screen import Screener

    out = {}
    for lname in ("un_sc", "ofac_sdn"):
        scr = Screener.load(store, [lname])
        by_ent = defaultdict(list)
        for e in scr.entries:
            by_ent[e.entity_id].append(e)
        multi = [e for e in scr.entries if len(by_ent[e.entity_id]) >= 2 and e.norm.tokens]
        rng = random.Random(seed)
        sample = multi if len(multi) <= max_queries else rng.sample(multi, max_queries)
        stats = defaultdict(Counter)
        t0 = time.perf_counter()
        for e in sample:
            script = e.norm.script or "none"
            others = {o.norm.script for o in by_ent[e.entity_id] if o is not e}
            cross = script not in others
            modes = (("self", None, False), ("leave_one_out", {e.name_id}, False),
                     ("leave_one_out strict", {e.name_id}, True))
            for mode, excl, strict in modes:
                res = scr.screen(e.name, threshold=0.0, limit=10, exclude_names=excl,
                                 strict=strict)
                top = res[0] if res else None
                hit = top is not None and top.entity_id == e.entity_id
                tie = top is not None and any(r.entity_id == e.entity_id and
                                              r.score == top.score for r in res)
                thr = hit and top.score >= 0.70
                keys = ["all", f"script:{script}"]
                if mode != "self" and len(e.norm.tokens) >= 2:
                    keys.append("multi_part")  # two parts or more: what strict keeps
                if cross and mode != "self":
                    keys.append("cross_script")
                    if len(e.norm.tokens) >= 2:
                        keys.append("cross_script multi_part")
                for key in keys:
                    s = stats[(mode, key)]
                    s["n"] += 1
                    s["r1"] += hit
                    s["r1_ties"] += tie
                    s["r1_at_0.70"] += thr
        dt = time.perf_counter() - t0
        out[lname] = {
            "entities": len(scr.entities), "names": len(scr.entries),
            "queries": len(sample), "queries_per_s": round(2 * len(sample) / dt, 1),
            "results": {f"{mode} {key}": {"n": s["n"], "recall@1": round(s["r1"] / s["n"], 4),
                                          "recall@1_incl_ties": round(s["r1_ties"] / s["n"], 4),
                                          "recall@1_score>=0.70": round(s["r1_at_0.70"] / s["n"],
                                                                        4)}
                        for (mode, key), s in sorted(stats.items()) if s["n"] >= 5}}
    return out


def bench_false_match(store) -> dict:
    from rasd.detect.finance.screen import Screener

    groups = json.loads((files("rasd") / "data" / "finance" / "common_names.json")
                        .read_text("utf-8"))["groups"]
    from rasd.detect.finance.names import normalize

    scr = Screener.load(store)
    by_id = {(e.entity_id, e.name): e for e in scr.entries}
    out = {}
    worst = []
    for g, spec in groups.items():
        names = [f"{a} {b}" for a in spec["given"] for b in spec["family"]]
        c = Counter()
        for n in names:
            strict = scr.screen(n, threshold=0.70, limit=1, strict=True)
            c["strict"] += bool(strict)
            res = scr.screen(n, threshold=0.70, limit=1)
            best = res[0].score if res else 0.0
            for t in (0.70, 0.80, 0.90):
                c[t] += best >= t
            if res and res[0].matched_name:
                # does the list hold this very name (every part on both sides aligned)?
                e = by_id.get((res[0].entity_id, res[0].matched_name))
                if e is not None:
                    _, ev = scr.compare(normalize(n), e.norm)
                    c["full"] += not ev.get("unmatched_query") and not ev.get(
                        "unmatched_listed")
            if res and best >= 0.80:
                worst.append((round(best, 3), g, n, res[0].matched_name, res[0].list,
                              res[0].list_ref))
        out[g] = {"queries": len(names), **{f"fmr@{t:.2f}": round(c[t] / len(names), 4)
                                            for t in (0.70, 0.80, 0.90)},
                  "fmr_strict@0.70": round(c["strict"] / len(names), 4),
                  "listed_full_name@0.70": round(c["full"] / len(names), 4)}
    tot = sum(v["queries"] for v in out.values())
    out["ALL"] = {"queries": tot, **{k: round(sum(v[k] * v["queries"] for v in out.values())
                                              / tot, 4)
                                     for k in ("fmr@0.70", "fmr@0.80", "fmr@0.90",
                                               "fmr_strict@0.70", "listed_full_name@0.70")}}
    worst.sort(reverse=True)
    return {"by_group": out, "examples_at_0.80": worst[:12]}


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared-data", default=os.environ.get("RASD_SHARED_DATA",
                                                            str(REPO.parent / "shared" / "data")))
    ap.add_argument("--per-kind", type=int, default=200, help="generated addresses per kind")
    ap.add_argument("--max-queries", type=int, default=2000, help="alias queries per list")
    ap.add_argument("--json", help="also write all figures to this file")
    args = ap.parse_args(argv)
    shared = Path(args.shared_data)
    if not (shared / "sanctions").is_dir():
        print(f"note: no shared data at {shared}; screening sections skipped", file=sys.stderr)
        shared = None
    report: dict = {}

    print("== 1. indicator extraction (generated real-format addresses"
          + (" + OFAC-listed wallets" if shared else "") + ")")
    t0 = time.perf_counter()
    ex = bench_extraction(shared, args.per_kind)
    report["extraction"] = ex
    print(f"{'kind':28} {'n':>5} {'recall':>7} {'span':>6} {'corrupt':>7} "
          f"{'accepted':>8} {'flagged':>8}")
    for kind, r in sorted(ex["by_kind"].items()):
        print(f"{kind:28} {r['n']:5d} {r['recall']:7.3f} {r['span_exact']:6.3f} "
              f"{r['corrupted_n']:7d} {r['corrupted_accepted']:8.4f} "
              f"{r['corrupted_flagged_invalid']:8.3f}")
    print(f"valid=True precision {ex['precision_valid']:.4f} (formats with a checksum: "
          f"{ex['precision_valid_checksummed']:.4f}; {ex['false_valid']} false of "
          f"{ex['true_valid'] + ex['false_valid']}), recall {ex['recall_valid']:.4f} over "
          f"{ex['n_clean']} clean addresses; {time.perf_counter() - t0:.1f}s")
    if shared:
        report["benign"] = bench_benign(shared)
        print("-- valid indicators in benign text (false positives unless the text really "
              "carries one)")
        for name, r in report["benign"].items():
            print(f"   {name:24} {r['texts']:5d} texts: {r['per_1000']:6.2f} per 1000 "
                  f"{r['valid_indicators']} {r['examples']}")
        report["wild"] = bench_wild(shared)
        if report["wild"]:
            print(f"-- far-right Telegram sample ({report['wild']['posts']} posts): "
                  f"{report['wild']['indicators']}")

        with tempfile.TemporaryDirectory() as td:
            t0 = time.perf_counter()
            store = _load_lists(shared, Path(td))
            print(f"\n(lists imported in {time.perf_counter() - t0:.1f}s)")
            print("== 2. screening Recall@1 on the lists' own aliases")
            rec = bench_recall(store, args.max_queries)
            report["recall"] = rec
            for lname, r in rec.items():
                print(f"-- {lname}: {r['entities']} entities, {r['names']} names, "
                      f"{r['queries']} alias queries, {r['queries_per_s']} queries/s")
                for key, v in r["results"].items():
                    print(f"   {key:36} n={v['n']:5d}  R@1 {v['recall@1']:.3f}  "
                          f"(incl. ties {v['recall@1_incl_ties']:.3f}, "
                          f"score>=0.70 {v['recall@1_score>=0.70']:.3f})")
            print("== 3. false-match rate on common personal names (UN + OFAC)")
            fm = bench_false_match(store)
            report["false_match"] = fm
            for g, v in fm["by_group"].items():
                print(f"   {g:18} n={v['queries']:4d}  @0.70 {v['fmr@0.70']:.3f}  "
                      f"@0.80 {v['fmr@0.80']:.3f}  @0.90 {v['fmr@0.90']:.3f}  "
                      f"strict@0.70 {v['fmr_strict@0.70']:.3f}   "
                      f"(the list holds the full name: {v['listed_full_name@0.70']:.3f})")
            for w in fm["examples_at_0.80"]:
                print(f"     e.g. {w}")
            store.close()
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, ensure_ascii=False,
                                              default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
