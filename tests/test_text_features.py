"""The vectorised character n-gram hasher agrees with its scalar twin, is
L2-normalised, and gives the same rows whatever the batch and chunking."""

import numpy as np

import rasd.detect.text.model as M


def test_hasher_matches_scalar_twin_and_normalises():
    texts = ["ab cd", "", "x", "الدوله باقيه", "игил " * 50]
    X = M.char_hash_features(texts)
    assert X.shape == (5, M.N_FEATURES)
    for i, t in enumerate(texts):
        expected = sorted({M.gram_index(g) for g in M.text_grams(t)})
        assert sorted(X[i].indices.tolist()) == expected
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    assert np.allclose(norms, [1, 0, 1, 1, 1], atol=1e-6)


def test_batching_and_chunking_do_not_change_rows(monkeypatch):
    texts = [f"text number {i} about the weather" * (1 + i % 7) for i in range(300)]
    whole = M.char_hash_features(texts)
    monkeypatch.setattr(M, "_CHUNK_CHARS", 500)  # force many chunks
    chunked = M.char_hash_features(texts)
    single = [M.char_hash_features([t]) for t in texts[:20]]
    assert (whole != chunked).nnz == 0
    for i, s in enumerate(single):
        assert (whole[i] != s).nnz == 0


def test_counts_repeated_ngrams():
    X = M.char_hash_features(["aaaa"])  # " aaaa ": 'aaa' twice, ' aa', 'aa '...
    idx = M.gram_index("aaa")
    row = X[0].toarray().ravel()
    assert row[idx] > row[M.gram_index(" aa")]
