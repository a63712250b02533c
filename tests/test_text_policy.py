"""The policy is data: shipped default, user policies, clear errors."""

import json

import pytest

from rasd.detect.text.policy import PolicyError, load_policy, load_policy_file, parse_policy

POLICY_LABELS = ["incitement", "solicitation", "recruitment", "instruction", "threat",
                 "financing", "exempt", "none"]
LANGS = ["ar", "en", "fr", "de", "it", "tr", "ru"]


def test_default_policy_has_policy_md_labels_and_examples_in_every_language():
    pol = load_policy()
    assert pol.label_ids == POLICY_LABELS
    assert set(pol.flagged_labels) == set(POLICY_LABELS) - {"exempt", "none"}
    for lab in pol.labels:
        assert lab.definition
        for lang in LANGS:
            assert len(lab.examples.get(lang, [])) >= 4, (lab.id, lang)
    assert pol.label("financing").legal_basis.startswith("Directive")
    assert "ideology" in pol.attributes and "severity" in pol.attributes


def test_user_policy_with_new_label_and_threshold(tmp_path):
    doc = {"name": "mine", "version": "1", "labels": [
        {"id": "glorification", "flagged": True, "definition": "praise",
         "examples": {"en": ["hero of the attack"]}},
        {"id": "none", "flagged": False, "definition": "other"}],
        "thresholds": {"glorification": 0.7}}
    p = tmp_path / "p.json"
    p.write_text(json.dumps(doc))
    pol = load_policy_file(p)
    assert pol.flagged_labels == ["glorification"]
    assert pol.thresholds == {"glorification": 0.7}
    assert pol.examples() == [("hero of the attack", "glorification", "en")]


@pytest.mark.parametrize("doc,needle", [
    ({"version": "1", "labels": []}, "name"),
    ({"name": "x", "version": "1", "labels": [{"id": "none", "flagged": False,
                                                "definition": "d"}]}, "flagged"),
    ({"name": "x", "version": "1", "labels": [{"id": "a b", "flagged": True, "definition": "d"},
                                              {"id": "none", "flagged": False, "definition": "d"}]},
     "labels[0].id"),
    ({"name": "x", "version": "1", "labels": [{"id": "a", "flagged": True, "definition": "d"}]},
     "'none'"),
    ({"name": "x", "version": "1", "labels": [{"id": "a", "flagged": True, "definition": "d"},
                                              {"id": "none", "flagged": False, "definition": "d"}],
      "thresholds": {"a": 2}}, "thresholds.a"),
    ({"name": "x", "version": "1", "labels": [{"id": "a", "flagged": True, "definition": "d",
                                               "examples": {"en": "not a list"}},
                                              {"id": "none", "flagged": False, "definition": "d"}]},
     "labels[0].examples.en"),
    # wrong types where a list, string or object belongs: a traceback ('languages': 5)
    # or a policy read wrongly ("en" read as ['e', 'n'], a name or severity as a repr)
    ({"name": "x", "version": "1", "languages": 5, "labels": [
        {"id": "a", "flagged": True, "definition": "d"},
        {"id": "none", "flagged": False, "definition": "d"}]}, "languages"),
    ({"name": "x", "version": "1", "languages": "en", "labels": [
        {"id": "a", "flagged": True, "definition": "d"},
        {"id": "none", "flagged": False, "definition": "d"}]}, "languages"),
    ({"name": {"x": 1}, "version": "1", "labels": [
        {"id": "a", "flagged": True, "definition": "d"},
        {"id": "none", "flagged": False, "definition": "d"}]}, "name"),
    ({"name": "x", "version": "1", "attributes": [1], "labels": [
        {"id": "a", "flagged": True, "definition": "d"},
        {"id": "none", "flagged": False, "definition": "d"}]}, "attributes"),
    ({"name": "x", "version": "1", "labels": [
        {"id": "a", "flagged": True, "definition": "d", "severity": [1]},
        {"id": "none", "flagged": False, "definition": "d"}]}, "labels[0].severity"),
    ({"name": "x", "version": "1", "labels": [
        {"id": "a", "flagged": True, "definition": "d", "legal_basis": {"a": 1}},
        {"id": "none", "flagged": False, "definition": "d"}]}, "labels[0].legal_basis"),
])
def test_bad_policies_name_the_field(doc, needle):
    with pytest.raises(PolicyError) as e:
        parse_policy(doc, "p.json")
    assert needle in str(e.value) and "p.json" in str(e.value)


def test_invalid_json_names_line(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"name": "x",\n "version": }')
    with pytest.raises(PolicyError, match="line 2"):
        load_policy_file(p)


def test_a_directory_as_policy_file_is_a_policy_error(tmp_path):
    """``--policy DIR`` (or ``rasd policy check DIR``) was an IsADirectoryError
    traceback: it passed the size check and failed in the read."""
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy_file(tmp_path)


def test_the_shipped_policy_file_is_found_once(monkeypatch):
    """``load_policy()`` without a path or ``RASD_POLICY`` finds the shipped
    policy's file once a process: a bank import calls it for each labels cell,
    and finding the package's files (importlib.resources) each time was most
    of reading a bank file (a CSV of 200,000 rows: ~5x its other work)."""
    from rasd.detect.text import policy as P

    monkeypatch.delenv("RASD_POLICY", raising=False)
    getattr(P.default_policy_path, "cache_clear", lambda: None)()
    calls = [0]
    real = P.files

    def counted(pkg):
        calls[0] += 1
        return real(pkg)

    monkeypatch.setattr(P, "files", counted)
    first = load_policy()
    assert all(load_policy() is first for _ in range(3))
    assert calls[0] == 1  # 4 before
    assert P.default_policy_path().name == "default.json"
