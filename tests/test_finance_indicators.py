"""Indicator extraction: checksums, not patterns (issue 5 §1)."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rasd.detect.finance import crypto
from rasd.detect.finance.indicators import extract

# Public, well-known addresses (genesis block, BIP-173/350/86 vectors, EIP-55
# vectors, the USDT-TRC20 contract, the Monero general fund).
VALID = {
    "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa": ("BTC", "p2pkh"),
    "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy": ("BTC", "p2sh"),
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4": ("BTC", "p2wpkh"),
    "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297": ("BTC", "p2tr"),
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed": ("ETH", "eip55"),
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359": ("ETH", "eip55"),
    "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t": ("TRX", "account"),
    "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RV"
    "GQBEP3A": ("XMR", "standard"),
}


@pytest.mark.parametrize("addr", list(VALID))
def test_known_addresses_validate(addr):
    found = extract(f"send here: {addr} thanks")
    assert len(found) == 1, found
    ind = found[0]
    assert ind.type == "wallet" and ind.valid
    assert (ind.currency, ind.kind) == VALID[addr]
    assert f"send here: {addr}"[ind.span[0]:ind.span[1]] == addr


def test_bip350_rules():
    # v0 program encoded with bech32m, and v1 with bech32, are invalid (BIP-350)
    prog = bytes(range(20))
    good = crypto.segwit_encode("bc", 0, prog)
    assert crypto.check_segwit(good).valid
    bad_v1 = _encode_with_const("bc", 1, bytes(32), 1)
    assert not crypto.check_segwit(bad_v1).valid
    bad_v0 = _encode_with_const("bc", 0, prog, 0x2BC830A3)
    assert not crypto.check_segwit(bad_v0).valid
    mixed = good[:5] + good[5:].upper()
    assert not crypto.check_segwit(mixed).valid


def _encode_with_const(hrp, witver, program, const):
    data = [witver] + crypto._convertbits(list(program), 8, 5, True)
    pm = crypto._polymod(crypto._hrp_expand(hrp) + data + [0] * 6) ^ const
    chk = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(crypto.BECH32_CHARSET[d] for d in data + chk)


def _corrupt(addr: str, i: int, alphabet: str) -> str:
    c = addr[i]
    repl = next(a for a in alphabet if a != c and a.lower() != c.lower())
    return addr[:i] + repl + addr[i + 1:]


@settings(max_examples=60, deadline=None)
@given(payload=st.binary(min_size=20, max_size=20),
       version=st.sampled_from([0x00, 0x05, 0x30, 0x1E, 0x41]),
       pos=st.integers(min_value=1, max_value=24))
def test_base58check_detects_substitution(payload, version, pos):
    addr = crypto.base58check_encode(version, payload)
    assert crypto.check_base58(addr).valid
    bad = _corrupt(addr, pos, "23456789ABCDEFGHJKLMNPQRSTUVWXYZ")
    assert not crypto.check_base58(bad).valid


@settings(max_examples=60, deadline=None)
@given(program=st.binary(min_size=32, max_size=32), witver=st.sampled_from([0, 1]),
       pos=st.integers(min_value=4, max_value=40))
def test_bech32_detects_substitution(program, witver, pos):
    addr = crypto.segwit_encode("bc", witver, program)
    assert crypto.check_segwit(addr).valid
    assert not crypto.check_segwit(_corrupt(addr, pos, crypto.BECH32_CHARSET)).valid


def test_monero_roundtrip_and_corruption():
    for net in (18, 42):
        addr = crypto.xmr_encode(net, os.urandom(64))
        assert len(addr) == 95 and crypto.check_xmr(addr).valid
        assert not crypto.check_xmr(_corrupt(addr, 50, "ABCDEFGH")).valid


def test_eth_checksum_rules():
    a = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    assert crypto.check_eth(a.lower()).valid  # no checksum claimed
    bad = a[:3] + a[3].swapcase() + a[4:]
    assert not crypto.check_eth(bad).valid
    ind = extract(f"ERC20 USDT {a.lower()}")[0]
    assert ind.value == a  # normalised to the EIP-55 form
    assert ind.asset == "USDT"


def test_corrupted_wallets_are_kept_invalid():
    text = "BTC 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb / TRX TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u"
    found = extract(text)
    assert [(i.currency, i.valid) for i in found] == [("BTC", False), ("TRX", False)]
    assert all(i.reason for i in found)


def test_prose_is_not_a_wallet():
    text = ("Thisisaverylongwordwithoutanyspacesatall and 1234567890123456789012345678 and "
            "TheQuickBrownFoxJumpsOverTheLazyDogs and DoNotDonateToScammersPleaseThanksx")
    assert extract(text) == []


def test_usdt_context_on_tron():
    ind = extract("تبرعوا عبر USDT (TRC20): TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")[0]
    assert ind.currency == "TRX" and ind.asset == "USDT"
    assert extract("TRX TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")[0].asset is None


def test_zero_width_split_address():
    addr = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
    text = "wallet " + addr[:10] + "\u200b" + addr[10:] + " !"
    ind = extract(text)[0]
    assert ind.valid and ind.value == addr
    assert text[ind.span[0]:ind.span[1]].replace("\u200b", "") == addr


def test_ibans():
    text = ("Konto: DE89 3704 0044 0532 0130 00, or GB82WEST12345698765432; "
            "wrong: GB82 WEST 1234 5698 7654 33; short: DE89 3704 0044 0532 0130")
    found = [(i.value, i.valid) for i in extract(text) if i.type == "iban"]
    assert found == [("DE89370400440532013000", True), ("GB82WEST12345698765432", True),
                     ("GB82WEST12345698765433", False), ("DE893704004405320130", False)]
    de = extract("IBAN DE89370400440532013000")[0]
    assert de.detail["country"] == "DE" and de.detail.get("bic") == "COBADEFFXXX"


def test_phone_needs_transfer_context():
    assert extract("call me at +44 7911 123456 tonight") == []
    for text in ("Western Union: +44 7911 123456",
                 "للتحويل عبر ويسترن يونيون +90 532 123 45 67",
                 "Перевод на номер +7 912 345-67-89",
                 "Spenden per Überweisung oder +49 1512 3456789",
                 "Bağış için havale: +90 532 123 45 67",
                 "envoyez vos dons au +33 6 12 34 56 78",
                 "ricarica PostePay o invia al +39 312 345 6789"):
        found = [i for i in extract(text) if i.type == "phone"]
        assert len(found) == 1, text
        assert found[0].valid and found[0].value.startswith("+") and found[0].context


def test_phone_regions_for_national_numbers():
    text = "hawala via 0532 123 45 67"
    assert extract(text) == []
    found = extract(text, phone_regions=(None, "TR"))
    assert [i.value for i in found] == ["+905321234567"]


def test_payment_links():
    text = ("Support: https://www.paypal.me/SomeOne. GoFundMe gofundme.com/f/help-the-brothers, "
            "patreon.com/c/somecreator ko-fi.com/abc buymeacoffee.com/xyz and t.me/DonateHereBot "
            "and t.me/somechannel")
    found = [(i.kind, i.value) for i in extract(text)]
    assert found == [
        ("paypal", "https://paypal.me/SomeOne"),
        ("gofundme", "https://gofundme.com/f/help-the-brothers"),
        ("patreon", "https://patreon.com/c/somecreator"),
        ("ko-fi", "https://ko-fi.com/abc"),
        ("buymeacoffee", "https://buymeacoffee.com/xyz"),
        ("telegram_bot", "https://t.me/DonateHereBot"),
    ]


def test_to_dict_shape_and_bounds():
    ind = extract("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")[0].to_dict()
    assert {"type", "value", "valid", "span"} <= set(ind)
    assert ind["span"] == [0, 34]
    # very long hostile input is cut, not choked on
    big = ("x" * 50 + " ") * 10_000 + " 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
    assert extract(big) == []
    assert extract("") == []


def test_more_chains_and_bots():
    cash = crypto.cashaddr_encode("p2pkh", bytes(range(20)))
    assert crypto.check_cashaddr(cash).valid
    assert crypto.check_cashaddr("bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a").valid
    ind = extract(f"BCH {cash[len('bitcoincash:'):]}")[0]  # prefix omitted
    assert (ind.currency, ind.value, ind.valid) == ("BCH", cash, True)
    dash = crypto.base58check_encode(0x4C, bytes(20))
    zec = crypto.base58.b58encode_check(b"\x1c\xb8" + bytes(20)).decode()
    found = [(i.currency, i.valid) for i in extract(f"DASH {dash} ZEC {zec}")]
    assert found == [("DASH", True), ("ZEC", True)]
    # a Telegram bot is a payment channel only with a donation cue nearby
    assert extract("verify yourself with t.me/NationalistVettingBot") == []
    assert extract("пожертвования через t.me/HelpFundBot")[0].kind == "telegram_bot"


def test_iban_countries_beyond_the_bank_registry():
    # Palestine (PS) has an IBAN format but no bank registry in schwifty
    from schwifty import IBAN

    bban = "PALS" + "0" * 21
    num = "".join(str(int(c, 36)) for c in bban + "PS00")
    iban = f"PS{98 - int(num) % 97:02d}{bban}"
    IBAN(iban)
    assert [(i.value, i.valid) for i in extract(f"IBAN {iban}")] == [(iban, True)]


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400))
def test_extract_never_fails_on_arbitrary_text(text):
    for ind in extract(text):
        assert 0 <= ind.span[0] < ind.span[1] <= len(text)
        assert ind.type in ("wallet", "iban", "phone", "payment_link")
        assert isinstance(ind.to_dict()["valid"], bool)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("1A3bc9xyzQ0Tt \u200b-:")), max_size=80))
def test_extract_on_address_like_noise(text):
    for ind in extract(text):
        if ind.valid:  # a valid report on noise must hold up on its own
            again = extract(ind.value)
            assert again and again[0].valid and again[0].value == ind.value


def test_the_documented_extract_example_works_as_typed():
    """README and docs/finance.md show `echo '…' | rasd finance extract`: the
    address there must be complete and pass its checksum (it was 'TR7NHq…'), and be
    an example, not someone's wallet: TRON's zero address (0x41 + 20 zero bytes)."""
    import re
    from pathlib import Path

    from typer.testing import CliRunner

    from rasd.cli import app
    from rasd.detect.finance import crypto

    root = Path(__file__).resolve().parents[1]
    zero = crypto.base58check_encode(0x41, bytes(20))
    seen = 0
    for doc in ("README.md", "docs/finance.md"):
        for line in re.findall(r"echo '([^']*)' \| rasd finance extract",
                               (root / doc).read_text(encoding="utf-8")):
            seen += 1
            out = CliRunner().invoke(app, ["finance", "extract"], input=line + "\n")
            assert out.exit_code == 0, out.output
            ind = json.loads(out.output.splitlines()[0])["indicators"]
            assert [(i["value"], i["valid"], i["currency"], i.get("asset")) for i in ind] == [
                (zero, True, "TRX", "USDT")], (doc, line)
    assert seen == 2


@settings(deadline=None)
@given(st.text(alphabet=st.sampled_from("ab1 \u200b\u200d\u00ad\u2066\ufeff€é\n"), max_size=60))
def test_clean_drops_invisibles_and_maps_offsets_back(text):
    """_clean skips its character loop when there is nothing to drop; with or
    without, the cleaned text is the text without invisible characters, and
    each kept character's offset (and the end) maps back to the caller's text."""
    from rasd.detect.finance.indicators import _INVISIBLE, _clean

    clean, pos = _clean(text)
    kept = [i for i, ch in enumerate(text) if ord(ch) not in _INVISIBLE]
    assert clean == "".join(text[i] for i in kept)
    assert pos == kept + [len(text)]
