"""Designation list import (issue 5 §3): UN XML, OFAC CSV (+ALT/ADD), EU XML/CSV,
FollowTheMoney JSON. Fixtures are written here in each list's published format;
the names in them are invented (synthetic) except where a real list is read
from shared data."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from rasd.detect.finance import schema as F
from rasd.detect.finance.lists import (
    ListFormatError,
    detect_format,
    import_list,
    list_status,
    parse_file,
)
from rasd.detect.finance.screen import Screener

UN_XML = """<?xml version="1.0" encoding="UTF-8"?>
<CONSOLIDATED_LIST dateGenerated="2026-01-02T03:04:05">
 <INDIVIDUALS>
  <INDIVIDUAL><DATAID>900001</DATAID><FIRST_NAME>KHALID</FIRST_NAME>
   <SECOND_NAME>ABDULRAHMAN</SECOND_NAME><THIRD_NAME>AL-ZUBAYDI</THIRD_NAME>
   <UN_LIST_TYPE>Al-Qaida</UN_LIST_TYPE><REFERENCE_NUMBER>QDi.901</REFERENCE_NUMBER>
   <LISTED_ON>2020-01-01</LISTED_ON><NAME_ORIGINAL_SCRIPT>خالد عبد الرحمن الزبيدي</NAME_ORIGINAL_SCRIPT>
   <NATIONALITY><VALUE>Syntheticland</VALUE></NATIONALITY>
   <INDIVIDUAL_ALIAS><QUALITY>Good</QUALITY><ALIAS_NAME>Abu Hamza al-Zubaydi</ALIAS_NAME></INDIVIDUAL_ALIAS>
   <INDIVIDUAL_ALIAS><QUALITY>Low</QUALITY><ALIAS_NAME>Abu Hamza</ALIAS_NAME></INDIVIDUAL_ALIAS>
   <INDIVIDUAL_ALIAS><QUALITY>a.k.a.</QUALITY><ALIAS_NAME>Халид аз-Зубейди</ALIAS_NAME></INDIVIDUAL_ALIAS>
   <INDIVIDUAL_DOCUMENT><TYPE_OF_DOCUMENT>Passport</TYPE_OF_DOCUMENT><NUMBER>X1234567</NUMBER></INDIVIDUAL_DOCUMENT>
  </INDIVIDUAL>
 </INDIVIDUALS>
 <ENTITIES>
  <ENTITY><DATAID>900002</DATAID><FIRST_NAME>NUSRAT AL-FUQARA FOUNDATION</FIRST_NAME>
   <UN_LIST_TYPE>Al-Qaida</UN_LIST_TYPE><REFERENCE_NUMBER>QDe.902</REFERENCE_NUMBER>
   <LISTED_ON>2021-05-05</LISTED_ON>
   <ENTITY_ALIAS><QUALITY>Good</QUALITY><ALIAS_NAME>Muassasat Nusrat al-Fuqara</ALIAS_NAME></ENTITY_ALIAS>
   <ENTITY_ALIAS><QUALITY>Good</QUALITY><ALIAS_NAME>مؤسسة نصرة الفقراء (Nusrat Relief; Fuqara Aid)</ALIAS_NAME></ENTITY_ALIAS>
  </ENTITY>
 </ENTITIES>
