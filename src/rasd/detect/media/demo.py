"""Demo step "30_media": import the synthetic demo bank, hash and match the media of
the demo store (the Telegram export's photos), and cluster copypasta text."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from rasd.detect.media import schema as M
from rasd.detect.media.banks import create_bank, import_file
from rasd.detect.media.detector import MediaDetector
from rasd.detect.media.textdup import build_clusters
from rasd.store import schema as S

BANK = "demo-known-content"


def step(ctx: Any) -> dict[str, Any]:
    from rasd.detect.scan import scan

    store = ctx.store
    create_bank(store, BANK, labels={"entity": "demo-group", "synthetic": "yes"},
                description="Synthetic demo bank (rasd/data/demo/banks)", exist_ok=True)
    rep = import_file(store, BANK, ctx.data_dir / "banks" / "demo-known-content.csv")
    ctx.log(f"media: bank {BANK}: {rep.added} signal(s) imported "
            f"({rep.duplicates} already there)")
    det = MediaDetector()
    res = scan(store, [det])[0]
    ctx.log(f"media: hashed {det.stats['hashed']} file(s) of {res.scanned} media "
            f"({det.stats['missing']} without a local file, {det.stats['errors']} errors); "
            f"{res.detections} detection(s)")
    hm, m = M.hash_matches, S.media
    matches = []
    with store.connect() as c:
        q = (select(m.c.local_path, m.c.media_key, hm.c.signal_type, hm.c.distance, hm.c.outcome)
             .select_from(hm.join(m, m.c.id == hm.c.media_id)).order_by(m.c.id, hm.c.id))
        for path, key, st, dist, outcome in c.execute(q):
            name = (path or key).rsplit("/", 1)[-1]
            matches.append({"file": name, "signal_type": st, "distance": dist,
                            "outcome": outcome})
            ctx.log(f"media:   {name}: {st} distance {dist:g} → {outcome}")
    cl = build_clusters(store)
    if cl.largest:
        lg = cl.largest
        ctx.log(f"media: {cl.clusters} copypasta cluster(s); largest: {lg['size']} posts by "
                f"{lg['accounts']} accounts: {lg['sample'][:80]!r}")
    else:
        ctx.log(f"media: no copypasta clusters among {cl.posts_considered} posts")
    return {"bank_signals": rep.added + rep.duplicates, "media_hashed": det.stats["hashed"],
            "detections": res.detections, "matches": matches, "clusters": cl.clusters,
            "largest_cluster": cl.largest.get("size", 0)}
