"""The content policy as data.

A policy is a JSON file: labels (id, definition, legal basis, whether the label is
*flagged*, severity, examples per language), attribute vocabularies, the lexicon
files it uses and optional per-label thresholds. The shipped default
(``rasd/data/policy/default.json``) encodes ../design/POLICY.md; a user can load
their own with ``--policy FILE`` (or ``RASD_POLICY``) to add labels, examples,
lexicons or thresholds without code. Every text command, the detector and the
evaluation read the same :class:`Policy`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from rasd.jsonread import JSONInputError, parse_json

MAX_POLICY_BYTES = 20 * 1024 * 1024
REQUIRED_LABELS = ("none",)


class PolicyError(ValueError):
    """A policy file is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class Label:
    id: str
    flagged: bool
    definition: str
    severity: str = "low"
    legal_basis: str | None = None
    examples: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    name: str
    version: str
    labels: tuple[Label, ...]
    languages: tuple[str, ...] = ()
    target_journalism_fpr: float = 0.02
    attributes: dict[str, Any] = field(default_factory=dict)
    lexicons: tuple[str, ...] = ()
    thresholds: dict[str, float] = field(default_factory=dict)
    source: str = "<builtin>"

    @property
    def label_ids(self) -> list[str]:
        return [lab.id for lab in self.labels]

    @property
    def flagged_labels(self) -> list[str]:
        return [lab.id for lab in self.labels if lab.flagged]

    def label(self, label_id: str) -> Label:
        for lab in self.labels:
            if lab.id == label_id:
                return lab
        raise KeyError(label_id)

    def is_flagged(self, label_id: str) -> bool:
        try:
            return self.label(label_id).flagged
        except KeyError:
            return False

    def examples(self) -> list[tuple[str, str, str]]:
        """(text, label, lang) for every example in the policy."""
        out = []
        for lab in self.labels:
            for lang, texts in lab.examples.items():
                out.extend((t, lab.id, lang) for t in texts)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "version": self.version, "source": self.source,
            "languages": list(self.languages),
            "target_journalism_fpr": self.target_journalism_fpr,
            "labels": [{"id": lab.id, "flagged": lab.flagged, "severity": lab.severity,
                        "legal_basis": lab.legal_basis, "definition": lab.definition,
                        "examples": {k: len(v) for k, v in lab.examples.items()}}
                       for lab in self.labels],
            "thresholds": dict(self.thresholds), "lexicons": list(self.lexicons),
        }


    def to_document(self) -> dict[str, Any]:
        """The policy as a policy file holds it, which ``load_policy_file``
        (``rasd policy check``) reads back as the same policy: every field,
        examples in full. A lexicon named relative to the policy's own folder
        becomes an absolute path, so the document reads the same lexicons
        wherever it is saved; shipped lexicons keep their names."""
        # as resolve_lexicon_paths reads them: the policy's folder first, then rasd's
        base = Path(self.source).parent if Path(self.source).is_file() else None
        lexicons = []
        for n in self.lexicons:
            own = base / n if base is not None else None  # (an absolute n stays n)
            lexicons.append(str(own.resolve()) if own is not None and own.is_file() else n)
        return {
            "name": self.name, "version": self.version, "languages": list(self.languages),
            "target_journalism_fpr": self.target_journalism_fpr,
            "attributes": self.attributes, "lexicons": lexicons,
            "labels": [{"id": lab.id, "flagged": lab.flagged, "severity": lab.severity,
                        "legal_basis": lab.legal_basis, "definition": lab.definition,
                        "examples": {k: list(v) for k, v in lab.examples.items()}}
                       for lab in self.labels],
            "thresholds": dict(self.thresholds),
        }


def _err(src: str, where: str, msg: str) -> PolicyError:
    return PolicyError(f"{src}: {where}: {msg}")


