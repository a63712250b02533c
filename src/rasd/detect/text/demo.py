"""Demo step "20_text": scan the demo store's posts with the text detector and log
what was flagged (label, score, language, a short excerpt)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select

from rasd.detect.scan import scan
from rasd.detect.text.detector import TextDetector
from rasd.store import schema as S


def step(ctx) -> dict[str, Any]:
    det = TextDetector()
    res = scan(ctx.store, [det])[0]
    with ctx.store.connect() as c:
        rows = c.execute(
            select(S.detections.c.label, S.detections.c.score, S.posts.c.text,
                   S.detections.c.attributes)
            .select_from(S.detections.join(S.posts, S.posts.c.id == S.detections.c.subject_id))
            .where(S.detections.c.detector == det.name, S.detections.c.subject_type == "post")
            .order_by(S.detections.c.score.desc())).all()
    labels = Counter(r[0] for r in rows)
    ctx.log(f"text: scanned {res.scanned} posts with {det.version}; flagged {len(rows)} "
            f"({', '.join(f'{k} {v}' for k, v in labels.most_common()) or 'none'})")
    for lab, score, text, attrs in rows[:8]:
        lang = (attrs or {}).get("language", "?")
        excerpt = " ".join((text or "").split())[:90]
        ctx.log(f"  {lab:12} {score:.2f} [{lang}] {excerpt}")
    return {"scanned": res.scanned, "flagged": len(rows), "by_label": dict(labels),
            "model_version": det.version}