</CONSOLIDATED_LIST>
"""

OFAC_SDN = (
    '7001,"ZUBAYDI, Khalid","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,'
    '"DOB 1980; a.k.a. \'ABU HAMZA AL-ZUBAYDI\'; Digital Currency Address - XBT '
    '1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa; alt. Digital Currency Address - ETH '
    '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed; Passport X1234567 (Syntheticland)."\r\n'
    '7002,"NUSRAT AL-FUQARA FOUNDATION",-0- ,"SDGT] [FTO",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,'
    '-0- \r\n'
    '\x1a'
)
OFAC_ALT = '7002,801,"aka","FUQARA RELIEF COMMITTEE",-0- \r\n7999,802,"aka","NOT LISTED",-0- \r\n'
OFAC_ADD = '7002,901,"1 Example Street","Example City","Syntheticland",-0- \r\n'

EU_XML = """<?xml version="1.0" encoding="UTF-8"?>
<export xmlns="http://eu.europa.ec/fpi/fsd/export" generationDate="2026-02-03T10:00:00.000+01:00">
 <sanctionEntity designationDetails="" unitedNationId="QDi.901" euReferenceNumber="EU.9001.01" logicalId="500001">
  <remark>Synthetic test entry.</remark>
  <regulation regulationType="amendment" organisationType="commission" publicationDate="2020-01-10" programme="TAQA" logicalId="1"/>
  <subjectType code="person" classificationCode="P"/>
  <nameAlias firstName="Khalid" middleName="" lastName="al-Zubaydi" wholeName="Khalid al-Zubaydi" strong="true" logicalId="2"/>
  <nameAlias wholeName="Халид Зубейди" nameLanguage="RU" strong="true" logicalId="3"/>
  <nameAlias wholeName="Abu Hamza" strong="false" logicalId="4"/>
  <identification number="X1234567" identificationTypeCode="passport" logicalId="5"/>
 </sanctionEntity>
