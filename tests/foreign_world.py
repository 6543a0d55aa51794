"""Hypothesis strategies for SCHEMA-valid data directories unlike the synthetic world.

One drawn :class:`Foreign` holds every table as a DataFrame of strings plus how each is
written (CSV in UTF-8 / UTF-8 with BOM / GBK, Parquet or JSON Lines). The draws cover what
real exports look like and `linli synth` never makes: optional tables and columns present
or absent, English / Chinese / mixed names, empty or missing (sub)categories, no texts,
texts with no known keyword, one user, one item, a single day, extreme quantities and
prices, every row of a table rejected, header-only files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from hypothesis import strategies as st

OPTIONAL = ("identity_links", "items", "groups", "group_members", "live_sessions", "hosts", "manual_tags")  # fmt: skip
ZH = ["鸡胸肉", "车厘子", "大米", "牛奶", "芒果", "面包", "鸡蛋", "酸奶", "苹果", "青菜"]
EN = ["Chicken Breast", "Cherries", "Rice 5kg", "Whole Milk", "Mango", "Bread", "Eggs 12", "Yogurt", "Apple", "Greens"]  # fmt: skip
CATS_ZH, CATS_EN = ["水果", "肉禽", "粮油", "乳品"], ["fruit", "meat", "grain", "dairy"]
TEXT_KNOWN = ["有没有减脂餐推荐", "宝宝辅食有什么推荐", "low fat please"]
TEXT_UNKNOWN = ["芒果", "hello", "到货了吗", "??"]
BASE_DAY = pd.Timestamp("2026-01-05")


@dataclass
class Foreign:
    """A drawn data directory: tables (strings) and how each file is written."""

    tables: dict[str, pd.DataFrame]
    formats: dict[str, str] = field(
        default_factory=dict
    )  # csv | csv-bom | csv-gbk | parquet | jsonl
    note: str = ""

    def write(self, root: Path) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        for name, df in self.tables.items():
            fmt = self.formats.get(name, "csv")
            if fmt == "parquet":
                df.to_parquet(root / f"{name}.parquet", index=False)
            elif fmt == "jsonl":
                df.to_json(root / f"{name}.jsonl", orient="records", lines=True, force_ascii=False)
            else:
                enc = {"csv": "utf-8", "csv-bom": "utf-8-sig", "csv-gbk": "gbk"}[fmt]
                df.to_csv(root / f"{name}.csv", index=False, encoding=enc)
        return root


def _ts(day: int, minute: int, style: str) -> str:
    t = BASE_DAY + pd.Timedelta(days=day, minutes=minute)
    if style == "epoch":
        return str(int((t - pd.Timedelta(hours=8)).timestamp()))
    if style == "epoch_ms":
        return str(int((t - pd.Timedelta(hours=8)).timestamp() * 1000))
    if style == "naive":
        return t.strftime("%Y-%m-%d %H:%M:%S")
    return t.strftime("%Y-%m-%dT%H:%M:%S+08:00")


@st.composite
def foreign_data(draw: st.DrawFn) -> Foreign:
    """A SCHEMA-valid data directory with the shapes real exports have."""
    n_users = draw(st.sampled_from([1, 2, 5, 30]))
    n_items = draw(st.sampled_from([1, 2, 6, 10]))
    days = draw(st.sampled_from([1, 20, 120]))
    n_events = draw(st.sampled_from([0, 4, 60, 400]))
    lang = draw(st.sampled_from(["zh", "en", "mixed"]))
    texts = draw(st.sampled_from(["none", "unknown", "known"]))
    qty = draw(st.sampled_from(["normal", "extreme"]))
    ts_style = draw(st.sampled_from(["iso", "naive", "epoch", "epoch_ms"]))
    names = {"zh": ZH, "en": EN, "mixed": [a if i % 2 else b for i, (a, b) in enumerate(zip(ZH, EN, strict=True))]}[lang]  # fmt: skip
    cats = CATS_EN if lang == "en" else CATS_ZH
    seed = draw(st.integers(0, 2**16))
    rng = __import__("numpy").random.default_rng(seed)

    items = [f"i{j}" for j in range(n_items)]
    users = [f"u{u}" for u in range(n_users)]
    kinds = ["order", "order", "jielong", "view", "click", "cart", "search", "message", "share", "live_view"]  # fmt: skip
    rows = []
    for e in range(n_events):
        kind = str(rng.choice(kinds))
        u = str(rng.choice(users))
        it = str(rng.choice(items))
        day = int(rng.integers(0, days))
        q = int(rng.integers(1, 4)) if qty == "normal" else int(rng.choice([1, 2, 32_623, 50_000]))
        price = (
            float(rng.choice([9.9, 0.0, 120.0]))
            if qty == "normal"
            else float(rng.choice([0.01, 1e6]))
        )
        text = ""
        if kind in ("search", "message") and texts != "none":
            text = str(rng.choice(TEXT_KNOWN if texts == "known" else TEXT_UNKNOWN))
        buy = kind in ("order", "jielong")
        rows.append(
            {
                "event_id": f"e{e}",
                "ts": _ts(day, int(rng.integers(0, 1400)), ts_style),
                "event_type": kind,
                "id_type": "openid",
                "id_value": u,
                "item_id": it if kind in ("order", "jielong", "view", "click", "cart") else "",
                "quantity": str(q) if buy else "",
                "amount": f"{q * price:.2f}" if buy else "",
                "order_id": f"o{e // 2}-{u}" if buy else "",
                "group_id": "g1" if kind == "jielong" or rng.random() < 0.5 else "",
                "text": text,
                "referrer": f"openid:{rng.choice(users)}" if kind == "share" else "",
            }
        )
    ev_cols = ["event_id", "ts", "event_type", "id_type", "id_value", "item_id", "quantity", "amount", "order_id", "group_id", "text", "referrer"]  # fmt: skip
    events = pd.DataFrame(rows, columns=ev_cols)
    drop = [c for c in ("group_id", "referrer", "amount", "quantity") if draw(st.booleans())]
    if texts == "none":
        drop.append("text")
    events = events.drop(columns=drop)
    tables: dict[str, pd.DataFrame] = {"events": events}

    present = draw(st.sets(st.sampled_from(OPTIONAL), max_size=len(OPTIONAL)))
    if "items" in present:
        sub = draw(st.sampled_from(["absent", "some_empty", "filled"]))
        cat = draw(st.sampled_from(["filled", "some_empty", "all_empty"]))
        it = pd.DataFrame(
            {
                "item_id": items,
                "name": [names[j % len(names)] for j in range(n_items)],
                "category": [cats[j % len(cats)] for j in range(n_items)],
                "price": [str(rng.choice([9.9, 0, 1e6])) for _ in items],
                "subcategory": [names[j % len(names)][:2] if j % 2 else "" for j in range(n_items)],
                "attributes": ["contains:mango" if j == 0 else "" for j in range(n_items)],
                "season": [str(rng.choice(["", "6-8", "12;1;2", "11-2"])) for _ in items],
            }
        )
        if sub == "absent":
            it = it.drop(columns=["subcategory"])
        elif sub == "filled":
            it["subcategory"] = [names[j % len(names)][:2] for j in range(n_items)]
        if cat == "some_empty":
            it.loc[it.index % 2 == 1, "category"] = ""
        elif cat == "all_empty":  # every row rejected (category is required)
            it["category"] = ""
        tables["items"] = it
    if "identity_links" in present:
        tables["identity_links"] = pd.DataFrame(
            {
                "id_type_a": ["openid"],
                "id_value_a": [users[0]],
                "id_type_b": ["phone"],
                "id_value_b": ["+86 138-0000-0001"],
            }  # fmt: skip
        )
    if "groups" in present:
        tables["groups"] = pd.DataFrame({"group_id": ["g1"], "name": ["Sunny 1号群"], "leader": [f"openid:{users[0]}"], "kind": ["general"]})  # fmt: skip
    if "group_members" in present:
        tables["group_members"] = pd.DataFrame({"group_id": "g1", "id_type": "openid", "id_value": users})  # fmt: skip
    if "live_sessions" in present:
        tables["live_sessions"] = pd.DataFrame(
            {
                "live_id": ["L1"],
                "group_id": ["g1"],
                "start_ts": [_ts(0, 600, "iso")],
                "host_id": ["h1"],
                "item_ids": [";".join(items[:2])],
            }  # fmt: skip
        )
    if "hosts" in present:
        tables["hosts"] = pd.DataFrame({"host_id": ["h1"], "name": ["Amy"], "tags": ["nutritionist"]})  # fmt: skip
    if "manual_tags" in present:
        tables["manual_tags"] = pd.DataFrame({"id_type": ["openid"], "id_value": [users[-1]], "tag": ["allergy:mango"], "note": ["芒果过敏"]})  # fmt: skip
    header_only = draw(st.sets(st.sampled_from(sorted(tables)), max_size=2))
    for name in header_only:
        tables[name] = tables[name].iloc[0:0]
    fmts = ["csv", "csv-bom", "csv-gbk", "parquet", "jsonl"]
    formats = {name: draw(st.sampled_from(fmts)) for name in tables}
    note = f"users={n_users} items={n_items} days={days} events={n_events} lang={lang} texts={texts} qty={qty} ts={ts_style} tables={sorted(tables)} header_only={sorted(header_only)} formats={formats}"  # fmt: skip
    return Foreign(tables, formats, note)
