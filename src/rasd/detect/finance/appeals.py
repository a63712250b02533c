"""Recognise terrorist-financing appeals (POLICY.md ``financing``).

An appeal is ``financing`` when a post asks for money (appeal cue) *and* ties
the money to terrorism — a militant purpose (fighters, weapons, families of a
group's prisoners or "martyrs") together with a group tie or a payment
channel, a designated entity named next to a payment channel (humanitarian
cover), or an unambiguous phrase ("sponsor a mujahid", الجهاد بالمال). Reporting
(news of a trial) and counter-speech ("don't donate, it's a scam") are exempt.
A relief appeal with a wallet but no militant purpose and no designated entity
stays ``none``.

Cues are regular expressions per language in ``rasd/data/finance/appeals.json``;
group ties come from that file and, when designation lists are imported, from
the names on those lists (:meth:`Screener.find_in_text`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from typing import Any

from rasd.detect.finance.indicators import Indicator

SPECIFIC_PURPOSES = {"fighters", "prisoners_families"}
EXEMPT_ROLES = {"news", "researcher", "ngo", "official", "government", "academic"}


@lru_cache(maxsize=1)
def _lexicon() -> dict[str, Any]:
    raw = json.loads((files("rasd") / "data" / "finance" / "appeals.json").read_text("utf-8"))

    def comp(pats: list[str]) -> re.Pattern[str]:
        return re.compile("|".join(f"(?:{p})" for p in pats), re.IGNORECASE)

    return {
        "appeal": {lang: comp(p) for lang, p in raw["appeal"].items()},
        "purpose": {k: comp(p) for k, p in raw["purpose"].items()},
        "strong": comp(raw["strong"]),
        "humanitarian": comp(raw["humanitarian"]),
        "groups": comp(raw["designated_groups"]),
        "news": comp(raw["exempt"]["news"]),
        "counter": comp(raw["exempt"]["counter"]),
    }


@dataclass
class Appeal:
    label: str  # financing | none
    score: float
    cues: dict[str, list[str]] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    humanitarian_cover: bool = False


def _found(pat: re.Pattern[str], text: str, limit: int = 5) -> list[str]:
    out: list[str] = []
    for m in pat.finditer(text):
        s = m.group(0).strip().lower()
        if s and s not in out:
            out.append(s)
        if len(out) >= limit:
            break
    return out


def asks_for_money(text: str) -> bool:
    """Whether ``text`` has an appeal cue or an explicit phrase: what
    :func:`assess` needs before it can call anything ``financing`` (without
    either it says ``none``). Two patterns instead of assess's sixteen, for
    callers that act only on ``financing`` (the ``finance`` detector: most posts
    ask for nothing)."""
    lx = _lexicon()
    text = text[:20_000]
    return (any(_found(p, text, 1) for p in lx["appeal"].values())
            or bool(_found(lx["strong"], text, 1)))


def assess(text: str, indicators: list[Indicator], *, entities: list[dict[str, Any]] | None = None,
           account_role: str | None = None) -> Appeal:
    """Decide whether ``text`` is a financing appeal.

    ``indicators``: what :func:`indicators.extract` found; ``entities``: list
    matches of names in the text (``Match.to_dict()``), if lists are imported.
    """
    lx = _lexicon()
    text = text[:20_000]
    cues: dict[str, list[str]] = {}
    appeal_langs = {lang: _found(p, text) for lang, p in lx["appeal"].items()}
    appeal = sorted({c for v in appeal_langs.values() for c in v})
    if appeal:
        cues["appeal"] = appeal
    purposes = {k: _found(p, text) for k, p in lx["purpose"].items()}
    purposes = {k: v for k, v in purposes.items() if v}
    for k, v in purposes.items():
        cues[f"purpose:{k}"] = v
    strong = _found(lx["strong"], text)
    if strong:
        cues["strong"] = strong
    groups = _found(lx["groups"], text)
    if groups:
        cues["group"] = groups
    hum = _found(lx["humanitarian"], text)
    if hum:
        cues["humanitarian"] = hum
    news = _found(lx["news"], text)
    counter = _found(lx["counter"], text)
    channels = [i for i in indicators if i.valid and (
        i.type != "payment_link" or i.kind != "telegram_bot" or i.detail.get("donation_context"))]
    ties = bool(groups) or bool(entities)

    reasons: list[str] = []
    if not appeal and not strong:
        return Appeal("none", 0.0, cues, ["no appeal for money"])
    if counter:
        cues["counter"] = counter
        return Appeal("none", 0.0, cues, ["counter-speech / warning: " + ", ".join(counter)])
    if account_role and account_role.lower() in EXEMPT_ROLES and not channels:
        return Appeal("none", 0.0, cues, [f"author's role is {account_role}"])
    if news and not channels:
        cues["news"] = news
        return Appeal("none", 0.0, cues, ["reporting, with no payment channel: "
                                          + ", ".join(news)])
    # generic fighters/weapons (also said of state armies, sport, legal causes)
    # count only with a designated-group tie
    purpose = any(k in SPECIFIC_PURPOSES for k in purposes) or (bool(purposes) and ties)
    fires = ((purpose and (ties or channels)) or bool(strong) or (ties and bool(channels)))
    if not fires:
        why = []
        if not purpose:
            why.append("no militant purpose" if not purposes else
                       "fighters/weapons without a designated-group tie")
        if not ties:
            why.append("no designated-entity tie")
        if not channels:
            why.append("no payment channel")
        return Appeal("none", 0.0, cues, ["appeal, but " + ", ".join(why)])
    score = 0.55 + 0.15 * purpose + 0.15 * ties + 0.1 * bool(channels) + 0.05 * bool(strong)
    if news:
        score -= 0.15
        reasons.append("reporting vocabulary present (score lowered): " + ", ".join(news))
    if purpose:
        reasons.append("militant purpose: " + "; ".join(f"{k} ({', '.join(v)})"
                                                       for k, v in purposes.items()))
    if strong:
        reasons.append("explicit phrase: " + ", ".join(strong))
    if groups:
        reasons.append("group named: " + ", ".join(groups))
    for e in (entities or [])[:3]:
        reasons.append(f"designated entity named: {e.get('name')} ({e.get('list')} "
                       f"{e.get('list_ref')}, {e.get('programme')})")
    if channels:
        reasons.append("payment channel: " + ", ".join(
            f"{i.type} {i.currency or i.kind or ''} {i.value}".replace("  ", " ")
            for i in channels[:5]))
    cover = bool(hum) and ties
    if cover:
        reasons.append("humanitarian cover: " + ", ".join(hum))
    return Appeal("financing", round(min(0.98, score), 3), cues, reasons, cover)
