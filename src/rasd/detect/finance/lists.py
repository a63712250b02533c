"""Import designation lists: UN consolidated XML, OFAC SDN CSV, EU consolidated
(XML or CSV), OpenSanctions / FollowTheMoney JSON lines.

Each parser yields :class:`ListEntity` records (every alias in every script,
programmes, identifiers including the digital-currency addresses OFAC lists);
:func:`import_list` stores them, replacing an earlier import of the same list.

Input is untrusted: XML is parsed with defusedxml (no entity expansion, no
external entities), files over ``MAX_LIST_BYTES`` are refused, and errors name
the file, line or record and field.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from defusedxml import ElementTree as DET
from sqlalchemy import delete, func, insert, select

from rasd.detect.finance import schema as F
from rasd.detect.finance.names import dominant_script, normalize
from rasd.detect.finance.screen import identifier_norm
from rasd.envvars import env_int
from rasd.paths import not_a_file
from rasd.store.db import now, storable

MAX_LIST_BYTES = env_int("RASD_MAX_LIST_BYTES", 1 << 30, 1, 2**62)
MAX_NAME_LEN = 1000
FORMATS = ("un_xml", "ofac_csv", "eu_xml", "eu_csv", "ftm_json")
DEFAULT_NAMES = {"un_xml": "un_sc", "ofac_csv": "ofac_sdn", "eu_xml": "eu_fsf",
                 "eu_csv": "eu_fsf", "ftm_json": "opensanctions"}


class ListFormatError(ValueError):
    """A list file that cannot be read; the message names file and position."""


@dataclass(slots=True)
class ListEntity:
    list_ref: str
    schema: str  # person, organization, vessel, aircraft, other
    caption: str
    programmes: list[str] = field(default_factory=list)
    names: list[tuple[str, str]] = field(default_factory=list)  # (name, kind)
    identifiers: list[tuple[str, str, str | None]] = field(default_factory=list)
    listed_on: str | None = None
    remarks: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # the names and programmes held, for membership: looking each new one up in the
    # list made an entity of 20,000 aliases (one FtM line) take 13 s, 200,000 hours
    _names_seen: set[str] = field(default_factory=set, repr=False)
    _progs_seen: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self._progs_seen.update(self.programmes)

    def add_programme(self, prog: str) -> None:
        if prog not in self._progs_seen:
            self._progs_seen.add(prog)
            self.programmes.append(prog)

    def add_name(self, name: str | None, kind: str) -> None:
        if not name:
            return
        # "أبو بكر البغدادي (Abu Bakr al-Baghdadi; Abu Bakr)": each bracketed
        # variant at the end is a name of its own; one inside the name qualifies it
        # ("LEADER (HONG KONG) INTERNATIONAL TRADING LIMITED", "… (PVT.) LIMITED"):
        # "HONG KONG" is no name of the company, and made every post about Hong
        # Kong name it
        found = list(re.finditer(r"\(([^()]{2,500})\)", name))
        if found and len(name) <= MAX_NAME_LEN:
            outer = re.sub(r"\([^()]*\)", " ", name)
            self.add_name(outer, kind)
            for m in found:
                rest = re.sub(r"\([^()]*\)", " ", name[m.end():])
                if rest.strip(" \t\r\n.,;"):  # more of the name follows
                    continue
                for v in re.split(r";\s*", m.group(1)):
                    if len(v.strip()) >= 3 and not v.strip().isdigit():
                        self.add_name(v, "alias" if kind == "primary" else kind)
            return
        name = re.sub(r"\s+", " ", name).strip().strip(",;")[:MAX_NAME_LEN]
        if name and name not in self._names_seen:
            self._names_seen.add(name)
            self.names.append((name, kind))


@dataclass(slots=True)
class ParsedList:
    format: str
    published: str | None
    entities: list[ListEntity]


# --------------------------------------------------------------- detection
def detect_format(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(4096)
    text = head.decode("utf-8", "replace").lstrip("\ufeff")
    if text.lstrip().startswith("<"):
        if "CONSOLIDATED_LIST" in text:
            return "un_xml"
        if "sanctionEntity" in text or "fsd/export" in text or "<export" in text:
            return "eu_xml"
        raise ListFormatError(f"{path}: XML, but neither a UN consolidated list nor an EU "
                              "consolidated list export; pass --format")
    if text.lstrip().startswith("{"):
        return "ftm_json"
    first = text.splitlines()[0] if text else ""
    if "Entity_LogicalId" in first:
        return "eu_csv"
    if re.match(r'^\d+,"', first):
        return "ofac_csv"
    raise ListFormatError(f"{path}: cannot tell the list format from its first line; "
                          f"pass --format one of {', '.join(FORMATS)}")


def _check_file(path: Path, what: str = "list file") -> None:
    """A regular file of at most ``MAX_LIST_BYTES``, or a ``ListFormatError``."""
    why = not_a_file(path, what)
    if why is not None:
        raise ListFormatError(f"{path}: {why}")
    _check_size(path)


def _check_size(path: Path) -> None:
    size = path.stat().st_size
    if size > MAX_LIST_BYTES:
        raise ListFormatError(f"{path}: {size} bytes is over the limit of {MAX_LIST_BYTES} "
                              "(RASD_MAX_LIST_BYTES)")


# ---------------------------------------------------------------------- UN
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _txt(el: Any, tag: str) -> str | None:
    c = el.find(tag)
    if c is None or c.text is None:
        return None
    v = c.text.strip()
    return v or None


def parse_un_xml(path: Path) -> ParsedList:
    """UN Security Council consolidated list (scsanctions.un.org XML)."""
    published = None
    ents: list[ListEntity] = []
    with _xml_errors(path):
        for event, el in DET.iterparse(str(path), events=("start", "end"),
                                       forbid_dtd=True):
            tag = _local(el.tag)
            if event == "start":
                if tag == "CONSOLIDATED_LIST":
                    published = el.get("dateGenerated")
                continue
            if tag not in ("INDIVIDUAL", "ENTITY"):
                continue
            ref = _txt(el, "REFERENCE_NUMBER") or _txt(el, "DATAID")
            if not ref:
                raise ListFormatError(f"{path}: {tag} DATAID={_txt(el, 'DATAID')} has no "
                                      "REFERENCE_NUMBER")
            parts = [_txt(el, t) for t in ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME",
                                           "FOURTH_NAME")]
            primary = " ".join(p for p in parts if p)
            e = ListEntity(ref, "person" if tag == "INDIVIDUAL" else "organization",
                           primary or ref, listed_on=_txt(el, "LISTED_ON"),
                           remarks=_txt(el, "COMMENTS1"))
            lt = _txt(el, "UN_LIST_TYPE")
            if lt:
                e.programmes.append(lt)
            e.add_name(primary, "primary")
            e.add_name(_txt(el, "NAME_ORIGINAL_SCRIPT"), "original")
            for al in el.findall(f"{tag}_ALIAS"):
                name = _txt(al, "ALIAS_NAME")
                quality = (_txt(al, "QUALITY") or "").lower()
                e.add_name(name, "weak" if quality == "low" else "alias")
            for doc in el.findall("INDIVIDUAL_DOCUMENT"):
                num = _txt(doc, "NUMBER")
                typ = (_txt(doc, "TYPE_OF_DOCUMENT") or "document").lower()
                if num:
                    e.identifiers.append(("passport" if "passport" in typ else "national_id"
                                          if "national" in typ else "document", num, None))
            e.data = {k: v for k, v in {
                "dataid": _txt(el, "DATAID"),
                "nationality": [v.text.strip() for v in el.findall("NATIONALITY/VALUE")
                                if v.text and v.text.strip()],
                "designation": [v.text.strip() for v in el.findall("DESIGNATION/VALUE")
                                if v.text and v.text.strip()],
                "dob": [d.text.strip() for d in el.findall("INDIVIDUAL_DATE_OF_BIRTH/DATE")
                        + el.findall("INDIVIDUAL_DATE_OF_BIRTH/YEAR") if d.text],
            }.items() if v}
            ents.append(e)
            el.clear()
    return ParsedList("un_xml", published, ents)


@contextmanager
def _xml_errors(path: Path) -> Iterator[None]:
    """An XML list that cannot be read is a ``ListFormatError`` naming it: a
    syntax error, an encoding its declaration names that Python does not know
    (LookupError), or defusedxml's refusal of a DTD or entity."""
    try:
        yield
    except DET.ParseError as exc:
        raise ListFormatError(f"{path}: XML error: {exc}") from exc
    except LookupError as exc:
        raise ListFormatError(f"{path}: XML in an unknown encoding: {str(exc)[:100]}") from exc
    except Exception as exc:  # defusedxml's DTD/entity refusals
        if type(exc).__module__.startswith("defusedxml"):
            raise ListFormatError(f"{path}: refused unsafe XML ({type(exc).__name__})") from exc
        raise


