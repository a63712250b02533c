"""Tier (c): a user-supplied ONNX classifier directory, built here by the test itself
(onnx.helper graph + a BERT WordPiece vocab.txt), loaded through the real code path
and run by onnxruntime."""

import json
import re

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper

from rasd.detect.text.external import ExternalModelError, WordPiece, load_external
from rasd.detect.text.model import TextClassifier

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "join", "the", "caravan", "hij", "##rah", "weather",
         "nice", "today", ",", "."]
LABELS = ["recruit", "benign"]


def build(dirpath, seed=0):
    rng = np.random.default_rng(seed)
    dim = 8
    emb = rng.normal(size=(len(VOCAB), dim)).astype(np.float32)
    W = rng.normal(size=(dim, len(LABELS))).astype(np.float32)
    b = np.array([0.1, -0.1], dtype=np.float32)
    # logits = (sum_t emb[ids_t] * mask_t / sum_t mask_t) @ W + b
    nodes = [
        helper.make_node("Gather", ["emb", "input_ids"], ["e"]),                 # (B,T,D)
        helper.make_node("Cast", ["attention_mask"], ["m"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["m", "ax2"], ["m3"]),                      # (B,T,1)
        helper.make_node("Mul", ["e", "m3"], ["em"]),
        helper.make_node("ReduceSum", ["em", "ax1"], ["s"], keepdims=0),        # (B,D)
        helper.make_node("ReduceSum", ["m3", "ax1"], ["n"], keepdims=0),        # (B,1)
        helper.make_node("Div", ["s", "n"], ["mean"]),
        helper.make_node("MatMul", ["mean", "W"], ["z"]),
        helper.make_node("Add", ["z", "b"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["B", "T"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["B", "T"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", len(LABELS)])],
        initializer=[numpy_helper.from_array(emb, "emb"), numpy_helper.from_array(W, "W"),
                     numpy_helper.from_array(b, "b"),
                     numpy_helper.from_array(np.array([2], dtype=np.int64), "ax2"),
                     numpy_helper.from_array(np.array([1], dtype=np.int64), "ax1")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(dirpath / "model.onnx"))
    (dirpath / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    (dirpath / "config.json").write_text(json.dumps({
        "id2label": {str(i): lab for i, lab in enumerate(LABELS)},
        "rasd_label_map": {"recruit": "recruitment", "benign": "none"}}))
    (dirpath / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    return emb, W, b


def reference_logits(text, emb, W, b):
    ids = WordPiece.__new__(WordPiece)
    ids.vocab = {t: i for i, t in enumerate(VOCAB)}
    ids.lower, ids.max_len = True, 32
    enc = ids.encode([text])
    m = enc["attention_mask"][0].astype(np.float32)
    mean = (emb[enc["input_ids"][0]] * m[:, None]).sum(0) / m.sum()
    return mean @ W + b


def test_wordpiece_matches_bert_conventions(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    wp = WordPiece(tmp_path / "vocab.txt")
    enc = wp.encode(["Join the HIJRAH, caravan!", "nice"])
    toks = [VOCAB[i] for i in enc["input_ids"][0] if i]
    assert toks == ["[CLS]", "join", "the", "hij", "##rah", ",", "caravan", "[UNK]", "[SEP]"]
    assert enc["attention_mask"][1].tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 0]


def test_onnx_directory_runs_and_matches_reference(tmp_path):
    emb, W, b = build(tmp_path)
    ext = load_external(tmp_path, ["recruitment", "none", "exempt"])
    texts = ["join the caravan , hijrah", "nice weather today ."]
    lg = ext.logits(texts)
    for t, row in zip(texts, lg, strict=True):
        np.testing.assert_allclose(row, reference_logits(t, emb, W, b), rtol=1e-5, atol=1e-5)
    P = ext.proba(texts, ["recruitment", "none", "exempt"])
    assert P.shape == (2, 3) and np.allclose(P.sum(1), 1)
    z = np.exp(lg - lg.max(1, keepdims=True))
    soft = z / z.sum(1, keepdims=True)
    np.testing.assert_allclose(P[:, 0], (soft[:, 0] + 1e-4) / (1 + 3e-4), rtol=1e-4)


def test_onnx_tier_joins_the_ensemble(tmp_path):
    build(tmp_path)
    base = TextClassifier.load()
    with_ext = TextClassifier.load(external=tmp_path, external_weight=0.5)
    assert with_ext.version != base.version and "+ext-" in with_ext.version
    p = with_ext.predict(["join the caravan hijrah"])[0]
    assert abs(sum(p.scores.values()) - 1) < 1e-6


def test_bad_directories_fail_clearly(tmp_path):
    with pytest.raises(ExternalModelError, match="not a directory"):
        load_external(tmp_path / "nope")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ExternalModelError, match="id2label"):
        load_external(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"id2label": {"0": "a", "1": "b"}}))
    with pytest.raises(ExternalModelError, match="rasd_label_map"):
        load_external(tmp_path, ["none", "threat"])
    with pytest.raises(ExternalModelError, match="model.onnx"):
        load_external(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"")
    try:
        import transformers  # noqa: F401
    except ImportError:
        with pytest.raises(ExternalModelError, match="transformers"):
            load_external(tmp_path)


@pytest.mark.parametrize("name, content, says", [
    # tracebacks before: UnicodeDecodeError, IndexError at the first batch, TypeError
    # (unhashable), ValueError/TypeError/OverflowError from int(), InvalidProtobuf
    ("config.json", b'{"id2label": "caf\xe9"}', "config.json: not UTF-8 text"),
    ("config.json", b'{"id2label": {"0": "recruit", "7": "benign"}}',
     "id2label must map the integers 0..n-1"),
    # read silently wrong: -1 was the last column, a list a name
    ("config.json", b'{"id2label": {"0": "recruit", "-1": "benign"}}', "0..n-1"),
    ("config.json", b'{"id2label": {"0": ["recruit"], "1": "benign"}}', "0..n-1"),
    ("config.json", (b'{"id2label": {"0": "recruit", "1": "benign"}, '
                    b'"rasd_label_map": {"recruit": ["recruitment"]}}'), "rasd_label_map"),
    ("tokenizer_config.json", b'{"model_max_length": "abc"}', "model_max_length"),
    ("tokenizer_config.json", b'{"model_max_length": [1]}', "model_max_length"),
    ("tokenizer_config.json", b'{"model_max_length": -5}', "model_max_length"),
    ("tokenizer_config.json", b'{"do_lower_case": "false"}', "do_lower_case"),
    ("vocab.txt", b"[PAD]\n[UNK]\n[CLS]\n[SEP]\ncaf\xe9\n", "vocab.txt: not UTF-8 text"),
    ("model.onnx", b"garbage", "model.onnx: not a model onnxruntime can load"),
])
def test_hostile_files_in_an_external_directory_fail_clearly(tmp_path, name, content, says):
    build(tmp_path)
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ExternalModelError, match=re.escape(says)):
        load_external(tmp_path, ["recruitment", "none"])


def test_external_config_that_is_a_directory_fails_clearly(tmp_path):
    build(tmp_path)
    (tmp_path / "config.json").unlink()
    (tmp_path / "config.json").mkdir()
    with pytest.raises(ExternalModelError, match="config.json: cannot read"):
        load_external(tmp_path)


def test_a_huge_model_max_length_is_capped(tmp_path):
    """Hugging Face writes 1e30 for 'no limit'; 1e400 reads as infinity (an
    OverflowError in int() before)."""
    build(tmp_path)
    (tmp_path / "tokenizer_config.json").write_bytes(b'{"model_max_length": 1e400}')
    ext = load_external(tmp_path, ["recruitment", "none"])
    assert ext.proba(["join the caravan"], ["recruitment", "none"]).shape == (1, 2)
