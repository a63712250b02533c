"""Tier (c), the Hugging Face path: a tiny BERT sequence classifier built here
by the test (random weights, a 14-token WordPiece vocabulary), saved as a
checkpoint directory (config.json, model.safetensors, tokenizer files) and
loaded through rasd's real loading code, offline. Needs the optional
``transformers`` and ``torch`` (``pip install -e '.[hf]'``; CI installs them)."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the Hugging Face tier needs torch: "
                            "pip install -e '.[hf]'")
transformers = pytest.importorskip("transformers", reason="the Hugging Face tier needs "
                                   "transformers: pip install -e '.[hf]'")

from rasd.detect.text.external import ExternalModelError, load_external
from rasd.detect.text.model import TextClassifier

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "join", "the", "caravan", "hij", "##rah",
         "weather", "nice", "today", "."]
LABELS = {0: "recruit", 1: "benign", 2: "threat"}


def build(d, seed=0):
    torch.manual_seed(seed)
    cfg = transformers.BertConfig(
        vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64, id2label=LABELS,
        label2id={v: k for k, v in LABELS.items()})
    model = transformers.BertForSequenceClassification(cfg).eval()
    (d / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    tok = transformers.BertTokenizerFast(vocab_file=str(d / "vocab.txt"), do_lower_case=True)
    model.save_pretrained(str(d))  # model.safetensors + config.json
    tok.save_pretrained(str(d))
    c = json.loads((d / "config.json").read_text())
    c["rasd_label_map"] = {"recruit": "recruitment", "benign": "none"}
    (d / "config.json").write_text(json.dumps(c))
    return model, tok


def test_checkpoint_directory_loads_and_matches_the_model(tmp_path):
    model, tok = build(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    ext = load_external(tmp_path, ["recruitment", "none", "threat", "exempt"])
    texts = ["Join the caravan, HIJRAH!", "nice weather today .", ""]
    got = ext.logits(texts)
    with torch.no_grad():
        want = model(**tok(texts, padding=True, truncation=True, max_length=128,
                           return_tensors="pt")).logits.numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    P = ext.proba(texts, ["recruitment", "none", "threat", "exempt"])
    assert P.shape == (3, 4) and np.allclose(P.sum(1), 1)
    assert len(ext.fingerprint) == 64
    # a different checkpoint is a different model version
    other = tmp_path / "other"
    other.mkdir()
    build(other, seed=1)
    assert load_external(other).fingerprint != ext.fingerprint


def test_checkpoint_joins_the_ensemble(tmp_path):
    build(tmp_path)
    clf = TextClassifier.load(external=tmp_path, external_weight=0.5)
    assert "+ext-" in clf.version
    p = clf.predict(["join the caravan hijrah", "nice weather today"])
    assert all(abs(sum(x.scores.values()) - 1) < 1e-6 for x in p)


def test_pickled_weights_are_refused(tmp_path):
    """pytorch_model.bin is a pickle: rasd does not load it (never unpickle
    input); it names the safe formats instead."""
    build(tmp_path)
    (tmp_path / "model.safetensors").rename(tmp_path / "pytorch_model.bin")
    with pytest.raises(ExternalModelError, match="safetensors"):
        load_external(tmp_path)
