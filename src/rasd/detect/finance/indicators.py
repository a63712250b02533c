"""Financial indicators in free text, each validated — not just pattern-matched.

    >>> from rasd.detect.finance.indicators import extract
    >>> [i.to_dict()["type"] for i in extract("BTC: bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq")]
    ['wallet']

Types (``Indicator.type``):

- ``wallet``: a cryptocurrency address. ``currency`` is BTC, LTC, DOGE, TRX, ETH or
  XMR; ``asset`` is ``USDT`` where the text says so near a TRON/Ethereum address
  (USDT-TRC20 / ERC20); ``valid`` is the chain's own checksum (base58check,
  bech32/bech32m, EIP-55, Monero Keccak). Shapes that fail the checksum are kept
  with ``valid=False`` and a ``reason``: a corrupted address is still a lead, and
  consumers that need certainty filter on ``valid``.
- ``iban``: ISO 13616 IBAN, validated by schwifty (country length, BBAN format,
  mod-97).
- ``phone``: a phone number (libphonenumber) that appears in a money-transfer
  context (Western Union, MoneyGram, hawala, "send to", mobile money … in
  ar/en/fr/de/it/tr/ru); phone numbers outside such a context are not money
  indicators and are not returned.
- ``payment_link``: PayPal.me, GoFundMe, Patreon, Ko-fi, Buy Me a Coffee and
  similar donation/crowdfunding pages, and Telegram bots with a donation cue
  nearby (donation bots; other bots are not reported).

This module is imported by the text detector to attach indicators to the
``financing`` label; keep ``extract``'s signature and ``Indicator.to_dict``
stable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from rasd.detect.finance import crypto

MAX_TEXT = 100_000  # characters examined per text; longer input is cut, not refused
CONTEXT_WINDOW = 120  # characters either side that count as the context of a match

INDICATOR_TYPES = ("wallet", "iban", "phone", "payment_link")


@dataclass(slots=True)
class Indicator:
    type: str  # wallet | iban | phone | payment_link
    value: str  # normalised form (IBAN without spaces, E.164 phone, canonical URL…)
    valid: bool
    span: tuple[int, int]  # [start, end) in the text given to extract()
    currency: str | None = None  # wallets: BTC, ETH, TRX, LTC, DOGE, XMR
    asset: str | None = None  # token named by context, e.g. USDT on TRON/Ethereum
    network: str | None = None  # mainnet/testnet, or the payment platform for links
    kind: str | None = None  # p2pkh, p2wpkh, eip55, standard …; link: paypal, gofundme …
    reason: str | None = None  # why valid is False
    context: list[str] = field(default_factory=list)  # cue words seen near the match
    detail: dict[str, Any] = field(default_factory=dict)  # bank, country, region …

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type, "value": self.value, "valid": self.valid,
                             "span": [self.span[0], self.span[1]]}
        for k in ("currency", "asset", "network", "kind", "reason"):
            v = getattr(self, k)
            if v:
                d[k] = v
        if self.context:
            d["context"] = list(self.context)
        if self.detail:
            d["detail"] = dict(self.detail)
        return d

    @property
    def key(self) -> str:
        """What identifies the money trail across posts: ``type:value``."""
        return f"{self.type}:{self.value}"


# ------------------------------------------------------------------ text prep
# Zero-width and bidi controls are used to break up addresses so that filters
# miss them; remove them, but keep a map back to the caller's offsets.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u200e\u200f"
                                    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
                                    "\u00ad"))


_INVISIBLE_RE = re.compile("[" + "".join(map(chr, _INVISIBLE)) + "]")


def _clean(text: str) -> tuple[str, list[int]]:
    text = text[:MAX_TEXT]
    if not _INVISIBLE_RE.search(text):  # most texts: nothing to remove, offsets as they are
        return text, list(range(len(text) + 1))
    out: list[str] = []
    pos: list[int] = []
    for i, ch in enumerate(text):
        if ord(ch) in _INVISIBLE:
            continue
        out.append(ch)
        pos.append(i)
    pos.append(len(text))
    return "".join(out), pos


# ------------------------------------------------------------------ wallets
_B58 = "1-9A-HJ-NP-Za-km-z"
_NOT_B58_BEFORE = r"(?<![0-9A-Za-z])"
_NOT_B58_AFTER = r"(?![0-9A-Za-z])"
_RE_B58 = re.compile(rf"{_NOT_B58_BEFORE}[{_B58}]{{25,36}}{_NOT_B58_AFTER}")
_RE_XMR = re.compile(rf"{_NOT_B58_BEFORE}[48][{_B58}]{{91,95}}(?:[{_B58}]{{11}})?{_NOT_B58_AFTER}")
_RE_SEGWIT = re.compile(r"(?<![0-9A-Za-z])(?:bc|tb|bcrt|ltc|tltc|BC|TB|LTC)1"
                        r"[02-9ac-hj-np-zAC-HJ-NP-Z]{8,87}(?![0-9A-Za-z])")
_RE_ETH = re.compile(r"(?<![0-9A-Za-z])0[xX][0-9a-fA-F]{38,44}(?![0-9A-Za-z])")
_RE_CASHADDR = re.compile(r"(?<![0-9A-Za-z:])(?:bitcoincash:[qp][02-9ac-hj-np-z]{38,44}|"
                          r"[qp][02-9ac-hj-np-z]{40,42})(?![0-9A-Za-z])", re.IGNORECASE)

# A base58 token with a failing checksum is reported only when its shape is that
# of one chain's addresses (first character + length) and it looks random
# (digits and both cases), so that long words are not taken for wallets.
_B58_SHAPES = {"1": (26, 35), "3": (26, 35), "L": (26, 34), "M": (26, 34),
               "D": (33, 35), "T": (33, 35), "X": (33, 35), "t": (34, 36), "G": (33, 35),
               "A": (33, 35)}

_USDT = re.compile(r"(?i)\b(?:usdt|tether|trc[- ]?20|erc[- ]?20|bep[- ]?20)\b|"
                   r"تيثر|يو\s?اس\s?دي\s?تي|тезер|юсдт")


def _looks_random(s: str) -> bool:
    return (any(c.isdigit() for c in s) and any(c.isupper() for c in s)
            and any(c.islower() for c in s))


def _near(text: str, start: int, end: int, pat: re.Pattern[str]) -> list[str]:
    win = text[max(0, start - CONTEXT_WINDOW):end + CONTEXT_WINDOW]
    return sorted({m.group(0).lower() for m in pat.finditer(win)})


def _wallets(text: str) -> list[Indicator]:
    out: list[Indicator] = []
    taken: list[tuple[int, int]] = []

    def add(m: re.Match[str], chk: crypto.AddressCheck, value: str) -> None:
        s, e = m.span()
        taken.append((s, e))
        ind = Indicator("wallet", value, chk.valid, (s, e), currency=chk.currency,
                        network=chk.network if chk.valid else None,
                        kind=chk.kind or None, reason=chk.reason or None)
        if chk.currency in ("TRX", "ETH"):
            cues = _near(text, s, e, _USDT)
            if cues:
                ind.asset = "USDT"
                ind.context = cues
                if any(c.startswith("bep") for c in cues):
                    ind.detail["chain"] = "BNB Smart Chain"
        out.append(ind)

    for m in _RE_XMR.finditer(text):
        chk = crypto.check_xmr(m.group(0))
        if chk.valid or _looks_random(m.group(0)):
            add(m, chk, m.group(0))
    for m in _RE_SEGWIT.finditer(text):
        chk = crypto.check_segwit(m.group(0))
        if chk.valid or len(m.group(0)) in range(39, 64):
            add(m, chk, m.group(0).lower())
    for m in _RE_CASHADDR.finditer(text):
        if any(m.start() < te and ts < m.end() for ts, te in taken):
            continue
        chk = crypto.check_cashaddr(m.group(0))
        if chk.valid or m.group(0).lower().startswith("bitcoincash:") or sum(
                c.isdigit() for c in m.group(0)) >= 5:
            v = m.group(0).lower()
            add(m, chk, v if v.startswith("bitcoincash:") else "bitcoincash:" + v)
    for m in _RE_ETH.finditer(text):
        chk = crypto.check_eth(m.group(0))
        value = crypto.eip55(m.group(0)[2:]) if chk.valid else m.group(0)
        add(m, chk, value)
    for m in _RE_B58.finditer(text):
        s, e = m.span()
        if any(s < te and ts < e for ts, te in taken):
            continue
        tok = m.group(0)
        chk = crypto.check_base58(tok)
        if chk.valid:
            add(m, chk, tok)
            continue
        shape = _B58_SHAPES.get(tok[0])
        if shape and shape[0] <= len(tok) <= shape[1] and _looks_random(tok):
            add(m, chk, tok)
    return out


# --------------------------------------------------------------------- IBAN
_RE_IBAN = re.compile(r"(?<![0-9A-Za-z])([A-Za-z]{2})[ \-]?(\d{2})((?:[ \-]?[0-9A-Za-z]){10,32})")


def _iban_countries() -> dict[str, int]:
    """Every country schwifty has an IBAN spec for, with its IBAN length."""
    import pycountry
    from schwifty import registry

    out = {}
    for cc in sorted({c.alpha_2 for c in pycountry.countries} | {"XK"}):
        try:
            out[cc] = registry.get_iban_spec(cc).iban_length
        except Exception:  # noqa: BLE001, S112 - no IBAN in that country
            continue
    return out


_IBAN_LEN: dict[str, int] = {}


def _ibans(text: str) -> list[Indicator]:
    global _IBAN_LEN
    if not _IBAN_LEN:
        _IBAN_LEN = _iban_countries()
    out = []
    at = 0
    while (m := _RE_IBAN.search(text, at)) is not None:
        at = m.start() + 1
        cc = m.group(1).upper()
        if cc not in _IBAN_LEN:
            continue
        want = _IBAN_LEN[cc]
        # take exactly the country's length of alphanumerics, across group separators
        chars = [cc, m.group(2)]
        n = 4
        end = m.start(3)
        for i, ch in enumerate(m.group(3)):
            if n >= want:
                break
            if ch.isalnum():
                chars.append(ch.upper())
                n += 1
            end = m.start(3) + i + 1
        value = "".join(chars)
        if m.group(1) != cc and not text[m.start():end].islower():
            continue  # "De12…" mixed case is prose, not an IBAN
        # an IBAN runs into the next word if the last group is glued to it
        if end < len(text) and text[end].isalnum():
            value_ok, reason, det = False, "longer than the country's IBAN length", {}
        elif n < want:
            value_ok, reason, det = False, f"{cc} IBANs have {want} characters, got {n}", {}
        else:
            value_ok, reason, det = _check_iban(value)
        if not value_ok and sum(c.isdigit() for c in value[4:]) < 8:
            continue
        out.append(Indicator("iban", value, value_ok, (m.start(), end), reason=reason,
                             detail=det | {"country": cc}))
        at = end
    return out


def _check_iban(value: str) -> tuple[bool, str | None, dict[str, Any]]:
    try:
        iban = IBAN(value)
    except SchwiftyException as e:
        return False, str(e) or type(e).__name__, {}
    det: dict[str, Any] = {}
    try:
        if iban.bank_name:
            det["bank"] = iban.bank_name
        if iban.bic:
            det["bic"] = str(iban.bic)
    except Exception:  # noqa: BLE001, S110 - bank lookup is a nicety, never an error
        pass
    return True, None, det


# -------------------------------------------------------------------- phone
# Money-transfer cues in the 7 languages rasd covers. A phone number is an
# indicator only with one of these within CONTEXT_WINDOW characters.
TRANSFER_CUES = [
    # en
    r"western\s*union", r"money\s*gram", r"\bhawala\b", r"\bhawaladar", r"send\s+(?:money\s+)?to",
    r"transfer", r"\bdonat", r"\bwhats\s?app", r"\bm-?pesa\b", r"mobile\s+money", r"\bria\b",
    r"\bworldremit\b", r"\bremit", r"\bvodafone\s+cash\b", r"\bzain\s*cash\b", r"\bpay\s?pal\b",
    r"contact\s+for\s+(?:donations|support)",
    # fr
    r"\benvo(?:y|i)", r"\bvirement", r"\bdon(?:s)?\b", r"\bfaites\s+un\s+don", r"mandat",
    # de
    r"\büberweis", r"\bspende", r"\bsenden\s+an", r"\bschick",
    # it
    r"\binvia(?:re)?\b", r"\bdonazion", r"\bbonifico", r"\bricarica",
    # tr
    r"\bgönder", r"\bhavale\b", r"\bbağış", r"\beft\b", r"\bpara\s+transfer",
    # ru
    r"перев[оеё]д", r"отправ", r"пожертв", r"\bдонат", r"\bсбер", r"\bкиви\b", r"\bqiwi\b",
    r"золот(?:ая|ой)\s+корон",
    # ar
    r"حوال", r"ويسترن\s*يونيون", r"موني\s*جرام", r"تحويل", r"أرسل", r"ارسل", r"تبرع",
    r"واتس", r"للتواصل", r"ادعم", r"فودافون\s*كاش", r"زين\s*كاش",
]
_RE_TRANSFER = re.compile("|".join(TRANSFER_CUES), re.IGNORECASE)
_PHONE_LENIENCY = phonenumbers.Leniency.POSSIBLE


def _phones(text: str, regions: tuple[str | None, ...]) -> list[Indicator]:
    if not _RE_TRANSFER.search(text):
        return []
    out: list[Indicator] = []
    seen: set[tuple[int, int]] = set()
    for region in regions:
        try:
            matcher = phonenumbers.PhoneNumberMatcher(text, region, leniency=_PHONE_LENIENCY,
                                                      max_tries=200)
        except Exception:  # noqa: BLE001, S112 - libphonenumber rejects odd regions
            continue
        for m in matcher:
            span = (m.start, m.end)
            if span in seen:
                continue
            cues = _near(text, m.start, m.end, _RE_TRANSFER)
            if not cues:
                continue
            seen.add(span)
            num = m.number
            valid = phonenumbers.is_valid_number(num)
            e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
            det = {"region": phonenumbers.region_code_for_number(num) or None}
            out.append(Indicator("phone", e164, valid, span, context=cues,
                                 reason=None if valid else "not a valid number for its region",
                                 detail={k: v for k, v in det.items() if v}))
    return out


# ------------------------------------------------------------ payment links
# platform → regex on "host/path" (host without www., lower-cased)
PAYMENT_SITES: dict[str, str] = {
    "paypal": r"(?:paypal\.me|paypal\.com/paypalme)/([A-Za-z0-9_.\-]{2,64})"
              r"|paypal\.com/(?:donate|cgi-bin/webscr)\S*",
    "gofundme": r"gofundme\.com/(?:f/)?([A-Za-z0-9_\-]{3,100})",
    "patreon": r"patreon\.com/(?:c/)?([A-Za-z0-9_\-]{2,64})",
    "ko-fi": r"ko-fi\.com/([A-Za-z0-9_]{2,64})",
    "buymeacoffee": r"(?:buymeacoffee\.com|buymeacoff\.ee)/([A-Za-z0-9_\-]{2,64})",
    "givesendgo": r"givesendgo\.com/([A-Za-z0-9_\-]{2,100})",
    "launchgood": r"launchgood\.com/(?:campaign/|v4/campaign/)?([A-Za-z0-9_\-]{2,120})",
    "donorbox": r"donorbox\.org/([A-Za-z0-9_\-]{2,100})",
    "liberapay": r"liberapay\.com/([A-Za-z0-9_\-]{2,64})",
    "opencollective": r"opencollective\.com/([A-Za-z0-9_\-]{2,64})",
    "cashapp": r"cash\.app/\$([A-Za-z0-9_\-]{1,30})",
    "venmo": r"venmo\.com/(?:u/)?([A-Za-z0-9_\-]{2,30})",
    "boosty": r"boosty\.to/([A-Za-z0-9_\-]{2,64})",
    "donationalerts": r"donationalerts\.com/r/([A-Za-z0-9_\-]{2,64})",
    "yoomoney": r"yoomoney\.ru/(?:to|fundraise)/([A-Za-z0-9_\-]{2,64})",
    "telegram_bot": r"(?:t\.me|telegram\.me)/([A-Za-z0-9_]{2,29}[Bb][Oo][Tt])(?:\?start=\S+)?",
}
_RE_LINK = re.compile(
    r"(?i)(?<![A-Za-z0-9@])(?:https?://)?(?:www\.)?("
    + "|".join(f"(?P<{re.sub(r'[^a-z]', '', k)}>{v})" for k, v in PAYMENT_SITES.items())
    + r")")
_GROUP_TO_SITE = {re.sub(r"[^a-z]", "", k): k for k in PAYMENT_SITES}
_RE_TG_DONATE = re.compile(r"(?i)\bdonat|\bdons?\b|spende|\bsupport|\bsostieni|donazion|bağış|"
                           r"пожертв|донат|поддерж|تبرع|ادعم|دعم")
_TRAIL = ".,;:!?)]}>'\"»”’"


def _links(text: str) -> list[Indicator]:
    out = []
    for m in _RE_LINK.finditer(text):
        site = next((_GROUP_TO_SITE[g] for g, v in m.groupdict().items() if v), None)
        if site is None:
            continue
        s, e = m.span()
        raw = m.group(1)
        while raw and raw[-1] in _TRAIL:
            raw = raw[:-1]
            e -= 1
        host, _, path = raw.partition("/")
        value = "https://" + host.lower() + "/" + path
        ind = Indicator("payment_link", value, True, (s, e), network=site, kind=site)
        if site == "telegram_bot":
            # most bots are not payment channels: only one with a donation cue nearby
            cues = _near(text, s, e, _RE_TG_DONATE)
            if not cues:
                continue
            ind.context = cues
            ind.detail["donation_context"] = True
        out.append(ind)
    return out


# ---------------------------------------------------------------------- API
def extract(text: str, *, phone_regions: tuple[str | None, ...] = (None,)) -> list[Indicator]:
    """All financial indicators in ``text``, in order of appearance.

    ``span`` offsets refer to ``text`` as given (zero-width characters that were
    used to split an address are skipped but the span covers them).
    ``phone_regions``: libphonenumber regions to try for numbers written without
    a ``+`` country code (``None`` = only international numbers).
    """
    if not text:
        return []
    clean, pos = _clean(text)
    found = _wallets(clean) + _ibans(clean) + _phones(clean, phone_regions) + _links(clean)
    # a wallet-looking token inside a payment link or IBAN is not a wallet
    found.sort(key=lambda i: (i.span[0], -(i.span[1] - i.span[0])))
    kept: list[Indicator] = []
    for ind in found:
        if any(ind.span[0] >= k.span[0] and ind.span[1] <= k.span[1] for k in kept):
            continue
        kept.append(ind)
    for ind in kept:
        ind.span = (pos[ind.span[0]], pos[ind.span[1] - 1] + 1)
    return kept