</export>
"""

EU_CSV = (
    "fileGenerationDate;Entity_LogicalId;Entity_EU_ReferenceNumber;Entity_UnitedNationId;"
    "Entity_SubjectType;Entity_Regulation_Programme;NameAlias_WholeName;"
    "Identification_Number;Identification_TypeCode\n"
    "2026-02-03;500002;EU.9002.02;;enterprise;TAQA;Nusrat al-Fuqara Foundation;;\n"
    "2026-02-03;500002;EU.9002.02;;enterprise;TAQA;مؤسسة نصرة الفقراء;;\n"
    "2026-02-03;500002;EU.9002.02;;enterprise;TAQA;;REG-77;regnumber\n"
)

FTM = [
    {"id": "syn-person-1", "schema": "Person", "caption": "Khalid al-Zubaydi",
     "properties": {"name": ["Khalid al-Zubaydi"], "alias": ["خالد الزبيدي", "Халид аз-Зубейди"],
                    "weakAlias": ["Abu Hamza"], "topics": ["sanction", "crime.terror"],
                    "passportNumber": ["X1234567"]}},
    {"id": "syn-wallet-1", "schema": "CryptoWallet",
     "properties": {"publicKey": ["TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"], "currency": ["USDT"],
                    "holder": ["syn-person-1"]}},
    {"id": "syn-sanction-1", "schema": "Sanction",
     "properties": {"entity": ["syn-person-1"], "program": ["SDGT"], "authority": ["Synthetic"]}},
    {"id": "syn-org-1", "schema": "Organization", "caption": "Nusrat al-Fuqara",
     "properties": {"name": ["Nusrat al-Fuqara"],
                    "sanctions": [{"id": "s2", "schema": "Sanction",
                                   "properties": {"program": ["EU-TAQA"]}}]}},
    {"id": "syn-address-1", "schema": "Address", "properties": {"full": ["somewhere"]}},
]


@pytest.fixture
def files(tmp_path):
    d = tmp_path / "lists"
    d.mkdir()
    (d / "un.xml").write_text(UN_XML, encoding="utf-8")
    ofac = d / "ofac"
    ofac.mkdir()
    (ofac / "sdn.csv").write_bytes(OFAC_SDN.encode("latin-1"))
    (ofac / "alt.csv").write_bytes(OFAC_ALT.encode("latin-1"))
    (ofac / "add.csv").write_bytes(OFAC_ADD.encode("latin-1"))
    (d / "eu.xml").write_text(EU_XML, encoding="utf-8")
    (d / "eu.csv").write_text(EU_CSV, encoding="utf-8")
    (d / "os.json").write_text("\n".join(json.dumps(o, ensure_ascii=False) for o in FTM) + "\n",
                               encoding="utf-8")
    return d


def test_detect_format(files):
    assert detect_format(files / "un.xml") == "un_xml"
    assert detect_format(files / "ofac" / "sdn.csv") == "ofac_csv"
    assert detect_format(files / "eu.xml") == "eu_xml"
    assert detect_format(files / "eu.csv") == "eu_csv"
    assert detect_format(files / "os.json") == "ftm_json"


def test_un_xml(files):
    p = parse_file(files / "un.xml")
    assert p.published == "2026-01-02T03:04:05"
    person, org = p.entities
    assert person.list_ref == "QDi.901" and person.schema == "person"
    assert person.programmes == ["Al-Qaida"]
    kinds = dict(person.names)
    assert kinds["KHALID ABDULRAHMAN AL-ZUBAYDI"] == "primary"
    assert kinds["خالد عبد الرحمن الزبيدي"] == "original"
    assert kinds["Abu Hamza"] == "weak"
    assert kinds["Халид аз-Зубейди"] == "alias"
    assert ("passport", "X1234567", None) in person.identifiers
    # bracketed variants become names of their own
    assert {"مؤسسة نصرة الفقراء", "Nusrat Relief", "Fuqara Aid"} <= {n for n, _ in org.names}


def test_ofac_with_companions(files, store):
    res = import_list(store, files / "ofac" / "sdn.csv")
    assert (res.list_name, res.entities, res.wallets) == ("ofac_sdn", 2, 2)
    p = parse_file(files / "ofac" / "sdn.csv")
    khalid, org = p.entities
    assert ("ABU HAMZA AL-ZUBAYDI", "alias") in khalid.names
    assert ("crypto_wallet", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "XBT") in khalid.identifiers
    assert org.programmes == ["SDGT", "FTO"]
    assert ("FUQARA RELIEF COMMITTEE", "alias") in org.names  # from alt.csv
    assert org.data["addresses"] == ["1 Example Street, Example City, Syntheticland"]
    scr = Screener.load(store)
    hit = scr.screen("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")  # case-insensitive hex
    assert [(m.list_ref, m.score) for m in hit] == [("7001", 1.0)]
    assert "crypto_wallet_address" in hit[0].explanation[0]


def test_eu_xml_and_csv(files):
    p = parse_file(files / "eu.xml")
    (e,) = p.entities
    assert e.list_ref == "500001" and e.schema == "person" and e.programmes == ["TAQA"]
    assert e.data["eu_reference"] == "EU.9001.01" and e.data["un_reference"] == "QDi.901"
    assert ("Abu Hamza", "weak") in e.names and e.names[0] == ("Khalid al-Zubaydi", "primary")
    c = parse_file(files / "eu.csv")
    (o,) = c.entities
    assert o.caption == "Nusrat al-Fuqara Foundation" and o.schema == "organization"
    assert len(o.names) == 2 and ("regnumber", "REG-77", None) in o.identifiers


def test_ftm_json(files):
    p = parse_file(files / "os.json")
    by = {e.list_ref: e for e in p.entities}
    assert set(by) == {"syn-person-1", "syn-org-1"}
    person = by["syn-person-1"]
    assert ("crypto_wallet", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "USDT") in person.identifiers
    assert person.programmes == ["SDGT"] and person.data["topics"] == ["sanction",
                                                                      "crime.terror"]
    assert {"خالد الزبيدي", "Халид аз-Зубейди"} <= {n for n, _ in person.names}
    assert by["syn-org-1"].programmes == ["EU-TAQA"]


def test_ftm_lines_are_read_in_bounded_pieces(files, tmp_path, monkeypatch):
    """An overlong line is refused, naming it, before it is held whole."""
    from rasd.detect.finance import lists as L

    monkeypatch.setattr(L, "FTM_MAX_LINE", 2000)
    good = (files / "os.json").read_bytes()
    f = tmp_path / "big.json"
    f.write_bytes(good + b'{"schema": "Person", "id": "x", "caption": "' + b"a" * 10_000 + b'"}\n')
    with pytest.raises(ListFormatError, match=r"big\.json:\d+: line over"):
        parse_file(f, "ftm_json")
    assert len(parse_file(files / "os.json", "ftm_json").entities) == 2


def test_reimport_replaces_and_status(files, store):
    import_list(store, files / "un.xml")
    again = import_list(store, files / "un.xml")
    assert again.replaced
    import_list(store, files / "os.json", name="my_list")
    with store.connect() as c:
        assert c.execute(select(func.count()).select_from(F.fin_entities)).scalar_one() == 4
    st = {s["list"]: s for s in list_status(store)}
    assert st["un_sc"]["entities"] == 2 and st["my_list"]["wallets"] == 1
    assert st["un_sc"]["top_programmes"] == {"Al-Qaida": 2}


@pytest.mark.parametrize("fmt", ["ofac_csv", "eu_csv", "ftm_json"])
def test_a_file_with_no_entity_leaves_the_list_as_it_was(files, store, tmp_path, fmt):
    """An empty (or blank, or cut-short) file read as a list of nothing, and the
    import replaced the list with it: screening then found no one."""
    import_list(store, files / "un.xml", name="mine")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ListFormatError, match="empty.txt: no entity read.*'mine' is left"):
        import_list(store, empty, fmt=fmt, name="mine")
    assert {s["list"]: s for s in list_status(store)}["mine"]["entities"] == 2


def test_hostile_inputs(tmp_path):
    bomb = tmp_path / "bomb.xml"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                    '<!ENTITY lol2 "&lol;&lol;">]><CONSOLIDATED_LIST>&lol2;</CONSOLIDATED_LIST>')
    with pytest.raises(ListFormatError, match="unsafe XML|XML"):
        parse_file(bomb, "un_xml")
    bad = tmp_path / "bad.csv"
    bad.write_text('12,"NAME",-0- ,"SDGT"\nxx,"OTHER",-0- ,"SDGT"\n')
    with pytest.raises(ListFormatError, match=r"bad.csv:2: field ent_num"):
        parse_file(bad)
    js = tmp_path / "x.json"
    js.write_text('{"schema": "Person", "id": "a", "properties": {"name": ["A B"]}}\n{oops\n')
    with pytest.raises(ListFormatError, match=r"x.json:2: not JSON"):
        parse_file(js)
    unknown = tmp_path / "u.txt"
    unknown.write_text("hello\n")
    with pytest.raises(ListFormatError, match="pass --format"):
        parse_file(unknown)


@pytest.mark.shared_data
def test_a_bracket_inside_a_name_is_no_name_of_its_own():
    from rasd.detect.finance.lists import ListEntity

    e = ListEntity("15616", "organization", "x")
    e.add_name("LEADER (HONG KONG) INTERNATIONAL TRADING LIMITED", "primary")
    assert e.names == [("LEADER INTERNATIONAL TRADING LIMITED", "primary")]
    e = ListEntity("1", "person", "x")
    e.add_name("أبو بكر البغدادي (Abu Bakr al-Baghdadi; Abu Bakr)", "primary")
    assert [n for n, _ in e.names] == ["أبو بكر البغدادي", "Abu Bakr al-Baghdadi", "Abu Bakr"]
    e = ListEntity("2", "organization", "x")
    e.add_name("X CORP (ALPHA) (BETA GROUP)", "primary")
    assert [n for n, _ in e.names] == ["X CORP", "ALPHA", "BETA GROUP"]


def test_real_lists(shared_data, sqlite_store):
    d = shared_data / "sanctions"
    if not d.is_dir():
        pytest.skip("no sanctions folder in shared data")
    un = import_list(sqlite_store, d / "un_sc_consolidated_2018-10-29.xml")
    assert un.entities == 1093  # 703 individuals + 390 entities (SOURCE.txt)
    assert un.scripts.get("Arabic", 0) > 300
    ofac = import_list(sqlite_store, d / "ofac_sdn_2024-05-03.csv")
    assert ofac.entities == 14965 and ofac.wallets > 200
    scr = Screener.load(sqlite_store)
    top = scr.screen("أيمن الظواهري")[0]
    assert top.list_ref in ("QDi.006", "2676")
    assert scr.screen("Айман аз-Завахири")[0].list_ref in ("QDi.006", "2676")
    # an OFAC-listed wallet is found exactly
    assert scr.screen("12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h")[0].list_ref == "25308"
    # "LEADER (HONG KONG) INTERNATIONAL …" (UN KPe.017, OFAC 15616): a bracket inside
    # a name qualifies it; "HONG KONG" was a name of theirs, named in 20 posts of the
    # shared data; a bracket at the end still gives names ("… (TTP)")
    assert not scr.find_in_text("Thousands marched in Hong Kong on Sunday")
    assert any(m.matched_name == "TTP" or m.name.startswith("TEHRIK-E TALIBAN")
               for m in scr.screen("TTP", threshold=0.9))


def test_every_ftm_field_with_hostile_values(store, tmp_path):
    """A designation list is input too: each name the FtM reader knows, set to
    each hostile value in each object (two levels) of the demo entities, is read
    or refused with a ListFormatError naming file and line ("properties" that
    were no object, a "schema" that was a list, raised AttributeError or
    TypeError); all that is read imports together, and screening works on it."""
    from pathlib import Path

    from tests.test_ingest_hostile import HOSTILE_VALUES, _parser_keys, _variants

    src = Path(__file__).resolve().parents[1] / "src/rasd/data/demo/lists"
    objs = [json.loads(x) for x in (src / "demo_opensanctions.ftm.json").read_text().splitlines()]
    keys = _parser_keys("../detect/finance/lists")
    f = tmp_path / "one.ftm.json"
    ok = []
    named = [dict(objs[0], caption=h, properties={**objs[0]["properties"], "name": [h],
                                                  "alias": [h, "ok"]})
             for h in HOSTILE_VALUES]  # every value in the names, whatever the sampling
    variants = [*named, *(x for o in objs for x in _variants(o, keys, depth=2, most=2500))]
    for i, v in enumerate(variants):
        f.write_text(json.dumps(v, default=str) + "\n")
        try:
            parse_file(f, "ftm_json")
        except ListFormatError as e:
            assert f"{f}:1:" in str(e), str(e)
            continue
        except Exception as e:
            raise AssertionError(f"{json.dumps(v, default=str)[:300]}: "
                                 f"{type(e).__name__}: {e}") from e
        ok.append(dict(v, id=f"{v['id']}-{i}") if isinstance(v.get("id"), str) else v)
    assert len(ok) > 5000
    sentinel = {"id": "sentinel", "schema": "Organization", "caption": "Zarqun Velomir Brigade",
                "properties": {"name": ["Zarqun Velomir Brigade"]}}
    f.write_text("".join(json.dumps(v, default=str) + "\n" for v in [*ok, sentinel]))
    res = import_list(store, f, fmt="ftm_json", name="hostile")
    assert res.entities > 1000
    scr = Screener.load(store)
    assert scr.screen("Zarqun Velomir Brigade")[0].list_ref == "sentinel"
    for v in (*[x for x in objs[0]["properties"]["alias"]], "a\x00b", "y" * 5000, "\u202e"):
        assert isinstance(scr.screen(v), list)


@pytest.mark.parametrize("fmt", ["un_xml", "eu_xml"])
def test_every_xml_value_with_hostile_text(tmp_path, fmt):
    """Each text and attribute value of an XML list replaced by hostile text, one
    at a time: the list is read or refused with a ListFormatError naming it (an
    encoding the XML declaration named that Python does not know raised
    LookupError)."""
    import re

    doc = UN_XML if fmt == "un_xml" else EU_XML
    values = ("", "y" * 5000, "\u202e", "١٢٣", "2024-13-45", "-1", "1e400", "&amp;&lt;",
              "<![CDATA[x]]>", "   ", "&#0;", "&unknown;")
    texts = [m.span(1) for m in re.finditer(r">([^<>]+)<", doc)]
    attrs = [m.span(1) for m in re.finditer(r'="([^"]*)"', doc)]
    f = tmp_path / f"list.{fmt[-3:]}"
    n = 0
    for a, b in texts + attrs:
        for v in values:
            f.write_text(doc[:a] + v.replace('"', "") + doc[b:], "utf-8")
            try:
                parse_file(f, fmt)
            except ListFormatError as e:
                assert str(f) in str(e)
            except Exception as e:
                raise AssertionError(f"{doc[max(a - 40, 0):a]!r} + {v[:20]!r}: "
                                     f"{type(e).__name__}: {e}") from e
            n += 1
    assert n > 300


def test_status_counts_names_per_script(files, sqlite_store, tmp_path, monkeypatch):
    """`rasd lists status` says how many names each list holds in each script."""
    from typer.testing import CliRunner

    from rasd.cli import app, common

    monkeypatch.setattr(common.STATE, "store", None)
    store = sqlite_store
    res = import_list(store, files / "un.xml")
    st = list_status(store)[0]
    assert set(st["scripts"]) == {"Arabic", "Latin", "Cyrillic", "other"}
    assert sum(st["scripts"].values()) == st["names"]
    want = {"Arabic": 0, "Latin": 0, "Cyrillic": 0, "other": 0}
    for k, v in res.scripts.items():
        want[k if k in want else "other"] += v
    assert st["scripts"] == want and st["scripts"]["Arabic"] >= 1
    out = CliRunner().invoke(app, ["--db", str(tmp_path / "rasd.db"), "lists", "status"])
    assert out.exit_code == 0, out.output
    assert (f"names per script: Arabic {want['Arabic']}, Latin {want['Latin']}, "
            f"Cyrillic {want['Cyrillic']}, other {want['other']}") in out.output


def test_import_and_status_count_names_per_script_in_the_same_words(tmp_path, monkeypatch):
    """README walkthrough: `rasd lists import` printed "none 5" (and "Greek 1",
    "Han 1") where `rasd lists status` said "other 7" for the same names. Both
    now count in Arabic, Latin, Cyrillic and other, and print them alike."""
    import re

    from typer.testing import CliRunner

    from rasd.cli import app, common

    monkeypatch.setattr(common.STATE, "store", None)
    objs = [{"id": "syn-p", "schema": "Person", "caption": "Khalid al-Zubaydi",
             "properties": {"name": ["Khalid al-Zubaydi"],
                            "alias": ["خالد الزبيدي", "Халид", "Χαλίντ", "哈立德", "1234", "---"],
                            "topics": ["sanction"]}}]
    f = tmp_path / "mixed.ftm.json"
    f.write_text("\n".join(json.dumps(o, ensure_ascii=False) for o in objs) + "\n",
                 encoding="utf-8")
    db = str(tmp_path / "rasd.db")
    runner = CliRunner()
    imp = runner.invoke(app, ["--db", db, "lists", "import", str(f), "--name", "mixed"])
    assert imp.exit_code == 0, imp.output
    common.STATE.store = None
    st = runner.invoke(app, ["--db", db, "lists", "status"])
    assert st.exit_code == 0, st.output
    want = "Arabic 1, Latin 1, Cyrillic 1, other 4"
    assert f"names [{want}]" in imp.stdout, imp.stdout
    assert f"names per script: {want}" in st.stdout, st.stdout
    for out in (imp.stdout, st.stdout):
        assert not re.search(r"\b(none|Greek|Han)\b", out), out
    common.STATE.store = None
    js = json.loads(runner.invoke(app, ["--db", db, "lists", "import", str(f), "--name",
                                        "mixed", "--json"]).stdout)
    assert js["scripts"] == {"Arabic": 1, "Latin": 1, "Cyrillic": 1, "other": 4}


def test_long_free_form_dates_and_codes_are_bounded_on_both_stores(store, tmp_path):
    """Found by the hostile-values test on PostgreSQL (sampled, so not every
    run): an FtM ``createdAt`` longer than its column (40) ended the import
    with "value too long"; SQLite does not enforce lengths."""
    f = tmp_path / "long.ftm.json"
    f.write_text(json.dumps({"id": "e1", "schema": "Organization", "caption": "Long Date Front",
                             "properties": {"name": ["Long Date Front"],
                                            "createdAt": ["2020-01-01" + "x" * 300]}}) + "\n")
    res = import_list(store, f, fmt="ftm_json", name="long")
    assert res.entities == 1


def test_an_ofac_ent_num_twice_is_an_error_naming_both_lines(tmp_path, store):
    """Two sdn.csv rows of one ent_num: the later replaced the earlier without a
    word (its names and wallets lost), and the import said nothing."""
    f = tmp_path / "sdn.csv"
    f.write_text('7001,"ZUBAYDI, Khalid","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,'
                 '-0- ,-0- \r\n'
                 '7001,"OTHER, Name","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,'
                 '-0- ,-0- \r\n')
    with pytest.raises(ListFormatError, match=r"sdn.csv:2: field ent_num: 7001 occurs twice "
                                              r"\(first on line 1\)"):
        import_list(store, f, name="dup")
    assert not [s for s in list_status(store) if s["list"] == "dup"]


def test_references_alike_in_their_stored_200_characters_are_an_error(tmp_path, store):
    """Two FtM ids alike in their first 200 characters (all the store keeps) were
    the store's IntegrityError traceback out of `rasd lists import`."""
    f = tmp_path / "long_ids.ftm.json"
    f.write_text("".join(json.dumps({"id": "x" * 200 + tail, "schema": "Person",
                                     "properties": {"name": [name]}}) + "\n"
                         for tail, name in (("A", "Abc Def"), ("B", "Ghi Jkl"))))
    with pytest.raises(ListFormatError, match=r"long_ids.ftm.json: reference 'x+' occurs "
                                              r"twice \(in its first 200 characters"):
        import_list(store, f, fmt="ftm_json", name="long_ids")
    assert not [s for s in list_status(store) if s["list"] == "long_ids"]


