"""rasd train / classify / eval / policy on the command line, end to end, no database."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rasd.cli import app

runner = CliRunner()

TRAIN = [
    ("Join the caravan, make hijrah to the caliphate now", "recruitment"),
    ("Come to the land of the khilafah, the brothers await you", "recruitment"),
    ("Pack your bags and join the mujahideen in Sham", "recruitment"),
    ("Glory to the martyr who struck the crusaders, may Allah accept him", "incitement"),
    ("Our lions slaughtered the apostates, more operations like this", "incitement"),
    ("Kill the disbelievers wherever you find them", "incitement"),
    ("Police said the group claimed the bombing that killed ten people", "exempt"),
    ("The court convicted a man of recruiting for the Islamic State", "exempt"),
    ("Researchers studied how extremists use social media", "exempt"),
    ("Lovely weather today, going to the beach", "none"),
    ("Anyone watching the match tonight?", "none"),
    ("Jumuah mubarak, may Allah accept our prayers", "none"),
]


def _write_training(path, n=4):
    rows = []
    for k in range(n):
        for t, lab in TRAIN:
            rows.append({"text": f"{t} ({k})" if k else t, "label": lab, "lang": "en",
                         "journalism": lab == "exempt"})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("m")
    data = d / "train.jsonl"
    _write_training(data)
    out = d / "model"
    r = runner.invoke(app, ["train", str(data), "--out", str(out), "--no-examples"])
    assert r.exit_code == 0, r.output
    return out


def test_train_writes_model(tiny_model):
    meta = json.loads((tiny_model / "model.json").read_text())
    assert meta["tiers"] == ["char", "use"]
    assert set(meta["ensembles"]) == {"char,use", "char", "use"}
    assert 0 < meta["threshold"] < 1


def test_classify_jsonl_and_plain_lines(tiny_model, tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"id": "a", "text": "Make hijrah and join the caravan to the caliphate"}\n'
                   "just a plain line about the beach weather\n"
                   "{broken json\n"
                   '{"id": "c", "lang": "en", "text": "The court heard how the group recruited"}\n'
                   '{"id": "d", "text": ' + "[" * 5000 + "]" * 5000 + "}\n"
                   '{"id": ' + "9" * 5000 + ', "text": "a number past what Python reads"}\n')
    r = runner.invoke(app, ["classify", str(inp), "--model", str(tiny_model)])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert [x["id"] for x in lines] == ["a", 2, "c"]
    assert "line 5: JSON nested too deeply" in r.stderr
    assert "line 6: a number too long to read" in r.stderr  # was a traceback
    assert lines[0]["label"] == "recruitment" and lines[0]["flagged"]
    for x in lines:
        assert set(x) >= {"id", "lang", "label", "score", "scores", "explanation"}
        assert len(x["scores"]) == 8
    assert "line 3" in r.stderr


def test_lone_surrogates_in_classify_input_are_cleaned_not_fatal(tiny_model):
    """JSON may escape a lone surrogate; it is read as ingest stores it ("?"),
    and every line of the batch is still classified (a traceback and no output
    before)."""
    r = runner.invoke(app, ["classify", "-", "--model", str(tiny_model)],
                      input='{"id": 1, "text": "Nice weather today"}\n'
                            '{"id": 9, "text": "\\ud800 x"}\n'
                            '{"id": "\\udc00", "text": "Make hijrah \\u0000 and join"}\n')
    assert r.exit_code == 0, r.output
    out = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["id"] for x in out] == [1, 9, "?"]


def test_classify_flagged_only_from_stdin(tiny_model):
    r = runner.invoke(app, ["classify", "-", "--model", str(tiny_model), "--flagged-only"],
                      input="Glory to the martyr who struck the crusaders\nNice weather today\n")
    assert r.exit_code == 0, r.output
    out = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert len(out) == 1 and out[0]["flagged"]


def test_eval_reports_metrics_and_functional(tiny_model, tmp_path):
    data = tmp_path / "eval.csv"
    data.write_text("text,label,lang,journalism\n"
                    "\"Join the caravan, brothers, make hijrah\",recruitment,en,\n"
                    "\"Police said the bombing killed ten\",exempt,en,true\n"
                    "\"Nice day at the beach\",none,en,\n")
    r = runner.invoke(app, ["eval", str(data), "--model", str(tiny_model), "--json",
                            "--functional"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["report"]["rows"] == 3
    assert "en" in rep["report"]["journalism_fpr"]
    assert set(rep["report"]["by_label"]) >= {"recruitment", "exempt", "none"}
    assert rep["functional"]["summary"]["cases"] > 300
    r2 = runner.invoke(app, ["eval", str(data), "--model", str(tiny_model)])
    assert r2.exit_code == 0 and "confusion" in r2.stdout and "PR-AUC" in r2.stdout


def test_bad_inputs_give_clear_errors(tmp_path, tiny_model):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "label": "nonsense"}\n' * 3)
    r = runner.invoke(app, ["train", str(bad), "--out", str(tmp_path / "o"), "--no-examples"])
    assert r.exit_code == 2 and "nonsense" in r.output
    r = runner.invoke(app, ["eval", str(bad), "--model", str(tiny_model)])
    assert r.exit_code == 2 and "nonsense" in r.output
    bad.write_text('{"text": "x", "label": "none", "weight": ' + "9" * 5000 + "}\n")
    for cmd in (["eval", str(bad), "--model", str(tiny_model)],
                ["train", str(bad), "--out", str(tmp_path / "o"), "--no-examples"]):
        r = runner.invoke(app, cmd)  # a traceback before
        assert r.exit_code == 2 and "line 1: a number too long to read" in r.output, r.output
    missing = tmp_path / "m.csv"
    missing.write_text("body,label\nx,none\n")
    r = runner.invoke(app, ["train", str(missing), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "'text' column" in r.output
    r = runner.invoke(app, ["classify", "-", "--model", str(tmp_path)], input="x\n")
    assert r.exit_code == 2 and "model.json" in r.output


def test_policy_commands(tmp_path):
    r = runner.invoke(app, ["policy", "show", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["name"] == "rasd-default"
    p = tmp_path / "p.json"
    p.write_text('{"name": "x", "version": "1", "labels": [{"id": "none", "flagged": true}]}')
    r = runner.invoke(app, ["policy", "check", str(p)])
    assert r.exit_code == 2 and "definition" in r.output
    p.write_text('{"name": ' + "[" * 5000 + "]" * 5000 + "}")
    r = runner.invoke(app, ["policy", "check", str(p)])
    assert r.exit_code == 2 and "nested too deeply" in r.output
    p.write_text('{"name": "x", "version": ' + "1" * 5000 + "}")
    r = runner.invoke(app, ["policy", "check", str(p)])
    assert r.exit_code == 2 and "a number too long to read" in r.output
    r = runner.invoke(app, ["policy", "match", "أعلن تنظيم داعش"])
    assert r.exit_code == 0 and "ISIL" in r.stdout


def test_policy_match_prints_lines_and_json_with_json():
    """`policy match` printed JSON whatever was asked, and took no --json, unlike
    every other command: it prints a line a match, JSON with --json."""
    text = "Amaq reports soldiers of the khilafah \x1b[2J"
    r = runner.invoke(app, ["policy", "match", text, "--json"])
    assert r.exit_code == 0, r.output
    found = json.loads(r.stdout)
    assert {m["alias"] for m in found} >= {"amaq", "soldiers of the khilafah"}
    r = runner.invoke(app, ["policy", "match", text])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert len(lines) == len(found) and not r.stdout.lstrip().startswith("[")
    for m, line in zip(found, lines):
        assert line.startswith(f"{m['kind']}: {m['matched']!r}") and m["source"] in line
        assert m["entity"] in line
    r = runner.invoke(app, ["policy", "match", "lovely weather at the beach"])
    assert r.exit_code == 0 and r.stdout == "no lexicon matches\n"


def test_policy_match_uses_the_policy_classify_uses(tmp_path, monkeypatch):
    """`policy match` read the shipped lexicons whatever --policy or
    RASD_POLICY said: a policy's own lexicon (named beside it) never matched,
    and what it dropped still did."""
    from importlib.resources import files

    pol = json.loads((files("rasd") / "data" / "policy" / "default.json").read_text("utf-8"))
    pol["lexicons"] = ["mine.json"]
    own = tmp_path / "pol" / "p.json"
    own.parent.mkdir()
    own.write_text(json.dumps(pol))
    (own.parent / "mine.json").write_text(json.dumps({"entries": [
        {"kind": "entity", "entity": "Bluebird Collective", "ideology": "test",
         "source": "written by this test", "aliases": ["bluebird collective"]}]}))
    text = "the Bluebird Collective and ISIS"

    def matched(*args):
        r = runner.invoke(app, ["policy", "match", text, "--json", *args])
        assert r.exit_code == 0, r.output
        return sorted(m["entity"] for m in json.loads(r.stdout))

    assert "Bluebird Collective" not in matched() and matched()  # the shipped lexicons
    assert matched("--policy", str(own)) == ["Bluebird Collective"]
    monkeypatch.setenv("RASD_POLICY", str(own))
    assert matched() == ["Bluebird Collective"]
    # --policy before RASD_POLICY, as classify reads them
    default = str(files("rasd") / "data" / "policy" / "default.json")
    assert "Bluebird Collective" not in matched("--policy", default)
    r = runner.invoke(app, ["policy", "match", text, "--policy", str(own.parent / "x.json")])
    assert r.exit_code == 2 and "cannot read policy file" in r.output
    pol["lexicons"] = ["gone.json"]
    gone = own.parent / "gone-policy.json"  # (a policy file is read once a process)
    gone.write_text(json.dumps(pol))
    r = runner.invoke(app, ["policy", "match", text, "--policy", str(gone)])
    assert r.exit_code == 2 and "gone.json" in r.output and str(gone) in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


@pytest.mark.parametrize("text,alias", [
    ("4m4q reports", "amaq"),                            # leetspeak
    ("A\u200bm\u200ba\u200bq reports", "amaq"),         # zero-width characters
    ("\u0410maq reports", "amaq"),                        # Cyrillic А in a Latin word
    ("d a e s h", "daesh"),                              # spaced letters
    ("الدولـــة الإسلاميـة", "الدولة الإسلامية"),             # tatweel
    ("Dâesh", "daesh"),                                  # accents
    ("Etat islamique", "état islamique"),                # French typed without accents
    ("Deas saldirisi", "deaş"),                          # Turkish typed in ASCII
    ("Hay'at Taḥrīr al-Shām", "hayat tahrir al-sham"),  # scholarly transliteration
])
def test_policy_match_sees_the_text_as_the_model_does(text, alias):
    """Found by review: `policy match` and the model must read the same text. Hostile
    spellings match the lexicon (accents were not stripped for either: "Dâesh" and
    ASCII-typed Turkish "Deas" matched nothing), and what policy match prints is what
    classify explains."""
    from rasd.detect.text.model import TextClassifier

    r = runner.invoke(app, ["policy", "match", text, "--json"])
    assert r.exit_code == 0, r.output
    found = json.loads(r.stdout)
    assert alias in {m["alias"] for m in found}, found
    pred = TextClassifier.load(tiers=["char"]).predict([text])[0]
    explained = next((e["matches"] for e in pred.explanation if e.get("why") == "indicators"), [])
    assert found == explained


def test_policy_match_masks_urls_and_mentions_as_the_model_does():
    """The model reads URLs as `http` and @mentions as `@user`: a name inside a link
    is no model feature, so policy match does not report it as one (it did: the raw
    text was matched)."""
    r = runner.invoke(app, ["policy", "match", "see http://amaq-news.example/x and @daesh_fan",
                            "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == []
    r = runner.invoke(app, ["policy", "match", "see http://amaq-news.example/x: Amaq says",
                            "--json"])
    assert [m["alias"] for m in json.loads(r.stdout)] == ["amaq"]


@pytest.mark.parametrize("cmd", [["classify"], ["train"], ["eval"], ["policy"]])
def test_help_has_examples(cmd):
    r = runner.invoke(app, cmd + ["--help"])
    assert r.exit_code == 0
    assert "Examples" in r.output or "Commands" in r.output


def test_classify_jobs_keeps_order_and_output(tiny_model, tmp_path):
    inp = tmp_path / "many.txt"
    inp.write_text("".join(f"{t} {i}\n" for i in range(300) for t, _ in TRAIN[i % 12:i % 12 + 1]))
    args = ["classify", str(inp), "--model", str(tiny_model), "--no-explain"]
    one = runner.invoke(app, args)
    two = runner.invoke(app, args + ["--jobs", "2"])
    assert one.exit_code == 0 and two.exit_code == 0, two.output
    assert one.stdout == two.stdout and len(one.stdout.splitlines()) == 300


def test_overlong_lines_are_passed_over_without_being_read_whole(tiny_model, tmp_path,
                                                                 monkeypatch):
    """A line past the limit is reported and skipped (classify) or stops the
    file naming it (train/eval): read in bounded pieces, so a file or pipe with
    no newline for gigabytes cannot fill memory. (The limit is lowered here so
    that the test reads a few hundred kilobytes.)"""
    from rasd.detect.text import io as tio

    monkeypatch.setattr(tio, "MAX_LINE_BYTES", 1000)
    long = "x" * 250_000
    r = runner.invoke(app, ["classify", "-", "--model", str(tiny_model)],
                      input=f"{long}\nMake hijrah and join the caravan\n" + long)
    assert r.exit_code == 0, r.output
    out = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert [x["id"] for x in out] == [2]
    assert "line 1: line longer than 1000 bytes" in r.stderr
    assert "line 3: line longer than 1000 bytes" in r.stderr
    for name, head in (("t.csv", "text,label\n"), ("t.jsonl", "")):
        f = tmp_path / name
        f.write_text(head + ('"' + long + '",none\n' if head else long + "\n"))
        r = runner.invoke(app, ["eval", str(f), "--model", str(tiny_model)])
        assert r.exit_code == 2 and "longer than 1000 bytes" in r.output, r.output
    import io

    class Recorded(io.StringIO):  # the most characters one read returned
        biggest = 0

        def readline(self, size=-1):
            got = super().readline(size)
            Recorded.biggest = max(Recorded.biggest, len(got))
            return got

    lines = list(tio._lines(Recorded(long + "\nshort\n" + long)))
    assert lines == [(1, None), (2, "short\n"), (3, None)]
    assert Recorded.biggest <= 1001


def test_train_refuses_a_model_whose_tiers_all_got_weight_zero(tmp_path):
    """Calibration rows whose labels no training row has: the tiers help on
    none of them, the fitted weights are all 0 and every text would score
    uniformly (flagged as incitement). Refused, and nothing is written."""
    data = tmp_path / "tiny.csv"
    data.write_text("text,label,split\n"
                    "Kill them all now,incitement,train\n"
                    "I like pizza,none,train\n"
                    "Join us brothers,recruitment,calib\n"
                    "Police said the attack killed two,exempt,calib\n")
    out = tmp_path / "m"
    r = runner.invoke(app, ["train", str(data), "--out", str(out), "--tiers", "char",
                            "--no-examples"])
    assert r.exit_code == 2, r.output
    assert "weight 0" in r.output and "['exempt', 'recruitment']" in r.output
    assert not out.exists()


@pytest.mark.parametrize("lexicon,why", [
    (None, "lexicon file not found: missing.json"),
    ("this is not json\n", "invalid JSON"),
    ('{"entries": [{"aliases": ["x"]}]}', "must name its source"),
    (b"\xff\xfe not utf-8", "not UTF-8"),
    # (an alias of many words made matching quadratic in each post's words)
    ('{"entries": [{"source": "s", "aliases": ["ok", "%s"]}]}' % ("word " * 17),
     "entries[0].aliases[1]: 17 words; an alias is at most 16"),
    ('{"entries": [{"source": "s", "aliases": ["%s"]}]}' % ("x" * 201),
     "201 characters; an alias is at most 200"),
])
def test_a_policy_naming_a_missing_or_broken_lexicon_fails_cleanly(tmp_path, lexicon, why):
    """`policy check` said ok for a lexicon that is no JSON, and classify then
    stopped with a LexiconError traceback."""
    from importlib.resources import files

    pol = json.loads((files("rasd") / "data" / "policy" / "default.json").read_text("utf-8"))
    pol["lexicons"] = ["missing.json" if lexicon is None else "lex.json"]
    p = tmp_path / "pol.json"
    p.write_text(json.dumps(pol))
    if isinstance(lexicon, bytes):
        (tmp_path / "lex.json").write_bytes(lexicon)
    elif lexicon is not None:
        (tmp_path / "lex.json").write_text(lexicon)
    r = runner.invoke(app, ["policy", "check", str(p)])
    assert r.exit_code == 2 and why in r.output and str(p) in r.output, r.output
    r = runner.invoke(app, ["classify", "-", "--policy", str(p)], input="hello\n")
    assert r.exit_code == 2 and why in r.output and str(p) in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


def test_unknown_labels_are_named_by_file_and_line(tmp_path, tiny_model):
    """train said "row 1" for line 2 of a CSV (its header is line 1); eval
    named no line at all."""
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nhello there,none\nsome text,nonsense\n")
    for cmd in (["train", str(bad), "--out", str(tmp_path / "o"), "--no-examples"],
                ["eval", str(bad), "--model", str(tiny_model)]):
        r = runner.invoke(app, cmd)
        assert r.exit_code == 2 and f"{bad}: line 3: label 'nonsense'" in r.output, r.output


def test_scan_with_a_policy_whose_lexicon_is_missing_is_a_clean_error(tmp_path, monkeypatch):
    """Found by exploratory testing: `rasd scan` under a policy (RASD_POLICY)
    naming a lexicon file that is not there ended in a ModelError traceback
    (classify already said so cleanly). Detectors are set up before scanning."""
    from pathlib import Path

    import rasd

    policy = json.loads((Path(rasd.__file__).parent / "data" / "policy" / "default.json")
                        .read_text("utf-8"))
    policy["lexicons"] = ["missing.json"]
    p = tmp_path / "p.json"
    p.write_text(json.dumps(policy), "utf-8")
    db = str(tmp_path / "s.db")
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps({"data": [{"id": "1", "text": "hello", "author_id": "2"}]}) + "\n")
    assert runner.invoke(app, ["--db", db, "ingest", str(f)]).exit_code == 0
    monkeypatch.setenv("RASD_POLICY", str(p))
    r = runner.invoke(app, ["--db", db, "scan", "-d", "text"])
    assert r.exit_code == 2, r.output
    assert "detector text cannot be set up" in r.output and "missing.json" in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


def test_classify_rejects_json_lines_that_are_not_objects(tiny_model):
    """`null`, numbers, booleans and arrays parse as JSON but are no post: each is
    skipped with its line number and reason on stderr (they were classified as
    their literal text). A quoted sentence and "[BREAKING] ..." stay plain text."""
    r = runner.invoke(app, ["classify", "-", "--model", str(tiny_model), "--no-explain"],
                      input='null\n42\n[1, 2]\ntrue\n-1.5e3\n'
                            '"We will strike again," he said\n'
                            '[BREAKING] police report an attack\n'
                            '{"id": "x", "text": "Nice weather today"}\n')
    assert r.exit_code == 0, r.output
    out = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["id"] for x in out] == [6, 7, "x"]
    for n, kind in ((1, "null"), (2, "number"), (3, "array"), (4, "boolean"), (5, "number")):
        assert f"line {n}: a JSON {kind}, not an object" in r.stderr
    assert "line 6" not in r.stderr and "line 7" not in r.stderr


def test_nesting_json_reads_but_storable_does_not_is_an_input_error(tiny_model, tmp_path):
    """900 levels of nesting parse (json.loads) but were a RecursionError
    traceback in ``storable``'s walk: in classify's "id" (now refused: an id is a
    string or number, printed as given) and in any field of an eval or train
    line."""
    deep = "[" * 900 + "]" * 900
    r = runner.invoke(app, ["classify", "-", "--model", str(tiny_model), "--no-explain"],
                      input='{"id": ' + deep + ', "text": "Nice weather today"}\n'
                            '{"id": {"a": 1}, "text": "Nice weather today"}\n'
                            '{"id": "x", "text": "Nice weather today"}\n')
    assert r.exit_code == 0, r.output
    assert [json.loads(x)["id"] for x in r.stdout.splitlines()] == ["x"]
    for n in (1, 2):
        assert f"line {n}: field 'id': must be a string or number" in r.stderr
    bad = tmp_path / "deep.jsonl"
    bad.write_text('{"text": "x", "label": "none", "extra": ' + deep + "}\n")
    for cmd in (["eval", str(bad), "--model", str(tiny_model)],
                ["train", str(bad), "--out", str(tmp_path / "o"), "--no-examples"]):
        r = runner.invoke(app, cmd)
        assert r.exit_code == 2 and "line 1: JSON nested too deeply" in r.output, r.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("content,needle", [
    (b"42", "top level: must be a JSON object"),  # AttributeError tracebacks before
    (b'["a"]', "top level: must be a JSON object"),
    (b'{"functionalities": [5]}', "functionalities[0]: must be an object"),
    (b'{"functionalities": {"a": 1}}', "functionalities: must be a list"),
    # a string of templates was read a template a character
    (b'{"functionalities": [{"id": "a", "expect": "flag", "templates": {"en": "xy"}}]}',
     "functionalities[0].templates"),
    (b'{"fills": {"en": {"city": "x"}}, "functionalities": []}', "fills"),
    (b"caf\xe9", "not UTF-8 text"),  # a UnicodeDecodeError message without the file
    (json.dumps({"fills": {"en": {"city": ["c"] * 1000}}, "functionalities": [
        {"id": "a", "expect": "flag", "templates": {"en": ["{city}"] * 1000}}]}).encode(),
     "more than 200,000 cases"),  # templates times fills: a million cases
])
def test_functional_suite_file_faults_name_the_file(tmp_path, content, needle):
    from rasd.detect.text.evaluate import functional_suite

    p = tmp_path / "suite.json"
    p.write_bytes(content)
    with pytest.raises(ValueError) as e:
        functional_suite(p)
    assert needle in str(e.value) and "suite.json" in str(e.value)


def test_eval_suite_that_is_a_directory_names_it(tiny_model, tmp_path):
    r = runner.invoke(app, ["eval", "--functional", "--suite", str(tmp_path),
                            "--model", str(tiny_model)])
    assert r.exit_code == 2 and f"{tmp_path}: cannot read suite file" in r.output, r.output


def _cache_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("make,needle", [
    (lambda p: p.write_bytes(b"caf\xe9 not an archive") and p, "not an embedding cache"),
    (lambda p: p.write_bytes(b"PK\x03\x04garbage") and p, "not a readable embedding cache"),
    (lambda p: _cache_npz(p, vecs=np.zeros((2, 512), np.float32)), "no 'keys' array"),
    (lambda p: _cache_npz(p, keys=np.array([{"x": 1}], dtype=object),
                          vecs=np.zeros((1, 512), np.float32)), "not a readable"),  # pickled
    (lambda p: _cache_npz(p, keys=np.array(["a", "b", "c"]), vecs=np.zeros((2, 512), np.float32),
                    method=np.array("m")), "not an embedding cache: keys (3,)"),
    (lambda p: _cache_npz(p, keys=np.array(["a", "b"]), vecs=np.zeros((2, 3), np.float32),
                    method=np.array("m")), "vecs (2, 3)"),
    (lambda p: _cache_npz(p, keys=np.array(["a"]), vecs=np.full((1, 512), np.nan, np.float32)),
     "finite vectors"),
])
def test_a_train_cache_that_is_no_cache_is_a_train_error(tmp_path, make, needle):
    """--cache FILE is a user's path: a file that is not rasd's embedding cache was
    a traceback (BadZipFile, KeyError, numpy's 'pickled data' ValueError, a zip()
    or vstack ValueError), or NaN vectors went into the model."""
    from rasd.detect.text.train import EmbeddingCache, TrainError

    p = make(tmp_path / "cache.npz")
    with pytest.raises(TrainError) as e:
        EmbeddingCache(p)
    assert needle in str(e.value) and "cache.npz" in str(e.value)


def test_train_with_a_bad_cache_exits_2_and_writes_no_model(tmp_path):
    data = tmp_path / "train.jsonl"
    _write_training(data)
    cache = tmp_path / "c.npz"
    cache.write_bytes(b"PK\x03\x04garbage")
    r = runner.invoke(app, ["train", str(data), "--out", str(tmp_path / "o"),
                            "--no-examples", "--cache", str(cache)])
    assert r.exit_code == 2 and "c.npz: not a readable embedding cache" in r.output, r.output
    assert not (tmp_path / "o").exists()


def test_readme_classify_example_prints_a_flagged_verdict():
    """The README's `echo '{...}' | rasd classify --flagged-only` example printed
    nothing: its text ("Make hijrah to the caliphate") is `exempt` to the shipped
    model, and its language was read as Dutch. Run the README's own line."""
    import re
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    m = re.search(r"^echo ('.*?') \| rasd classify --flagged-only", readme, re.MULTILINE)
    assert m, "README lost its classify example"
    line = shlex.split(m.group(1))[0]
    r = runner.invoke(app, ["classify", "-", "--flagged-only"], input=line + "\n")
    assert r.exit_code == 0, r.output
    out = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(out) == 1 and out[0]["flagged"] and out[0]["label"] == "recruitment"
    assert out[0]["lang"] == "en"


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_classify_interrupted_says_what_is_written_and_where_to_go_on(tiny_model, tmp_path,
                                                                      jobs):
    """Ctrl-C ended `rasd classify` with status 130 and not a word (with --jobs,
    each worker printed a traceback). It now says how many posts' results are
    written and from which input line to go on. A real SIGINT to the process
    group, as a terminal sends it, once the first results are out."""
    import os
    import re
    import signal
    import subprocess
    import sys
    import time

    posts = tmp_path / "posts.txt"
    posts.write_text("null\n"  # line 1: no post (skipped, with a warning)
                     + "".join(f"{TRAIN[i % 12][0]} {i}\n" for i in range(200_000)))
    p = subprocess.Popen([sys.executable, "-m", "rasd", "classify", str(posts), "--model",
                          str(tiny_model), "--tiers", "char", "--no-explain", "--jobs", jobs],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        first = p.stdout.readline()  # the first batch's results are out
        time.sleep(0.3)
        os.killpg(p.pid, signal.SIGINT)
        rest = p.stdout.read()  # (communicate() would pass over what readline buffered)
        err = p.stderr.read()
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 130, err
    out = [json.loads(x) for x in [first, *rest.splitlines()]]
    m = re.fullmatch(r"rasd: warning: interrupted: the results of the first ([\d,]+) posts "
                     r"\(input lines 1-([\d,]+)\) are written; the rest is not: `tail -n "
                     r"\+([\d]+) (\S+) \| rasd classify` goes on from there \(plain text "
                     r"lines are then numbered from 1 again\)", err.splitlines()[-1])
    assert m, err
    n, last, go_on = (int(g.replace(",", "")) for g in m.groups()[:3])
    assert 1 <= n < 200_000 and m.group(4) == str(posts)
    # a Ctrl-C while a full pipe blocks a write may leave that line buffered (it
    # comes out) or not: the count said is never more than what is written, so
    # going on from it repeats at most one verdict and loses none
    assert n <= len(out) <= n + 1, (n, len(out))
    assert [o["id"] for o in out] == list(range(2, len(out) + 2))  # plain: id = line number
    assert last == n + 1 and go_on == n + 2
    assert "Traceback" not in err, err


@pytest.mark.parametrize("name", ["posts.txt", "posts.txt.gz", "my posts.jsonl.gz"])
def test_classify_interrupted_go_on_command_reads_on_from_the_next_line(tmp_path, name):
    """The command an interrupted `rasd classify FILE` prints to go on, run in a
    shell, gives the input from the line after the last one written. A .gz file
    is read decompressed, its lines counted there: `tail -n +N posts.txt.gz`
    went on from a line of the compressed bytes."""
    import contextlib
    import gzip
    import io
    import re
    import subprocess

    import typer

    from rasd.cli.text import _interrupted

    lines = [f"post {i}\n" for i in range(1, 21)]
    path = tmp_path / name
    with (gzip.open(path, "wt") if name.endswith(".gz") else open(path, "w")) as f:
        f.writelines(lines)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(typer.Exit):
        _interrupted(str(path), 7, 7, False)
    m = re.search(r"`(.*) \| rasd classify` goes on", err.getvalue())
    assert m, err.getvalue()
    r = subprocess.run(["bash", "-c", m.group(1)], capture_output=True, text=True,
                       timeout=30, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "".join(lines[7:])


def test_classify_jobs_reads_its_input_only_a_little_ahead():
    """`classify --jobs N` hands the pool at most ``ahead`` batches it has not
    taken back, in order: Pool.imap read the whole input at once (its feeder
    thread), so a big file or an endless pipe was held in memory. A real pool
    (threads) and a counting input: never more than ``ahead`` read and not yet
    answered; the same results as map, in order."""
    import time
    from multiprocessing.pool import ThreadPool

    from rasd.cli.text import imap_bounded

    read = 0

    def items():
        nonlocal read
        for i in range(200):
            read += 1
            yield i

    def slow_square(x):
        time.sleep(0.001)
        return x * x

    got = []
    with ThreadPool(2) as pool:
        for r in imap_bounded(pool, slow_square, items(), 4):
            assert read - len(got) <= 4
            got.append(r)
            time.sleep(0.002)  # a slow consumer: an eager reader would run far ahead
    assert got == [i * i for i in range(200)]


def test_imap_bounded_gives_every_result_read_before_an_input_error():
    """An error reading the input (a damaged file) came out of ``imap_bounded``
    with up to ``ahead`` items handed to the pool and their results dropped:
    now every item read before it is answered, in order, then the error."""
    from multiprocessing.pool import ThreadPool

    from rasd.cli.text import imap_bounded

    def items():
        yield from range(10)
        raise ValueError("damaged")

    got = []
    with ThreadPool(2) as pool, pytest.raises(ValueError, match="damaged"):
        for i, r in enumerate(imap_bounded(pool, lambda x: x * x, items(), 4)):
            assert r == i * i  # in order
            got.append(r)
    assert got == [i * i for i in range(10)]


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("damage", ["cut short", "bomb"])
def test_classify_writes_every_post_read_before_a_gz_turns_out_bad(tiny_model, tmp_path,
                                                                   monkeypatch, low_budget,
                                                                   damage, jobs):
    """A .gz that turns out bad midway (cut short, or a decompression bomb
    past its posts) stopped `rasd classify` with exit 2 and the posts of the
    batch being read (with --jobs, the batches handed to the workers too)
    never written: half the work shown. Every post read before the damage is
    now classified and written, in order, then the error, which says so.
    (Batches of 16 here, so that earlier batches are written either way.)"""
    import gzip
    import random
    import zlib

    from rasd.cli import text as cli_text

    monkeypatch.setattr(cli_text, "BATCH", 16)
    rnd = random.Random(7)  # words that do not compress away
    lines = [f"post {i} " + "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz ")
                                    for _ in range(rnd.randint(20, 120))) + "\n"
             for i in range(1, 401)]
    path = tmp_path / "my posts.txt.gz"
    if damage == "cut short":
        gz = gzip.compress("".join(lines).encode(), 9)
        path.write_bytes(gz[: len(gz) // 2])
        # the complete lines in what decompresses of it (the rest of the last one
        # is no post)
        n = zlib.decompressobj(31).decompress(path.read_bytes()).count(b"\n")
        assert 50 < n < 400
        said = f"{path}: cannot be read: "
    else:  # the posts, then blank lines (passed over) past the budget
        n = 199
        path.write_bytes(gzip.compress("".join(lines[:n]).encode()
                                       + (b" " * 999 + b"\n") * (8 * 2**10), 9))
        said = f"{path}: refused as a decompression bomb: "
    r = runner.invoke(app, ["classify", str(path), "--model", str(tiny_model), "--tiers",
                            "char", "--no-explain", "--jobs", jobs])
    assert r.exit_code == 2, r.output
    assert said in r.stderr, r.stderr
    assert (f"; the {n} posts read before it (input lines 1-{n}) are classified and their "
            "results written") in r.stderr, r.stderr
    out = [json.loads(x) for x in r.stdout.splitlines()]
    assert [o["id"] for o in out] == list(range(1, n + 1))  # plain text: id = line number


@pytest.mark.parametrize("name,end", [("cr.jsonl", "\r"), ("mixed.jsonl", None),
                                      ("my cr.jsonl.gz", "\r"), ("crlf.jsonl", "\r\n")])
def test_classify_interrupted_go_on_command_loses_no_post_after_lone_crs(
        tiny_model, tmp_path, monkeypatch, name, end):
    """classify ends a line at a lone CR (classic Mac OS, some spreadsheet
    exports), `tail -n` only at LF: on such a file the `tail -n +K` printed
    after a Ctrl-C went on from a line past the next post (or, on a file of
    CRs alone, printed nothing at all), and the posts between got no verdict.
    Interrupted after its first batch, then the command printed run in a shell
    and its output classified: every post gets its verdict, once."""
    import gzip
    import re
    import subprocess

    import rasd.cli.text as text_cli

    n = 600
    lines = [json.dumps({"id": f"p{i}", "text": f"{TRAIN[i % 12][0]} {i}"}) for i in range(n)]
    ends = [end or ("\r", "\r\n", "\n", "\r")[i % 4] for i in range(n)]
    data = "".join(x + e for x, e in zip(lines, ends, strict=True)).encode()
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    real = text_cli._classify_batch
    calls = []

    def second_batch_interrupted(*a, **kw):  # Ctrl-C as the second batch is classified
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(text_cli, "_classify_batch", second_batch_interrupted)
    args = ["--model", str(tiny_model), "--tiers", "char", "--no-explain"]
    r = runner.invoke(app, ["classify", str(path), *args])
    assert r.exit_code == 130, r.output
    first = [json.loads(x)["id"] for x in r.stdout.splitlines()]
    assert first == [f"p{i}" for i in range(256)]
    m = re.search(r"`(.*) \| rasd classify` goes on", r.stderr)
    assert m, r.stderr
    rest = subprocess.run(["bash", "-c", m.group(1)], capture_output=True, timeout=30,
                          check=False, cwd=tmp_path)
    assert rest.returncode == 0, rest.stderr
    monkeypatch.setattr(text_cli, "_classify_batch", real)
    r = runner.invoke(app, ["classify", "-", *args], input=rest.stdout)
    assert r.exit_code == 0, r.output
    assert first + [json.loads(x)["id"] for x in r.stdout.splitlines()] == [
        f"p{i}" for i in range(n)]


def test_classify_interrupted_while_its_model_loads_says_so(tiny_model, tmp_path,
                                                           monkeypatch):
    """Ctrl-C in the seconds `rasd classify` loads its model ended it with
    status 130 and not a word (typer's own handling), where an interrupt a
    moment later says what is written."""
    from rasd.detect.text.model import TextClassifier

    def load(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(TextClassifier, "load", load)
    posts = tmp_path / "posts.txt"
    posts.write_text("a post\n")
    r = runner.invoke(app, ["classify", str(posts), "--model", str(tiny_model)])
    assert r.exit_code == 130 and r.stdout == "", r.output
    assert r.stderr == ("rasd: warning: interrupted before any post was classified: "
                        "nothing is written\n")


@pytest.fixture
def low_budget(monkeypatch):
    """The ingest's decompression budget, RATIO_FREE lowered to 2 MiB (what is
    checked past it is the ratio, MAX_RATIO = 100)."""
    from rasd.ingest import base

    monkeypatch.setattr(base, "RATIO_FREE", 2 * 2**20)
    return 2 * 2**20


def test_a_gz_corpus_that_is_a_decompression_bomb_is_refused_naming_it(tiny_model, tmp_path,
                                                                       low_budget):
    """A labelled or unlabelled .gz corpus is read within the budget the ingest
    gives a compressed file: one row repeated to 8 MiB (~300x) stops past it
    with a clean error naming the file and saying to unpack it first, exit 2
    (gzip.open read it all, however much it held: 1 MB of one line repeated
    is 1 GB of rows in memory for train and eval; classify read on through
    blank lines as long as they came)."""
    import gzip

    row = json.dumps({"text": "Join the caravan, make hijrah", "label": "recruitment"})
    data = ((row + "\n") * (8 * 2**20 // (len(row) + 1))).encode()
    bomb = tmp_path / "my corpus.jsonl.gz"
    bomb.write_bytes(gzip.compress(data, 9))
    assert bomb.stat().st_size * 100 < len(data)
    csv_bomb = tmp_path / "c.csv.gz"
    csv_bomb.write_bytes(gzip.compress(b"text,label\n" + b"Join the caravan,recruitment\n"
                                       * (8 * 2**20 // 29), 9))
    from rasd.detect.text.io import InputError, read_labelled

    with pytest.raises(InputError, match="refused as a decompression bomb"):
        read_labelled(str(bomb))
    posts = tmp_path / "posts.jsonl.gz"  # three posts, then blank lines (passed over)
    posts.write_bytes(gzip.compress(data[:3 * (len(row) + 1)] + (b" " * 999 + b"\n")
                                    * (8 * 2**10), 9))
    for cmd in (["eval", str(bomb), "--model", str(tiny_model)],
                ["train", str(csv_bomb), "--out", str(tmp_path / "o"), "--no-examples"],
                ["classify", str(posts), "--model", str(tiny_model)]):
        r = runner.invoke(app, cmd)
        assert r.exit_code == 2, r.output
        name = cmd[1]
        said = re.search(re.escape(f"{name}: refused as a decompression bomb: it unpacks to "
                                   "more than ") + r"([\d,]+) bytes from ([\d,]+) compressed",
                         r.stderr)
        assert said, r.stderr
        limit, size = (int(said[k].replace(",", "")) for k in (1, 2))
        assert limit == max(low_budget, 100 * size) and size == Path(name).stat().st_size
        assert "if it is no bomb, unpack it first (gzip -dk " in r.stderr
    assert not (tmp_path / "o").exists()
    # real data within the budget reads as before
    plain = tmp_path / "ok.jsonl.gz"
    plain.write_bytes(gzip.compress(data[: 2**20 // (len(row) + 1) * (len(row) + 1)]))
    assert len(read_labelled(str(plain))) == 2**20 // (len(row) + 1)


def test_a_damaged_gz_corpus_is_a_clean_error(tiny_model, tmp_path):
    """A .gz corpus that is no gzip data, or cut short, ends with an error
    naming it (a traceback before)."""
    import gzip

    fake = tmp_path / "fake.jsonl.gz"
    fake.write_bytes(b'{"text": "x", "label": "none"}\n')
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(b'{"text": "x", "label": "none"}\n' * 5000)[:200])
    for f in (fake, cut):
        r = runner.invoke(app, ["eval", str(f), "--model", str(tiny_model)])
        assert r.exit_code == 2 and f"{f}: cannot be read: " in r.stderr, r.output


def _npz(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("damage, says", [
    (b"12", "model.json: expected a JSON object"),
    (b'"labels tiers weights threshold version"', "model.json: expected a JSON object"),
    (b"[" * 100_000, "model.json: JSON nested too deeply"),
    (b'{"labels": "\xff"}', "model.json: not UTF-8 text (byte 12)"),
    (b'{"version": ' + b"9" * 5000 + b"}", "model.json: a number too long to read"),
    ({"labels": "incitement"}, "field 'labels': expected a list of distinct label names"),
    ({"labels": ["none", "none"]}, "field 'labels': expected a list of distinct label names"),
    ({"tiers": ["../../../tmp/x"]}, "field 'tiers': unknown tier(s) ['../../../tmp/x']"),
    ({"tiers": "char"}, "field 'tiers': expected a list of distinct tier names"),
    ({"threshold": "0.3"}, "field 'threshold': expected a number from 0 to 1"),
    ({"threshold": float("nan")}, "field 'threshold': expected a number from 0 to 1"),
    ({"weights": {"char": "high"}}, "field 'weights': expected an object of tier names"),
    ({"ensembles": {"char": 3}}, "field 'ensembles.char': expected an object with threshold"),
    ({"version": 7}, "field 'version': expected a string"),
    ({"lexicons": "entities.json"}, "field 'lexicons': expected a list of lexicon file names"),
    ({"threshold": None, "drop": "threshold"}, "model.json: missing field 'threshold'"),
    (("char.npz", b"not a zip at all"), "char.npz: not a readable .npz tier"),
    (("char.npz", "npy"), "char.npz: not an .npz archive (one array)"),
    (("char.npz", "missing"), "char.npz: missing (the model lists a 'char' tier)"),
    (("char.npz", {"W": "ok"}), "char.npz: no array 'b'"),
    (("char.npz", {"W": (10, None), "b": "ok"}), "char.npz: W has 10 feature rows"),
    (("char.npz", {"W": (None, 3), "b": (3,)}), "3 label columns, but the model has"),
    (("char.npz", {"W": "nan", "b": "ok"}), "values that are not finite"),
    (("char.npz", {"W": "int", "b": "ok"}), "W and b must be float arrays"),
])
def test_a_damaged_model_directory_is_a_clear_error_not_a_traceback(tiny_model, tmp_path,
                                                                      damage, says):
    """A model directory is user input (`--model DIR`): model.json that is no
    object (``"labels" in meta`` was a substring test on a string, a TypeError
    on a number), nested too deeply, not UTF-8, with fields of the wrong type,
    and tier files that are not .npz archives, lack an array, or whose shapes do
    not fit the model: each was a traceback or a model that failed later (a
    shape error mid-classify). Now one message naming the file and the field,
    exit 2. (The tier names come from model.json and name files: only known
    tiers are read.)"""
    import shutil

    from rasd.detect.text.model import ModelError, TextClassifier

    d = tmp_path / "model"
    shutil.copytree(tiny_model, d)
    meta = json.loads((d / "model.json").read_text(encoding="utf-8"))
    if isinstance(damage, bytes):
        (d / "model.json").write_bytes(damage)
    elif isinstance(damage, dict):
        damage = dict(damage)
        drop = damage.pop("drop", None)
        meta.update(damage)
        if drop:
            del meta[drop]
        (d / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    else:
        name, what = damage
        W = np.zeros((2 ** 18, len(meta["labels"])), dtype=np.float16)
        b = np.zeros(len(meta["labels"]), dtype=np.float32)
        if what == "missing":
            (d / name).unlink()
        elif what == "npy":
            np.save(d / name, W)
            (d / (name + ".npy")).rename(d / name)
        elif isinstance(what, bytes):
            (d / name).write_bytes(what)
        else:
            arrays = {}
            for key, spec in what.items():
                base = W if key == "W" else b
                if spec == "nan":
                    base = base.copy()
                    base[0, 0] = np.nan
                elif spec == "int":
                    base = base.astype(np.int8)
                elif isinstance(spec, tuple):
                    shape = tuple(base.shape[i] if n is None else n for i, n in enumerate(spec))
                    base = np.zeros(shape, dtype=base.dtype)
                arrays[key] = base
            _npz(d / name, **arrays)
    with pytest.raises(ModelError, match=re.escape(says)):
        TextClassifier.load(d, tiers=["char"])
    r = runner.invoke(app, ["classify", "-", "--model", str(d), "--tiers", "char"], input="x\n")
    assert r.exit_code == 2 and says in r.output and "Traceback" not in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception


def test_the_model_directory_the_damage_test_copies_loads(tiny_model, tmp_path):
    """The control for the damage test: its copy of the model, untouched, and
    with tier files rewritten the way that test writes them, loads and classifies."""
    import shutil

    from rasd.detect.text.model import TextClassifier

    d = tmp_path / "model"
    shutil.copytree(tiny_model, d)
    with np.load(d / "char.npz") as z:
        _npz(d / "char.npz", W=z["W"], b=z["b"])
    pred = TextClassifier.load(d, tiers=["char"]).predict(["hello"])[0]
    assert pred.label