# -------------------------------------------------------------------- OFAC
_OFAC_NULL = "-0-"
_OFAC_AKA = re.compile(r"\b(a\.k\.a\.|f\.k\.a\.|n\.k\.a\.)\s*'([^']{1,500})'", re.IGNORECASE)
_OFAC_WALLET = re.compile(r"Digital Currency Address - ([A-Z0-9]{2,8})\s+([A-Za-z0-9]{20,120})")
_OFAC_IDS = [
    (re.compile(r"Passport\s+([A-Z0-9][A-Z0-9\- ]{3,30}?)\s*(?:\(|;|$)"), "passport"),
    (re.compile(r"National ID No\.\s+([A-Z0-9][A-Z0-9\- ]{3,30}?)\s*(?:\(|;|$)"), "national_id"),
    (re.compile(r"Email Address\s+(\S+@\S+?)(?:;|\s|$)"), "email"),
]
_OFAC_TYPES = {"individual": "person", "vessel": "vessel", "aircraft": "aircraft"}


def _ofac_value(v: str | None) -> str | None:
    if v is None:
        return None
    v = v.strip()
    return None if not v or v == _OFAC_NULL else v


def _read_csv_rows(path: Path, *, delimiter: str = ",",
                   ends_a_line: bool = False) -> Iterator[tuple[int, list[str]]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # OFAC's legacy files are Latin-1; but a UTF-8 file (the EU's CSV export) with
        # one stray byte was read whole as Latin-1, every Arabic or Cyrillic name in it
        # mojibake that screening never matched, and the import said nothing
        if any(ord(ch) > 0x7F and ch != "\ufffd" for ch in raw.decode("utf-8", "replace")):
            line = raw.count(b"\n", 0, exc.start) + 1
            raise ListFormatError(
                f"{path}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x}), though the file is "
                "UTF-8 elsewhere: a file of mixed encodings; repair or download it "
                "again") from exc
        text = raw.decode("latin-1")
    # a download cut short mid-row was read up to its last whole field: 149 of
    # OFAC's 14,966 entries replaced the list, the last one's remarks cut off, without
    # a word. ``ends_a_line``: OFAC's files end with a line break (then its DOS
    # end-of-file mark). (Not asked of the EU's CSV, whose last byte is not known here.)
    end = text.rstrip(" \t\x1a")
    if ends_a_line and end and not end.endswith(("\n", "\r")):
        raise ListFormatError(f"{path}:{end.count(chr(10)) + 1}: the file ends inside this "
                              "line, with no line break: cut short? (a whole list ends with "
                              "one; the list is left as it was)")
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter)
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:
        raise ListFormatError(f"{path}:{reader.line_num}: CSV error: {exc}") from exc


