"""Figures on the real data sets in ../shared/data (skipped where absent): the
shipped model spares journalism (≤ 2 % flagged per language on the held-out half of
the dev terror-mention news), catches curated violating posts of held-out ISIS
accounts, and the lexicons rebuild from the designation lists exactly."""

import importlib.util
import json
import random
import sys
from pathlib import Path

import pytest

from rasd.detect.text.model import TextClassifier

REPO = Path(__file__).resolve().parents[1]


def _script(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def recipe():
    return _script("train_text_model")


@pytest.fixture(scope="module")
def clf():
    return TextClassifier.load()


def test_journalism_fpr_per_language_on_heldout_news(shared_data, recipe, clf):
    rows = [r for r in recipe.news(shared_data, random.Random(recipe.SEED)) if r["split"] == "test"]
    by_lang = {}
    for r in rows:
        by_lang.setdefault(r["lang"], []).append(r["text"])
    assert set(by_lang) == {"ar", "de", "en", "ru"}
    for lang, texts in sorted(by_lang.items()):
        texts = texts[:400]  # a fixed sample keeps the suite fast; MODEL_CARD.md has all rows
        preds = clf.predict(texts, langs=[lang] * len(texts), explain=False)
        fpr = sum(p.flagged for p in preds) / len(preds)
        assert fpr <= 0.02, (lang, len(texts), fpr)


def test_heldout_isis_accounts(shared_data, recipe, clf):
    rows, _, held = recipe.isis(shared_data, random.Random(recipe.SEED))
    test = [r for r in rows if r["split"] == "test"]
    assert len(held) == 16 and test
    pos = [r for r in test if r["label"] not in ("none", "unlabelled")]
    chatter = [r for r in test if r["label"] == "none"]
    pp = clf.predict([r["text"] for r in pos], explain=False)
    pc = clf.predict([r["text"] for r in chatter], explain=False)
    recall = sum(p.flagged for p in pp) / len(pp)
    chatter_rate = sum(p.flagged for p in pc) / len(pc)
    assert recall >= 0.6, recall
    assert chatter_rate <= 0.08, chatter_rate


def test_lexicon_rebuilds_from_designation_lists(shared_data, tmp_path, monkeypatch):
    mod = _script("build_text_lexicons")
    out = tmp_path / "entities.json"
    monkeypatch.setattr(sys, "argv", ["x", "--data", str(shared_data), "--out", str(out)])
    assert mod.main() == 0
    shipped = REPO / "src/rasd/data/lexicons/entities.json"
    assert json.loads(out.read_text()) == json.loads(shipped.read_text())
    doc = json.loads(out.read_text())
    assert all(e["source"] and e["aliases"] for e in doc["entries"])
    names = {e["entity"] for e in doc["entries"]}
    assert "ISLAMIC STATE OF IRAQ AND THE LEVANT" in names and "AL-QAIDA IN IRAQ" in names
