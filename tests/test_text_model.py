"""The shipped default model: loads offline, small, calibrated, policy-shaped output,
journalism-aware author prior, and it passes most of the project's functional suite."""

from pathlib import Path

import numpy as np
import pytest

from rasd.detect.text.evaluate import functional_suite, run_functional
from rasd.detect.text.model import TextClassifier, default_model_dir
from rasd.detect.text.policy import load_policy


@pytest.fixture(scope="module")
def clf():
    return TextClassifier.load()


def test_shipped_model_is_small_and_pickle_free():
    d = default_model_dir()
    files = list(Path(d).iterdir())
    assert (d / "model.json").is_file() and (d / "MODEL_CARD.md").is_file()
    assert sum(f.stat().st_size for f in files) <= 50 * 1024 * 1024
    for f in files:
        assert f.suffix in (".json", ".npz", ".md"), f
        if f.suffix == ".npz":
            with np.load(f, allow_pickle=False) as z:  # raises if objects were pickled
                assert all(z[k].dtype != object for k in z.files)


def test_output_covers_every_policy_label_and_sums_to_one(clf):
    preds = clf.predict(["Join the caravan to the land of the caliphate, brothers",
                         "Lovely weather in Rome today"])
    for p in preds:
        assert set(p.scores) == set(load_policy().label_ids)
        assert abs(sum(p.scores.values()) - 1.0) < 1e-6
        assert p.flagged == (p.label not in ("none", "exempt"))
    assert preds[0].flagged and preds[0].label == "recruitment"
    assert not preds[1].flagged


def test_news_role_lowers_prior(clf):
    text = "Soldiers of the caliphate struck the apostates today, may Allah accept the martyrs"
    base = clf.predict([text])[0]
    news = clf.predict([text], roles=["news"])[0]
    assert news.attributes["flag_probability"] < base.attributes["flag_probability"]
    assert any(e.get("why") == "author_role" for e in news.explanation)


def test_explanations_name_indicators_with_sources(clf):
    p = clf.predict(["#AmaqAgency soldiers of the khilafah killed dozens of apostates"])[0]
    ind = [e for e in p.explanation if e.get("why") == "indicators"]
    assert ind and all(m["source"] for m in ind[0]["matches"])
    assert "ISIL (Da'esh)" in p.attributes.get("entity", [])


def test_char_ngram_explanation_names_each_gram_once(clf):
    """" kil" (a word's start) and "kil" were both printed, stripped, as "kil":
    `rasd classify` listed "kil" twice among the five top n-grams."""
    p = clf.predict(["Kill the apostates wherever you find them"])[0]
    top = next(e["top"] for e in p.explanation if e.get("why") == "char_ngrams")
    assert top and len(top) == len(set(top)) and len(top) <= 5
    assert all(g == g.strip() for g in top)


def test_hostile_inputs_do_not_crash(clf):
    preds = clf.predict(["", "\u202e\u200b" * 1000, "x" * 300_000, "🏴" * 50, None])
    assert len(preds) == 5


def test_tiers_alone_are_usable(clf):
    for tiers in (["char"], ["use"]):
        c = TextClassifier.load(tiers=tiers)
        p = c.predict(["Make hijrah to the khilafah, the mujahideen are waiting for you"])[0]
        assert abs(sum(p.scores.values()) - 1) < 1e-6


def test_functional_suite_pass_rate(clf):
    """The model must pass most of the contrastive functional tests in every language."""
    res = run_functional(clf, functional_suite())
    s = res["summary"]
    assert s["cases"] >= 300
    assert s["overall"] >= 0.8, s
    for lang, rate in s["by_language"].items():
        assert rate >= 0.6, (lang, rate)


def test_a_lone_surrogate_is_classified_not_raised(clf):
    """A lone surrogate is no character: the char tier's UTF-32 hasher raised on
    it, and the whole batch of posts around it was lost."""
    preds = clf.predict(["\ud800 Join the caravan to the land of the caliphate, brothers",
                         "Lovely weather in Rome today \udfff"])
    assert preds[0].label == "recruitment" and not preds[1].flagged


def test_uniform_scores_are_no_evidence_and_never_flagged(clf):
    """With every label equal the flagged labels hold most of the mass (6 of 8),
    which passed the threshold: a model without information flagged everything
    as the first flagged label."""
    n = len(clf.labels)
    P = np.vstack([np.full(n, 1.0 / n), np.eye(n)[clf.labels.index("recruitment")]])
    (lab, _, flagged), (lab2, _, flagged2) = clf.decide(P)
    assert (lab, flagged) == ("none", False)
    assert (lab2, flagged2) == ("recruitment", True)