def _ofac_remarks(e: ListEntity, remarks: str) -> None:
    for m in _OFAC_AKA.finditer(remarks):
        e.add_name(m.group(2), "former" if m.group(1).lower().startswith("f") else "alias")
    for m in _OFAC_WALLET.finditer(remarks):
        e.identifiers.append(("crypto_wallet", m.group(2), m.group(1)))
    for pat, typ in _OFAC_IDS:
        for m in pat.finditer(remarks):
            e.identifiers.append((typ, m.group(1).strip(), None))


def parse_ofac_csv(path: Path, companions: list[Path] | None = None) -> ParsedList:
    """OFAC SDN legacy CSV (sdn.csv), plus alt.csv / add.csv / sdn_comments.csv when
    given or found beside it. Aliases and digital-currency addresses are read
    from the Remarks column (and the companions where present)."""
    ents: dict[str, ListEntity] = {}
    first_line: dict[str, int] = {}  # ent_num -> the line it was read from
    for line, row in _read_csv_rows(path, ends_a_line=True):
        if not row or all(not c.strip(" \t\r\n\x1a") for c in row):
            continue  # blank lines and the DOS end-of-file mark OFAC files end with
        if len(row) < 4:
            raise ListFormatError(f"{path}:{line}: expected 12 columns (ent_num, SDN_Name, "
                                  f"SDN_Type, Program …), got {len(row)}")
        uid = row[0].strip()
        if not uid.isdigit():
            raise ListFormatError(f"{path}:{line}: field ent_num: not a number: {uid[:40]!r}")
        if uid in first_line:  # the later row replaced the earlier one without a word
            raise ListFormatError(f"{path}:{line}: field ent_num: {uid} occurs twice (first on "
                                  f"line {first_line[uid]})")
        first_line[uid] = line
        name = _ofac_value(row[1])
        if not name:
            raise ListFormatError(f"{path}:{line}: field SDN_Name is empty")
        typ = _OFAC_TYPES.get((_ofac_value(row[2]) or "").lower(), "organization")
        progs = [p.strip(" []") for p in (_ofac_value(row[3]) or "").split("] [") if p.strip()]
        remarks = _ofac_value(row[11]) if len(row) > 11 else None
        e = ListEntity(uid, typ, name, programmes=progs, remarks=remarks)
        title = _ofac_value(row[4]) if len(row) > 4 else None
        if title:
            e.data["title"] = title
        e.add_name(name, "primary")
        if remarks:
            _ofac_remarks(e, remarks)
        ents[uid] = e
    comps = list(companions or [])
    for sib in ("alt.csv", "add.csv", "sdn_comments.csv", "ALT.CSV", "ADD.CSV"):
        p = path.with_name(sib)
        if p.exists() and p not in comps:
            comps.append(p)
    for comp in comps:
        _ofac_companion(comp, ents)
    return ParsedList("ofac_csv", None, list(ents.values()))


