"""Hash one file with every signal type that applies to it (``rasd hash``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rasd.detect.media import signals as sig
from rasd.detect.media.files import FileInfo, Limits, MediaError, inspect_file


@dataclass
class FileHashes:
    path: str
    info: FileInfo | None = None
    signals: dict[str, sig.SignalValue] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # signal type (or "file") → why

    @property
    def ok(self) -> bool:
        return "file" not in self.errors

    def error_text(self) -> str | None:
        """What failed, as one line (``pdq: truncated image …``); None when nothing did."""
        return "; ".join(f"{k}: {v}" for k, v in self.errors.items()) or None

    def record(self) -> dict[str, Any]:
        """The JSONL record of ``rasd hash``."""
        r: dict[str, Any] = {"path": self.path}
        if self.info is not None:
            r["size"] = self.info.size
            r["content_type"] = self.info.content_type
            r["mime"] = self.info.mime
            if self.info.note:
                r["note"] = self.info.note
        for name, v in self.signals.items():
            r[name] = v.value
            if v.quality is not None:
                r[f"{name}_quality"] = v.quality
            for k, x in (v.extra or {}).items():
                r[f"{name}_{k}"] = x
        if self.errors:
            r["error"] = self.error_text()
        return r


def hash_path(path: str | Path, types: Iterable[str] | None = None,
              limits: Limits | None = None) -> FileHashes:
    """All applicable signals of one file. Never raises for a bad file: problems are
    in ``errors`` so that a batch goes on."""
    limits = limits or Limits.from_env()
    p = Path(path)
    out = FileHashes(str(path))
    try:
        info = inspect_file(p, limits)
    except MediaError as e:
        out.errors["file"] = str(e)
        return out
    except OSError as e:
        out.errors["file"] = f"cannot read: {e.strerror or e}"
        return out
    out.info = info
    if info.size == 0:
        out.errors["file"] = "empty file (0 bytes)"
        return out
    reg = sig.registry()
    names = list(types) if types else list(reg)
    for name in names:
        st = reg.get(name)
        if st is None:
            out.errors[name] = "unknown signal type"
            continue
        if not st.applies_to(info.content_type):
            continue
        try:
            v = st.hash_file(info, limits)
        except MediaError as e:
            out.errors[name] = str(e)
            continue
        except MemoryError:
            out.errors[name] = "out of memory while decoding"
            continue
        if v is not None:
            out.signals[name] = v
    return out
