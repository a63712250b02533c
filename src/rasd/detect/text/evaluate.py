"""Evaluation: per-language and per-label precision/recall/F1, PR-AUC, the
false-positive rate on journalism, a confusion matrix — and the functional suite.

Rows are dicts with ``text``, ``label`` (a policy label) and optionally ``lang``,
``journalism`` (true for news/research text that must not be flagged) and
``role`` (author role, e.g. ``news``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from rasd.detect.text.normalize import detect_language
from rasd.jsonread import JSONInputError, parse_json


def _prf(tp: int, fp: int, fn: int) -> dict[str, float | None]:
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    f = 2 * p * r / (p + r) if p and r else (0.0 if p is not None and r is not None else None)
    return {"precision": _r(p), "recall": _r(r), "f1": _r(f)}


def _r(x):
    return None if x is None else round(float(x), 4)


def evaluate(clf, rows: Sequence[dict[str, Any]], *, batch: int = 2048) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score

    labels = clf.labels
    policy = clf.policy
    texts = [r["text"] for r in rows]
    roles = [r.get("role") for r in rows]
    P_parts = []
    for s in range(0, len(texts), batch):
        P, _ = clf.predict_proba(texts[s:s + batch], roles[s:s + batch])
        P_parts.append(P)
    P = np.vstack(P_parts) if P_parts else np.zeros((0, len(labels)))
    dec = clf.decide(P)
    pred = [d[0] for d in dec]
    pflag = [d[2] for d in dec]
    gold = [r["label"] for r in rows]
    gflag = [policy.is_flagged(g) for g in gold]
    langs = [r.get("lang") or detect_language(r["text"])[0] for r in rows]
    out: dict[str, Any] = {"rows": len(rows), "threshold": clf.threshold, "model": clf.version}

    def binary(idx: list[int]) -> dict[str, Any]:
        tp = sum(1 for i in idx if gflag[i] and pflag[i])
        fp = sum(1 for i in idx if not gflag[i] and pflag[i])
        fn = sum(1 for i in idx if gflag[i] and not pflag[i])
        neg = sum(1 for i in idx if not gflag[i])
        d = {"rows": len(idx), "positives": sum(gflag[i] for i in idx), **_prf(tp, fp, fn),
             "false_positive_rate": _r(fp / neg) if neg else None}
        jidx = [i for i in idx if rows[i].get("journalism")]
        if jidx:
            d["journalism_rows"] = len(jidx)
            d["journalism_fpr"] = _r(sum(pflag[i] for i in jidx) / len(jidx))
        return d

    allidx = list(range(len(rows)))
    out["flagged"] = binary(allidx)
    by_lang = defaultdict(list)
    for i, lg in enumerate(langs):
        by_lang[lg].append(i)
    out["by_language"] = {lg: binary(ix) for lg, ix in sorted(by_lang.items())}
    per_label = {}
    for j, lab in enumerate(labels):
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == lab and p == lab)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != lab and p == lab)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == lab and p != lab)
        y = np.array([g == lab for g in gold])
        ap = float(average_precision_score(y, P[:, j])) if y.any() and not y.all() else None
        per_label[lab] = {"support": int(y.sum()), **_prf(tp, fp, fn), "pr_auc": _r(ap)}
    out["by_label"] = per_label
    fi = [labels.index(lab) for lab in policy.flagged_labels]
    yflag = np.array(gflag)
    pf = P[:, fi].sum(axis=1) if len(P) else np.zeros(0)
    if yflag.any() and not yflag.all():
        out["flagged"]["pr_auc"] = _r(average_precision_score(yflag, pf))
    if len(rows):
        # expected calibration error of the flag probability (10 equal-width bins)
        bins = np.minimum((pf * 10).astype(int), 9)
        ece = sum(abs(pf[bins == b].mean() - yflag[bins == b].mean()) * (bins == b).sum()
                  for b in range(10) if (bins == b).any()) / len(rows)
        out["flagged"]["ece"] = _r(ece)
    jr = defaultdict(list)
    for i, r in enumerate(rows):
        if r.get("journalism"):
            jr[langs[i]].append(pflag[i])
    out["journalism_fpr"] = {lg: {"rows": len(v), "flagged": int(sum(v)),
                                  "fpr": _r(sum(v) / len(v))} for lg, v in sorted(jr.items())}
    cm: dict[str, Counter] = defaultdict(Counter)
    for g, p in zip(gold, pred, strict=True):
        cm[g][p] += 1
    out["confusion"] = {g: dict(c) for g, c in sorted(cm.items())}
    return out


# ------------------------------------------------------------------ functional suite

def functional_suite_path() -> Path:
    return Path(str(files("rasd") / "data" / "policy" / "functional_suite.json"))


MAX_SUITE_BYTES = 20 * 1024 * 1024
MAX_SUITE_CASES = 200_000  # templates times {city} fills: bounded however the file multiplies


class SuiteError(ValueError):
    """A functional suite file rasd cannot read; the message names the file and field."""


def _strings(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def functional_suite(path: str | Path | None = None) -> list[dict[str, Any]]:
    """Expand the suite's templates into cases. A fault in the file (unreadable,
    too large, not UTF-8, not JSON, a field of the wrong type, too many cases) is a
    ValueError naming the file and the field."""
    p = Path(path) if path else functional_suite_path()
    try:
        if p.stat().st_size > MAX_SUITE_BYTES:
            raise SuiteError(f"{p}: suite file larger than {MAX_SUITE_BYTES} bytes")
        doc = parse_json(p.read_text(encoding="utf-8"))
    except JSONInputError as e:
        raise SuiteError(f"{p}: {e}") from None
    except UnicodeDecodeError as e:
        raise SuiteError(f"{p}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise SuiteError(f"{p}: cannot read suite file: {e.strerror or e}") from None
    if not isinstance(doc, dict):
        raise SuiteError(f"{p}: top level: must be a JSON object")
    fills = doc.get("fills", {})
    if not isinstance(fills, dict) or not all(
            isinstance(v, dict) and _strings(v.get("city", [])) for v in fills.values()):
        raise SuiteError(f"{p}: fills: must map languages to {{\"city\": [names]}}")
    funcs = doc.get("functionalities", [])
    if not isinstance(funcs, list):
        raise SuiteError(f"{p}: functionalities: must be a list")
    cases = []
    for i, f in enumerate(funcs):
        if not isinstance(f, dict):
            raise SuiteError(f"{p}: functionalities[{i}]: must be an object")
        for key in ("id", "expect", "templates"):
            if key not in f:
                raise SuiteError(f"{p}: functionalities[{i}]: missing {key!r}")
        if not isinstance(f["id"], str):
            raise SuiteError(f"{p}: functionalities[{i}].id: must be a string")
        if f["expect"] not in ("flag", "pass"):
            raise SuiteError(f"{p}: functionalities[{i}].expect: must be 'flag' or 'pass'")
        if not isinstance(f.get("label"), str | None):
            raise SuiteError(f"{p}: functionalities[{i}].label: must be a string")
        if not isinstance(f["templates"], dict) or not all(
                _strings(v) for v in f["templates"].values()):
            raise SuiteError(f"{p}: functionalities[{i}].templates: must map languages "
                             "to lists of texts")
        for lang, temps in f["templates"].items():
            for t in temps:
                vals = fills.get(lang, {}).get("city", [""]) if "{city}" in t else [None]
                if len(cases) + len(vals) > MAX_SUITE_CASES:
                    raise SuiteError(f"{p}: more than {MAX_SUITE_CASES:,} cases")
                for v in vals:
                    text = t.replace("{city}", v) if v is not None else t
                    cases.append({"functionality": f["id"], "lang": lang, "text": text,
                                  "expect": f["expect"], "label": f.get("label")})
    return cases


def run_functional(clf, cases: Sequence[dict[str, Any]]) -> dict[str, Any]:
    preds = clf.predict([c["text"] for c in cases], langs=[c["lang"] for c in cases],
                        explain=False)
    by_f: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    by_l: dict[str, list[bool]] = defaultdict(list)
    lab_ok = []
    failures = []
    for c, p in zip(cases, preds, strict=True):
        ok = p.flagged == (c["expect"] == "flag")
        by_f[c["functionality"]][c["lang"]].append(ok)
        by_l[c["lang"]].append(ok)
        if c["expect"] == "flag" and c.get("label") and p.flagged:
            lab_ok.append(p.label == c["label"])
        if not ok:
            failures.append({"functionality": c["functionality"], "lang": c["lang"],
                             "text": c["text"], "expected": c["expect"], "got": p.label,
                             "score": round(p.score, 3)})
    allok = [ok for d in by_f.values() for v in d.values() for ok in v]
    summary = {
        "overall": _r(sum(allok) / len(allok)) if allok else None,
        "cases": len(allok),
        "by_language": {lg: _r(sum(v) / len(v)) for lg, v in sorted(by_l.items())},
        "by_functionality": {f: {"all": _r(sum(sum(v) for v in d.values()) /
                                           sum(len(v) for v in d.values())),
                                 **{lg: _r(sum(v) / len(v)) for lg, v in sorted(d.items())}}
                             for f, d in by_f.items()},
        "label_accuracy_when_flagged": _r(sum(lab_ok) / len(lab_ok)) if lab_ok else None,
    }
    return {"summary": summary, "failures": failures}


# ------------------------------------------------------------------ tables

def _fmt(x) -> str:
    return "-" if x is None else (f"{x:.3f}" if isinstance(x, float) else str(x))


def render_report(rep: dict[str, Any]) -> str:
    lines = [f"model {rep.get('model')}  threshold {_fmt(rep.get('threshold'))}  rows {rep['rows']}", ""]
    lines.append(f"{'language':10} {'rows':>6} {'pos':>5} {'prec':>6} {'recall':>6} {'f1':>6} "
                 f"{'FPR':>6} {'journ.':>6} {'j.FPR':>6}")
    for lg, d in list(rep["by_language"].items()) + [("ALL", rep["flagged"])]:
        lines.append(f"{lg:10} {d['rows']:>6} {d['positives']:>5} {_fmt(d['precision']):>6} "
                     f"{_fmt(d['recall']):>6} {_fmt(d['f1']):>6} {_fmt(d['false_positive_rate']):>6} "
                     f"{d.get('journalism_rows', '-')!s:>6} {_fmt(d.get('journalism_fpr')):>6}")
    lines += ["", f"{'label':13} {'support':>7} {'prec':>6} {'recall':>6} {'f1':>6} {'PR-AUC':>6}"]
    for lab, d in rep["by_label"].items():
        lines.append(f"{lab:13} {d['support']:>7} {_fmt(d['precision']):>6} {_fmt(d['recall']):>6} "
                     f"{_fmt(d['f1']):>6} {_fmt(d['pr_auc']):>6}")
    labs = list(rep["by_label"])
    lines += ["", "confusion (rows: gold, columns: predicted)",
              " " * 13 + " ".join(f"{lab[:6]:>6}" for lab in labs)]
    for g, c in rep["confusion"].items():
        lines.append(f"{g:13}" + " ".join(f"{c.get(p, 0):>6}" for p in labs))
    return "\n".join(lines)


def render_functional(fun: dict[str, Any]) -> str:
    s = fun["summary"]
    langs = sorted(s["by_language"])
    lines = [f"functional suite: {s['cases']} cases, pass rate {_fmt(s['overall'])}", "",
             f"{'functionality':24} {'all':>6} " + " ".join(f"{lg:>5}" for lg in langs)]
    for f, d in s["by_functionality"].items():
        lines.append(f"{f:24} {_fmt(d['all']):>6} " + " ".join(f"{_fmt(d.get(lg))[:5]:>5}" for lg in langs))
    lines.append(f"{'ALL':24} {_fmt(s['overall']):>6} " +
                 " ".join(f"{_fmt(s['by_language'][lg])[:5]:>5}" for lg in langs))
    return "\n".join(lines)