def _ofac_companion(path: Path, ents: dict[str, ListEntity]) -> None:
    # a --companion that was missing or a directory was a FileNotFoundError or
    # IsADirectoryError traceback; one whose name said none of alt, add or comments
    # (names.csv) was read as nothing, its aliases lost without a word
    _check_file(path, "companion file")
    kind = path.name.lower()
    if not any(k in kind for k in ("alt", "add", "comments")):
        raise ListFormatError(f"{path}: cannot tell from its name which OFAC companion it is; "
                              "name it alt.csv, add.csv or sdn_comments.csv")
    for line, row in _read_csv_rows(path, ends_a_line=True):
        if not row or not row[0].strip().isdigit():
            continue
        e = ents.get(row[0].strip())
        if e is None:
            continue  # an entry of another list version; ignored
        if "alt" in kind:
            if len(row) < 4:
                raise ListFormatError(f"{path}:{line}: alt.csv rows have 5 columns")
            alt_type = (_ofac_value(row[2]) or "aka").lower()
            e.add_name(_ofac_value(row[3]), "weak" if alt_type.startswith("weak")
                       else "former" if alt_type == "fka" else "alias")
        elif "add" in kind:
            addr = ", ".join(v for v in (_ofac_value(c) for c in row[2:5]) if v)
            if addr:
                e.data.setdefault("addresses", []).append(addr)
        elif "comments" in kind and len(row) > 1:
            extra = _ofac_value(row[1])
            if extra:
                e.remarks = (e.remarks or "") + " " + extra
                _ofac_remarks(e, extra)


# ---------------------------------------------------------------------- EU
def parse_eu_xml(path: Path) -> ParsedList:
    """EU consolidated financial sanctions list, XML export (schema 1.1)."""
    published = None
    ents: list[ListEntity] = []
    with _xml_errors(path):
        for event, el in DET.iterparse(str(path), events=("start", "end"), forbid_dtd=True):
            tag = _local(el.tag)
            if event == "start":
                if tag == "export":
                    published = el.get("generationDate")
                continue
            if tag != "sanctionEntity":
                continue
            lid = el.get("logicalId")
            if not lid:
                raise ListFormatError(f"{path}: sanctionEntity without logicalId "
                                      f"(euReferenceNumber={el.get('euReferenceNumber')})")
            e = ListEntity(lid, "organization", lid)
            for ch in el:
                ct = _local(ch.tag)
                if ct == "subjectType":
                    code = (ch.get("code") or "").lower()
                    e.schema = "person" if code == "person" else (
                        "organization" if code in ("enterprise", "") else code)
                elif ct == "regulation":
                    prog = ch.get("programme")
                    if prog:
                        e.add_programme(prog)
                    if not e.listed_on:
                        e.listed_on = ch.get("publicationDate")
                elif ct == "nameAlias":
                    whole = ch.get("wholeName") or " ".join(
                        v for v in (ch.get("firstName"), ch.get("middleName"),
                                    ch.get("lastName")) if v)
                    strong = (ch.get("strong") or "true").lower() == "true"
                    e.add_name(whole, "alias" if strong else "weak")
                elif ct == "identification":
                    num = ch.get("number")
                    if num:
                        e.identifiers.append((ch.get("identificationTypeCode") or "document",
                                              num, None))
                elif ct == "remark" and ch.text:
                    e.remarks = ((e.remarks or "") + " " + ch.text.strip()).strip()
                elif ct == "citizenship" and ch.get("countryDescription"):
                    e.data.setdefault("nationality", []).append(ch.get("countryDescription"))
                elif ct == "birthdate" and ch.get("birthdate"):
                    e.data.setdefault("dob", []).append(ch.get("birthdate"))
            if e.names:
                e.names[0] = (e.names[0][0], "primary")
                e.caption = e.names[0][0]
            e.data.update({k: v for k, v in (("eu_reference", el.get("euReferenceNumber")),
                                             ("un_reference", el.get("unitedNationId")))
                           if v})
            ents.append(e)
            el.clear()
    return ParsedList("eu_xml", published, ents)


