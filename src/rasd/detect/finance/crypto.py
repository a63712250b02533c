"""Checksum validation of cryptocurrency addresses — no network, no heavy deps.

- base58check (Bitcoin/Litecoin/Dogecoin/Dash/Bitcoin Gold legacy and P2SH, TRON,
  Zcash transparent): double-SHA-256 checksum through the ``base58`` package; the
  version byte(s) name the chain.
- CashAddr (Bitcoin Cash): its BCH-code checksum over the prefix and payload.
- bech32 / bech32m (BIP-173, BIP-350): implemented here from the reference
  algorithm (``bech32_polymod``), with the segwit rules of BIP-141/350
  (witness version 0 → bech32 and a 20- or 32-byte program; 1–16 → bech32m).
- Ethereum: EIP-55 mixed-case checksum with Keccak-256 from pycryptodome.
- Monero: Monero's block base58 and a Keccak-256 checksum of the decoded bytes.

Every function is pure and bounded: inputs longer than any real address are
rejected before decoding.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import base58
from Crypto.Hash import keccak

B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(B58_ALPHABET)}
BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_CONST = 1
_BECH32M_CONST = 0x2BC830A3


@dataclass(frozen=True, slots=True)
class AddressCheck:
    """Result of validating one candidate address."""

    currency: str | None  # BTC, LTC, DOGE, TRX, ETH, XMR (None: unknown chain)
    valid: bool
    kind: str = ""  # p2pkh, p2sh, p2wpkh, p2wsh, p2tr, segwit, eoa, standard, subaddress…
    network: str = "mainnet"
    reason: str = ""  # why it is invalid


def keccak256(data: bytes) -> bytes:
    h = keccak.new(digest_bits=256)
    h.update(data)
    return h.digest()


# ---------------------------------------------------------------- base58check
# version byte → (currency, kind, network)
_B58_VERSIONS: dict[int, tuple[str, str, str]] = {
    0x00: ("BTC", "p2pkh", "mainnet"),
    0x05: ("BTC", "p2sh", "mainnet"),
    0x6F: ("BTC", "p2pkh", "testnet"),
    0xC4: ("BTC", "p2sh", "testnet"),
    0x30: ("LTC", "p2pkh", "mainnet"),
    0x32: ("LTC", "p2sh", "mainnet"),
    0x1E: ("DOGE", "p2pkh", "mainnet"),
    0x16: ("DOGE", "p2sh", "mainnet"),
    0x71: ("DOGE", "p2pkh", "testnet"),
    0x41: ("TRX", "account", "mainnet"),
    0x4C: ("DASH", "p2pkh", "mainnet"),
    0x10: ("DASH", "p2sh", "mainnet"),
    0x26: ("BTG", "p2pkh", "mainnet"),
    0x17: ("BTG", "p2sh", "mainnet"),
}
# two-byte versions (Zcash transparent addresses: t1…, t3…)
_B58_VERSIONS2: dict[bytes, tuple[str, str, str]] = {
    b"\x1c\xb8": ("ZEC", "p2pkh", "mainnet"),
    b"\x1c\xbd": ("ZEC", "p2sh", "mainnet"),
}

# First character → the chain its version byte would give, used to name the
# intended chain of a candidate whose checksum fails.
_B58_FIRST_CHAR = {"1": "BTC", "3": "BTC", "m": "BTC", "n": "BTC", "2": "BTC",
                   "L": "LTC", "M": "LTC", "D": "DOGE", "A": "DOGE", "9": "DOGE", "T": "TRX",
                   "X": "DASH", "7": "DASH", "G": "BTG", "t": "ZEC"}


def check_base58(addr: str) -> AddressCheck:
    """Validate a base58check address (25-byte payload incl. checksum)."""
    guess = _B58_FIRST_CHAR.get(addr[:1])
    if not 25 <= len(addr) <= 35 or any(c not in _B58_INDEX for c in addr):
        return AddressCheck(guess, False, reason="not base58 of address length")
    try:
        raw = base58.b58decode_check(addr)
    except ValueError:
        return AddressCheck(guess, False, reason="base58check checksum mismatch")
    if len(raw) == 22 and raw[:2] in _B58_VERSIONS2:
        ver = _B58_VERSIONS2[raw[:2]]
        return AddressCheck(ver[0], True, kind=ver[1], network=ver[2])
    if len(raw) != 21:
        return AddressCheck(guess, False, reason=f"payload is {len(raw)} bytes, not 21")
    ver = _B58_VERSIONS.get(raw[0])
    if ver is None:
        return AddressCheck(guess, False, reason=f"unknown version byte 0x{raw[0]:02x}")
    return AddressCheck(ver[0], True, kind=ver[1], network=ver[2])


# --------------------------------------------------------------- bech32(m)
def _polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((top >> i) & 1) else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def bech32_decode(bech: str) -> tuple[str, list[int], str] | None:
    """Decode a bech32/bech32m string → (hrp, data without checksum, "bech32"|"bech32m")."""
    if len(bech) > 90 or any(ord(x) < 33 or ord(x) > 126 for x in bech):
        return None
    if bech.lower() != bech and bech.upper() != bech:
        return None  # mixed case is invalid by BIP-173
    bech = bech.lower()
    pos = bech.rfind("1")
    if pos < 1 or pos + 7 > len(bech):
        return None
    if any(x not in BECH32_CHARSET for x in bech[pos + 1:]):
        return None
    hrp = bech[:pos]
    data = [BECH32_CHARSET.find(x) for x in bech[pos + 1:]]
    const = _polymod(_hrp_expand(hrp) + data)
    if const == _BECH32_CONST:
        enc = "bech32"
    elif const == _BECH32M_CONST:
        enc = "bech32m"
    else:
        return None
    return hrp, data[:-6], enc


def _convertbits(data: list[int], frombits: int, tobits: int, pad: bool) -> list[int] | None:
    acc = bits = 0
    ret: list[int] = []
    maxv = (1 << tobits) - 1
    for value in data:
        if value < 0 or (value >> frombits):
            return None
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            ret.append((acc >> bits) & maxv)
    if pad:
        if bits:
            ret.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or ((acc << (tobits - bits)) & maxv):
        return None
    return ret


_SEGWIT_HRP = {"bc": ("BTC", "mainnet"), "tb": ("BTC", "testnet"), "bcrt": ("BTC", "regtest"),
               "ltc": ("LTC", "mainnet"), "tltc": ("LTC", "testnet")}


def check_segwit(addr: str) -> AddressCheck:
    """Validate a segwit address (BIP-173 bech32 for v0, BIP-350 bech32m for v1+)."""
    hrp_guess = addr[: addr.rfind("1")].lower() if "1" in addr else ""
    cur, net = _SEGWIT_HRP.get(hrp_guess, (None, "mainnet"))
    dec = bech32_decode(addr)
    if dec is None:
        return AddressCheck(cur, False, network=net, reason="bech32 checksum or charset error")
    hrp, data, enc = dec
    if hrp not in _SEGWIT_HRP or not data:
        return AddressCheck(cur, False, network=net, reason=f"unknown segwit prefix {hrp!r}")
    cur, net = _SEGWIT_HRP[hrp]
    witver = data[0]
    prog = _convertbits(data[1:], 5, 8, False)
    if prog is None or not 2 <= len(prog) <= 40 or witver > 16:
        return AddressCheck(cur, False, network=net, reason="bad witness program")
    if witver == 0:
        if enc != "bech32":
            return AddressCheck(cur, False, network=net, reason="v0 address must use bech32")
        if len(prog) not in (20, 32):
            return AddressCheck(cur, False, network=net, reason="v0 program must be 20 or 32 bytes")
        kind = "p2wpkh" if len(prog) == 20 else "p2wsh"
    else:
        if enc != "bech32m":
            return AddressCheck(cur, False, network=net, reason="v1+ address must use bech32m")
        kind = "p2tr" if witver == 1 and len(prog) == 32 else f"segwit_v{witver}"
    return AddressCheck(cur, True, kind=kind, network=net)


# ------------------------------------------------------- Bitcoin Cash CashAddr
def _cashaddr_polymod(values: list[int]) -> int:
    c = 1
    for d in values:
        c0 = c >> 35
        c = ((c & 0x07FFFFFFFF) << 5) ^ d
        if c0 & 0x01:
            c ^= 0x98F2BC8E61
        if c0 & 0x02:
            c ^= 0x79B76D99E2
        if c0 & 0x04:
            c ^= 0xF33E5FB3C4
        if c0 & 0x08:
            c ^= 0xAE2EABE2A8
        if c0 & 0x10:
            c ^= 0x1E4F43E470
    return c ^ 1


def check_cashaddr(addr: str) -> AddressCheck:
    """Bitcoin Cash CashAddr (``bitcoincash:q…``/``p…``; the prefix may be omitted)."""
    a = addr.lower() if addr.lower() == addr or addr.upper() == addr else None
    if a is None:
        return AddressCheck("BCH", False, reason="mixed case")
    prefix, _, payload = a.rpartition(":")
    prefix = prefix or "bitcoincash"
    if prefix not in ("bitcoincash", "bchtest") or not 42 <= len(payload) <= 112:
        return AddressCheck("BCH", False, reason="not a CashAddr")
    if any(c not in BECH32_CHARSET for c in payload):
        return AddressCheck("BCH", False, reason="not a CashAddr")
    data = [BECH32_CHARSET.find(c) for c in payload]
    if _cashaddr_polymod([ord(c) & 31 for c in prefix] + [0] + data) != 0:
        return AddressCheck("BCH", False, reason="CashAddr checksum mismatch")
    kind = {"q": "p2pkh", "p": "p2sh"}.get(payload[0], "other")
    return AddressCheck("BCH", True, kind=kind,
                        network="mainnet" if prefix == "bitcoincash" else "testnet")


# ---------------------------------------------------------------- Ethereum
def eip55(addr_hex40: str) -> str:
    """EIP-55 checksummed form of 40 hex digits (without 0x)."""
    low = addr_hex40.lower()
    h = keccak256(low.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if c.isalpha() and int(h[i], 16) >= 8 else c
                          for i, c in enumerate(low))


def check_eth(addr: str) -> AddressCheck:
    """0x + 40 hex. All-lower/all-upper carry no checksum (valid); mixed case must be EIP-55."""
    body = addr[2:]
    if len(addr) != 42 or addr[:2].lower() != "0x" or any(
            c not in "0123456789abcdefABCDEF" for c in body):
        return AddressCheck("ETH", False, reason="not 0x + 40 hex digits")
    if body == body.lower() or body == body.upper():
        return AddressCheck("ETH", True, kind="no_checksum")
    if eip55(body) == "0x" + body:
        return AddressCheck("ETH", True, kind="eip55")
    return AddressCheck("ETH", False, reason="EIP-55 checksum mismatch")


# ----------------------------------------------------------------- Monero
_XMR_FULL_BLOCK = 8
_XMR_FULL_ENC = 11
_XMR_ENC_SIZES = [0, 2, 3, 5, 6, 7, 9, 10, 11]
_XMR_NETBYTES = {18: "standard", 19: "integrated", 42: "subaddress",
                 53: "testnet", 54: "testnet", 63: "testnet", 24: "stagenet", 25: "stagenet",
                 36: "stagenet"}


def _xmr_b58_decode(s: str) -> bytes | None:
    out = bytearray()
    full, rest = divmod(len(s), _XMR_FULL_ENC)
    if rest not in _XMR_ENC_SIZES:
        return None
    blocks = [s[i * _XMR_FULL_ENC:(i + 1) * _XMR_FULL_ENC] for i in range(full)]
    if rest:
        blocks.append(s[full * _XMR_FULL_ENC:])
    for blk in blocks:
        size = _XMR_FULL_BLOCK if len(blk) == _XMR_FULL_ENC else _XMR_ENC_SIZES.index(len(blk))
        num = 0
        for c in blk:
            i = _B58_INDEX.get(c)
            if i is None:
                return None
            num = num * 58 + i
        if num >= 1 << (8 * size):
            return None
        out += num.to_bytes(size, "big")
    return bytes(out)


def check_xmr(addr: str) -> AddressCheck:
    """Monero standard (95), subaddress (95) or integrated (106) address."""
    if len(addr) not in (95, 106):
        return AddressCheck("XMR", False, reason="Monero addresses are 95 or 106 characters")
    raw = _xmr_b58_decode(addr)
    if raw is None or len(raw) < 5:
        return AddressCheck("XMR", False, reason="not Monero base58")
    if keccak256(raw[:-4])[:4] != raw[-4:]:
        return AddressCheck("XMR", False, reason="Keccak checksum mismatch")
    kind = _XMR_NETBYTES.get(raw[0])
    if kind is None:
        return AddressCheck("XMR", False, reason=f"unknown network byte {raw[0]}")
    net = "mainnet" if kind in ("standard", "integrated", "subaddress") else kind
    return AddressCheck("XMR", True, kind=kind, network=net)


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


# ------------------------------------------------------- encoders (tests, demo)
def base58check_encode(version: int, payload20: bytes) -> str:
    """Build a base58check address from a version byte and a 20-byte hash."""
    return base58.b58encode_check(bytes([version]) + payload20).decode()


def segwit_encode(hrp: str, witver: int, program: bytes) -> str:
    const = _BECH32_CONST if witver == 0 else _BECH32M_CONST
    data = [witver] + (_convertbits(list(program), 8, 5, True) or [])
    values = _hrp_expand(hrp) + data
    pm = _polymod(values + [0] * 6) ^ const
    chk = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(BECH32_CHARSET[d] for d in data + chk)


def xmr_encode(netbyte: int, body: bytes) -> str:
    """Monero base58 of netbyte + body + keccak checksum (body: 64 bytes of keys)."""
    raw = bytes([netbyte]) + body
    raw += keccak256(raw)[:4]
    out = []
    for i in range(0, len(raw), _XMR_FULL_BLOCK):
        blk = raw[i:i + _XMR_FULL_BLOCK]
        num = int.from_bytes(blk, "big")
        size = _XMR_FULL_ENC if len(blk) == _XMR_FULL_BLOCK else _XMR_ENC_SIZES[len(blk)]
        chars = []
        for _ in range(size):
            num, r = divmod(num, 58)
            chars.append(B58_ALPHABET[r])
        out.append("".join(reversed(chars)))
    return "".join(out)


def cashaddr_encode(kind: str, hash20: bytes, prefix: str = "bitcoincash") -> str:
    """CashAddr of a 20-byte hash; ``kind`` p2pkh (q…) or p2sh (p…)."""
    version = 0 if kind == "p2pkh" else 8
    data = _convertbits([version] + list(hash20), 8, 5, True) or []
    poly = _cashaddr_polymod([ord(c) & 31 for c in prefix] + [0] + data + [0] * 8)
    chk = [(poly >> 5 * (7 - i)) & 31 for i in range(8)]
    return prefix + ":" + "".join(BECH32_CHARSET[d] for d in data + chk)
