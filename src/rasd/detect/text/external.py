"""Tier (c): a user-supplied fine-tuned classifier directory (ONNX or Hugging Face).

Layout (the usual Hugging Face export)::

    my-model/
      config.json            id2label (required); optional "rasd_label_map":
                             {"<model label>": "<policy label>"} when the model's
                             labels are not policy label ids
      model.onnx             ONNX graph with inputs input_ids, attention_mask
                             (and optionally token_type_ids) → logits (batch, labels)
      tokenizer.json         (needs the `tokenizers` package)  — or —
      vocab.txt              BERT WordPiece vocabulary (built-in tokenizer)
      tokenizer_config.json  optional: do_lower_case, model_max_length

Without ``model.onnx`` but with ``model.safetensors`` weights the directory is a
Hugging Face checkpoint, loaded through ``transformers`` + ``torch`` (optional:
``pip install 'rasd[hf]'``, imported only then; offline, ``local_files_only``).
``pytorch_model.bin`` is refused: it is a pickle, and loading it runs whatever
code it names; convert it to safetensors (or export to ONNX) first.
Probabilities are mapped onto the policy labels; policy labels the model does not
know get no mass of their own.
"""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

from rasd.jsonread import JSONInputError, parse_json

MAX_LEN_CAP = 512
MAX_CONFIG_BYTES = 16 << 20  # config.json, tokenizer_config.json
MAX_VOCAB_BYTES = 64 << 20  # vocab.txt (BERT's: 230 KB; multilingual: under 1 MB)


class ExternalModelError(RuntimeError):
    pass


def _read_text(p: Path, limit: int) -> str:
    """``p``'s text; too large, not UTF-8 or unreadable (a directory) is an
    ExternalModelError naming it (FileNotFoundError passes through)."""
    try:
        if p.stat().st_size > limit:
            raise ExternalModelError(f"{p}: larger than {limit:,} bytes")
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ExternalModelError(f"{p}: not UTF-8 text (byte {e.start})") from None
    except FileNotFoundError:
        raise
    except OSError as e:
        raise ExternalModelError(f"{p}: cannot read: {e.strerror or e}") from None


def _read_json(p: Path) -> dict[str, Any]:
    try:
        d = parse_json(_read_text(p, MAX_CONFIG_BYTES))
    except FileNotFoundError:
        return {}
    except JSONInputError as e:
        raise ExternalModelError(f"{p}: {e}") from None
    if not isinstance(d, dict):
        raise ExternalModelError(f"{p}: expected a JSON object")
    return d


class WordPiece:
    """BERT's basic + WordPiece tokenizer (vocab.txt), enough for BERT-family exports."""

    def __init__(self, vocab_path: Path, lower: bool = True, max_len: int = 128):
        self.vocab: dict[str, int] = {}
        for i, line in enumerate(_read_text(vocab_path, MAX_VOCAB_BYTES).splitlines()):
            tok = line.rstrip("\n")
            if tok and tok not in self.vocab:
                self.vocab[tok] = i
        for special in ("[CLS]", "[SEP]", "[UNK]", "[PAD]"):
            if special not in self.vocab:
                raise ExternalModelError(f"{vocab_path}: vocabulary lacks {special}")
        self.lower, self.max_len = lower, max_len

    def _basic(self, text: str) -> list[str]:
        if self.lower:
            text = text.lower()
            text = "".join(c for c in unicodedata.normalize("NFD", text)
                           if unicodedata.category(c) != "Mn")
        out, cur = [], []
        for ch in text:
            cat = unicodedata.category(ch)
            if ch.isspace():
                if cur:
                    out.append("".join(cur))
                    cur = []
            elif cat.startswith(("P", "S")) or 0x4E00 <= ord(ch) <= 0x9FFF:
                if cur:
                    out.append("".join(cur))
                    cur = []
                out.append(ch)
            elif cat.startswith("C"):
                continue
            else:
                cur.append(ch)
        if cur:
            out.append("".join(cur))
        return out

    def _wordpiece(self, word: str) -> list[str]:
        if len(word) > 100:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            end, cur = len(word), None
            while start < end:
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                if sub in self.vocab:
                    cur = sub
                    break
                end -= 1
            if cur is None:
                return ["[UNK]"]
            pieces.append(cur)
            start = end
        return pieces

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        seqs = []
        for t in texts:
            toks = [p for w in self._basic(t) for p in self._wordpiece(w)][: self.max_len - 2]
            seqs.append([self.vocab["[CLS]"]] + [self.vocab.get(x, self.vocab["[UNK]"]) for x in toks]
                        + [self.vocab["[SEP]"]])
        n = max(len(s) for s in seqs) if seqs else 2
        ids = np.full((len(seqs), n), self.vocab["[PAD]"], dtype=np.int64)
        mask = np.zeros((len(seqs), n), dtype=np.int64)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = s
            mask[i, :len(s)] = 1
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