def parse_eu_csv(path: Path) -> ParsedList:
    """EU consolidated list, CSV export (semicolon-separated, one row per sub-record,
    columns such as Entity_LogicalId, NameAlias_WholeName, Identification_Number)."""
    ents: dict[str, ListEntity] = {}
    header: list[str] | None = None
    published = None
    for line, row in _read_csv_rows(path, delimiter=";"):
        if header is None:
            header = [h.strip() for h in row]
            if "Entity_LogicalId" not in header:
                raise ListFormatError(f"{path}:{line}: header lacks Entity_LogicalId")
            continue
        if not any(c.strip() for c in row):
            continue
        rec = dict(zip(header, row, strict=False))
        lid = (rec.get("Entity_LogicalId") or "").strip()
        if not lid:
            raise ListFormatError(f"{path}:{line}: field Entity_LogicalId is empty")
        published = published or (rec.get("fileGenerationDate") or None)
        e = ents.get(lid)
        if e is None:
            code = (rec.get("Entity_SubjectType") or rec.get("Entity_SubjectType_ClassificationCode")
                    or "").strip().lower()
            e = ents[lid] = ListEntity(lid, "person" if code in ("person", "p") else
                                       "organization", lid)
            for k, dk in (("Entity_EU_ReferenceNumber", "eu_reference"),
                          ("Entity_UnitedNationId", "un_reference")):
                if rec.get(k, "").strip():
                    e.data[dk] = rec[k].strip()
            if rec.get("Entity_Remark", "").strip():
                e.remarks = rec["Entity_Remark"].strip()
        prog = (rec.get("Entity_Regulation_Programme") or "").strip()
        if prog:
            e.add_programme(prog)
        if not e.listed_on and rec.get("Entity_Regulation_PublicationDate", "").strip():
            e.listed_on = rec["Entity_Regulation_PublicationDate"].strip()
        whole = (rec.get("NameAlias_WholeName") or "").strip()
        if whole:
            e.add_name(whole, "primary" if not e.names else "alias")
            if e.caption == lid:
                e.caption = whole
        num = (rec.get("Identification_Number") or "").strip()
        if num:
            e.identifiers.append(((rec.get("Identification_TypeCode") or "document").strip(),
                                  num, None))
    return ParsedList("eu_csv", published, list(ents.values()))


# ------------------------------------------------------- FollowTheMoney JSON
_FTM_PERSONISH = {"Person": "person", "Organization": "organization", "Company": "organization",
                  "LegalEntity": "organization", "PublicBody": "organization",
                  "Vessel": "vessel", "Airplane": "aircraft"}
_FTM_NAME_PROPS = (("name", "alias"), ("alias", "alias"), ("weakAlias", "weak"),
                   ("previousName", "former"))
_FTM_ID_PROPS = {"idNumber": "national_id", "passportNumber": "passport",
                 "registrationNumber": "registration", "innCode": "inn", "ogrnCode": "ogrn",
                 "leiCode": "lei", "swiftBic": "bic", "imoNumber": "imo", "taxNumber": "tax",
                 "email": "email"}


FTM_MAX_LINE = 50_000_000  # one entity, nested targets included


