"""Finance detectors through `rasd scan`, sightings and shared-indicator links
(issue 5 §1, §2, §6), on SQLite and PostgreSQL; plus the CLI and the demo step."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from rasd.detect.finance import schema as F
from rasd.detect.finance.detector import RULES_VERSION, FinanceAccountDetector, FinanceDetector
from rasd.detect.finance.links import EDGE_KIND, shared
from rasd.detect.finance.lists import import_list
from rasd.detect.scan import scan
from rasd.store import schema as S

WALLET = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
T0 = datetime(2025, 1, 1, tzinfo=UTC)

LIST = [
    {"id": "grp", "schema": "Organization", "caption": "Black Banner Front",
     "properties": {"name": ["Black Banner Front"], "alias": ["جبهة الراية السوداء"]}},
    {"id": "ldr", "schema": "Person", "caption": "Khalid al-Qaswari",
     "properties": {"name": ["Khalid Mahmoud al-Qaswari"], "alias": ["Abu Qaswara"]}},
    {"id": "w", "schema": "CryptoWallet",
     "properties": {"publicKey": [WALLET], "holder": ["grp"]}},
]


def _seed(store, tmp_path):
    p = tmp_path / "syn.json"
    p.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in LIST), encoding="utf-8")
    import_list(store, p, name="syn")
    accounts = [("a1", "abu_qaswara_1", "Khalid al-Qaswari", "Soldier. Donations: " + WALLET),
                ("a2", "relay_two", "Relay", None),
                ("a3", "news_desk", "Daily News", "Journalism"),
                ("a4", "cook", "Marco", "Risotto"),
                # a kunya alone is one name part: "Abu Qaswara" is listed, but a
                # profile of that name alone is no designation match
                ("a5", "qaswara_fan", "Abu Qaswara", None)]
    posts = [
        ("p1", "a1", f"Sponsor a mujahid of the Black Banner Front. BTC {WALLET}"),
        ("p2", "a2", f"Support the brothers at the front, send to {WALLET}"),
        ("p3", "a3", "Prosecutors said the Black Banner Front collected donations."),
        ("p4", "a4", "Stasera risotto. IBAN DE89 3704 0044 0532 0130 00 per la cena di classe"),
        ("p5", "a2", "corrupted 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"),
    ]
    with store.begin() as c:
        ids = {}
        for pid, handle, name, bio in accounts:
            ids[pid] = c.execute(insert(S.accounts).values(
                platform="x", platform_id=pid, handle=handle, name=name, bio=bio,
                stub=False, first_seen=T0, last_seen=T0,
                role="news" if pid == "a3" else None)).inserted_primary_key[0]
        pids = {}
        for i, (pid, acc, text) in enumerate(posts):
            pids[pid] = c.execute(insert(S.posts).values(
                platform="x", platform_id=pid, account_id=ids[acc], kind="post", text=text,
                created_at=T0.replace(day=1 + i), first_seen=T0,
                last_seen=T0)).inserted_primary_key[0]
    return ids, pids


def _dets(store, detector):
    with store.connect() as c:
        rows = c.execute(select(S.detections.c.subject_id, S.detections.c.label,
                                S.detections.c.score, S.detections.c.attributes,
                                S.detections.c.explanation)
                         .where(S.detections.c.detector == detector)).all()
    out: dict = {}
    for sid, label, score, attrs, expl in rows:
        out.setdefault(sid, {})[label] = (score, attrs, expl)
    return out


def test_scan_detections_links(store, tmp_path):
    ids, pids = _seed(store, tmp_path)
    res = scan(store, [FinanceDetector(), FinanceAccountDetector()])
    assert [r.scanned for r in res] == [5, 5]
    posts = _dets(store, "finance")
    # p1: appeal with the group named and a listed wallet
    score, attrs, expl = posts[pids["p1"]]["financing"]
    assert score >= 0.9
    assert [i["value"] for i in attrs["indicators"]] == [WALLET]
    assert {e["list_ref"] for e in attrs["entities"]} == {"grp"}
    assert any("payment channel" in line for line in expl)
    ents = posts[pids["p1"]]["designated_entity"][1]["matches"]
    assert any(m["features"].get("crypto_wallet_address") for m in ents)
    # p2: fighters + channel, no name → still financing, wallet ties it to the list
    assert "financing" in posts[pids["p2"]]
    # p3: news, p4: dinner IBAN — indicators/entities maybe, never financing
    assert "financing" not in posts.get(pids["p3"], {})
    assert "financing" not in posts.get(pids["p4"], {})
    assert posts[pids["p4"]]["fin_indicator"][0] == 1.0
    # p5: only an invalid checksum
    score5, attrs5, _ = posts[pids["p5"]]["fin_indicator"]
    assert score5 == pytest.approx(0.3) and attrs5["indicators"][0]["valid"] is False

    accs = _dets(store, "finance_account")
    m = accs[ids["a1"]]["designation_match"]
    assert m[1]["matches"][0]["list_ref"] == "ldr" and m[0] >= 0.7
    assert accs[ids["a1"]]["fin_indicator"][1]["field"] == "bio"
    assert ids["a4"] not in accs and ids["a3"] not in accs and ids["a5"] not in accs
    assert any("strict rule: 2 of 3 listed part(s) matched firmly: khalid, qaswari" in line
               for line in m[2]), m[2]

    # the wallet links a1 (bio and post) and a2 (post); invalid ones are not sighted
    linked = shared(store)
    assert [(r["type"], r["value"], r["accounts"]) for r in linked] == [("wallet", WALLET, 2)]
    assert {a["account_id"] for a in linked[0]["linked_accounts"]} == {ids["a1"], ids["a2"]}
    with store.connect() as c:
        edges = c.execute(select(S.edges.c.src_account_id, S.edges.c.dst_account_id,
                                 S.edges.c.post_id).where(S.edges.c.kind == EDGE_KIND)).all()
        n_sight = len(c.execute(select(F.fin_sightings.c.id)).all())
    assert edges == [(ids["a1"], ids["a2"], pids["p2"])]
    assert n_sight == 4  # p1, p2, p4 (IBAN), a1's bio

    # idempotent: a second scan changes nothing
    again = scan(store, [FinanceDetector(), FinanceAccountDetector()])
    assert [r.scanned for r in again] == [0, 0]
    res = scan(store, [FinanceDetector()], rescan=True)
    with store.connect() as c:
        assert len(c.execute(select(S.edges.c.id).where(S.edges.c.kind == EDGE_KIND)).all()) == 1
        assert len(c.execute(select(F.fin_sightings.c.id)).all()) == n_sight


def test_a_post_naming_a_person_short_ranks_below_one_naming_him_in_full(store, tmp_path):
    """A post naming a listed person by the first and last part was stored as
    ``designated_entity`` 1.0, as one naming him in full: a reviewer sorting by
    score could not put it below. It scores 0.9 of its parts' score, stored in
    the detection and its matches (the JSON `rasd show` and `rasd accounts
    show --json` print), a bio's as a post's."""
    from rasd.accounts.listing import account_detections

    p = tmp_path / "short.json"
    p.write_text(json.dumps({"id": "zq", "schema": "Person", "caption": "Zubayr Qutaybi",
                             "properties": {"name": ["Zubayr Hamdan Qutaybi"]}}),
                 encoding="utf-8")
    import_list(store, p, name="short")
    with store.begin() as c:
        acc = c.execute(insert(S.accounts).values(
            platform="x", platform_id="r1", handle="reporter", name="Reporter",
            bio="Interviewed Zubayr Qutaybi in 2019", stub=False, first_seen=T0,
            last_seen=T0)).inserted_primary_key[0]
        pids = {}
        for i, (pid, text) in enumerate((("s1", "Zubayr Qutaybi spoke at the rally"),
                                         ("s2", "Zubayr Hamdan Qutaybi spoke at the rally"))):
            pids[pid] = c.execute(insert(S.posts).values(
                platform="x", platform_id=pid, account_id=acc, kind="post", text=text,
                created_at=T0.replace(day=1 + i), first_seen=T0,
                last_seen=T0)).inserted_primary_key[0]
    scan(store, [FinanceDetector(), FinanceAccountDetector()])
    posts = _dets(store, "finance")
    short, whole = (posts[pids[p]]["designated_entity"] for p in ("s1", "s2"))
    assert whole[0] == 1.0 and short[0] == pytest.approx(0.9)
    [m] = short[1]["matches"]
    assert m["list_ref"] == "zq" and m["score"] == pytest.approx(0.9)
    assert m["features"] == {"name_in_text": 1.0, "short_form": 0.9}
    assert whole[1]["matches"][0]["features"] == {"name_in_text": 1.0}
    with store.connect() as c:  # ranked by score, the whole name first
        ranked = c.execute(select(S.detections.c.subject_id).where(
            S.detections.c.label == "designated_entity", S.detections.c.subject_type == "post")
            .order_by(S.detections.c.score.desc())).scalars().all()
    assert ranked == [pids["s2"], pids["s1"]]
    bio = next(d for d in account_detections(store, acc) if d["label"] == "designated_entity")
    assert bio["score"] == pytest.approx(0.9)
    assert bio["attributes"]["matches"][0]["features"]["short_form"] == 0.9


def test_version_follows_lists(sqlite_store, tmp_path):
    det = FinanceDetector()
    det.bind(sqlite_store)
    before = det.version
    _seed(sqlite_store, tmp_path)
    det.bind(sqlite_store)
    assert det.version != before and det.version.startswith(RULES_VERSION + "-")


def test_cli(sqlite_store, tmp_path, monkeypatch):
    from rasd.cli import app, common

    db = str(tmp_path / "rasd.db")
    monkeypatch.setattr(common.STATE, "store", None)
    runner = CliRunner()
    _ids, _ = _seed(sqlite_store, tmp_path)

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "x1", "text": f"BTC {WALLET}"}) + "\nno money here\n"
                   + f"plain line {WALLET[:-1]}b\n", encoding="utf-8")
    r = runner.invoke(app, ["--db", db, "finance", "extract", str(src)])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["id"] for x in lines] == ["x1", 3]
    assert lines[0]["indicators"][0] == {"type": "wallet", "value": WALLET, "valid": True,
                                         "span": [4, 38], "currency": "BTC",
                                         "network": "mainnet", "kind": "p2pkh"}
    r = runner.invoke(app, ["--db", db, "finance", "extract", "-", "--valid-only", "--all"],
                      input="plain line 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb\n")
    assert json.loads(r.stdout) == {"id": 1, "indicators": []}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n')
    r = runner.invoke(app, ["--db", db, "finance", "extract", str(bad)])
    assert r.exit_code == 0 and "bad.jsonl: line 1: field 'text'" in r.stderr

    # --strict screens as profiles are screened: a kunya alone is one part
    r = runner.invoke(app, ["--db", db, "screen", "أبو قسورة", "--strict", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["matches"] == [], r.output
    r = runner.invoke(app, ["--db", db, "screen", "Khalid Qaswari", "--strict"])
    assert r.exit_code == 0 and "strict rule: 2 of 3" in r.stdout, r.output
    r = runner.invoke(app, ["--db", db, "screen", "أبو قسورة", "--json"])
    assert r.exit_code == 0, r.output
    # one shape whatever the number of names: [{"query", "matches"}]
    [one] = json.loads(r.stdout)
    assert one["query"] == "أبو قسورة"
    hits = one["matches"]
    assert hits[0]["list_ref"] == "ldr" and hits[0]["list"] == "syn"
    assert {"entity_id", "list_ref", "name", "score", "list", "programme",
            "explanation"} <= set(hits[0])
    names = tmp_path / "names.txt"
    names.write_text("Khalid al-Qaswari\nJohn Smith\n", encoding="utf-8")
    r = runner.invoke(app, ["--db", db, "screen", "--file", str(names), "--json"])
    batch = json.loads(r.stdout)
    assert [len(b["matches"]) for b in batch] == [1, 0]
    # names from standard input, printed as they are screened; blank and overlong
    # lines passed over; an empty file is an error naming it
    r = runner.invoke(app, ["--db", db, "screen", "--file", "-"],
                      input="Khalid al-Qaswari\n\n" + "x" * 5000 + "\nJohn Smith")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("Khalid al-Qaswari: 1 match\n")
    assert "John Smith: 0 matches" in r.stdout and "xxxx" not in r.stdout
    assert "-: line 3: longer than 4,000 characters" in r.stderr
    # a line that is not UTF-8 is reported by number and skipped; the rest is screened
    mixed = tmp_path / "mixed.txt"
    mixed.write_bytes(b"John Smith\nKhalid \xff\xfe al-Qaswari\nKhalid al-Qaswari\n")
    r = runner.invoke(app, ["--db", db, "screen", "--file", str(mixed), "--json"])
    assert r.exit_code == 0, r.output
    assert [b["query"] for b in json.loads(r.stdout)] == ["John Smith", "Khalid al-Qaswari"]
    assert "mixed.txt: line 2: not valid UTF-8; skipped" in r.stderr
    r = runner.invoke(app, ["--db", db, "screen", "--file", "-"],
                      input=b"\xc3\nKhalid al-Qaswari\n")
    assert r.exit_code == 0 and "-: line 1: not valid UTF-8" in r.stderr
    assert "Khalid al-Qaswari: 1 match" in r.stdout
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    r = runner.invoke(app, ["--db", db, "screen", "--file", str(empty)])
    assert r.exit_code == 2 and "empty.txt: no names to screen" in r.output

    r = runner.invoke(app, ["--db", db, "lists", "status", "--json"])
    assert json.loads(r.stdout)[0]["list"] == "syn"
    r = runner.invoke(app, ["--db", db, "lists", "import", str(tmp_path / "nope.xml")])
    assert r.exit_code == 2 and "no such file" in r.stderr
    for cmd in (["lists", "import"], ["finance", "extract"]):  # (a directory was "no such file")
        r = runner.invoke(app, ["--db", db, *cmd, str(tmp_path)])
        assert r.exit_code == 2 and f"{tmp_path}: a directory, not a" in r.stderr, r.output
    r = runner.invoke(app, ["--db", db, "lists", "import", "/dev/null"])  # (was "no such file")
    assert r.exit_code == 2 and "/dev/null: not a regular file" in r.stderr, r.output

    r = runner.invoke(app, ["--db", db, "scan", "-d", "finance", "-d", "finance_account"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["--db", db, "finance", "links", "--json"])
    rows = json.loads(r.stdout)
    assert rows[0]["value"] == WALLET and rows[0]["accounts"] == 2
    r = runner.invoke(app, ["--db", db, "finance", "links"])
    assert "2 accounts" in r.stdout
    # one sighting is "1 sighting" (it printed "1 sightings"), two are "2 sightings"
    assert "x:a2 (@relay_two): 1 sighting\n" in r.stdout, r.stdout
    assert "x:a1 (@abu_qaswara_1): 2 sightings\n" in r.stdout, r.stdout
    assert "1 sightings" not in r.stdout
    for cmd in (["finance", "extract"], ["finance", "links"], ["lists", "import"],
                ["lists", "status"], ["screen"]):
        h = runner.invoke(app, [*cmd, "--help"])
        assert h.exit_code == 0 and "Examples" in h.stdout


def test_demo_step(tmp_path):
    from rasd.demo import DemoContext, demo_data_dir
    from rasd.detect.finance.demo import step
    from rasd.ingest.demo import step as ingest_step
    from rasd.store import Store

    store = Store.open(str(tmp_path / "demo.db"))
    logs: list[str] = []
    ctx = DemoContext(store=store, workdir=tmp_path, data_dir=demo_data_dir(), log=logs.append)
    ingest_step(ctx)
    out = step(ctx)
    store.close()
    assert out["financing_posts"] >= 2
    assert out["designation_matches"] >= 1
    assert out["shared_indicators"] >= 1 and out["shared_indicator_edges"] >= 1
    assert any("SYNTHETIC" in line for line in logs)
    # posts and accounts as `rasd show` / `rasd accounts show` take them back (the
    # store's row id was printed: "financing post 6", and accounts by handle only)
    text = "\n".join(logs)
    assert "  financing post x:1800000000000000006 (score " in text
    assert "  account x:9000000013 (@relief_for_orphans) ~ " in text


def test_indicators_in_the_links_a_post_carries(store):
    """X shows t.co in the text and the real address in its entities; Telegram puts
    donation pages in buttons: both reach the finance detector."""
    posts = [("q1", "Support the brothers at the front, donate now https://t.co/abc",
              ["https://paypal.me/brothersfund"]),
             ("q2", "", ["https://www.gofundme.com/f/help-the-front"]),
             ("q3", "Give here https://paypal.me/same", ["https://paypal.me/same"]),
             ("q4", "Lovely weather https://t.co/xyz", ["https://example.org/weather"])]
    with store.begin() as c:
        acc = c.execute(insert(S.accounts).values(
            platform="x", platform_id="z1", handle="z1", stub=False, first_seen=T0,
            last_seen=T0)).inserted_primary_key[0]
        ids = {}
        for pid, text, urls in posts:
            ids[pid] = c.execute(insert(S.posts).values(
                platform="x", platform_id=pid, account_id=acc, kind="post", text=text,
                created_at=T0, first_seen=T0, last_seen=T0)).inserted_primary_key[0]
            for u in urls:
                c.execute(insert(S.urls).values(post_id=ids[pid], url=u))
    scan(store, [FinanceDetector()])
    d = _dets(store, "finance")
    inds = {pid: d.get(ids[pid], {}).get("fin_indicator") for pid in ids}
    one = inds["q1"][1]["indicators"]
    assert [(i["kind"], i["value"], i["detail"]) for i in one] == [
        ("paypal", "https://paypal.me/brothersfund",
         {"found_in": "link", "url": "https://paypal.me/brothersfund"})]
    assert "financing" in d[ids["q1"]]  # appeal words in the text + a payment link
    assert inds["q2"] is not None and inds["q2"][1]["indicators"][0]["kind"] == "gofundme"
    three = inds["q3"][1]["indicators"]
    assert len(three) == 1 and "found_in" not in three[0].get("detail", {})
    assert inds["q4"] is None


def test_show_says_which_entity_and_wallet_a_detection_is_about(sqlite_store, tmp_path,
                                                               monkeypatch):
    """`rasd show POST` printed only finance/designated_entity 1.00 — which entity,
    which wallet, only --json said. The text view now names them, escaped."""
    from rasd.cli import app, common

    monkeypatch.setattr(common.STATE, "store", None)
    _ids, pids = _seed(sqlite_store, tmp_path)
    scan(sqlite_store, [FinanceDetector()])
    with sqlite_store.begin() as c:  # a hostile caption, as a list file could carry one
        c.execute(insert(S.detections).values(
            subject_type="post", subject_id=pids["p3"], detector="finance",
            label="designated_entity", score=0.9, model_version="x", explanation=[],
            attributes={"matches": [{"name": "Evil\x1b[2J Front\nFAKE", "list": "syn",
                                     "list_ref": "e1"}]}, created_at=T0))
    runner = CliRunner()
    db = str(tmp_path / "rasd.db")
    out = runner.invoke(app, ["--db", db, "show", str(pids["p1"])])
    assert out.exit_code == 0, out.output
    assert "about: entity Black Banner Front (syn grp)" in out.output
    assert f"wallet BTC {WALLET}" in out.output
    out = runner.invoke(app, ["--db", db, "show", str(pids["p3"])])
    assert "about: entity Evil" in out.output and "\x1b" not in out.output
    assert "\nFAKE" not in out.output


def test_a_long_post_is_screened_whole_and_a_comma_reorders_nothing(store, tmp_path):
    """A post was screened for names in its first 400 characters only (a
    listed name's limit), and a post with one comma was read as a listed
    "LAST, First" name, its words moved round the comma: the detector stored
    no ``designated_entity`` for a listed name 500 characters into a post, and
    one for "Qaswari was there, and so was Khalid" (read "… Khalid Qaswari
    …"). Both are stored as the post says now, in either store."""
    import_list(store, _list_file(tmp_path), name="syn")
    texts = {"long": "Weather for the week: rain in the north, sun in the south. " * 9
             + "Later Khalid al-Qaswari spoke at the rally.",
             "comma": "Qaswari was there, and so was Khalid",
             "short": "Khalid al-Qaswari spoke at the rally."}
    assert len(texts["long"]) > 500
    with store.begin() as c:
        acc = c.execute(insert(S.accounts).values(
            platform="x", platform_id="lp", handle="longposts", name="Long Posts",
            stub=False, first_seen=T0, last_seen=T0)).inserted_primary_key[0]
        pids = {k: c.execute(insert(S.posts).values(
            platform="x", platform_id=k, account_id=acc, kind="post", text=t,
            created_at=T0.replace(day=1 + i), first_seen=T0,
            last_seen=T0)).inserted_primary_key[0] for i, (k, t) in enumerate(texts.items())}
    scan(store, [FinanceDetector()])
    posts = _dets(store, "finance")
    for k in ("long", "short"):
        [m] = posts[pids[k]]["designated_entity"][1]["matches"]
        assert m["list_ref"] == "ldr", k
    assert "designated_entity" not in posts.get(pids["comma"], {})


def _list_file(tmp_path):
    p = tmp_path / "syn.json"
    p.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in LIST), encoding="utf-8")
    return p


