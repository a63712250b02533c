"""Screening across scripts (issue 5 §4) on a small synthetic list written here in
OpenSanctions' FollowTheMoney format; every name is invented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rasd.detect.finance.lists import import_list
from rasd.detect.finance.names import handle_to_name, normalize, skeleton
from rasd.detect.finance.screen import DEFAULT_THRESHOLD, SHORT_FORM_FACTOR, Screener

ENTITIES = [
    ("p1", "Person", ["Khalid Mahmoud al-Qaswari"], ["خالد محمود القسوري", "Абу Касвара",
                                                      "Abu Qaswara"]),
    ("p2", "Person", ["Samira Yusuf Haddad"], ["سميرة يوسف حداد"]),
    ("p3", "Person", ["Abd al-Rahman Nuri Zubaydi"], ["عبد الرحمن نوري الزبيدي"]),
    ("p4", "Person", ["Ivan Sergeyevich Morozko"], ["Иван Сергеевич Морозько"]),
    ("p5", "Person", ["Viktor Petrovich Ivanov"], ["Виктор Петрович Иванов"]),
    ("p6", "Person", ["Sergei Mironov"], ["Сергей Миронов"]),
    ("o1", "Organization", ["Black Banner Front"], ["جبهة الراية السوداء",
                                                    "Фронт Чёрного Знамени",
                                                    "Front de la Bannière Noire"]),
    ("o2", "Organization", ["Ummah Orphans Relief"], ["إغاثة أيتام الأمة"]),
]
# filler entities so that common name parts are common here too
FILLER = [f"Muhammad Ali Hassan {x}" for x in ("Qadri", "Farouqi", "Shams", "Bakri", "Nasser",
                                               "Jabiri", "Omari", "Rashidi", "Tamimi", "Zahiri")]


@pytest.fixture(scope="module")
def screener(tmp_path_factory):
    from rasd.store import Store

    d = tmp_path_factory.mktemp("scr")
    lines = []
    for eid, schema, names, aliases in ENTITIES:
        lines.append({"id": eid, "schema": schema, "caption": names[0],
                      "properties": {"name": names, "alias": aliases}})
    for i, n in enumerate(FILLER):
        lines.append({"id": f"f{i}", "schema": "Person", "caption": n,
                      "properties": {"name": [n]}})
    lines.append({"id": "w1", "schema": "CryptoWallet",
                  "properties": {"publicKey": ["bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"],
                                 "holder": ["o1"]}})
    p = d / "syn.json"
    p.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), encoding="utf-8")
    store = Store.open(str(d / "rasd.db"))
    import_list(store, p, name="syn")
    scr = Screener.load(store)
    yield scr
    store.close()


def top(scr, q, **kw):
    ms = scr.screen(q, **kw)
    return (ms[0].list_ref, round(ms[0].score, 2)) if ms else None


@pytest.mark.parametrize("query,ref", [
    ("Khalid al-Qaswari", "p1"),
    ("خالد القسوري", "p1"),                  # Arabic → Latin listed name
    ("Халид аль-Касвари", "p1"),             # Cyrillic
    ("Sheikh Khalid Mahmud al Qaswari", "p1"),  # honorific + spelling variant
    ("Abou Qaswara", "p1"),                  # kunya spelling
    ("أبو قسورة", "p1"),
    ("Abdul Rahman Zubaidi", "p3"),          # Abd al-/Abdul joined
    ("Abdurrahman al-Zubaydi", "p3"),
    ("عبد الرحمن الزبيدي", "p3"),
    ("Ivan Morozko", "p4"),
    ("Иван Морозко", "p4"),
    ("Samira Haddad", "p2"),
    ("سميرة حداد", "p2"),
    ("black banner front", "o1"),
    ("Фронт Черного Знамени", "o1"),          # е for ё
    ("جبهة الراية السوداء", "o1"),
])
def test_cross_script_matches(screener, query, ref):
    got = top(screener, query)
    assert got is not None and got[0] == ref, (query, screener.screen(query, threshold=0.3)[:2])
    assert got[1] >= DEFAULT_THRESHOLD


@pytest.mark.parametrize("query", ["John Smith", "Maria Garcia", "Mehmet Yılmaz",
                                   "Олег Смирнов", "Jean Dupont", "Giulia Rossi",
                                   "Hans Müller", "Front National", "Orphans Aid Society"])
def test_unrelated_names_do_not_match(screener, query):
    assert screener.screen(query) == [], screener.screen(query)[:1]


@pytest.mark.parametrize("query,ref", [
    ("Виктор Иванов", "p5"), ("Victor Ivanov", "p5"), ("Сергей Миронов", "p6"),
    ("Sergey Mironov", "p6"),
])
def test_slavic_names_match_their_spelling_variants(screener, query, ref):
    got = top(screener, query)
    assert got is not None and got[0] == ref and got[1] >= DEFAULT_THRESHOLD, got


@pytest.mark.parametrize("query", [
    "Иван Петров",     # Ivan ≠ Ivanov, Petrov ≠ the patronymic Petrovich
    "Petr Ivanovich",  # a patronymic is not a surname
    "Сергей Смирнов",  # Smirnov ≠ Mironov: similar letters, a different name
    "Sergei Popov",
])
def test_similar_but_different_names_do_not_match(screener, query):
    assert screener.screen(query) == [], screener.screen(query)[:1]


def test_common_parts_are_weighted_down(screener):
    # every filler shares "Muhammad Ali Hassan": a query of just those is weak …
    ms = screener.screen("Muhammad Ali")
    assert all(m.score < 0.75 for m in ms)
    # … while the distinctive part decides
    assert top(screener, "Muhammad Ali Hassan Tamimi")[0] == "f8"
    weak = screener.screen("Muhammad Ali", threshold=0.0)
    assert any("weighted down" in line for m in weak for line in m.explanation)


def test_explanation_and_shape(screener):
    m = screener.screen("Самира Хаддад")[0].to_dict()
    assert m["list_ref"] == "p2"
    assert {"entity_id", "list_ref", "name", "score", "list", "programme",
            "explanation"} <= set(m)
    text = " ".join(m["explanation"])
    assert "cross-script" in text and "parts matched" in text


def test_wallet_exact(screener):
    ms = screener.screen("BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ")
    assert [(x.list_ref, x.score) for x in ms] == [("o1", 1.0)]
    assert ms[0].features == {"crypto_wallet_address": 1.0}
    assert screener.screen("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdr") == []


def test_threshold_and_limit(screener):
    assert len(screener.screen("Haddad", threshold=0.0, limit=3)) <= 3
    low = screener.screen("Samira Hadad", threshold=0.0)
    assert low[0].list_ref == "p2"
    assert screener.screen("Samira Hadad", threshold=0.999) == []


def test_handles_and_names_in_text(screener):
    assert handle_to_name("@abu_qaswara_99") == "abu qaswara"
    assert handle_to_name("KhalidQaswari") == "Khalid Qaswari"
    assert top(screener, handle_to_name("KhalidQaswari"))[0] == "p1"
    found = screener.find_in_text("Support the brothers of the Black Banner Front today!")
    assert [m.list_ref for m in found] == ["o1"]
    found = screener.find_in_text("تبرعوا لجبهة الراية السوداء")
    assert found == [] or found[0].list_ref == "o1"
    assert screener.find_in_text("A black banner hung at the front of the house.") == []
    # in cased writing a name is capitalised; all-lowercase posts are not held to it
    assert screener.find_in_text("Their black banner front page was redesigned.") == []
    assert [m.list_ref for m in screener.find_in_text("support black banner front")] == ["o1"]


def test_normalisation_details():
    assert normalize("Abu Bakr al-Baghdadi").key == normalize("Abubakr Baghdadi").key
    assert normalize("Abd al-Rahman").key == normalize("Abdul Rahman").key
    assert skeleton("zawahiri") == skeleton("zavahiri") == "zhr"
    n = normalize("Sheikh Dr. Yusuf bin Ahmad")
    assert [t.latin for t in n.tokens] == ["yusuf", "ahmad"]
    assert {"sheikh", "dr", "bin"} <= set(n.set_aside)
    assert normalize("x" * 10_000).tokens  # bounded, does not fail


def test_normalize_and_screen_arbitrary_text(screener):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=100, deadline=None)
    @given(st.text(max_size=120))
    def run(q):
        for m in screener.screen(q, threshold=0.0, limit=3):
            assert 0.0 <= m.score <= 1.0
        screener.find_in_text(q)

    run()


@pytest.mark.parametrize("arabic,latin,same", [
    ("محمد", "Muhammad", True), ("محمد", "Mohammed", True), ("محمود", "Mahmoud", True),
    ("محمود", "Mahmud", True), ("محمود", "Muhammad", False), ("أحمد", "Ahmed", True),
    ("أحمد", "Hamid", False), ("حامد", "Ahmad", False), ("حسن", "Hassan", True),
    ("حسن", "Hussein", False), ("حسين", "Hussein", True), ("حسني", "Housni", True),
    ("سالم", "Salim", True), ("كمال", "Kamel", True), ("إبراهيم", "Ibrahim", True),
])
def test_names_of_one_arabic_root_are_told_apart(arabic, latin, same):
    """Arabic writes long vowels: محمود has a waw that Muhammad's romanisation
    cannot carry, أحمد a leading alif that Hamid lacks — one consonant
    skeleton (m-h-m-d, h-m-d), different names."""
    from rasd.detect.finance.screen import PAIR_MIN, tok_sim

    a, b = normalize(arabic).tokens[0], normalize(latin).tokens[0]
    s, how = tok_sim(a, b, True, (True, False))
    assert (s >= PAIR_MIN) is same, (arabic, latin, s, how)


def _one_list(tmp_path, entities, wallets=()):
    """A store holding one FtM list of ``entities`` [(id, schema, name, aliases)]
    and ``wallets`` [(address, holder id)]; its Screener."""
    from rasd.store import Store

    lines = [{"id": eid, "schema": sch, "caption": name,
              "properties": {"name": [name], "alias": aliases}}
             for eid, sch, name, aliases in entities]
    lines += [{"id": f"w{i}", "schema": "CryptoWallet",
               "properties": {"publicKey": [addr], "holder": [holder]}}
              for i, (addr, holder) in enumerate(wallets)]
    p = tmp_path / "one.json"
    p.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), encoding="utf-8")
    store = Store.open(str(tmp_path / "rasd.db"))
    import_list(store, p, name="one")
    return store, Screener.load(store)


def test_a_list_of_one_entity_matches_its_names(tmp_path):
    """In a one-entity list every part is in every listed entity: unsmoothed
    rarity weighed each part at nothing, and even the exact name scored 0.04."""
    store, scr = _one_list(tmp_path, [("o1", "Organization", "Black Banner Front",
                                       ["جبهة الراية السوداء"])])
    try:
        assert top(scr, "Black Banner Front") == ("o1", 1.0)
        assert top(scr, "Black Banner Frontt")[1] >= 0.9
        assert top(scr, "Black Banner")[1] >= DEFAULT_THRESHOLD
        assert scr.screen("John Smith") == []
        assert [m.list_ref for m in scr.find_in_text("Donate to the Black Banner Front")] == ["o1"]
    finally:
        store.close()


def test_the_listed_name_itself_scores_one(screener, tmp_path):
    """A one-part name could not reach more than 0.82 (damped as little
    information), so a strict threshold missed designated groups queried by
    their own name; the listed name itself, part for part, is a 1.0 match."""
    store, scr = _one_list(tmp_path, [
        ("o1", "Organization", "Qasrawiyya", ["Al-Qasrawiyya Brigade"]),
        ("p1", "Person", "Yusuf Haddad", []), ("p2", "Person", "Yusuf Haddad Tamimi", [])]
        + [(f"f{i}", "Person", f"Yusuf Haddad {x}", []) for i, x in enumerate(FILLER)])
    try:
        assert top(scr, "Qasrawiyya", threshold=0.85) == ("o1", 1.0)
        assert top(scr, "al-Qasrawiyya brigade") == ("o1", 1.0)  # an alias, article set aside
        assert top(scr, "Qasrawiya")[1] < 1.0  # a different spelling is not the name
        assert top(scr, "Yusuf Haddad") == ("p1", 1.0)  # common parts, still the listed name
        # an initial the listed name lacks: not the name itself
        assert all(m.score < 1.0 for m in scr.screen("Yusuf A. Haddad", threshold=0.0))
        m = scr.screen("Qasrawiyya")[0]
        assert any(line.startswith("exact:") for line in m.explanation)
    finally:
        store.close()
    # across alphabets with vowels the listed name is still itself …
    assert top(screener, "Виктор Петрович Иванов")[1] == 1.0
    # … but not from Arabic, whose romanisation cannot say which vowels were long
    assert top(screener, "سميرة يوسف حداد")[1] == 1.0  # the listed Arabic name
    assert top(screener, "Samira Yusuf Haddad") == ("p2", 1.0)


@pytest.mark.parametrize("query", [
    "Ayman\u3164al-Zawahiri",       # Hangul filler as the space
    "Ayman\u2800al-Zawahiri",       # braille blank
    "\x1b[31mAyman al-Zawahiri\x1b[0m",  # terminal colour codes
    "Ay\u200bman al-Zawa\u200dhiri",  # zero-width characters inside words
    "Ayman\tal-Zawahiri\n",
])
def test_invisible_and_escape_characters_do_not_hide_a_name(tmp_path, query):
    store, scr = _one_list(tmp_path, [("p1", "Person", "Ayman al-Zawahiri", [])])
    try:
        assert top(scr, query) == ("p1", 1.0), normalize(query)
    finally:
        store.close()


@pytest.mark.parametrize("query", [
    "12QtD5BFwRsd\u200bNsAZY76UVE1xyCGNTojH9h",
    "\u200e12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h\u2060",
    "bitcoin:12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h",
    "BITCOIN:12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h?amount=0.5&label=relief",
    "bitcoincash:qpf2cphc5dkuclkqur7lhj2yuqq9pk3hmukle77vhq",
    "qpf2cphc5dkuclkqur7lhj2yuqq9pk3hmukle77vhq",
    "ethereum:0x098B716B8Aaf21512996dC57EB0615e2383E2f96",
    "ethereum:pay-0x098b716b8aaf21512996dc57eb0615e2383e2f96@1?value=1e18",
])
def test_listed_wallets_match_in_payment_uris_and_with_invisible_characters(tmp_path, query):
    store, scr = _one_list(
        tmp_path, [("o1", "Organization", "Black Banner Front", [])],
        [("12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h", "o1"),
         ("bitcoincash:qpf2cphc5dkuclkqur7lhj2yuqq9pk3hmukle77vhq", "o1"),
         ("0x098B716B8Aaf21512996dC57EB0615e2383E2f96", "o1")])
    try:
        ms = scr.screen(query)
        assert [(m.list_ref, m.score) for m in ms] == [("o1", 1.0)], query
        assert "crypto_wallet_address" in ms[0].features
        assert scr.screen("bitcoin:12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9i") == []
    finally:
        store.close()


def test_an_arabic_long_a_needs_a_vowel_in_the_romanisation():
    """حماس writes an alif between m and s: Hamas, not Hamms or Khamis."""
    from rasd.detect.finance.screen import PAIR_MIN, tok_sim

    ar = normalize("حماس").tokens[0]
    for latin, same in (("Hamas", True), ("Hamms", False), ("Khamis", False)):
        s, how = tok_sim(ar, normalize(latin).tokens[0], True, (True, False))
        assert (s >= PAIR_MIN) is same, (latin, s, how)


@pytest.fixture(scope="module")
def real_lists(shared_data, tmp_path_factory):
    from rasd.store import Store

    d = shared_data / "sanctions"
    if not d.is_dir():
        pytest.skip("no sanctions folder in shared data")
    store = Store.open(str(tmp_path_factory.mktemp("real") / "rasd.db"))
    import_list(store, d / "un_sc_consolidated_2018-10-29.xml")
    import_list(store, d / "ofac_sdn_2024-05-03.csv")
    yield Screener.load(store)
    store.close()


@pytest.mark.shared_data
def test_designated_groups_by_their_own_name_pass_a_strict_threshold(real_lists):
    for q in ("Al-Shabaab", "Hamas", "TALIBAN"):
        ms = real_lists.screen(q, threshold=0.85)
        assert ms and ms[0].score == 1.0 and ms[0].name.replace("-", " ").lower() in (
            "al shabaab", "hamas", "taliban"), (q, ms[:1])
    assert real_lists.screen("حماس")[0].name == "HAMAS"
    for q in ("Ayman\u3164al-Zawahiri", "\x1b[31mAyman al-Zawahiri"):
        assert real_lists.screen(q)[0].list_ref in ("QDi.006", "2676"), q
    assert real_lists.screen(
        "bitcoin:12QtD5BFwRsd\u200bNsAZY76UVE1xyCGNTojH9h?amount=1")[0].list_ref == "25308"


# ------------------------------------------------- strict rule: profiles and text
@pytest.mark.parametrize("query,ref", [
    ("Khalid al-Qaswari", "p1"), ("خالد القسوري", "p1"), ("Халид аль-Касвари", "p1"),
    ("Samira Hadad", "p2"), ("سميرة حداد", "p2"), ("Иван Морозко", "p4"),
    ("Abdurrahman al-Zubaydi", "p3"), ("Фронт Черного Знамени", "o1"),
    ("Muhammad Ali Hassan Tamimi", "f8"),
])
def test_strict_rule_keeps_multi_part_and_cross_script_matches(screener, query, ref):
    got = screener.screen(query, strict=True)
    assert got and got[0].list_ref == ref, (query, screener.screen(query)[:1])
    assert any(line.startswith("strict rule:") for line in got[0].explanation)


@pytest.mark.parametrize("query", [
    "Khalid",              # one part of a listed name
    "Abu Qaswara",         # a kunya alone: one part, shared by many
    "Qaswari",
    "Black Banner",        # an organisation needs all its parts
    "Muhammad Ali",        # two parts, both common
    "Samira Hadadd Jones",  # … "Samira" and a part that is not firm
])
def test_strict_rule_drops_one_part_and_common_matches(screener, query):
    assert screener.screen(query, strict=True) == [], screener.screen(query, strict=True)[:1]


def test_strict_screen_is_the_display_name_rule_not_the_text_rule(screener):
    """`rasd screen --strict` (its --help and docs/finance.md said: as posts are
    screened) applies the display-name rule; a name in a post must hold every part
    of the listed name as well — or, for a person of three parts or more, the first
    and the last — so the second and third of three parts match a profile, not a
    post."""
    assert screener.screen("Mahmoud al-Qaswari", strict=True)[0].list_ref == "p1"
    assert screener.find_in_text("Yesterday Mahmoud al-Qaswari spoke in the town.") == []
    assert [m.list_ref for m in screener.find_in_text(
        "Yesterday Khalid Mahmoud al-Qaswari spoke in the town.")] == ["p1"]


def test_screen_strict_help_and_docs_say_which_rule(tmp_path):
    from typer.testing import CliRunner

    from rasd.cli import _load_commands, app

    _load_commands()
    out = " ".join(CliRunner().invoke(app, ["screen", "--help"], terminal_width=200
                                      ).output.split())
    assert "screens display names: two firm" in out
    assert "screens display names and posts" not in out
    docs = (Path(__file__).resolve().parents[1] / "docs" / "finance.md").read_text()
    assert "the rule profiles and posts are screened with" not in docs


def test_strict_rule_short_parts_must_be_identical(tmp_path):
    """Joel is not Joe, Tim not Tem: one letter apart in a short part is another
    name; a one-part person name never matches a profile."""
    store, scr = _one_list(tmp_path, [("p1", "Person", "Joe Tem Varszawa", []),
                                      ("p2", "Person", "Joe", [])])
    try:
        assert scr.screen("Joel Tim Varszawa")  # the lenient screen: a lead
        assert scr.screen("Joel Tim Varszawa", strict=True) == []
        assert scr.screen("Joe Varszawa", strict=True)[0].list_ref == "p1"
        assert scr.screen("Joe", strict=True) == []
    finally:
        store.close()


def test_handles_are_split_carefully():
    assert handle_to_name("Hamza2906014") == "Hamza"
    assert handle_to_name("84isis__83") == "isis"
    assert handle_to_name("WilayatBarqah1") == "Wilayat Barqah"
    # a digit between letters (leetspeak, Arabizi) is no place to split a name
    assert handle_to_name("g0r1llaGriP") == ""
    assert handle_to_name("Du3aa_Ebrahim") == "Ebrahim"


def test_a_name_in_text_says_which_parts_occur(tmp_path):
    store, scr = _one_list(tmp_path, [("o1", "Organization", "Nordwind Strelka 2 AG", []),
                                      ("o2", "Organization", "Brigade of the Yellow Kestrel",
                                       []),
                                      ("p1", "Person", "Muhammad Qasim", [])]
                           + [(f"f{i}", "Person", f"Muhammad {x}", [])
                              for i, x in enumerate(FILLER)]
                           + [(f"g{i}", "Person", f"Qasim {x}", [])
                              for i, x in enumerate(FILLER)])
    try:
        whole = scr.find_in_text("Shares of Nordwind Strelka 2 AG fell.")
        assert whole[0].explanation[0] == "listed name 'Nordwind Strelka 2 AG' occurs in the text"
        # a post's brackets hold what it says (they were dropped as a name's notes)
        bracketed = scr.find_in_text("Sanctions hit the pipeline (Nordwind Strelka 2 AG).")
        assert [m.list_ref for m in bracketed] == ["o1"]
        # two of its words are not the company: its number and form are missing
        assert scr.find_in_text("The Nordwind Strelka pipeline was hit.") == []
        part = scr.find_in_text("Yellow Kestrel Brigade fighters marched.")
        assert part[0].list_ref == "o2"
        assert part[0].explanation[0] == (
            "parts of listed name 'Brigade of the Yellow Kestrel' occur in the text: "
            "brigade=brigade, yellow=yellow, kestrel=kestrel")
        assert not any("occurs in the text" in line for line in part[0].explanation)
        # two common parts are not enough in free text
        assert scr.find_in_text("Muhammad bin Qasim conquered Sindh.") == []
    finally:
        store.close()


@pytest.mark.shared_data
def test_strict_rule_on_real_lists(real_lists):
    for handle in ("Joel44537047", "TheNewArena", "AbuMusab_110", "Asia1941", "g0r1llaGriP",
                   "Hasan6ali", "pol_4chan_1"):
        q = handle_to_name(handle)
        assert not q or real_lists.screen(q, strict=True, split_camel=True) == [], handle
    for name in ("NewArena", "Mike Lee", "Ian Fant", "Asad Ali Shah"):
        assert real_lists.screen(name, strict=True) == [], name
    for q, refs in (("jond_aqsa7", None), ("AbuBakrBaghdadi", None)):
        assert real_lists.screen(handle_to_name(q), strict=True, split_camel=True), q
    for q in ("أيمن الظواهري", "Ayman al-Zawahiri", "Айман аз-Завахири"):
        ms = real_lists.screen(q, strict=True)
        assert ms and ms[0].list_ref in ("QDi.006", "2676"), (q, ms[:1])
    assert real_lists.screen("Hamas", strict=True)[0].name == "HAMAS"


def test_strict_rule_across_arabic_script_counts_a_shared_skeleton(tmp_path):
    """Arabic writes no short vowels: يعقوب / Yaqoub align at 0.92 and جواد / Jawad
    at 0.86, below the 0.90 asked within Latin; their shared consonants make them
    one name (on the UN list the strict rule lost a quarter of its cross-script
    leave-one-out hits before this)."""
    store, scr = _one_list(tmp_path, [("p1", "Person", "Mohammad Yaqoub", []),
                                      ("p2", "Person", "Mohammad Jawad Waziri", [])])
    try:
        assert [m.list_ref for m in scr.screen("محمد يعقوب", strict=True)] == ["p1"]
        assert scr.screen("محمد جواد", strict=True)[0].list_ref == "p2"
        # within Latin a short part still has to be identical
        assert scr.screen("Mohammad Jwad", strict=True) == []
    finally:
        store.close()


def test_strict_rule_counts_short_parts_only_identical(tmp_path):
    """"Kim Jong Un" and "Press TV" are named in the news: a two-letter part counts
    when identical; "R S" (two initials from a handle) is too little to be a name.
    (In free text "Press TV" is two everyday words, and no longer names PRESS TV:
    test_text_names_need_a_word_that_is_not_everyday.)"""
    store, scr = _one_list(tmp_path, [("p1", "Person", "KIM, Jong Un", []),
                                      ("o1", "Organization", "PRESS TV", []),
                                      ("o2", "Organization", "B R C S.A.", [])])
    try:
        assert [m.list_ref for m in scr.find_in_text("Kim Jong Un fired a missile")] == ["p1"]
        assert scr.screen("Press TV", strict=True)[0].list_ref == "o1"
        assert scr.screen("Kim Jong Un", strict=True)[0].list_ref == "p1"
        assert scr.screen(handle_to_name("2r_0047s"), strict=True) == []
    finally:
        store.close()


# ------------------------------------- names in text must not be everyday words
EVERYDAY = [("e1", "Organization", "OPERA", []),
            ("e2", "Organization", "MINISTRY OF INTERIOR", []),
            ("e3", "Organization", "SEVERNAYA ZVEZDA LLC", ["NORTH STAR"]),
            ("e4", "Organization", "ARTUAL GALLERY", ["THE ART GALLERY"]),
            ("e5", "Organization", "PRESS TV", []),
            ("e6", "Person", "RODRIGUEZ OREJUELA, Gilberto", ["THE CHESS PLAYER"]),
            ("g1", "Organization", "Black Banner Front", []),
            ("g2", "Organization", "Jund al-Aqsa", []),
            ("g3", "Organization", "Hayat Tahrir al-Sham", []),
            ("g4", "Organization", "HAMAS", []),
            ("g5", "Organization", "TALIBAN", []),
            ("g6", "Organization", "ISLAMIC STATE OF IRAQ AND THE LEVANT", []),
            ("g7", "Organization", "ISLAMIC REVOLUTIONARY GUARD CORPS", []),
            ("g8", "Organization", "AL-NUSRAH FRONT", []),
            ("g9", "Organization", "TORNADO CASH", []),
            ("c1", "Organization", "NORTH STAR 2 AG", [])]


@pytest.mark.parametrize("text", [
    "We went to the Opera last night.",
    "The Ministry of Interior said the road is closed.",
    "Follow the North Star home.",
    "Visit The Art Gallery on Main Street.",
    "Press TV reported the match result.",
    "CHESS PLAYER. Father. Coffee.",
])
def test_text_names_need_a_word_that_is_not_everyday(tmp_path, text):
    """A listed name made only of words common in ordinary writing (OPERA,
    MINISTRY OF INTERIOR, NORTH STAR, THE ART GALLERY, PRESS TV) does not name
    the listed entity in a post or bio, nor does a person's nickname of everyday
    words (THE CHESS PLAYER) — these flagged 37 posts and a bio of the shared data."""
    store, scr = _one_list(tmp_path, EVERYDAY)
    try:
        assert scr.find_in_text(text) == [], text
    finally:
        store.close()


@pytest.mark.parametrize("text,ref", [
    ("Support the brothers of the Black Banner Front today!", "g1"),
    ("Jund al-Aqsa fighters entered the town.", "g2"),
    ("Hayat Tahrir al-Sham took the crossing.", "g3"),
    ("Hamas said the talks had failed.", "g4"),
    ("The Taliban took Kabul.", "g5"),
    ("Islamic State of Iraq and the Levant claimed it.", "g6"),
    ("the Islamic Revolutionary Guard Corps fired", "g7"),
    ("Al-Nusrah Front fighters", "g8"),
    ("funds went through Tornado Cash", "g9"),
    ("shares of North Star 2 AG fell", "c1"),
])
def test_distinctive_names_in_text_are_still_found(tmp_path, text, ref):
    """A distinctive word (Aqsa, Nusrah, Tornado), three words or more (Black Banner
    Front, Islamic Revolutionary Guard Corps), or the whole name with what
    identifies it (its number and company form) still names the entity."""
    store, scr = _one_list(tmp_path, EVERYDAY)
    try:
        assert [m.list_ref for m in scr.find_in_text(text)] == [ref], text
    finally:
        store.close()


def test_everyday_words_still_match_display_names(tmp_path):
    """The rule is for free text: a profile named as the listed name is screened
    as before (the display-name rule)."""
    store, scr = _one_list(tmp_path, EVERYDAY)
    try:
        assert "e3" in [m.list_ref for m in scr.screen("North Star", strict=True)]
        assert scr.screen("Press TV", strict=True)[0].list_ref == "e5"
    finally:
        store.close()


def test_common_words_table_is_small_and_knows_the_words():
    from rasd.detect.finance.screen import common_words

    words = common_words()
    for w in ("opera", "ministry", "interior", "north", "star", "gallery", "press", "player"):
        assert words.get(w, 0) >= 1 / 1000, w
    for w in ("hamas", "taliban", "isis", "aqsa", "nusrah", "tahrir", "chess"):
        assert words.get(w, 0) < 1 / 1000, w
    # words written in Arabic and Cyrillic script, as to_latin spells them: tables
    # of their own, so that a transliterated word (على "ala") is no Latin word
    arabic, cyrillic = common_words("Arabic"), common_words("Cyrillic")
    for w in ("allh", "ala", "qada", "raq"):  # الله, على, قاعده, العراق
        assert arabic.get(w, 0) >= 1 / 1000 > words.get(w, 0), w
    for w in ("dash", "nsra", "aqsa"):  # داعش, النصرة, الأقصى
        assert arabic.get(w, 0) < 1 / 1000, w
    for w in ("novosti", "rossii", "ministerstvo"):
        assert cyrillic.get(w, 0) >= 1 / 1000 > words.get(w, 0), w
    for w in ("taliban", "khamas", "igil"):
        assert cyrillic.get(w, 0) < 1 / 1000, w
    assert common_words("Greek") is words  # no corpus of its own: the Latin table
    path = Path(__file__).parents[1] / "src/rasd/data/finance/common_words.json"
    assert path.stat().st_size < 400_000


# listed names in Arabic and Cyrillic script (aliases, as the UN list gives them)
SCRIPT_NAMES = [*EVERYDAY,
                ("a1", "Organization", "AL-QAIDA IN IRAQ", ["القاعده في العراق"]),
                ("a4", "Organization", "AL-QAIDA IN THE ARABIAN PENINSULA",
                 ["القاعدة في جزيرة العرب"]),
                ("a2", "Organization", "AL-NUSRAH FRONT FOR THE PEOPLE OF THE LEVANT",
                 ["جبهة النصرة"]),
                ("a3", "Person", "BASHAR SABAWI IBRAHIM HASAN AL-TIKRITI",
                 ["بشار سبعاوي إبراهيم حسن التكريتي"]),
                ("r1", "Organization", "NOVOSTI ROSSII TRADING", ["Новости России"]),
                ("r2", "Organization", "Талибан", [])]


@pytest.mark.parametrize("text,refs", [
    # two everyday words of their script ("News of Russia"; قاعده, "sitting" in
    # dialect, written without the article): found before, when every script was
    # looked up in the Latin table
    ("هي قاعده في العراق منذ سنوات", []),
    ("Новости России сообщают о погоде", []),
    # … but القاعده with the article is not everyday writing: the listed name
    ("القاعده في العراق تتبنى التفجير", ["a1"]),
    # a distinctive word, three words or more, a one-part primary name
    ("مقاتلون من جبهة النصرة في حلب", ["a2"]),
    ("قائد تنظيم القاعدة في جزيرة العرب", ["a4"]),
    ("Движение Талибан объявило", ["g5", "r2"]),  # and TALIBAN, transliterated
    # a person's name of everyday Arabic words (بشار, حسن): still the listed person
    ("بشار سبعاوي إبراهيم حسن التكريتي في بغداد", ["a3"]),
])
def test_names_in_arabic_and_cyrillic_text_are_everyday_words_of_their_script(
        tmp_path, text, refs):
    """The common-word table measured Latin-script writing only, so listed names
    in Arabic or Cyrillic script were held to the looser rules in free text:
    their parts were looked up, transliterated, among English and German words.
    Each script is now looked up in a table of its own writing."""
    store, scr = _one_list(tmp_path, SCRIPT_NAMES)
    try:
        assert sorted({m.list_ref for m in scr.find_in_text(text)}) == refs, text
    finally:
        store.close()


# ------------------------------------------------- Arabic words of a post
# Latin-script listed persons whose parts, transliterated, are everyday Arabic
# words of a post (MADHI, Shahriyar is on the OFAC list; the others invented)
ARABIC_EVERYDAY = [("m1", "Person", "MADHI, Shahriyar", []),
                   ("m2", "Organization", "SHAHRIYAR MADHI", []),
                   ("m3", "Person", "Kabir Nasr", []),
                   ("m4", "Person", "SAADI QADHAFI", []),
                   ("a1", "Organization", "AL-QAIDA IN IRAQ", ["القاعده في العراق"])]


def test_an_arabic_stopword_of_a_post_is_no_name_part(tmp_path):
    """الماضي ("past", "last") is a stopword of Arabic (Stopwords ISO): in
    "last month" (الشهر الماضي) it is no evidence of the name part Madhi, and one
    part left is not a name — here of a company, which the article rule for
    persons does not cover. The name itself, in either script, still is."""
    store, scr = _one_list(tmp_path, ARABIC_EVERYDAY)
    try:
        # الماضية: the stopword with a feminine ending
        for text in ("تراجعت المبيعات في الشهر الماضي", "خلال الشهر الماضية",
                     "في الشهر الماضي، وكان"):
            assert scr.find_in_text(text) == [], text
        for text in ("Shahriyar Madhi said", "أعلنت شركة شهريار ماضي"):
            assert "m2" in [m.list_ref for m in scr.find_in_text(text)], text
    finally:
        store.close()


def test_a_person_is_not_named_by_words_all_written_with_the_article(tmp_path):
    """Arabic given names are written without the article ال: "the great
    victory" (النصر الكبير, الكبير an everyday word) is no Kabir Nasr, and "last
    month" (الشهر الماضي) no MADHI, Shahriyar; "Kabir Nasr met the minister" is,
    and a name of words with the article none of them everyday (al-Saadi
    al-Qadhafi, الساعدي القذافي) is too."""
    store, scr = _one_list(tmp_path, ARABIC_EVERYDAY)
    try:
        assert scr.find_in_text("احتفل الفريق بالنصر الكبير") == []
        assert scr.find_in_text("وقع الهجوم في الشهر الماضي على الطريق") == []
        assert [m.list_ref for m in scr.find_in_text("التقى كبير نصر بالوزير")] == ["m3"]
        assert [m.list_ref for m in scr.find_in_text("ظهر الساعدي القذافي في فيديو")
                ] == ["m4"]
        assert "m1" in [m.list_ref for m in scr.find_in_text("Shahriyar Madhi was designated")]
    finally:
        store.close()


def test_the_arabic_words_of_a_post_are_judged_where_they_stand(tmp_path):
    """The Arabic words of a post were judged by their Latin spelling over the
    whole post: الماضي ("past", a stopword) and المادي ("material") both read
    "madi", so "الدعم المادي" (material support) anywhere in a post made "الشهر
    الماضي" (last month) the name MADHI, Shahriyar again; and an Arabic stopword
    anywhere kept a Latin word spelled as it reads from counting as a name part.
    Each part is now judged by the word it is read from."""
    store, scr = _one_list(tmp_path, [*ARABIC_EVERYDAY,
                                      ("m5", "Person", "Shahrani Madi", [])])
    try:
        for text in ("وقع الهجوم في الشهر الماضي وقدم الدعم المادي للجماعة",
                     "قدم الدعم المادي للجماعة في الشهر الماضي"):
            assert scr.find_in_text(text) == [], text
        for text in ("Shahrani Madi was designated. وقع الهجوم في الشهر الماضي",
                     "وقع الهجوم في الشهر الماضي. Shahrani Madi was designated"):
            assert "m5" in [m.list_ref for m in scr.find_in_text(text)], text
        # where it stands, a stopword is still no name part
        assert scr.find_in_text("وقع الهجوم في الشهر الماضي على الطريق") == []
    finally:
        store.close()


_TEXT_CHARS = st.sampled_from(list("abu lAKr-,.' 3") + list("ابو بكر الماضي،") + ["\u200b"]
                             + list("Иван"))


@settings(max_examples=200, deadline=None)
@given(st.lists(_TEXT_CHARS, max_size=60).map("".join) | st.text(max_size=60))
def test_normalize_text_reads_a_text_as_normalize_does(text):
    """normalize_text is normalize, with the word each token is read from —
    but for what only a name has: a "LAST, First" order and bracketed notes
    (and a text is read to MAX_TEXT characters, a name to MAX_NAME). A
    comma in a text separates words, nothing more."""
    from rasd.detect.finance.names import normalize_text

    t, src = normalize_text(text)
    assert len(src) == len(t.tokens)
    if not any(c in text for c in ",()[]"):
        assert t == normalize(text)
    assert t.tokens == normalize_text(text.replace(",", " "))[0].tokens


def test_normalize_text_says_which_word_each_part_is_read_from():
    from rasd.detect.finance.names import normalize_text

    t, src = normalize_text("Abu Bakr al-Baghdadi قال في الشهر الماضي")
    assert [(x.latin, w) for x, w in zip(t.tokens, src, strict=True)] == [
        ("abubakr", "Bakr"), ("baghdadi", "Baghdadi"), ("qal", "قال"), ("shhr", "الشهر"),
        ("madi", "الماضي")]


def test_arabic_words_of_a_text_fold_clitics_and_the_article():
    from rasd.detect.finance.names import arabic_words, normalize_text
    from rasd.detect.finance.screen import arabic_evidence, arabic_stopwords

    got = {w.parts: (w.article, "الماضي" in w.forms) for w in arabic_words(
        "الماضي والماضي للعراق الله")}
    assert got[("madi",)] == (True, True)
    assert got[("allh",)] == (True, False)

    def evidence(text):  # Latin part → (a stopword, with the article), where written
        t, src = normalize_text(text)
        ev = arabic_evidence(t.tokens, src)
        return {tok.latin: (p in ev.stop, p in ev.article)
                for p, tok in enumerate(t.tokens) if p in ev.parts}

    ev = evidence("قال الأمين العام إن الله على كل شيء قدير، وعلي حاضر")
    assert ev["qal"] == (True, False) and ev["alam"] == (True, True)  # العام as عام
    assert not ev["allh"][0] and not ev["wli"][0]  # الله is not له; وعلي not على
    assert ev["ala"][0]  # على, "on"
    assert evidence("حسين") == {"hsin": (False, False)}  # not حس with a plural ending
    assert ev["amin"] == (False, True)  # أمين is not آمين, "amen"
    assert evidence("Madi said") == {}  # Latin words are no Arabic evidence
    words = arabic_stopwords()
    assert "الماضي" in words and "في" in words and len(words) > 400
    doc = json.loads((Path(__file__).parents[1] / "src/rasd/data/finance/stopwords_ar.json"
                      ).read_text(encoding="utf-8"))
    assert doc["license"] == "MIT" and "Permission is hereby granted" in doc["license_text"]


def test_common_arabic_words_are_counted_with_and_without_the_article():
    """The Arabic table counts each word also as written with the article: قاعده
    is common (dialect "sitting", always written without it), القاعده not."""
    from rasd.detect.finance.screen import ARTICLE_KEY, TEXT_COMMON, common_words

    arabic = common_words("Arabic")
    assert arabic.get("qada", 0) >= TEXT_COMMON > arabic.get(ARTICLE_KEY + "qada", 0)
    assert arabic.get(ARTICLE_KEY + "raq", 0) >= TEXT_COMMON  # العراق
    assert not any(k.startswith(ARTICLE_KEY) for k in common_words())  # Arabic only


# Arabic news-like sentences naming no listed entity (written for this test)
ARABIC_NEWS = [
    "وقع الهجوم في الشهر الماضي على الطريق السريع",
    "قال الأمين العام للأمم المتحدة إن المحادثات ستستأنف الأسبوع المقبل",
    "ارتفعت أسعار النفط في الأسواق العالمية اليوم",
    "أعلنت وزارة الصحة عن افتتاح مستشفى جديد في المدينة",
    "استقبل الأمير ضيوفه في القصر مساء أمس",
    "فاز الفريق بالنصر الكبير في المباراة النهائية",
    "هطلت أمطار غزيرة على العاصمة صباح اليوم",
    "قال الرئيس السابق إن الاقتصاد تحسن خلال العام الماضي",
    "افتتح المعرض الدولي للكتاب أبوابه للزوار",
    "تراجعت البورصة في نهاية تداولات الأسبوع",
    "وصل الوفد الرسمي إلى المطار قادما من القاهرة",
    "أكد المتحدث باسم الحكومة أن القرار سيطبق من الشهر المقبل",
    "شارك آلاف الطلاب في الامتحانات النهائية هذا العام",
    "هي قاعده في البيت منذ الصباح",
    "تم تطوير قاعدة البيانات الجديدة في الجامعة",
    "زار وزير الخارجية العراق وبحث العلاقات الثنائية",
    "ذكرت الصحيفة أن الاجتماع عقد في الرياض يوم الأحد",
    "أطلقت الشركة هاتفا جديدا في السوق المحلية",
    "يحتفل المسلمون بعيد الفطر في نهاية شهر رمضان",
    "انخفضت درجات الحرارة في المناطق الشمالية والشرقية",
    "قالت الشرطة إن الحادث وقع بعد منتصف الليل",
    "تستضيف المدينة بطولة العالم لكرة القدم العام المقبل",
    "صرح مدير المدرسة بأن الدراسة ستبدأ في الموعد المحدد",
    "عاد الأمير إلى البلاد بعد زيارة رسمية استمرت أسبوعا",
    "أعلن البنك المركزي خفض أسعار الفائدة الشهر الماضي",
    "نشرت الجريدة تقريرا عن الوضع الاقتصادي في المنطقة",
]
# sentences naming listed entities by their names in Arabic script on the UN list
ARABIC_LISTED = [
    ("أعلنت جبهة النصرة مسؤوليتها عن الهجوم", "QDe.137"),
    ("سيطرت هيئة تحرير الشام على المعبر", "QDe.137"),
    ("التقى علي عبد الله صالح بقادة الحزب في صنعاء", "YEi.003"),
    ("قتل قيادي في تنظيم القاعدة في جزيرة العرب", "QDe.129"),
    ("تبنى تنظيم القاعده في العراق التفجير", "QDe.115"),
    # the same alias written with ta marbuta (the list has ه)
    ("تبنى تنظيم القاعدة في العراق التفجير", "QDe.115"),
    # a person listed with four parts, named by the first and the last
    ("بث أيمن الظواهري تسجيلا صوتيا جديدا", "QDi.006"),
    ("بث أيمن محمد ربيع الظواهري تسجيلا صوتيا جديدا", "QDi.006"),
    ("أعلن مختار بلمختار انشقاقه عن التنظيم", "QDi.136"),
    ("أسس جلال الدين حقانى شبكته في الثمانينيات", "TAi.040"),
    ("ظهر نضال الربيعي في تسجيل مصور", "IQi.070"),
    ("نشأ الاتحاد الاسلامي في الصومال", "QDe.002"),
    ("اتهمت السلطات أنصار الشريعة بالهجوم", "QDe.145"),
    ("أعلنت حركة التوحيد والجهاد في غرب إفريقيا خطف الرهائن", "QDe.134"),
    ("تبنت جماعة نصرة الإسلام والمسلمين الهجوم", "QDe.159"),
    ("تنشط عصبة الأنصار في مخيم عين الحلوة", "QDe.007"),
]


@pytest.mark.parametrize("a, b", [
    ("القاعدة", "القاعده"),  # ta marbuta written as ha (informal)
    ("أسامة", "اسامه"),  # hamza on alif dropped, and ta marbuta
    ("إبراهيم", "ابراهيم"),  # hamza under alif
    ("آمنة", "امنه"),  # madda
    ("عطيّة", "عطيـــه"),  # shadda, tatweel
])
def test_arabic_spellings_of_one_word_normalise_alike(a, b):
    """Letters ordinary writing puts one for another are folded before
    transliteration, on both sides (a listed name, a post)."""
    assert normalize(a).key == normalize(b).key


def test_arabic_name_found_however_its_letters_are_written(tmp_path):
    """A listed Arabic-script name with hamza and ta marbuta is found in a post
    that writes them plainly (ا, ه), and matches its Latin spelling as before."""
    store, scr = _one_list(tmp_path, [
        ("p1", "Person", "Ibrahim Atiyah al-Zarquni", ["إبراهيم عطية الزرقوني"]),
        ("o1", "Organization", "Harakat al-Rayah al-Sawda", ["حركة الراية السوداء"])])
    try:
        for text, ref in (("ظهر ابراهيم عطيه الزرقوني في تسجيل", "p1"),
                          ("اعلنت حركه الرايه السوداء مسؤوليتها", "o1"),
                          ("ظهر إبراهيم عطية الزرقوني في تسجيل", "p1")):
            assert ref in [m.list_ref for m in scr.find_in_text(text)], text
        for q in ("ابراهيم عطيه الزرقوني", "Ibrahim Atiyah al-Zarquni", "Ibrahim Atiya Zarquni"):
            assert top(scr, q, strict=True)[0] == "p1", q
    finally:
        store.close()


def test_a_listed_arabic_name_written_with_ha_matches_its_latin_spelling(tmp_path):
    """Lists too write ta marbuta as ha (القاعده في العراق, حماده, شحاته): read
    as ta marbuta, such a name meets its romanisation (…a, …ah, …at), which the
    bare ha ("haddadh") did not."""
    store, scr = _one_list(tmp_path, [
        ("p1", "Person", "سميره يوسف حداده", []),
        ("o1", "Organization", "كتيبه الرايه السوداء", [])])
    try:
        assert top(scr, "Samira Yusuf Haddada", strict=True)[0] == "p1"
        assert top(scr, "Katibat al-Rayah al-Sawda", strict=True)[0] == "o1"
    finally:
        store.close()


@pytest.mark.shared_data
def test_arabic_news_names_no_listed_entity_and_listed_arabic_names_are_found(real_lists):
    """On the UN 2018 and OFAC 2024 lists: ordinary Arabic sentences name no
    listed entity ("last month" was MADHI, Shahriyar), and listed names written
    in Arabic script are found in sentences (AL-QAIDA IN IRAQ's alias too)."""
    hits = {t: [(m.list_ref, m.matched_name) for m in real_lists.find_in_text(t)]
            for t in ARABIC_NEWS}
    assert {t: h for t, h in hits.items() if h} == {}
    for text, ref in ARABIC_LISTED:
        assert ref in [m.list_ref for m in real_lists.find_in_text(text)], text


@pytest.mark.shared_data
def test_persons_listed_with_four_parts_are_found_by_first_and_last_on_real_lists(real_lists):
    """The UN list names Akhtar Mansour and Muhsin al-Fadhli with three to five
    parts; news writes two. Common given names with a listed family name are
    not such a short form."""
    for text, ref in (("Mullah Akhtar Mansoor was named leader of the Taliban", "TAi.011"),
                      ("قتل محسن الفضلي في غارة", "QDi.184")):
        ms = real_lists.find_in_text(text)
        assert ref in [m.list_ref for m in ms], text
        m = next(m for m in ms if m.list_ref == ref)
        assert m.explanation[0].startswith("first and last parts of listed name"), m.explanation
    assert real_lists.find_in_text("Muhammad al-Zawahiri spoke to reporters") == []


def test_a_person_is_found_by_the_first_and_last_of_three_parts_or_more(screener):
    """A listed person of three parts or more is found in text by the first and
    the last part, adjacent and in that order, in Latin and Arabic script, when
    both are rare among listed names; a common given name (Muhammad, in every
    filler name here) or the first two parts are not enough."""
    for text in ("Khalid al-Qaswari released a new video",
                 "ظهر خالد القسوري في تسجيل جديد"):
        ms = screener.find_in_text(text)
        assert [m.list_ref for m in ms] == ["p1"], text
        assert "not looked for: m" in ms[0].explanation[1], ms[0].explanation
    for text in ("Muhammad Qadri released a new video",  # filler: Muhammad Ali Hassan Qadri
                 "Khalid Mahmoud released a new video",
                 "Qaswari Khalid released a new video"):
        assert screener.find_in_text(text) == [], text


SHORT_LIST = [
    ("p1", "Person", "Zubayr Hamdan Qutaybi", ["زبير حمدان القتيبي"]),
    ("p2", "Person", "Zelimkhan Aslanbekovich Tsuroyev", ["Зелимхан Асланбекович Цуроев"]),
    ("p3", "Person", "Tariq Nizar Barzani", []),
]


def test_a_short_form_scores_below_the_whole_name_in_every_script(tmp_path):
    """A person found by the first and last part scored 1.0, as the whole name
    written exactly did: a reviewer could not rank the partial hit below. It
    scores its two parts' score × SHORT_FORM_FACTOR (0.9) in Latin, Arabic and
    Cyrillic script — below the whole name, above find_in_text's threshold —
    and says so in its features and explanation; one spelled less closely
    scores less again."""
    store, scr = _one_list(tmp_path, SHORT_LIST)
    try:
        for short, whole, ref in (
                ("Zubayr Qutaybi spoke", "Zubayr Hamdan Qutaybi spoke", "p1"),
                ("تحدث زبير القتيبي", "تحدث زبير حمدان القتيبي", "p1"),
                ("Зелимхан Цуроев заявил", "Зелимхан Асланбекович Цуроев заявил", "p2"),
                ("Zelimkhan Tsuroyev said", "Zelimkhan Aslanbekovich Tsuroyev said", "p2")):
            [s] = scr.find_in_text(short)
            [w] = scr.find_in_text(whole)
            assert s.list_ref == w.list_ref == ref, short
            assert w.score == 1.0 and w.features == {"name_in_text": 1.0}, whole
            assert s.score == pytest.approx(SHORT_FORM_FACTOR), short
            assert 0.85 <= s.score < w.score  # above find_in_text's threshold: reported
            assert s.features == {"name_in_text": 1.0, "short_form": SHORT_FORM_FACTOR}
            assert "× 0.9 for a short form" in s.explanation[2], s.explanation
            # as --json and the stored detection carry it
            assert json.loads(json.dumps(s.to_dict()))["score"] == pytest.approx(0.9)
        [fuzzy] = scr.find_in_text("Zubayr Qutayby spoke")
        assert SHORT_FORM_FACTOR * 0.95 < fuzzy.score < SHORT_FORM_FACTOR
        assert fuzzy.score == pytest.approx(fuzzy.features["name_in_text"] * SHORT_FORM_FACTOR)
        # in one text, the person named in full ranks above the one named short
        ms = scr.find_in_text("Zubayr Qutaybi met Tariq Nizar Barzani")
        assert [(m.list_ref, m.score) for m in ms] == [("p3", 1.0), ("p1", SHORT_FORM_FACTOR)]
    finally:
        store.close()


@pytest.mark.shared_data
def test_common_words_table_is_rebuilt_by_its_script(shared_data, tmp_path):
    """The shipped table is what scripts/build_common_words.py makes of the shared data."""
    import subprocess
    import sys

    repo = Path(__file__).parents[1]
    out = tmp_path / "cw.json"
    subprocess.run([sys.executable, str(repo / "scripts/build_common_words.py"),
                    "--data", str(shared_data), "--out", str(out)], check=True,
                   capture_output=True)
    assert out.read_text(encoding="utf-8") == (
        repo / "src/rasd/data/finance/common_words.json").read_text(encoding="utf-8")


@pytest.mark.shared_data
def test_everyday_listed_names_on_real_lists(real_lists):
    for text in ("We went to the Opera last night.", "Ministry of Interior statement",
                 "Press TV reported", "CHESS PLAYER | father", "THE ART GALLERY is open",
                 "Follow the North Star"):
        assert real_lists.find_in_text(text) == [], text
    for text, name in (("Jund al-Aqsa fighters", "jund al aqsa"),
                       ("HAMAS said", "hamas"), ("the Taliban said", "taliban")):
        ms = real_lists.find_in_text(text)
        assert any(m.name.replace("-", " ").lower() == name for m in ms), (text, ms)
    assert real_lists.find_in_text("Hayat Tahrir al-Sham took the town")


def test_an_everyday_word_as_a_whole_profile_name_is_no_listed_organisation(tmp_path):
    """An account named "Opera" matched OFAC's one-part OPERA under the strict
    rule (a whole display name equal to an organisation's primary name), as it
    no longer does in posts; HAMAS as a display name still matches."""
    store, scr = _one_list(tmp_path, [("o1", "Organization", "OPERA", []),
                                      ("o2", "Organization", "HAMAS", [])])
    try:
        assert [m for m in scr.screen("Opera", strict=True) if m.list_ref == "o1"] == []
        assert [m.list_ref for m in scr.screen("Hamas", strict=True)][:1] == ["o2"]
    finally:
        store.close()


# ------------------------------------------------- screen's pre-filter (speed)
class _Exhaustive(Screener):
    """``screen`` with every candidate's every part compared (no pre-filter), as
    it was before ``_parts_that_may_align``: the reference its results must equal."""

    def _parts_that_may_align(self, q, cands):
        if not hasattr(self, "_part_ids"):
            self._build_parts()
        every = {k for idx in cands for k in self._part_seq[idx]}
        return every, every


def _exhaustive(scr: Screener) -> Screener:
    return _Exhaustive(scr.entries, scr.entities, scr.identifiers)


def _near(names: list[str]) -> list[str]:
    """Each name, and spellings a letter off (dropped, doubled, vowel changed)
    and with parts swapped or cut: the queries that reach the pre-filter's edges."""
    out = []
    for n in names:
        out.append(n)
        for i in range(1, len(n), max(1, len(n) // 4)):
            out.append(n[:i] + n[i + 1:])
            out.append(n[:i] + n[i] + n[i:])
            out.append(n[:i] + ("a" if n[i] in "eiouy" else "e") + n[i + 1:])
        parts = n.split()
        if len(parts) > 1:
            out.append(" ".join(reversed(parts)))
            out.append(" ".join(parts[:2]))
    return out


def _same_results(scr: Screener, queries: list[str]) -> int:
    ref = _exhaustive(scr)
    found = 0
    for q in queries:
        for kw in ({}, {"strict": True}, {"threshold": 0.5}, {"split_camel": True, "strict": True}):
            got = [m.to_dict() for m in scr.screen(q, **kw)]
            assert got == [m.to_dict() for m in ref.screen(q, **kw)], (q, kw)
            found += bool(got)
    return found


def test_screen_prefilter_changes_no_result(screener):
    """``screen`` compares only the candidates with a part that may align
    (``Screener._parts_that_may_align``); what it finds is what comparing every
    candidate finds, in every script and under every rule."""
    names = [e.name for e in screener.entries] + [
        "Abu Qaswarah", "Abdul Rahman Zubaidi", "Ivan Sergeevich", "Viktor Petrov",
        "Sergey Mironoff", "Mohammed Ali Hasan", "Umm Haddad", "BlackBannerFront"]
    assert _same_results(screener, _near(names)) > 100


@pytest.mark.shared_data
def test_screen_prefilter_changes_no_result_on_real_lists(real_lists):
    import random

    rng = random.Random(5)
    names = [e.name for e in rng.sample(real_lists.entries, 12)]
    assert _same_results(real_lists, _near(names)) > 20


_PART = st.text(alphabet="abdehiklmnorsuyзвоаимхلمحدسن", min_size=1, max_size=9)


@settings(deadline=None)
@given(q=st.lists(_PART, min_size=1, max_size=3), listed=st.lists(_PART, min_size=1, max_size=6),
       prefix=st.sampled_from(["", "abu", "abd", "umm"]))
def test_parts_the_prefilter_drops_never_align(q, listed, prefix):
    """Every pair of parts that ``tok_sim`` aligns (PAIR_MIN or more) is kept by
    ``_parts_that_may_align``, across scripts and within one."""
    from rasd.detect.finance.screen import PAIR_MIN, VOWELLED, Entry, tok_sim

    qn = normalize(" ".join([prefix + q[0]] + q[1:]))
    entries = [Entry(i, i, n, "primary", normalize(n))
               for i, n in enumerate([prefix + w for w in listed] + listed)]
    scr = Screener(entries, {}, {})
    live_cross, live_same = scr._parts_that_may_align(qn, list(range(len(entries))))
    for idx, e in enumerate(entries):
        cross = not {qn.script, e.norm.script} <= VOWELLED
        arabic = (qn.script == "Arabic", e.norm.script == "Arabic")
        for a in qn.tokens:
            for j, b in enumerate(e.norm.tokens):
                if tok_sim(a, b, cross, arabic)[0] >= PAIR_MIN:
                    assert scr._part_seq[idx][j] in (live_cross if cross else live_same), (a, b)


# ------------------------------------------------- the whole of a post's text
_FILLER_TEXT = "The weather report for the coming week says rain in the north. " * 8


def test_a_name_anywhere_in_a_post_is_found_not_only_in_its_opening(screener):
    """find_in_text cut a post at MAX_TEXT characters, but normalize then cut
    it at a name's MAX_NAME (400): a name further into a long Telegram post or
    a news article was never looked for. The whole of the first MAX_TEXT
    characters is read now, and nothing after them."""
    from rasd.detect.finance.names import MAX_NAME, MAX_TEXT, normalize_text

    assert len(_FILLER_TEXT) > MAX_NAME
    text = _FILLER_TEXT + "Funds were sent to Ivan Sergeyevich Morozko last week."
    assert [m.list_ref for m in screener.find_in_text(text)] == ["p4"]
    assert [t.latin for t in normalize_text(text)[0].tokens][-4:] == [
        "sergeyevich", "morozko", "last", "week"]
    # bounded: what stands after MAX_TEXT characters is not read
    far = "rain " * (MAX_TEXT // 5) + "Ivan Sergeyevich Morozko"
    assert screener.find_in_text(far) == []
    t, _ = normalize_text("a b " * 1_000_000)  # hostile: cut, not read whole
    assert len(t.tokens) + len(t.set_aside) <= MAX_TEXT // 2


@pytest.mark.parametrize("text", [
    "Mironov was there, and so was Sergei",
    "Morozko spoke first, then Ivan Sergeyevich",
])
def test_a_post_with_one_comma_is_not_reordered_as_a_listed_name(screener, text):
    """A listed name's "LAST, First" is read "First Last"; a post's one comma
    was read the same way, which moved the words after it before the words
    ahead of it: "Mironov was there, and so was Sergei" read "… so was Sergei
    Mironov was there", a listed name that the post does not write."""
    from rasd.detect.finance.names import normalize_text

    assert screener.find_in_text(text) == []
    head = text.split(",")[0].split()[0].lower()
    assert normalize_text(text)[0].tokens[0].latin == head


def test_a_name_before_or_after_a_posts_comma_is_still_found(screener):
    for text in ("He met Sergei Mironov, the deputy", "The deputy, Sergei Mironov, spoke"):
        assert [m.list_ref for m in screener.find_in_text(text)] == ["p6"], text
    # a listed name, and a name typed as a query, are still read "LAST, First"
    assert normalize("MIRONOV, Sergei") == normalize("Sergei Mironov")
    assert top(screener, "MIRONOV, Sergei")[0] == "p6"


@pytest.mark.parametrize("text", [
    "قال البيان،القاعده في العراق تتبنى التفجير",  # Arabic comma, no space after it
    "قال البيان؛القاعده في العراق تتبنى التفجير",  # Arabic semicolon
    "قال البيان:«القاعده في العراق» تتبنى التفجير",  # quotes glued to the name
    "قال البيان,القاعده في العراق تتبنى التفجير",  # a Latin comma
    "#القاعده_في_العراق تتبنى التفجير",  # a hashtag
    "🔴القاعده في العراق تتبنى التفجير",  # an emoji
])
def test_arabic_punctuation_separates_words(tmp_path, text):
    """A word after Arabic punctuation with no space (، ؛ ؟), or glued to
    quotes or a hashtag's marks, kept its article: "البيان،القاعده" was one
    word, its second half read "alqada", not the name part "qada"."""
    from rasd.detect.finance.names import normalize_text

    t, src = normalize_text(text)
    assert "qada" in [x.latin for x in t.tokens] and "alqada" not in [x.latin for x in t.tokens]
    assert "القاعده" in src
    store, scr = _one_list(tmp_path, SCRIPT_NAMES)
    try:
        assert [m.list_ref for m in scr.find_in_text(text)] == ["a1"], text
    finally:
        store.close()


def test_arabic_punctuation_between_words_reads_as_a_space():
    from rasd.detect.finance.names import normalize_text, to_latin

    for p in "،؛؟٪۔«»\"!.?#_🔴":
        spaced = normalize_text("الماضي " + p + " القاعدة")[0]
        assert normalize_text("الماضي" + p + "القاعدة")[0].tokens == spaced.tokens, p
    assert to_latin("الماضي،القاعدة") == "al madi,al qada"
    # apostrophes do not split a word
    assert [t.latin for t in normalize_text("O'Brien and Ma’mun")[0].tokens] == [
        "obrien", "mamun"]


def test_a_long_text_compares_only_windows_that_hold_every_part(screener, monkeypatch):
    """Read whole, a long post holds the parts of many listed names somewhere,
    seldom side by side: a window of the text is compared with a listed name
    only where it holds a token of each of the name's skeletons (what the
    text as a whole is already required to hold), not around every part."""
    calls = []
    compare = Screener.compare

    def counting(self, a, b):
        calls.append(b.key)
        return compare(self, a, b)

    monkeypatch.setattr(Screener, "compare", counting)
    text = ("Ivan went home early. " + _FILLER_TEXT + "Morozko arrived late. "
            + _FILLER_TEXT + "Sergeyevich stayed.")
    assert screener.find_in_text(text) == []
    assert calls == []
    assert [m.list_ref for m in screener.find_in_text(
        text + " Then Ivan Sergeyevich Morozko spoke.")] == ["p4"]
    assert calls and all(set(k.split()) == {"ivan", "sergeyevich", "morozko"} for k in calls)


def test_a_part_elsewhere_in_the_text_lets_no_other_word_stand_for_it(tmp_path):
    """"الاتحاد الإعلامي" (the media union) is no AL-ITIHAAD AL-ISLAMIYA
    (الاتحاد الاسلامي) because الاسلامي stands elsewhere in the post: the text
    held a token of each of the name's skeletons, and الإعلامي (alami) was then
    compared as islami. Found in SaudiNewsNet once whole articles were read."""
    store, scr = _one_list(tmp_path, [("e1", "Organization", "AL-ITIHAAD AL-ISLAMIYA",
                                       ["الاتحاد الاسلامي"])])
    try:
        assert scr.find_in_text("قال رئيس الاتحاد الإعلامي إن المؤتمر الاسلامي ناجح") == []
        assert [m.list_ref for m in scr.find_in_text("بيان الاتحاد الاسلامي")] == ["e1"]
    finally:
        store.close()