class FastTokenizer:
    def __init__(self, path: Path, max_len: int):
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise ExternalModelError(f"{path} needs the 'tokenizers' package (pip install tokenizers), "
                                     "or provide a vocab.txt") from None
        try:
            self.tok = Tokenizer.from_file(str(path))
        except Exception as e:  # noqa: BLE001 - the tokenizers package's own errors
            raise ExternalModelError(f"{path}: not a readable tokenizer ({e})") from None
        self.tok.enable_truncation(max_len)
        self.tok.enable_padding()

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        enc = self.tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        return {"input_ids": ids, "attention_mask": mask,
                "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}


class ExternalClassifier:
    def __init__(self, path: Path, id2label: dict[int, str], label_map: dict[str, str],
                 runner, fingerprint: str, multi_label: bool):
        self.path, self.id2label, self.label_map = path, id2label, label_map
        self.runner, self.fingerprint, self.multi_label = runner, fingerprint, multi_label

    def logits(self, texts: list[str]) -> np.ndarray:
        return self.runner(texts)

    def proba(self, texts, labels: list[str], batch: int = 32) -> np.ndarray:
        out = np.zeros((len(texts), len(labels)), dtype=np.float64)
        for s in range(0, len(texts), batch):
            lg = np.asarray(self.logits(list(texts[s:s + batch])), dtype=np.float64)
            if lg.ndim != 2 or lg.shape[1] != len(self.id2label):
                raise ExternalModelError(f"{self.path}: model returned shape {lg.shape}, expected "
                                         f"(batch, {len(self.id2label)})")
            if self.multi_label:
                p = 1 / (1 + np.exp(-lg))
                p = p / np.clip(p.sum(axis=1, keepdims=True), 1e-9, None)
            else:
                z = lg - lg.max(axis=1, keepdims=True)
                p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            for k, ext in self.id2label.items():
                target = self.label_map.get(ext, ext)
                if target in labels:
                    out[s:s + len(lg), labels.index(target)] += p[:, k]
        out += 1e-4
        return out / out.sum(axis=1, keepdims=True)


def load_external(path: str | Path, policy_labels: list[str] | None = None) -> ExternalClassifier:
    d = Path(path)
    if not d.is_dir():
        raise ExternalModelError(f"{d}: not a directory")
    cfg = _read_json(d / "config.json")
    if "id2label" not in cfg:
        raise ExternalModelError(f"{d / 'config.json'}: missing id2label")
    try:
        id2label = {int(k): v for k, v in cfg["id2label"].items()}
    except (ValueError, AttributeError):
        id2label = {}
    # the logits' columns 0..n-1, each named once: another index was an IndexError at the
    # first batch (or, negative, read another column), a name that is no string a repr
    if (sorted(id2label) != list(range(len(id2label))) or not id2label
            or not all(isinstance(v, str) for v in id2label.values())):
        raise ExternalModelError(f"{d / 'config.json'}: id2label must map the integers "
                                 "0..n-1 to names") from None
    label_map = cfg.get("rasd_label_map", {}) or {}
    if not isinstance(label_map, dict) or not all(isinstance(v, str)
                                                  for v in label_map.values()):
        raise ExternalModelError(f"{d / 'config.json'}: rasd_label_map must be an object "
                                 "of names")
    if policy_labels is not None:
        mapped = {label_map.get(v, v) for v in id2label.values()}
        if not mapped & set(policy_labels):
            raise ExternalModelError(f"{d}: none of the model's labels {sorted(id2label.values())} "
                                     f"is a policy label; add rasd_label_map to config.json")
    tcfg = _read_json(d / "tokenizer_config.json")
    max_len = tcfg.get("model_max_length", 128) or 128
    if isinstance(max_len, bool) or not isinstance(max_len, int | float) or not max_len >= 1:
        raise ExternalModelError(f"{d / 'tokenizer_config.json'}: model_max_length must be "
                                 "a number of tokens (1 or more)")
    max_len = int(min(max_len, MAX_LEN_CAP))
    if not isinstance(tcfg.get("do_lower_case", True), bool):
        raise ExternalModelError(f"{d / 'tokenizer_config.json'}: do_lower_case must be "
                                 "true or false")
    multi = cfg.get("problem_type") == "multi_label_classification"
    onnx_path = d / "model.onnx"
    if onnx_path.is_file():
        import onnxruntime as ort

        if (d / "tokenizer.json").is_file():
            tok = FastTokenizer(d / "tokenizer.json", max_len)
        elif (d / "vocab.txt").is_file():
            tok = WordPiece(d / "vocab.txt", tcfg.get("do_lower_case", True), max_len)
        else:
            raise ExternalModelError(f"{d}: no tokenizer.json or vocab.txt next to model.onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2
        try:
            sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime's errors (InvalidProtobuf…)
            raise ExternalModelError(f"{onnx_path}: not a model onnxruntime can load "
                                     f"({str(e)[:300]})") from None
        names = [i.name for i in sess.get_inputs()]
        if "input_ids" not in names:
            raise ExternalModelError(f"{onnx_path}: graph has no 'input_ids' input (has {names})")

        def run(texts: list[str]) -> np.ndarray:
            enc = tok.encode(texts)
            return sess.run(None, {n: enc[n] for n in names if n in enc})[0]

        with open(onnx_path, "rb") as f:  # (a block at a time, not the model whole)
            fp = hashlib.file_digest(f, "sha256").hexdigest()
        return ExternalClassifier(d, id2label, label_map, run, fp, multi)
    weights = d / "model.safetensors"
    if (d / "pytorch_model.bin").is_file() and not weights.is_file():
        raise ExternalModelError(
            f"{d / 'pytorch_model.bin'}: pickled weights are not loaded (unpickling runs code); "
            "save the model as model.safetensors (model.save_pretrained(dir, "
            "safe_serialization=True)) or export it to model.onnx")
    if weights.is_file():
        try:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError:
            raise ExternalModelError(f"{d}: a Hugging Face checkpoint needs 'transformers' and "
                                     "'torch' (pip install 'rasd[hf]'), or export it to "
                                     "model.onnx") from None
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(d), local_files_only=True)
            model = AutoModelForSequenceClassification.from_pretrained(
                str(d), local_files_only=True, use_safetensors=True)
        except Exception as e:  # noqa: BLE001 - transformers' and safetensors' errors
            raise ExternalModelError(f"{d}: not a checkpoint transformers can load "
                                     f"({str(e)[:300]})") from None
        model.eval()

        def run_hf(texts: list[str]) -> np.ndarray:
            enc = tokenizer(texts, truncation=True, max_length=max_len, padding=True,
                            return_tensors="pt")
            with torch.no_grad():
                return model(**enc).logits.numpy()

        with open(weights, "rb") as f:
            fp = hashlib.file_digest(f, "sha256").hexdigest()
        return ExternalClassifier(d, id2label, label_map, run_hf, fp, multi)
    raise ExternalModelError(f"{d}: no model.onnx or model.safetensors")
