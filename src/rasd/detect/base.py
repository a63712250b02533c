"""The one interface every detector implements.

Why a base class: ``rasd scan`` must run any detector — text classifier, hash
matcher, finance extractor, or a user's plugin — over stored subjects, skip what
was already scanned with the same model version, and store results in one shape.
A detector therefore only says what it looks at (``subject_type``), who it is
(``name``, ``version``) and how to turn a batch of subjects into detections.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from rasd.model import Detection
from rasd.store.schema import MODEL_VERSION_MAX

if TYPE_CHECKING:
    from rasd.store import Store


@dataclass(slots=True)
class StoredPost:
    """A post as detectors see it: text plus the context that may change a verdict
    (the author's profile — a news outlet or researcher lowers the prior)."""

    id: int
    platform: str
    platform_id: str
    text: str | None  # with a poll's or contact card's words after it (model.attached_text)
    lang: str | None = None
    kind: str = "post"
    created_at: datetime | None = None
    account_id: int | None = None
    account_handle: str | None = None
    account_name: str | None = None
    account_bio: str | None = None
    account_kind: str | None = None
    account_role: str | None = None  # news, researcher, ngo … (set by analysts)
    extra: dict[str, Any] = field(default_factory=dict)
    # links the post carries beyond its text: X's expanded URLs (the text shows
    # t.co), Telegram link buttons, text links
    urls: list[str] = field(default_factory=list)


@dataclass(slots=True)
class StoredMedia:
    id: int
    platform: str
    media_key: str
    type: str | None = None
    url: str | None = None
    local_path: str | None = None
    mime_type: str | None = None
    post_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class StoredAccount:
    id: int
    platform: str
    platform_id: str
    handle: str | None = None
    name: str | None = None
    bio: str | None = None
    kind: str | None = None


class Detector(ABC):
    """Turns a batch of stored subjects into detections.

    Subclasses set ``name`` (unique, short), ``subject_type`` (``post``,
    ``media`` or ``account``) and implement ``version`` and ``detect``.
    ``bind`` gets the store before the first batch, for detectors that need
    tables of their own (hash banks, designation lists).
    """

    name: ClassVar[str]
    subject_type: ClassVar[str] = "post"
    batch_size: ClassVar[int] = 512

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass written for the ``order`` hook that ``plan`` replaced
        (``order(ids) -> ids``, a page of pending ids in the order to scan
        them) is planned with it (``_plan_by_order``), with a
        DeprecationWarning once, when the class is defined: where a class
        defines ``order`` and not ``plan``, its ``plan`` calls ``order`` a
        page at a time, as ``scan`` did. A class that defines both keeps
        its ``plan``."""
        super().__init_subclass__(**kwargs)
        if "order" in cls.__dict__ and "plan" not in cls.__dict__:
            import sys
            import warnings

            # the warning names the class statement: past the metaclass's
            # __new__ (ABCMeta's is Python) and any __init_subclass__ above this one
            level, f = 2, sys._getframe(1)
            while f is not None and f.f_code.co_name in ("__new__", "__init_subclass__"):
                level, f = level + 1, f.f_back
            warnings.warn(
                f"{cls.__module__}.{cls.__qualname__} defines Detector.order, "
                "replaced by Detector.plan(pages): order is called a page at a "
                "time for now; define plan instead",
                DeprecationWarning, stacklevel=level)
            cls.plan = Detector._plan_by_order  # type: ignore[method-assign]

    @property
    @abstractmethod
    def version(self) -> str:
        """Model / rules version. A new version rescans on request. At most
        ``MODEL_VERSION_MAX`` characters, as stored (``bounded_version``)."""

    def bind(self, store: Store) -> None:
        """Called once with the store before any batch."""

    def catch_up(self, store: Store) -> dict[str, int] | None:
        """Called by ``scan`` after ``bind``, before new subjects: bring the
        results for subjects scanned earlier up to date when something this
        detector decides with has changed since (a hash bank imported, say),
        without reading the subjects again. Returns a summary of what it
        did, or None when there was nothing to do (the default)."""
        return None

    def plan(self, pages: Iterable[list[int]]) -> Iterator[list[int]]:
        """The order to scan pending subjects in. ``pages`` are their ids a page
        at a time (up to ``scan.PAGE`` each, in id order), read as this
        iterates; what it yields are runs of ids that ``scan`` cuts its
        batches from, one run after the other. Must yield each id of the
        pages once, and hold back a bounded number at a time (memory stays
        bounded on a store of any size). Called after ``bind``. The pages as
        they come by default; the media detector holds back the photos of
        compressed tar archives and yields them last, in each archive's order
        (``MediaDetector.plan``), so that a scan reads such an archive once,
        not once a page of 20,000. (It replaced ``order(ids)``, a page in,
        the same ids in the order to scan them out: a subclass that defines
        ``order`` and not ``plan`` is planned with ``order``, deprecated, see
        ``__init_subclass__``.)"""
        yield from pages

    def _plan_by_order(self, pages: Iterable[list[int]]) -> Iterator[list[int]]:
        """``plan`` for a subclass that defines the deprecated ``order``
        (``__init_subclass__``): each page given to ``order`` (a copy), its
        answer yielded as a run. ``order`` must return the page's ids
        (a permutation), as it had to."""
        for page in pages:
            yield self.order(list(page))  # type: ignore[attr-defined]

    @abstractmethod
    def detect(self, subjects: Sequence[Any]) -> list[Detection]:
        """Return detections for ``subjects`` (possibly none for some)."""


def bounded_version(v: str) -> str:
    """``v`` as a stored model version: as it is up to ``MODEL_VERSION_MAX``
    characters, else its start and a digest of the whole (a model directory's
    name is the user's; two long versions stay two)."""
    if len(v) <= MODEL_VERSION_MAX:
        return v
    import hashlib

    digest = hashlib.sha256(v.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return v[:MODEL_VERSION_MAX - 17] + "~" + digest