def test_a_list_or_region_the_user_misspelt_is_an_error(sqlite_store, tmp_path, monkeypatch):
    """`rasd screen --list nope` said "no designation list imported" (status 1)
    though lists were, and `--list syn --list nope` screened syn alone without a
    word; `rasd finance extract --region TUR` (or '', ZZ) read no national number
    without a word (libphonenumber refuses the region, extract passed over it)."""
    from rasd.cli import app, common

    db = str(tmp_path / "rasd.db")
    monkeypatch.setattr(common.STATE, "store", None)
    runner = CliRunner()
    _seed(sqlite_store, tmp_path)
    for lists in (["--list", "nope"], ["--list", "syn", "--list", "nope"]):
        r = runner.invoke(app, ["--db", db, "screen", "Khalid al-Qaswari", *lists])
        assert r.exit_code == 2, r.output
        assert "--list 'nope': no list of that name; imported: syn" in r.stderr, r.output
    r = runner.invoke(app, ["--db", db, "screen", "Khalid al-Qaswari", "--list", "syn"])
    assert r.exit_code == 0 and "1 match" in r.stdout, r.output
    line = "send money to 0532 123 45 67 via whatsapp\n"
    for bad in ("TUR", "", "ZZ"):
        r = runner.invoke(app, ["--db", db, "finance", "extract", "--region", bad], input=line)
        assert r.exit_code == 2, r.output
        assert f"--region {bad!r}: not a region code" in r.stderr, r.output
    r = runner.invoke(app, ["--db", db, "finance", "extract", "--region", "tr"], input=line)
    assert r.exit_code == 0 and '"+905321234567"' in r.stdout, r.output


def test_links_min_accounts_past_the_store_integers_is_refused(tmp_path, monkeypatch):
    """`finance links --min-accounts 99999999999999999999` was SQLite's
    OverflowError traceback."""
    from rasd.cli import app, common

    monkeypatch.setattr(common.STATE, "store", None)
    r = CliRunner().invoke(app, ["--db", str(tmp_path / "r.db"), "finance", "links",
                                 "--min-accounts", str(2**64)])
    assert r.exit_code == 2 and "Invalid value for '--min-accounts'" in r.output, r.output