def parse_ftm_json(path: Path) -> ParsedList:
    """OpenSanctions / FollowTheMoney entities, one JSON object per line (flat
    ``entities.ftm.json`` or nested ``targets.nested.json``)."""
    ents: dict[str, ListEntity] = {}
    wallets: list[tuple[str, str, str | None]] = []  # (holder id, address, currency)
    sanctions: list[tuple[str, list[str]]] = []
    with path.open("rb") as fh:
        line_no = 0
        # read in bounded pieces: a line's length is known before it is held whole
        while line := fh.readline(FTM_MAX_LINE + 1):
            line_no += 1
            if line_no == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]  # a UTF-8 BOM (Windows editors): orjson refused the file
            if len(line) > FTM_MAX_LINE:
                raise ListFormatError(f"{path}:{line_no}: line over {FTM_MAX_LINE:,} bytes")
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ListFormatError(f"{path}:{line_no}: not JSON: {exc}") from exc
            if not isinstance(obj, dict) or "schema" not in obj:
                raise ListFormatError(f"{path}:{line_no}: field schema: missing (not an FtM "
                                      "entity)")
            _ftm_entity(path, line_no, obj, ents, wallets, sanctions)
    for holder, addr, cur in wallets:
        if holder in ents:
            ents[holder].identifiers.append(("crypto_wallet", addr, cur))
    for eid, progs in sanctions:
        if eid in ents:
            for p in progs:
                ents[eid].add_programme(p)
    for e in ents.values():  # the name that is the caption is primary, or else the first
        if e.names:
            first = e.caption if e.caption in e._names_seen else e.names[0][0]
            e.names = [(n, "primary" if n == first else k) for n, k in e.names]
    return ParsedList("ftm_json", None, [e for e in ents.values() if e.names])


def _props(obj: dict[str, Any], where: str) -> dict[str, list[Any]]:
    props = obj.get("properties") or {}
    if not isinstance(props, dict):
        raise ListFormatError(f"{where}: field properties: expected an object")
    return {k: v if isinstance(v, list) else [v] for k, v in props.items()}


def _ftm_strings(props: dict[str, list[Any]], prop: str, where: str) -> list[str]:
    """The values of FtM property ``prop``, each a string (ListFormatError
    naming the value's place otherwise)."""
    values = props.get(prop, [])
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise ListFormatError(f"{where}: field properties.{prop}[{i}]: expected a string, "
                                  f"got {type(v).__name__}")
    return values


def _ftm_entity(path: Path, line_no: int, obj: dict[str, Any], ents: dict[str, ListEntity],
                wallets: list, sanctions: list, parent: str | None = None) -> None:
    schema = obj.get("schema")
    if not isinstance(schema, str):
        raise ListFormatError(f"{path}:{line_no}: field schema: expected a string")
    eid = obj.get("id")
    props = _props(obj, f"{path}:{line_no}")
    if schema == "CryptoWallet":
        holders = [h.get("id") if isinstance(h, dict) else h for h in props.get("holder", [])]
        if parent:
            holders.append(parent)
        cur = next(iter(props.get("currency", [])), None)
        for addr in props.get("publicKey", []):
            for h in holders:
                if isinstance(h, str) and isinstance(addr, str):
                    wallets.append((h, addr, cur))
        return
    if schema == "Sanction":
        targets = [t.get("id") if isinstance(t, dict) else t for t in props.get("entity", [])]
        if parent:
            targets.append(parent)
        progs = [str(p) for p in props.get("programId", []) + props.get("program", [])
                 if isinstance(p, str)]
        for t in targets:
            if isinstance(t, str):
                sanctions.append((t, progs))
        return
    kind = _FTM_PERSONISH.get(schema)
    if kind is None:
        return
    if not isinstance(eid, str) or not eid:
        raise ListFormatError(f"{path}:{line_no}: field id: missing on a {schema}")
    e = ents.get(eid) or ListEntity(eid, kind, str(obj.get("caption") or eid))
    ents[eid] = e
    # FtM's values are strings: another type is a damaged or hand-made file,
    # named (a name of 1 or a list was passed over without a word)
    for prop, k in _FTM_NAME_PROPS:
        for v in _ftm_strings(props, prop, f"{path}:{line_no}"):
            e.add_name(v, k)
    for prop, typ in _FTM_ID_PROPS.items():
        for v in _ftm_strings(props, prop, f"{path}:{line_no}"):
            e.identifiers.append((typ, v, None))
    for p in props.get("programId", []) + props.get("program", []):
        if isinstance(p, str):
            e.add_programme(p)
    topics = [t for t in props.get("topics", []) if isinstance(t, str)]
    if topics:
        e.data["topics"] = topics
    for k in ("nationality", "birthDate", "country"):
        vals = [v for v in props.get(k, []) if isinstance(v, str)]
        if vals:
            e.data[k] = vals
    if props.get("createdAt"):
        e.listed_on = str(props["createdAt"][0])
    # nested entities (targets.nested.json): sanctions, wallets, …
    for vals in props.values():
        for v in vals:
            if isinstance(v, dict) and "schema" in v:
                _ftm_entity(path, line_no, v, ents, wallets, sanctions, parent=eid)


