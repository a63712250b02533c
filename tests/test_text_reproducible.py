"""Training is reproducible: the same rows give the same model, bit for bit.

Found when a rerun of scripts/train_text_model.py on unchanged data fitted ensemble
weights char 0.1607 / use 0.9472 against the shipped 0.1618 / 0.9467: a USE vector
depended on the texts that shared its encoder micro-batch (so on what an earlier run
had left in the embedding cache) and on the BLAS thread count, and the solvers' float
sums on the thread count too.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
from threadpoolctl import threadpool_limits

from rasd.detect.text.policy import load_policy
from rasd.detect.text.train import EmbeddingCache, fit

TEXTS = [
    ("Join the caravan of the mujahideen, make hijrah now", "recruitment"),
    ("Kill the crusaders wherever you find them", "incitement"),
    ("Send your zakat to our brothers on the front, wallet below", "financing"),
    ("We will bomb your station next week, you have been warned", "threat"),
    ("The court convicted a man of recruiting for the Islamic State", "exempt"),
    ("Researchers studied how extremists use social media", "exempt"),
    ("Police said the attacker had pledged allegiance to the group", "exempt"),
    ("Lovely weather today, going to the beach", "none"),
    ("Anyone watching the match tonight?", "none"),
    ("Jumuah mubarak, may Allah accept our prayers", "none"),
    ("The new bakery on the corner sells great bread", "none"),
]


def _rows(n: int = 4) -> list[dict]:
    rows = []
    for k in range(n):
        for j, (t, lab) in enumerate(TEXTS):
            rows.append({"text": f"{t} ({k})" if k else t, "label": lab, "lang": "en",
                         "journalism": lab == "exempt",
                         "split": "calib" if (j + k) % 4 == 0 else "train"})
    return rows


def _model(out) -> dict:
    meta = json.loads((out / "model.json").read_text())
    files = {n: hashlib.sha256((out / f"{n}.npz").read_bytes()).hexdigest() for n in meta["tiers"]}
    return {"version": meta["version"], "weights": meta["weights"],
            "threshold": meta["threshold"], "ensembles": meta["ensembles"], "files": files}


def test_training_twice_gives_the_same_model_whatever_the_cache_and_threads(tmp_path):
    policy = load_policy()
    rows = _rows()
    cache = tmp_path / "cache.npz"
    # an earlier run on other rows in another order fills the cache: the encoder saw
    # these texts next to different neighbours
    fit(list(reversed(rows)) + _rows(6)[len(rows):], policy, tmp_path / "earlier",
        cache=cache, log=lambda m: None)
    a = fit(rows, policy, tmp_path / "a", cache=cache, log=lambda m: None)
    with threadpool_limits(limits=2):  # another machine: more cores, no cache
        b = fit(rows, policy, tmp_path / "b", cache=None, log=lambda m: None)
    assert a["version"] == b["version"]
    assert _model(tmp_path / "a") == _model(tmp_path / "b")


def test_the_solver_gives_the_same_weights_on_any_number_of_threads(tmp_path):
    # ~660 rows: below a few hundred, BLAS runs on one thread anyway; at this size two
    # threads changed the USE tier's weights (same embeddings, from one cache)
    policy = load_policy()
    rows = _rows(60)
    cache = tmp_path / "cache.npz"
    models = []
    for n in (1, 2):
        with threadpool_limits(limits=n):
            fit(rows, policy, tmp_path / str(n), tiers=["use"], cache=cache, log=lambda m: None)
        models.append(_model(tmp_path / str(n)))
    assert models[0] == models[1]


def test_an_embedding_cache_written_another_way_is_not_used(tmp_path):
    path = tmp_path / "old.npz"
    key = hashlib.sha1(b"hello").hexdigest()
    np.savez(path, keys=np.array([key]), vecs=np.ones((1, 512), np.float32))  # no method
    ec = EmbeddingCache(path)
    assert ec.dropped == 1 and not ec.map
    v = ec.embed(["hello"])
    assert not np.allclose(v, 1.0)
    ec.save()
    again = EmbeddingCache(path)
    assert again.dropped == 0 and np.array_equal(again.embed(["hello"]), v)
