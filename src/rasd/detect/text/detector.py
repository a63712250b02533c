"""The ``text`` detector behind ``rasd scan``: classifies stored posts with the
default (or ``RASD_TEXT_MODEL``) model under the active policy and stores one
detection per *flagged* post (label not ``none``/``exempt``).

The author's analyst-set role (news, researcher, ngo …) lowers the prior; posts
labelled ``financing`` get the finance stage's validated indicators (wallets,
IBANs, payment links) attached when ``rasd.detect.finance.indicators`` is present.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from rasd.detect.base import Detector, StoredPost, bounded_version
from rasd.model import Detection

log = logging.getLogger(__name__)
_warned_finance = False


def finance_indicators(text: str) -> list[dict[str, Any]] | None:
    """Validated payment indicators from the finance stage, or None if it is absent."""
    global _warned_finance
    try:
        from rasd.detect.finance.indicators import extract
    except ImportError:
        if not _warned_finance:
            log.warning("rasd.detect.finance.indicators is not available; financing "
                        "detections carry no payment indicators")
            _warned_finance = True
        return None
    out = []
    for ind in extract(text or ""):
        out.append(ind.to_dict() if hasattr(ind, "to_dict") else dict(ind))
    return out


class TextDetector(Detector):
    name = "text"
    subject_type = "post"
    batch_size = 512

    def __init__(self, model_dir: str | None = None, policy_path: str | None = None,
                 classifier=None):
        self._clf = classifier
        self._model_dir = model_dir
        self._policy_path = policy_path

    @property
    def classifier(self):
        if self._clf is None:
            from rasd.detect.text.model import TextClassifier
            from rasd.detect.text.policy import load_policy

            self._clf = TextClassifier.load(self._model_dir, policy=load_policy(self._policy_path))
        return self._clf

    @property
    def version(self) -> str:
        clf = self.classifier
        return bounded_version(f"{clf.version}/policy-{clf.policy.name}-{clf.policy.version}")

    def detect(self, subjects: Sequence[StoredPost]) -> list[Detection]:
        posts = [p for p in subjects if p.text and p.text.strip()]
        if not posts:
            return []
        clf = self.classifier
        preds = clf.predict([p.text for p in posts], ids=[p.id for p in posts],
                            langs=[p.lang for p in posts], roles=[p.account_role for p in posts])
        out = []
        for post, pr in zip(posts, preds, strict=True):
            if not pr.flagged:
                continue
            attrs = dict(pr.attributes)
            attrs["scores"] = {k: round(v, 4) for k, v in pr.scores.items()}
            expl = list(pr.explanation)
            if pr.label == "financing":
                inds = finance_indicators(post.text or "")
                if inds is not None:
                    attrs["indicators"] = inds
                    valid = [i for i in inds if i.get("valid")]
                    if valid:
                        expl.append({"why": "payment_indicators",
                                     "items": [{"type": i.get("type"), "value": i.get("value")}
                                               for i in valid[:10]]})
            out.append(Detection(subject_type="post", subject_id=post.id, detector=self.name,
                                 label=pr.label, score=float(pr.score),
                                 model_version=self.version, explanation=expl, attributes=attrs))
        return out