# ------------------------------------------------------------------- store
PARSERS = {"un_xml": parse_un_xml, "ofac_csv": parse_ofac_csv, "eu_xml": parse_eu_xml,
           "eu_csv": parse_eu_csv, "ftm_json": parse_ftm_json}


def parse_file(path: Path, fmt: str | None = None,
               companions: list[Path] | None = None) -> ParsedList:
    path = Path(path)
    _check_file(path)
    fmt = fmt or detect_format(path)
    if fmt not in PARSERS:
        raise ListFormatError(f"unknown list format {fmt!r}; one of {', '.join(FORMATS)}")
    if fmt == "ofac_csv":
        return parse_ofac_csv(path, companions)
    if companions:  # (were passed over without a word)
        raise ListFormatError(f"{companions[0]}: a companion file is for an OFAC SDN CSV, "
                              f"and {path} is {fmt}")
    return PARSERS[fmt](path)


@dataclass
class ImportResult:
    list_name: str
    format: str
    entities: int
    names: int
    identifiers: int
    wallets: int
    scripts: dict[str, int]
    replaced: bool


def _cut(value: str | None, n: int) -> str | None:
    """A list's free-form date or code, bounded to its column (a hostile
    ``createdAt`` of a few hundred characters ended the import on PostgreSQL)."""
    return value[:n] if isinstance(value, str) else value


def import_list(store: Any, path: Path | str, *, fmt: str | None = None,
                name: str | None = None, companions: list[Path] | None = None
                ) -> ImportResult:
    """Parse ``path`` and store it as list ``name`` (replacing an earlier import)."""
    path = Path(path)
    if name is not None:
        # --name "" (an unset shell variable) took the format's default name and
        # replaced that list; a name over the column's 100 characters was PostgreSQL's
        # "value too long" traceback; one with a line break or escape forged lines
        # of `lists status` and could not be given to `screen --list` as printed
        if not name.strip():
            raise ListFormatError("--name: empty; give a list name, or leave --name out for "
                                  "the format's default")
        if len(name) > 100 or any(not ch.isprintable() for ch in name):
            raise ListFormatError(f"--name {name[:40]!r}: a list name is at most 100 printable "
                                  "characters")
    parsed = parse_file(path, fmt, companions)
    list_name = name or DEFAULT_NAMES[parsed.format]
    if not parsed.entities:  # an empty or cut-short download replaced a list with nothing
        raise ListFormatError(f"{path}: no entity read as {parsed.format} (an empty or cut-short "
                              f"file?); list {list_name!r} is left as it was")
    for e in parsed.entities:  # a list is input: no NUL or lone surrogate reaches the store
        for f in ("list_ref", "schema", "caption", "programmes", "names", "identifiers",
                  "listed_on", "remarks", "data"):
            setattr(e, f, storable(getattr(e, f)))
    with open(path, "rb") as fh:  # (a block at a time: a list of a GiB was read whole)
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    n_names = sum(len(e.names) for e in parsed.entities)
    n_ids = sum(len(e.identifiers) for e in parsed.entities)
    scripts = script_counts()
    with store.begin() as c:
        old = c.execute(select(F.fin_lists.c.id).where(F.fin_lists.c.name == list_name)).first()
        if old is not None:
            ent_ids = select(F.fin_entities.c.id).where(F.fin_entities.c.list_id == old[0])
            c.execute(delete(F.fin_names).where(F.fin_names.c.entity_id.in_(ent_ids)))
            c.execute(delete(F.fin_identifiers).where(F.fin_identifiers.c.entity_id.in_(ent_ids)))
            c.execute(delete(F.fin_entities).where(F.fin_entities.c.list_id == old[0]))
            c.execute(delete(F.fin_lists).where(F.fin_lists.c.id == old[0]))
        list_id = c.execute(insert(F.fin_lists).values(
            name=storable(list_name), format=parsed.format, source_file=storable(str(path)),
            sha256=digest,
            published=_cut(parsed.published, 40), entities=len(parsed.entities), names=n_names,
            identifiers=n_ids, imported_at=now())).inserted_primary_key[0]
        seen_refs: set[str] = set()
        for chunk_start in range(0, len(parsed.entities), 500):
            chunk = parsed.entities[chunk_start:chunk_start + 500]
            rows = []
            for e in chunk:
                # the reference as stored (its first 200 characters): two that differ
                # only further on were the store's IntegrityError traceback
                if e.list_ref[:200] in seen_refs:
                    raise ListFormatError(
                        f"{path}: reference {e.list_ref[:200]!r} occurs twice" + (
                            " (in its first 200 characters, all that is stored)"
                            if len(e.list_ref) > 200 else ""))
                seen_refs.add(e.list_ref[:200])
                rows.append({"list_id": list_id, "list_ref": e.list_ref[:200],
                             "schema": e.schema, "caption": e.caption,
                             "programmes": e.programmes, "listed_on": _cut(e.listed_on, 40),
                             "remarks": e.remarks, "data": e.data})
            c.execute(insert(F.fin_entities), rows)
            ids = dict(c.execute(select(F.fin_entities.c.list_ref, F.fin_entities.c.id).where(
                F.fin_entities.c.list_id == list_id,
                F.fin_entities.c.list_ref.in_([e.list_ref[:200] for e in chunk]))).all())
            name_rows, id_rows = [], []
            for e in chunk:
                eid = ids[e.list_ref[:200]]
                for n, kind in e.names:
                    script = dominant_script(n)
                    scripts[script_group(script)] += 1
                    name_rows.append({"entity_id": eid, "name": n, "kind": kind,
                                      "script": script, "norm": normalize(n).key})
                for typ, val, cur in e.identifiers:
                    id_rows.append({"entity_id": eid, "type": typ[:40], "value": val[:300],
                                    "norm": identifier_norm(val)[:300],
                                    "currency": _cut(cur, 16)})
            if name_rows:
                c.execute(insert(F.fin_names), name_rows)
            if id_rows:
                c.execute(insert(F.fin_identifiers), id_rows)
    return ImportResult(list_name, parsed.format, len(parsed.entities), n_names, n_ids,
                        sum(1 for e in parsed.entities for i in e.identifiers
                            if i[0] == "crypto_wallet"),
                        scripts, old is not None)