def _row(clf, **p):
    """A probability row over the model's labels: the given ones, the rest on `none`."""
    row = np.zeros(len(clf.labels))
    for lab, v in p.items():
        row[clf.labels.index(lab)] = v
    row[clf.labels.index("none")] += 1.0 - row.sum()
    return row


def test_exempt_is_a_competing_hypothesis_for_flagging(clf):
    """The demo's counter-speech post ("They say 'baqiya' ... we mourn the victims and
    reject this hateful ideology") scored incitement 0.35, exempt 0.62: past the
    threshold (0.3), so it was flagged although the model found protected speech
    far more likely. A post is flagged only when its flagged labels together are at
    least as probable as `exempt`; against `none` the lower threshold still holds."""
    assert clf.threshold < 0.35
    P = np.vstack([_row(clf, incitement=0.342, exempt=0.619),
                   _row(clf, incitement=0.35),                 # probably ordinary: flagged
                   _row(clf, incitement=0.30, recruitment=0.2, exempt=0.45)])
    (lab, pf, flagged), (lab2, _, flagged2), (lab3, _, flagged3) = clf.decide(P)
    assert (lab, flagged) == ("exempt", False) and pf == pytest.approx(0.342)
    assert (lab2, flagged2) == ("incitement", True)
    assert (lab3, flagged3) == ("incitement", True)  # 0.5 flagged vs 0.45 exempt


def test_counter_speech_quoting_a_slogan_is_not_flagged(clf):
    text = ("They say 'baqiya' — remaining. No. Their banner will not remain. We mourn the "
            "victims of the checkpoint attack and reject this hateful ideology.")
    p = clf.predict([text])[0]
    assert p.scores["exempt"] > p.attributes["flag_probability"]
    assert not p.flagged and p.label == "exempt"


def test_every_account_role_has_a_prior(clf):
    """`rasd accounts mark --role official` stored a role the text model's table did not
    know (it knew `government`), so marking an official account changed nothing. Every
    role an analyst can set (but `none`, which clears it) lowers the flagged odds."""
    from rasd.accounts.roles import ROLES
    from rasd.detect.text.model import ROLE_PRIOR

    assert {r for r in ROLES if r != "none"} <= set(ROLE_PRIOR)
    text = "Soldiers of the caliphate struck the apostates today, may Allah accept the martyrs"
    base = clf.predict([text])[0].attributes["flag_probability"]
    official = clf.predict([text], roles=["official"])[0]
    assert official.attributes["flag_probability"] < base
    assert any(e.get("why") == "author_role" for e in official.explanation)


def test_a_model_trained_before_the_decision_rule_reports_a_new_version(tmp_path):
    """The decision rule changed (exempt competes with the flagged labels): a
    model whose model.json does not record it decides otherwise than when its
    detections were stored, so its version differs and `rasd scan` runs again;
    one that records it keeps its own version."""
    import json
    import shutil

    from rasd.detect.text.model import DECISION, TextClassifier, default_model_dir

    for decision in (None, DECISION):
        d = tmp_path / str(decision)
        shutil.copytree(default_model_dir(), d)
        meta = json.loads((d / "model.json").read_text(encoding="utf-8"))
        meta.pop("decision", None)
        if decision:
            meta["decision"] = decision
        (d / "model.json").write_text(json.dumps(meta), encoding="utf-8")
        v = TextClassifier.load(d, tiers=["char"]).version
        assert v == (meta["version"] if decision else meta["version"] + "+" + DECISION)


@pytest.mark.parametrize("text", [
    "", "a", "ab", "  ", "🏴", "☝☝☝ blackflag", "Join the caravan of the mujahideen now!",
    "الدولة الإسلامية باقية وتتمدد", "x" * 3000, "Kill them all " * 200,
    "d a e s h  1SIS k@fir", "\u200bzero\u200dwidth",
])
def test_top_ngrams_are_the_ngrams_that_push_hardest(clf, text):
    """top_ngrams keeps each weight row's mean once computed; what it returns is
    what computing every n-gram's push afresh (W[h, j] - mean of row h) returns,
    for every label, a second time too."""
    from rasd.detect.text.model import gram_index, text_grams
    from rasd.detect.text.normalize import fold

    folded = fold(text)
    W = clf.tiers["char"].W
    for label in clf.labels:
        j = clf.labels.index(label)
        scored = sorted(((float(W[gram_index(g), j] - W[gram_index(g)].mean()), g)
                         for g in set(text_grams(folded))), reverse=True)
        want: list[str] = []
        for c, g in scored:
            if c <= 0 or len(want) >= 5:
                break
            if (g := g.strip()) and g not in want:
                want.append(g)
        assert clf.top_ngrams(folded, label) == want, label
        assert clf.top_ngrams(folded, label) == want, label
