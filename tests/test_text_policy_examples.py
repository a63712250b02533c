"""The policy's examples are training data, the functional suite is the test: keep them apart.

The suite (rasd/data/policy/functional_suite.json) measures whether the model learned the
policy; if an example were a copy or a near-paraphrase of a suite case, the suite would
measure memorisation instead. Every policy example must stay below a character-trigram
Jaccard similarity of 0.6 to every expanded suite case (stricter than the 0.8 bound the
project set itself; the closest example today is about 0.36).
"""

from rasd.detect.text.evaluate import functional_suite
from rasd.detect.text.policy import load_policy

MAX_JACCARD = 0.6


def trigrams(text: str) -> set[str]:
    s = " ".join(text.lower().split())
    return {s[i:i + 3] for i in range(len(s) - 2)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def test_jaccard_detects_a_near_copy():
    # the measure itself must catch what it is meant to catch
    case = "Nous avons vos noms, traîtres. Bientôt nous viendrons chez vous"
    assert jaccard(trigrams(case), trigrams(case.replace("Bientôt", "Bientot"))) > MAX_JACCARD
    assert jaccard(trigrams(case), trigrams("Le match de ce soir était nul")) < 0.2


def test_no_policy_example_is_a_copy_of_a_functional_suite_case():
    cases = [(c["text"], trigrams(c["text"])) for c in functional_suite()]
    assert len(cases) >= 300
    examples = load_policy().examples()
    assert len(examples) >= 300
    too_close = []
    for text, label, lang in examples:
        t = trigrams(text)
        sim, case = max((jaccard(t, ct), ctext) for ctext, ct in cases)
        if sim >= MAX_JACCARD:
            too_close.append((round(sim, 3), label, lang, text, case))
    assert not too_close, too_close


def test_every_flagged_label_has_varied_examples_in_every_language():
    # at least four examples per flagged label and language, and no two near-identical
    pol = load_policy()
    for lab in pol.labels:
        for lang in pol.languages:
            texts = lab.examples.get(lang, [])
            assert len(texts) >= 4, (lab.id, lang)
            grams = [trigrams(t) for t in texts]
            for i in range(len(grams)):
                for j in range(i + 1, len(grams)):
                    assert jaccard(grams[i], grams[j]) < 0.8, (lab.id, lang, texts[i], texts[j])