def test_a_utf8_csv_with_a_stray_byte_is_an_error_not_latin1(tmp_path, store):
    """An EU CSV export (UTF-8) with one byte that is not UTF-8 was read whole as
    Latin-1: every Arabic name mojibake, never matched, and the import said
    nothing. A Latin-1 file (OFAC's legacy encoding) is still read as Latin-1."""
    f = tmp_path / "eu.csv"
    f.write_bytes("fileGenerationDate;Entity_LogicalId;Entity_SubjectType;NameAlias_WholeName\n"
                  "2024-01-01;101;person;خالد القسواري\n".encode()
                  + b"2024-01-01;102;person;Ab\xffc\n")
    with pytest.raises(ListFormatError, match=r"eu.csv:3: not UTF-8 \(byte 0xff\), though "
                                              r"the file is UTF-8 elsewhere"):
        import_list(store, f, name="eu_bad")
    assert not [s for s in list_status(store) if s["list"] == "eu_bad"]
    latin = tmp_path / "sdn.csv"
    latin.write_bytes(b'1,"M\xfcller, Hans","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,'
                      b'-0- ,-0- \r\n')
    import_list(store, latin, name="latin")
    assert Screener.load(store, ["latin"]).entries[0].name == "Müller, Hans"


def test_an_entity_of_many_aliases_is_read_in_linear_time(tmp_path):
    """Each new name was looked up in the entity's list of names: one FtM line of
    20,000 aliases took 13 s, 200,000 (2.4 MB of the 50 MB a line may hold) hours."""
    import time

    f = tmp_path / "many.ftm.json"
    f.write_text(json.dumps({"id": "a", "schema": "Person", "caption": "N0000007 x",
                             "properties": {"name": [f"N{i:07d} x" for i in range(30_000)],
                                            "programId": [f"P{i}" for i in range(30_000)]}})
                 + "\n" + json.dumps({"id": "a", "schema": "Person", "caption": "other",
                                      "properties": {"alias": ["N0000001 x", "Late Alias"]}})
                 + "\n")
    t0 = time.monotonic()
    [e] = parse_file(f).entities
    assert time.monotonic() - t0 < 5
    assert len(e.names) == 30_001 and len(e.programmes) == 30_000
    # one primary, the caption's name (of the line that first gave the entity)
    assert [n for n, k in e.names if k == "primary"] == ["N0000007 x"]
    assert e.names[-1] == ("Late Alias", "alias")


