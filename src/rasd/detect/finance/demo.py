"""Demo step "40_finance": import the bundled SYNTHETIC designation lists, run the
finance detectors over the demo posts and accounts, and report the money trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from rasd.accounts.listing import quoted_ref
from rasd.demo import DemoContext
from rasd.detect.finance.detector import FinanceAccountDetector, FinanceDetector
from rasd.detect.finance.links import EDGE_KIND, shared
from rasd.detect.finance.lists import import_list
from rasd.detect.scan import scan
from rasd.store import schema as S


def step(ctx: DemoContext) -> dict[str, Any]:
    lists_dir = ctx.data_dir / "lists"
    out: dict[str, Any] = {"lists": {}}
    for fname, name in (("demo_un_format.xml", "demo_synthetic_un"),
                        ("demo_opensanctions.ftm.json", "demo_synthetic_ftm")):
        res = import_list(ctx.store, lists_dir / fname, name=name)
        out["lists"][name] = {"entities": res.entities, "names": res.names,
                              "wallets": res.wallets}
        ctx.log(f"  lists: {name} (SYNTHETIC, {res.format}): {res.entities} entities, "
                f"{res.names} names, {res.wallets} wallets")
    results = scan(ctx.store, [FinanceDetector(), FinanceAccountDetector()])
    for r in results:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(r.by_label.items())) or "-"
        ctx.log(f"  scan {r.detector}: {r.scanned} scanned, {r.detections} detections ({labels})")
        out[r.detector] = dict(r.by_label)
    with ctx.store.connect() as c:
        fin = c.execute(
            select(S.posts.c.platform, S.posts.c.platform_id, S.detections.c.score,
                   S.detections.c.attributes)
            .select_from(S.detections.join(S.posts, S.detections.c.subject_id == S.posts.c.id))
            .where(S.detections.c.subject_type == "post",
                   S.detections.c.detector == "finance", S.detections.c.label == "financing")
            .order_by(S.detections.c.score.desc(), S.detections.c.id)).all()
        n_edges = c.execute(select(func.count()).select_from(S.edges)
                            .where(S.edges.c.kind == EDGE_KIND)).scalar_one()
        for plat, post_id, score, attrs in fin[:5]:  # as `rasd show` takes the post back
            inds = ", ".join(f"{i['type']} {i['value']}" for i in attrs.get("indicators", []))
            ctx.log(f"  financing post {plat}:{post_id} (score {score:.2f}): "
                    f"{inds or 'no indicator'}")
        matches = c.execute(
            select(S.accounts.c.platform, S.accounts.c.platform_id, S.accounts.c.handle,
                   S.accounts.c.name, S.detections.c.score, S.detections.c.attributes)
            .select_from(S.detections.join(S.accounts, S.detections.c.subject_id
                                           == S.accounts.c.id))
            .where(S.detections.c.subject_type == "account",
                   S.detections.c.detector == "finance_account",
                   S.detections.c.label == "designation_match")
            .order_by(S.detections.c.score.desc(), S.detections.c.id)).all()
    for plat, acc_id, handle, name, score, attrs in matches[:5]:
        m = attrs["matches"][0]
        shown = f"@{handle}" if handle else name
        ctx.log(f"  account {quoted_ref(f'{plat}:{acc_id}')}"
                + (f" ({shown})" if shown else "")
                + f" ~ {m['name']} ({m['list']} {m['list_ref']}), score {score:.2f}")
    linked = shared(ctx.store, min_accounts=2)
    for row in linked[:5]:
        who = ", ".join(quoted_ref(a["ref"]) + (f" (@{a['handle']})" if a["handle"]
                                    else f" ({a['name']})" if a["name"] else "")
                        for a in row["linked_accounts"])
        ctx.log(f"  shared {row['type']} {row['value']}: {who}")
    out.update({"financing_posts": len(fin), "designation_matches": len(matches),
                "shared_indicators": len(linked), "shared_indicator_edges": int(n_edges)})
    return out
