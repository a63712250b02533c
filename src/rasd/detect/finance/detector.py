"""The finance detectors that ``rasd scan`` runs.

``finance`` (posts) stores, per post:
- ``fin_indicator``: the wallets, IBANs, phones and payment links found, each
  with its validation (score 1.0 when at least one is valid, else 0.3);
- ``designated_entity``: names from the imported designation lists that occur
  in the text (distinctive ones: not made only of words common in ordinary
  writing, :meth:`.Screener.enough`), and listed wallets (exact identifier match);
- ``financing``: a donation appeal for terrorism (see :mod:`.appeals`), with the
  validated indicators and the entities attached.
Valid indicators are recorded as sightings; accounts sharing one are linked by
``shared_indicator`` edges (:mod:`.links`).

``finance_account`` (accounts) screens display names and handles against the
lists (``designation_match``, under the strict rule of
:meth:`.Screener.strict_ok`: two firm, distinctive name parts or more), looks for listed names in bios
(``designated_entity``) and extracts indicators from bios.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib.resources import files
from typing import Any

from sqlalchemy import select

from rasd.detect.base import Detector, StoredAccount, StoredPost
from rasd.detect.finance import links
from rasd.detect.finance import schema as F
from rasd.detect.finance.appeals import asks_for_money, assess
from rasd.detect.finance.indicators import Indicator, extract
from rasd.detect.finance.names import handle_to_name
from rasd.detect.finance.screen import DEFAULT_THRESHOLD, Match, Screener, get_screener
from rasd.model import Detection

# 1.1: indicators also from the post's links, not only its text; 1.2: names in
# profiles and text under the strict rule (two firm, distinctive parts); 1.3: a name
# in posts and bios must not be made only of words common in ordinary text; 1.4: nor
# a one-part name that is a whole display name or handle ("Opera"); 1.5: a name in
# Arabic or Cyrillic script is common or not in writing of its own script; 1.6:
# Arabic spellings folded (ta marbuta as ha, hamza on alif), and a person listed
# with three parts or more found in text by the first and the last; 1.7: such a
# first-and-last (short form) match scores 0.9 of its parts' score, below the
# whole name's (screen.SHORT_FORM_FACTOR), and a post's Arabic words are
# judged where they stand, not by their Latin spelling anywhere in the post;
# 1.8: the whole of a post's first 5,000 characters is screened for names (the
# first 400 were), a post's comma is no "LAST, First" order, and punctuation and
# emoji separate words (an Arabic word after "،" is read without its article),
# and a window of the text is compared with a listed name only where it holds a
# token of each of the name's skeletons
RULES_VERSION = "1.8"


def _version(store: Any | None) -> str:
    """Rules version + a digest of the lexicons and of the imported lists, so that
    importing a new list version makes ``rasd scan`` look at everything again."""
    h = hashlib.sha1()
    for name in ("appeals.json", "name_particles.json", "common_words.json"):
        h.update((files("rasd") / "data" / "finance" / name).read_bytes())
    if store is not None:
        with store.connect() as c:
            for (sha,) in c.execute(select(F.fin_lists.c.sha256).order_by(F.fin_lists.c.name)):
                h.update((sha or "").encode())
    return f"{RULES_VERSION}-{h.hexdigest()[:10]}"


def link_indicators(urls: Sequence[str], text: str, found: list[Indicator]) -> list[Indicator]:
    """Indicators in the links a post carries beyond its text (X shows t.co in the
    text and gives the real address in its entities; Telegram puts donation pages
    in buttons). Each is marked ``detail.found_in = "link"`` with the URL, its span
    within that URL; what the text already showed is not repeated."""
    seen = {(i.type, i.value) for i in found}
    out: list[Indicator] = []
    for url in urls:
        if not url or url in text:
            continue
        for ind in extract(url):
            if (ind.type, ind.value) in seen:
                continue
            seen.add((ind.type, ind.value))
            ind.detail = {**ind.detail, "found_in": "link", "url": url[:500]}
            out.append(ind)
    return out


def _ind_line(i: Indicator) -> str:
    what = " ".join(x for x in (i.type, i.currency or i.kind, i.asset) if x)
    state = "valid" if i.valid else f"invalid: {i.reason}"
    return f"{what} {i.value} ({state})"


def about(detector: str, attributes: Any, limit: int = 5) -> str:
    """What a finance detection is about, in one line for a text view: the listed
    entities it names (caption, list and reference) and the wallets, IBANs, phones
    or links it found. Empty for other detectors. Not escaped: print it with
    ``rasd.cli.common.echo``."""
    if detector not in ("finance", "finance_account") or not isinstance(attributes, dict):
        return ""
    items: list[str] = []
    field = attributes.get("field")  # an account detection's: the profile field read
    for m in attributes.get("matches") or attributes.get("entities") or []:
        if isinstance(m, dict) and m.get("name"):
            where = m.get("field") or field
            items.append(f"entity {m['name']} ({m.get('list') or '?'} "
                         f"{m.get('list_ref') or '?'}"
                         + (f"; field {where}" if isinstance(where, str) else "") + ")")
    for i in attributes.get("indicators") or []:
        if isinstance(i, dict) and i.get("value"):
            kind = " ".join(str(x) for x in (i.get("type"), i.get("currency"), i.get("asset"))
                            if x)
            items.append(f"{kind} {i['value']}" + ("" if i.get("valid", True) else " (invalid)"))
    items = list(dict.fromkeys(items))
    more = len(items) - limit
    return "; ".join(items[:limit]) + (f"; … {more} more" if more > 0 else "")


def _entity_dicts(matches: list[Match]) -> list[dict[str, Any]]:
    return [m.to_dict() for m in matches]


class _FinanceBase(Detector):
    def __init__(self) -> None:
        self.store: Any | None = None
        self.screener: Screener | None = None
        self._version = _version(None)

    @property
    def version(self) -> str:
        return self._version

    def bind(self, store: Any) -> None:
        self.store = store
        self._version = _version(store)
        scr = get_screener(store)
        self.screener = scr if scr.entries or scr.identifiers else None

    def _wallet_hits(self, inds: list[Indicator]) -> list[Match]:
        if self.screener is None:
            return []
        out: list[Match] = []
        for i in inds:
            if i.type == "wallet":
                out.extend(self.screener.screen_identifier(i.value))
        return out


class FinanceDetector(_FinanceBase):
    name = "finance"
    subject_type = "post"
    batch_size = 512

    def detect(self, subjects: Sequence[StoredPost]) -> list[Detection]:
        out: list[Detection] = []
        sightings: list[links.Sighting] = []
        for p in subjects:
            text = p.text or ""
            inds = extract(text) if text.strip() else []
            inds += link_indicators(p.urls, text, inds)
            if not text.strip() and not inds:
                continue
            ents: list[Match] = []
            if self.screener is not None:
                ents = self.screener.find_in_text(text) + self._wallet_hits(inds)
            if inds:
                valid = [i for i in inds if i.valid]
                out.append(Detection("post", p.id, self.name, "fin_indicator",
                                     1.0 if valid else 0.3, self.version,
                                     [_ind_line(i) for i in inds[:20]],
                                     {"indicators": [i.to_dict() for i in inds[:50]]}))
                sightings.extend(links.Sighting("post", p.id, p.account_id, p.id, i,
                                                p.created_at) for i in valid)
            if ents:
                ed = _entity_dicts(ents)
                out.append(Detection("post", p.id, self.name, "designated_entity",
                                     max(m.score for m in ents), self.version,
                                     [f"{m.name} ({m.list} {m.list_ref}): "
                                      + "; ".join(m.explanation[:2]) for m in ents[:5]],
                                     {"matches": ed}))
            if not asks_for_money(text):
                continue  # assess would say none: no appeal cue, no explicit phrase
            verdict = assess(text, inds, entities=_entity_dicts(ents),
                             account_role=p.account_role)
            if verdict.label == "financing":
                out.append(Detection(
                    "post", p.id, self.name, "financing", verdict.score, self.version,
                    verdict.reasons,
                    {"indicators": [i.to_dict() for i in inds if i.valid][:50],
                     "entities": [{k: m[k] for k in ("entity_id", "list_ref", "name", "list",
                                                     "programme", "score")}
                                  for m in _entity_dicts(ents)][:10],
                     "cues": verdict.cues, "humanitarian_cover": verdict.humanitarian_cover}))
        if self.store is not None and sightings:
            links.record(self.store, sightings)
        return out


class FinanceAccountDetector(_FinanceBase):
    name = "finance_account"
    subject_type = "account"
    batch_size = 256

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        super().__init__()
        self.threshold = threshold

    def detect(self, subjects: Sequence[StoredAccount]) -> list[Detection]:
        out: list[Detection] = []
        sightings: list[links.Sighting] = []
        for a in subjects:
            if self.screener is not None:
                hits: dict[int, tuple[Match, str]] = {}
                for field, value, camel in (("name", a.name, False),
                                            ("handle", handle_to_name(a.handle or ""), True)):
                    if not value or not value.strip():
                        continue
                    # a profile is not a name query: the strict rule (two firm,
                    # distinctive parts; Screener.strict_ok)
                    for m in self.screener.screen(value, threshold=self.threshold,
                                                  split_camel=camel, strict=True):
                        if m.entity_id not in hits or m.score > hits[m.entity_id][0].score:
                            hits[m.entity_id] = (m, field)
                if hits:
                    ms = sorted(hits.values(), key=lambda x: -x[0].score)[:10]
                    out.append(Detection(
                        "account", a.id, self.name, "designation_match", ms[0][0].score,
                        self.version,
                        [f"{f}: {m.name} ({m.list} {m.list_ref}) score {m.score:.2f}; "
                         + "; ".join(m.explanation[:2]) for m, f in ms[:5]],
                        {"matches": [m.to_dict() | {"field": f} for m, f in ms]}))
            bio = a.bio or ""
            if bio.strip():
                inds = extract(bio)
                if inds:
                    valid = [i for i in inds if i.valid]
                    out.append(Detection("account", a.id, self.name, "fin_indicator",
                                         1.0 if valid else 0.3, self.version,
                                         [_ind_line(i) for i in inds[:20]],
                                         {"indicators": [i.to_dict() for i in inds[:50]],
                                          "field": "bio"}))
                    sightings.extend(links.Sighting("account", a.id, a.id, None, i)
                                     for i in valid)
                if self.screener is not None:
                    ents = self.screener.find_in_text(bio) + self._wallet_hits(inds)
                    if ents:
                        out.append(Detection(
                            "account", a.id, self.name, "designated_entity",
                            max(m.score for m in ents), self.version,
                            [f"bio names {m.name} ({m.list} {m.list_ref})" for m in ents[:5]],
                            {"matches": _entity_dicts(ents), "field": "bio"}))
        if self.store is not None and sightings:
            links.record(self.store, sightings)
        return out
