"""Demo step "20_text": scan the demo store's posts with the text detector and log
what was flagged (label, score, language, a short excerpt)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select

from rasd.detect.scan import scan
from rasd.detect.text.detector import TextDetector
from rasd.model import attached_text
from rasd.store import schema as S
from rasd.terminal import term_safe


def step(ctx) -> dict[str, Any]:
    det = TextDetector()
    res = scan(ctx.store, [det])[0]
    with ctx.store.connect() as c:
        rows = c.execute(
            select(S.detections.c.label, S.detections.c.score, S.posts.c.text,
                   S.detections.c.attributes, S.posts.c.extra)
            .select_from(S.detections.join(S.posts, S.posts.c.id == S.detections.c.subject_id))
            .where(S.detections.c.detector == det.name, S.detections.c.subject_type == "post")
            .order_by(S.detections.c.score.desc())).all()
    labels = Counter(r[0] for r in rows)
    ctx.log(f"text: scanned {res.scanned} posts with {det.version}; flagged {len(rows)} "
            f"({', '.join(f'{k} {v}' for k, v in labels.most_common()) or 'none'})")
    for lab, score, text, attrs, extra in rows[:8]:
        lang = (attrs or {}).get("language", "?")
        # the words the detector read: a poll's question and options are the post's
        # too (a poll post has no text of its own and printed an empty excerpt)
        words = " ".join(w for w in (text, attached_text(extra or {})) if w)
        excerpt = term_safe(" ".join(words.split())[:90])  # posts are input: escaped
        ctx.log(f"  {lab:12} {score:.2f} [{lang}] {excerpt}")
    return {"scanned": res.scanned, "flagged": len(rows), "by_label": dict(labels),
            "model_version": det.version}