@pytest.mark.parametrize("bad, says", [("", "--name: empty"), ("  ", "--name: empty"),
                                       ("a\nb", "at most 100 printable"),
                                       ("n" * 101, "at most 100 printable")])
def test_a_blank_or_unprintable_list_name_is_refused(files, store, bad, says):
    """`--name ""` (an unset shell variable) took the format's default name and
    replaced that list without a word; a name over its column was PostgreSQL's
    traceback; a line break in one forged lines of `rasd lists status`."""
    import_list(store, files / "un.xml")
    with pytest.raises(ListFormatError, match=says):
        import_list(store, files / "un.xml", name=bad)
    assert [s["list"] for s in list_status(store)] == ["un_sc"]


def test_a_companion_missing_unnamed_or_misplaced_is_an_error(files, store, tmp_path):
    """A --companion that was missing or a directory was a FileNotFoundError or
    IsADirectoryError traceback; one named neither alt, add nor comments, or given
    with a list that is no OFAC CSV, was read as nothing without a word."""
    sdn = tmp_path / "o" / "sdn.csv"
    sdn.parent.mkdir()
    sdn.write_text(OFAC_SDN)
    names = tmp_path / "names.csv"
    names.write_text(OFAC_ALT)
    for comp, says in ((tmp_path / "nope.csv", "nope.csv: no such file"),
                       (tmp_path, "a directory, not a companion file"),
                       (names, "names.csv: cannot tell from its name which OFAC companion")):
        with pytest.raises(ListFormatError, match=says):
            import_list(store, sdn, companions=[comp], name="o")
    with pytest.raises(ListFormatError, match="companion file is for an OFAC SDN CSV"):
        import_list(store, files / "un.xml", companions=[names], name="o")
    assert not list_status(store)
    alt = tmp_path / "my_alt.csv"
    alt.write_text(OFAC_ALT)
    assert import_list(store, sdn, companions=[alt], name="o").names > 0