# the scripts names are counted in by `rasd lists import` and `rasd lists status`;
# every other script, and a name without letters, is "other" (the import said
# "none 5" where the status said "other 5" for the same names)
SHOWN_SCRIPTS = ("Arabic", "Latin", "Cyrillic")


def script_counts() -> dict[str, int]:
    """Names per script, zero each, in the order they are shown."""
    return dict.fromkeys((*SHOWN_SCRIPTS, "other"), 0)


def script_group(script: str | None) -> str:
    """The group a name's dominant script (``dominant_script``) is counted in."""
    return script if script in SHOWN_SCRIPTS else "other"


def list_names(store: Any) -> list[str]:
    """The names of the imported lists, sorted."""
    with store.connect() as c:
        return [n for (n,) in c.execute(select(F.fin_lists.c.name).order_by(F.fin_lists.c.name))]


def list_status(store: Any) -> list[dict[str, Any]]:
    with store.connect() as c:
        rows = c.execute(select(F.fin_lists).order_by(F.fin_lists.c.name)).mappings().all()
        out = []
        for r in rows:
            progs: dict[str, int] = {}
            q = select(F.fin_entities.c.programmes).where(F.fin_entities.c.list_id == r["id"])
            for (p,) in c.execute(q):
                for x in p or []:
                    progs[x] = progs.get(x, 0) + 1
            wallets = c.execute(select(func.count()).select_from(
                F.fin_identifiers.join(F.fin_entities,
                                       F.fin_identifiers.c.entity_id == F.fin_entities.c.id))
                .where(F.fin_entities.c.list_id == r["id"],
                       F.fin_identifiers.c.type == "crypto_wallet")).scalar_one()
            scripts = script_counts()
            q = (select(F.fin_names.c.script, func.count())
                 .select_from(F.fin_names.join(F.fin_entities,
                                               F.fin_names.c.entity_id == F.fin_entities.c.id))
                 .where(F.fin_entities.c.list_id == r["id"]).group_by(F.fin_names.c.script))
            for script, n in c.execute(q):
                scripts[script_group(script)] += int(n)
            out.append({"list": r["name"], "format": r["format"], "entities": r["entities"],
                        "names": r["names"], "scripts": scripts, "identifiers": r["identifiers"],
                        "wallets": int(wallets), "published": r["published"],
                        "imported_at": r["imported_at"], "source_file": r["source_file"],
                        "sha256": r["sha256"],
                        "top_programmes": dict(sorted(progs.items(), key=lambda kv: -kv[1])[:8])})
    return out
