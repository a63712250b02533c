"""Accounts as lists: each with its posts and flagged posts (``rasd accounts
list``), and the accounts one links to and is linked from, by kind, with
counts (``rasd accounts show``).

Every account is named by ``account_ref``: ``PLATFORM:PLATFORM_ID``, unique in
the store (the accounts table's unique key) and read back by
``find_accounts`` as that account and no other. Lines print it through
``quoted_ref``, quoted for a shell where it needs it (a Telegram account known
only from forwards is ``telegram:@lions media archive``); JSON holds it bare.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import func, select, union_all

from rasd.accounts.names import handle_where, name_match
from rasd.store import Store
from rasd.store import schema as S
from rasd.store.db import chunks, current_detection, key_accounts
from rasd.terminal import shell_word

SORTS = ("posts", "flagged", "handle")
# account ids a query takes at most (an IN list of bound parameters): the
# functions of many accounts run a query per this many
ID_CHUNK = 500


def id_chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    """``ids`` in slices of at most ``ID_CHUNK`` (``rasd.store.db.chunks``)."""
    return chunks(ids, ID_CHUNK)


def account_ref(platform: str, platform_id: str) -> str:
    """How rasd prints an account so that it can be typed back
    (``rasd accounts show x:9000000001``): its platform and platform id, which
    name one account (handles and names may be shared or change)."""
    return f"{platform}:{platform_id}"


def quoted_ref(ref: str) -> str:
    """``ref`` as a line prints it, so that it can be pasted into a shell as
    one argument and printed safely: as it is where a shell reads it so
    (``x:9000000001``, ``telegram:@Ärger``), else quoted
    (``'telegram:@lions media archive'``), control characters written as
    escapes a shell reads back (``$'telegram:@a\x1bb'``; ``shell_word``).
    ``find_accounts`` takes the quoted form too, where no shell unquoted it."""
    return shell_word(ref)


def _brief(r: Any) -> dict[str, Any]:
    return {"id": r.id, "ref": account_ref(r.platform, r.platform_id), "platform": r.platform,
            "platform_id": r.platform_id, "handle": r.handle, "name": r.name}


def flagged_labels(policy: Any = None) -> list[str]:
    """The labels that make a post *flagged*: those ``policy`` flags (by
    default the active policy: ``RASD_POLICY``, else the shipped one, whose
    flagged labels are the TCO Art. 2(7) kinds). ``none`` and ``exempt`` are
    not flagged, nor a finance detector's finding about what a post holds
    (``fin_indicator``, ``designated_entity``), which no shipped label names.
    The policy is read when asked for, not when this package is imported."""
    if policy is None:
        from rasd.detect.text.policy import load_policy

        policy = load_policy()
    return list(policy.flagged_labels)


def _flagged_posts(labels: Sequence[str]) -> Any:
    """(post id) of every flagged post: a post detection of a flagged label,
    or a hash match of one on its media."""
    d = S.detections
    by_post = select(d.c.subject_id.label("post_id")).where(
        d.c.subject_type == "post", d.c.label.in_(labels), current_detection(d))
    by_media = select(S.post_media.c.post_id.label("post_id")).select_from(
        d.join(S.post_media, S.post_media.c.media_id == d.c.subject_id)).where(
        d.c.subject_type == "media", d.c.label.in_(labels), current_detection(d))
    return union_all(by_post, by_media).subquery()


def list_accounts(store: Store, *, platform: str | None = None, role: str | None = None,
                  source: str | None = None, sort: str = "posts",
                  limit: int | None = 50,
                  flagged: Sequence[str] | None = None,
                  detected: str | None = None, name: str | None = None,
                  handle: str | None = None, offset: int = 0) -> list[dict[str, Any]]:
    """Accounts with their post count and flagged-post count (posts with a
    detection of a label in ``flagged``, by default those the active policy
    flags (``flagged_labels``), on the post or its media): only
    those on ``platform``, with analyst role ``role`` (``none``: without one),
    last written by ingest source ``source``, with a current detection of
    label ``detected`` about the account itself (``designation_match``),
    whose display name is ``name`` and whose handle is ``handle`` (with or
    without @), each whatever its case as `accounts show` matches them
    (``name_match``; accounts stored without their keys are keyed first,
    ``key_accounts``); sorted by ``sort`` (``posts``, ``flagged``: most first;
    ``handle``: A-Z, then name), then by id, so that pages of ``limit`` after
    ``offset`` skipped neither overlap nor skip one (`accounts show NAME`
    lists 100 namesakes; the rest are paged here)."""
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}; one of {', '.join(SORTS)}")
    if offset < 0:
        raise ValueError(f"offset {offset}: not below 0")
    a, p = S.accounts, S.posts
    match = None
    narrow = []  # conditions on the account an index finds: the counts read those only
    if name is not None:
        if (match := name_match(name)) is None:
            return []  # an empty name names no account
        narrow.append(match.where())
    if handle is not None:
        if (has := handle_where(handle)) is None:
            return []
        narrow.append(has)
    if narrow:
        key_accounts(store)
    posts = select(p.c.account_id, func.count().label("n")).where(p.c.account_id.isnot(None))
    fl = _flagged_posts(flagged_labels() if flagged is None else list(flagged))
    flagged = (select(p.c.account_id, func.count(func.distinct(p.c.id)).label("n"))
               .select_from(p.join(fl, fl.c.post_id == p.c.id)))
    if narrow:  # the posts of the accounts named, not a count of every account's
        mine = p.c.account_id.in_(select(a.c.id).where(*narrow).correlate(None))
        posts, flagged = posts.where(mine), flagged.where(mine)
    posts = posts.group_by(p.c.account_id).subquery()
    flagged = flagged.group_by(p.c.account_id).subquery()
    n_posts = func.coalesce(posts.c.n, 0).label("posts")
    n_flagged = func.coalesce(flagged.c.n, 0).label("flagged")
    q = (select(a.c.id, a.c.platform, a.c.platform_id, a.c.handle, a.c.name, a.c.role,
                a.c.stub, S.sources.c.name.label("source"), n_posts, n_flagged)
         .select_from(a.outerjoin(posts, posts.c.account_id == a.c.id)
                      .outerjoin(flagged, flagged.c.account_id == a.c.id)
                      .outerjoin(S.sources, S.sources.c.id == a.c.source_id)))
    if narrow:
        q = q.where(*narrow)
    if platform:
        q = q.where(a.c.platform == platform)
    if role == "none":
        q = q.where(a.c.role.is_(None))
    elif role:
        q = q.where(a.c.role == role)
    if source:
        q = q.where(S.sources.c.name == source)
    if detected:
        d = S.detections
        q = q.where(select(d.c.id).where(
            d.c.subject_type == "account", d.c.subject_id == a.c.id, d.c.label == detected,
            current_detection(d)).exists())
    if sort == "handle":
        # accounts without a handle (Telegram channels, stubs named only) by name, after
        order = [a.c.handle_key.is_(None), a.c.handle_key, a.c.name, a.c.id]
    elif sort == "flagged":
        order = [n_flagged.desc(), n_posts.desc(), a.c.id]
    else:
        order = [n_posts.desc(), n_flagged.desc(), a.c.id]
    q = q.order_by(*order)
    with store.connect() as c:
        if match is None or match.whole:
            rows = c.execute(q.offset(offset or None).limit(limit or None)).all()
        else:  # a cut key: kept are those that bear the name in full, then paged
            found = c.execute(q, execution_options={"stream_results": True})
            bearing = (r for r in found if match.bears(r.name))
            rows = list(islice(bearing, offset, offset + limit if limit else None))
    return [{**_brief(r), "role": r.role, "stub": bool(r.stub), "source": r.source,
             "posts": int(r.posts), "flagged": int(r.flagged)} for r in rows]


def post_counts(store: Store, account_ids: Sequence[int]) -> dict[int, int]:
    """How many posts each of ``account_ids`` wrote (0 for none), in one
    grouped query: `accounts show NAME` lists up to ``NAME_MATCHES``
    namesakes, and a count per account was a query per account."""
    ids = sorted(set(account_ids))
    out = dict.fromkeys(ids, 0)
    if not ids:
        return out
    p = S.posts
    with store.connect() as c:
        for chunk in id_chunks(ids):
            q = (select(p.c.account_id, func.count()).where(p.c.account_id.in_(chunk))
                 .group_by(p.c.account_id))
            out.update({int(a): int(n) for a, n in c.execute(q)})
    return out


def flagged_count(store: Store, account_id: int,
                  flagged: Sequence[str] | None = None) -> int:
    """How many posts of ``account_id`` are flagged: as ``list_accounts``
    counts them (a current detection of a label in ``flagged``, by default
    those the active policy flags, on the post or a hash match on its media)."""
    return flagged_counts(store, [account_id], flagged)[account_id]


def flagged_counts(store: Store, account_ids: Sequence[int],
                   flagged: Sequence[str] | None = None) -> dict[int, int]:
    """``flagged_count`` of each of ``account_ids`` (0 for none), in one
    grouped query (a query per ``ID_CHUNK`` accounts)."""
    ids = sorted(set(account_ids))
    out = dict.fromkeys(ids, 0)
    if not ids:
        return out
    p = S.posts
    fl = _flagged_posts(flagged_labels() if flagged is None else list(flagged))
    with store.connect() as c:
        for chunk in id_chunks(ids):
            q = (select(p.c.account_id, func.count(func.distinct(p.c.id)))
                 .select_from(p.join(fl, fl.c.post_id == p.c.id))
                 .where(p.c.account_id.in_(chunk)).group_by(p.c.account_id))
            out.update({int(a): int(n) for a, n in c.execute(q)})
    return out


def account_detections(store: Store, account_id: int) -> list[dict[str, Any]]:
    """The detections about the account itself (``finance_account``'s
    ``designation_match`` of a profile, plugins' account detectors), current
    ones first, each as ``rasd show`` gives a post's: detector, label, score,
    model version, explanation, attributes (the entity or wallet it names) and
    whether it is current (not an older version's result kept as history)."""
    return account_detections_many(store, [account_id])[account_id]


def account_detections_many(store: Store,
                            account_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """``account_detections`` of each of ``account_ids`` (``[]`` for none), in
    one query (a query per ``ID_CHUNK`` accounts)."""
    ids = sorted(set(account_ids))
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    d = S.detections
    cur = current_detection(d).label("current")
    with store.connect() as c:
        for chunk in id_chunks(ids):
            q = (select(d, cur).where(d.c.subject_type == "account", d.c.subject_id.in_(chunk))
                 .order_by(d.c.id))
            for r in c.execute(q):
                out[r.subject_id].append(
                    {"detector": r.detector, "label": r.label, "score": r.score,
                     "model_version": r.model_version, "explanation": r.explanation,
                     "attributes": r.attributes, "current": bool(r.current)})
    for dets in out.values():  # stable: by id among equals
        dets.sort(key=lambda x: (not x["current"], -(x["score"] or 0)))
    return out


def linked_accounts(store: Store, account_id: int,
                    limit: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """The accounts ``account_id`` links to (``out``: it replies to, reposts,
    quotes, mentions, forwards, follows them) and that link to it (``in``),
    each with the count by edge kind and in all, most first; at most ``limit``
    accounts each way."""
    return linked_accounts_many(store, [account_id], limit)[account_id]


def linked_accounts_many(store: Store, account_ids: Sequence[int], limit: int | None = None
                         ) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """``linked_accounts`` of each of ``account_ids``: two queries each way for
    all of them (more only past ``ID_CHUNK`` accounts, or accounts listed),
    not two per account — `accounts show NAME` shows up to ``NAME_MATCHES``
    namesakes. The ``limit`` accounts most linked each way, most first, then
    by id, are each account's own top rows (a LIMIT query by the edges' index
    on that end, as for one account), all of them in one ``UNION ALL``: a
    ``row_number()`` ranking of every pair was slower where accounts have many
    links."""
    ids = sorted(set(account_ids))
    e, a = S.edges, S.accounts
    out: dict[int, dict[str, list[dict[str, Any]]]] = {i: {"out": [], "in": []} for i in ids}
    with store.connect() as c:
        for side, mine, other in (("out", e.c.src_account_id, e.c.dst_account_id),
                                  ("in", e.c.dst_account_id, e.c.src_account_id)):
            for chunk in id_chunks(ids):
                if limit:  # each account's top rows, by its index: one statement
                    parts = []
                    for i in chunk:
                        n = func.count().label("total")
                        parts.append(select(mine.label("mine"), other.label("other"), n)
                                     .where(mine == i).group_by(mine, other)
                                     .order_by(n.desc(), other).limit(limit)
                                     .subquery().select())
                    top = parts[0] if len(parts) == 1 else union_all(*parts)
                else:  # every pair of the chunk's accounts
                    top = (select(mine.label("mine"), other.label("other"),
                                  func.count().label("total"))
                           .where(mine.in_(chunk)).group_by(mine, other))
                top_sq = top.subquery()
                accs = c.execute(
                    select(top_sq.c.mine, a.c.id, a.c.platform, a.c.platform_id, a.c.handle,
                           a.c.name, top_sq.c.total)
                    .select_from(top_sq.join(a, a.c.id == top_sq.c.other))
                    .order_by(top_sq.c.mine, top_sq.c.total.desc(), a.c.id)).all()
                if not accs:
                    continue
                # the kinds of each pair listed: of every pair without a limit;
                # else of the accounts listed (pairs not listed are left out here)
                kinds: dict[tuple[int, int], dict[str, int]] = {}
                pairs = {(r.mine, r.id) for r in accs}
                by_kind = (select(mine, other, e.c.kind, func.count()).where(mine.in_(chunk))
                           .group_by(mine, other, e.c.kind).order_by(mine, other, e.c.kind))
                for others in ([None] if not limit else
                               id_chunks(sorted({r.id for r in accs}))):
                    q = by_kind if others is None else by_kind.where(other.in_(others))
                    for m, oid, kind, n in c.execute(q):
                        if (m, oid) in pairs:
                            kinds.setdefault((m, oid), {})[kind] = int(n)
                for r in accs:
                    out[r.mine][side].append({**_brief(r), "total": int(r.total),
                                              "kinds": kinds.get((r.mine, r.id), {})})
    return out


__all__ = ["ID_CHUNK", "SORTS", "account_detections", "account_detections_many", "account_ref",
           "flagged_count", "flagged_counts", "flagged_labels", "id_chunks", "linked_accounts",
           "linked_accounts_many", "list_accounts", "post_counts", "quoted_ref"]