def test_an_ftm_file_that_starts_with_a_bom_is_read(tmp_path, store):
    """A UTF-8 byte order mark (saved by a Windows editor) was detected as FtM JSON
    and then refused: "not JSON: UTF-8 byte order mark (BOM) is not supported"."""
    f = tmp_path / "bom.ftm.json"
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "a", "schema": "Person", "properties": {
        "name": ["Abc Def"]}}).encode() + b"\r\n")
    assert import_list(store, f, name="bom").names == 1


@pytest.mark.parametrize("prop, values", [("name", ["Ab Cd", 1]), ("alias", [["Ab Cd"]]),
                                           ("passportNumber", [{"n": "X1"}])])
def test_an_ftm_name_or_identifier_that_is_no_string_is_an_error(tmp_path, store, prop, values):
    """FtM's values are strings; a number, a list or an object among a name's
    or an identifier's values was passed over without a word (the rest of the
    entity imported as if whole)."""
    f = tmp_path / "odd.ftm.json"
    f.write_text(json.dumps({"id": "a", "schema": "Person", "properties": {
        "name": ["Ef Gh"], prop: values}}) + "\n")  # (prop "name" replaces the first)
    k = len(values) - 1
    with pytest.raises(ListFormatError, match=rf"odd.ftm.json:1: field properties.{prop}"
                       rf"\[{k}\]: expected a string, got "):
        import_list(store, f, name="odd")
    assert "odd" not in {s["list"] for s in list_status(store)}


def test_a_csv_list_cut_short_mid_row_leaves_the_list_as_it_was(files, store, tmp_path):
    """A download cut short inside a row was read up to its last whole field: the
    rows before it replaced the whole list, without a word."""
    import_list(store, files / "ofac" / "sdn.csv", name="ofac")
    cut = tmp_path / "sdn.csv"
    cut.write_text(OFAC_SDN[:OFAC_SDN.index("7002")] + '7002,"NUSRAT AL-FUQARA FOUNDATION",-0- ,'
                   '"SDGT] [FTO",-0- ,-0-')
    with pytest.raises(ListFormatError, match=r"sdn.csv:2: the file ends inside this line"):
        import_list(store, cut, name="ofac")
    assert {s["list"]: s for s in list_status(store)}["ofac"]["entities"] == 2
    cut.write_text(OFAC_SDN)  # whole, it ends with a line break and the DOS end-of-file mark
    assert import_list(store, cut, name="ofac").entities == 2
    eu = (files / "eu.csv").read_text(encoding="utf-8").rstrip("\r\n")  # (the EU's last
    (tmp_path / "eu.csv").write_text(eu, encoding="utf-8")  # byte is not known: read)
    assert import_list(store, tmp_path / "eu.csv", name="eu").entities > 0