def parse_policy(data: Any, source: str = "<memory>") -> Policy:
    """Validate a decoded policy document; errors name the file and field."""
    if not isinstance(data, dict):
        raise _err(source, "top level", "must be a JSON object")
    for key in ("name", "version", "labels"):
        if key not in data:
            raise _err(source, key, "missing required field")
    for key in ("name", "version"):
        if not isinstance(data[key], (str, int)) or isinstance(data[key], bool):
            raise _err(source, key, "must be a string")
    if not isinstance(data["labels"], list) or not data["labels"]:
        raise _err(source, "labels", "must be a non-empty list")
    labels = []
    seen: set[str] = set()
    for i, raw in enumerate(data["labels"]):
        where = f"labels[{i}]"
        if not isinstance(raw, dict):
            raise _err(source, where, "must be an object")
        lid = raw.get("id")
        if not isinstance(lid, str) or not lid or len(lid) > 64 or not lid.replace("_", "").replace("-", "").isalnum():
            raise _err(source, f"{where}.id", "must be a short identifier (letters, digits, - _)")
        if lid in seen:
            raise _err(source, f"{where}.id", f"duplicate label {lid!r}")
        seen.add(lid)
        if not isinstance(raw.get("flagged"), bool):
            raise _err(source, f"{where}.flagged", "must be true or false")
        definition = raw.get("definition")
        if not isinstance(definition, str) or not definition.strip():
            raise _err(source, f"{where}.definition", "must be a non-empty string")
        for key in ("severity", "legal_basis"):
            if raw.get(key) is not None and not isinstance(raw[key], str):
                raise _err(source, f"{where}.{key}", "must be a string")
        ex = raw.get("examples", {}) or {}
        if not isinstance(ex, dict):
            raise _err(source, f"{where}.examples", "must map language codes to lists of texts")
        examples: dict[str, list[str]] = {}
        for lang, texts in ex.items():
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise _err(source, f"{where}.examples.{lang}", "must be a list of strings")
            examples[str(lang)] = [t for t in texts if t.strip()]
        labels.append(Label(id=lid, flagged=raw["flagged"], definition=definition.strip(),
                            severity=raw.get("severity") or "low",
                            legal_basis=raw.get("legal_basis"), examples=examples))
    for req in REQUIRED_LABELS:
        if req not in seen:
            raise _err(source, "labels", f"a policy needs a {req!r} label")
    if not any(lab.flagged for lab in labels):
        raise _err(source, "labels", "at least one label must be flagged")
    thr = data.get("thresholds", {}) or {}
    if not isinstance(thr, dict):
        raise _err(source, "thresholds", "must map label ids to numbers in [0, 1]")
    for k, v in thr.items():
        if k not in seen:
            raise _err(source, f"thresholds.{k}", "unknown label")
        if not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise _err(source, f"thresholds.{k}", "must be a number in [0, 1]")
    fpr = data.get("target_journalism_fpr", 0.02)
    if not isinstance(fpr, (int, float)) or not 0 <= fpr <= 1:
        raise _err(source, "target_journalism_fpr", "must be a number in [0, 1]")
    langs = data.get("languages", []) or []
    if not isinstance(langs, list) or not all(isinstance(x, str) for x in langs):
        raise _err(source, "languages", "must be a list of language codes")
    attributes = data.get("attributes", {}) or {}
    if not isinstance(attributes, dict):
        raise _err(source, "attributes", "must be an object")
    lex = data.get("lexicons", []) or []
    if not isinstance(lex, list) or not all(isinstance(x, str) for x in lex):
        raise _err(source, "lexicons", "must be a list of file names")
    return Policy(name=str(data["name"]), version=str(data["version"]), labels=tuple(labels),
                  languages=tuple(langs),
                  target_journalism_fpr=float(fpr), attributes=attributes,
                  lexicons=tuple(lex), thresholds={k: float(v) for k, v in thr.items()},
                  source=source)


def load_policy_file(path: str | Path) -> Policy:
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as e:
        raise PolicyError(f"{p}: cannot read policy file: {e.strerror}") from None
    if size > MAX_POLICY_BYTES:
        raise PolicyError(f"{p}: policy file is {size} bytes; the limit is {MAX_POLICY_BYTES}")
    try:
        data = parse_json(p.read_text(encoding="utf-8"))
    except OSError as e:  # a directory, a file that went or is not readable
        raise PolicyError(f"{p}: cannot read policy file: {e.strerror}") from None
    except JSONInputError as e:
        raise PolicyError(f"{p}: {e}") from None
    except UnicodeDecodeError:
        raise PolicyError(f"{p}: not UTF-8 text") from None
    return parse_policy(data, source=str(p))


@lru_cache(maxsize=1)
def default_policy_path() -> Path:
    """The shipped policy's file, found once a process: ``load_policy()`` is
    called for each labels cell of a bank import (``banks.policy_labels``),
    and finding the package's files each time (importlib.resources) was most
    of reading a bank file."""
    return Path(str(files("rasd") / "data" / "policy" / "default.json"))


@lru_cache(maxsize=8)
def _cached(path: str) -> Policy:
    return load_policy_file(path)


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy at ``path``, else ``$RASD_POLICY``, else the shipped default."""
    chosen = path or os.environ.get("RASD_POLICY") or default_policy_path()
    return _cached(str(chosen))
