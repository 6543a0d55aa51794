"""A small seeded group-buying world for the serving tests: data dir -> feature store -> bundle.

Independent of the training models under development: two tiny recommenders defined here
(a truncated-SVD model with vectors, a popularity model without) exercise both bundle kinds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from features.build import run as build_features
from features.matrix import Interactions
from training.export import ExportVariant, export_bundle
from training.models.base import ModelConfig, Recommender
from training.settings import Settings

CATEGORIES = {
    "fruit": ["海南芒果", "车厘子", "西瓜", "牛油果", "苹果", "芒果干", "香蕉", "草莓"],
    "meat": ["鸡胸肉", "牛排", "猪里脊", "鸡翅", "羊肉卷"],
    "seafood": ["基围虾", "三文鱼", "大闸蟹", "扇贝"],
    "veg": ["沙拉菜", "西兰花", "番茄", "黄瓜", "菠菜"],
    "dairy": ["牛奶", "酸奶", "奶酪", "黄油"],
    "grain_oil": ["五常大米", "面粉", "花生油", "小米", "燕麦"],
    "baby_food": ["芒果果泥", "婴儿米粉", "宝宝面条"],
    "snacks": ["花生酥", "坚果礼盒", "饼干", "薯片"],
}
CONTAINS = {"芒果": "mango", "花生": "peanut", "虾": "shrimp"}
ALLERGIES = ["allergy:mango", "allergy:peanut", "avoid:seafood", "allergy:milk"]


class SVDConfig(ModelConfig):
    """Truncated SVD of the weights (test model with vectors)."""

    kind: Literal["test_svd"] = "test_svd"
    factors: int = 8


class SVDModel(Recommender):
    """user_factors @ item_factors.T from a truncated SVD."""

    config_class = SVDConfig

    def _fit(self, data: Interactions) -> None:
        w = sp.csr_matrix(data.weights, dtype=np.float64)
        k = min(self.config.factors, min(w.shape) - 1)  # type: ignore[attr-defined]
        u, s, vt = spla.svds(w, k=k, random_state=0)
        self.uf = np.ascontiguousarray(u * np.sqrt(s), dtype=np.float32)
        self.vf = np.ascontiguousarray(vt.T * np.sqrt(s), dtype=np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.uf[users] @ self.vf.T

    def user_vectors(self) -> np.ndarray | None:
        return self.uf

    def item_vectors(self) -> np.ndarray | None:
        return self.vf


class PopConfig(ModelConfig):
    """Popularity plus a user's own purchases (test model without vectors)."""

    kind: Literal["test_pop"] = "test_pop"


class PopModel(Recommender):
    """Global popularity + 10 x own purchase count."""

    config_class = PopConfig

    def _fit(self, data: Interactions) -> None:
        self.p = sp.csr_matrix(data.purchases, dtype=np.float32)
        self.pop = np.asarray(self.p.sum(axis=0), np.float32).ravel()

    def _score(self, users: np.ndarray) -> np.ndarray:
        own = np.asarray(self.p[users].todense(), np.float32)
        return self.pop[None, :] + 10.0 * own


def make_data(root: Path, n_people: int = 240, seed: int = 7) -> Path:
    """Write a SCHEMA data directory: items, groups, members, events, links, leader notes, hosts."""
    rng = np.random.default_rng(seed)
    d = root / "data"
    d.mkdir(parents=True)
    rows = []
    for cat, names in CATEGORIES.items():
        for j, name in enumerate(names):
            attrs = [f"contains:{v}" for k, v in CONTAINS.items() if k in name]
            if cat == "dairy":
                attrs.append("contains:milk")
            rows.append(
                (f"{cat}-{j}", name, cat, round(float(rng.uniform(5, 200)), 1), ";".join(attrs))
            )
    items = pd.DataFrame(rows, columns=["item_id", "name", "category", "price", "attributes"])
    items.to_parquet(d / "items.parquet", index=False)
    cats = list(CATEGORIES)
    groups = [f"g{i}" for i in range(1, 5)]
    pd.DataFrame(
        {
            "group_id": groups,
            "name": [f"阳光花园{i}号群" for i in range(1, 5)],
            "leader": [f"wecom:w{i}" for i in range(4)],
            "kind": ["general", "interest", "value", "general"],
        }
    ).to_csv(d / "groups.csv", index=False)
    events, members, links, notes = [], [], [], []
    t0 = pd.Timestamp("2026-03-01T08:00:00+08:00")
    eid = 0
    for p in range(n_people):
        wecom = f"w{p}"
        likes = rng.choice(len(cats), size=2, replace=False)
        g = groups[p % 4] if p % 17 else groups[0]
        members.append((g, "wecom", wecom))
        if p % 5 == 0:
            members.append((groups[(p + 1) % 4], "wecom", wecom))
        ids = [("wecom", wecom)]
        if p % 3 == 0:
            phone = f"139{p:08d}"
            links.append(("wecom", wecom, "phone", f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}"))
            ids.append(("phone", phone))
        if p % 4 == 0:
            links.append(("wecom", wecom, "openid", f"o-{p}"))
            ids.append(("openid", f"o-{p}"))
        if p % 7 == 0:
            notes.append(("wecom", wecom, ALLERGIES[p % len(ALLERGIES)], "团长备注"))
        n_orders = int(rng.integers(1, 6)) if p % 23 else 0  # some people never buy
        for o in range(n_orders):
            ts = t0 + pd.Timedelta(days=int(rng.integers(0, 90)), minutes=int(rng.integers(0, 600)))
            it, iv = ids[int(rng.integers(len(ids)))]
            for _ in range(int(rng.integers(1, 4))):
                cat = (
                    cats[likes[int(rng.integers(2))]]
                    if rng.random() < 0.85
                    else cats[int(rng.integers(len(cats)))]
                )
                item = f"{cat}-{int(rng.integers(len(CATEGORIES[cat])))}"
                eid += 1
                kind = "jielong" if rng.random() < 0.4 else "order"
                events.append(
                    (
                        f"e{eid}",
                        ts.isoformat(),
                        "view",
                        it,
                        iv,
                        item,
                        "",
                        "",
                        "",
                        g,
                        "",
                        "",
                        "group",
                        "",
                    )
                )
                eid += 1
                ref = f"wecom:w{(p + 1) % n_people}" if p % 9 == 0 else ""
                events.append(
                    (
                        f"e{eid}",
                        (ts + pd.Timedelta(minutes=3)).isoformat(),
                        kind,
                        it,
                        iv,
                        item,
                        "1",
                        "30",
                        f"o{p}-{o}",
                        g,
                        "L1" if kind == "jielong" else "",
                        "",
                        "group",
                        ref,
                    )
                )
        if p % 6 == 0:
            eid += 1
            events.append(
                (
                    f"e{eid}",
                    t0.isoformat(),
                    "search",
                    "wecom",
                    wecom,
                    "",
                    "",
                    "",
                    "",
                    g,
                    "",
                    "有没有减脂餐推荐",
                    "miniapp",
                    "",
                )
            )
        if p % 8 == 0:
            eid += 1
            events.append(
                (
                    f"e{eid}",
                    t0.isoformat(),
                    "share",
                    "wecom",
                    wecom,
                    "",
                    "",
                    "",
                    "",
                    g,
                    "",
                    "",
                    "group",
                    "",
                )
            )
            eid += 1
            events.append(
                (
                    f"e{eid}",
                    t0.isoformat(),
                    "message",
                    "wecom",
                    wecom,
                    "",
                    "",
                    "",
                    "",
                    g,
                    "",
                    "宝宝辅食",
                    "group",
                    "",
                )
            )
    cols = ["event_id", "ts", "event_type", "id_type", "id_value", "item_id", "quantity", "amount",
            "order_id", "group_id", "live_id", "text", "channel", "referrer"]  # fmt: skip
    pd.DataFrame(events, columns=cols).to_csv(d / "events.csv", index=False)
    pd.DataFrame(members, columns=["group_id", "id_type", "id_value"]).to_csv(
        d / "group_members.csv", index=False
    )
    pd.DataFrame(links, columns=["id_type_a", "id_value_a", "id_type_b", "id_value_b"]).to_csv(
        d / "identity_links.csv", index=False
    )
    pd.DataFrame(notes, columns=["id_type", "id_value", "tag", "note"]).to_csv(
        d / "manual_tags.csv", index=False
    )
    pd.DataFrame(
        {
            "host_id": ["h1", "h2", "h3"],
            "name": ["营养师小李", "宝妈小王", "水果达人老张"],
            "tags": ["fitness;light_meal;nutrition", "baby;parenting", "fruit;premium"],
        }
    ).to_csv(d / "hosts.csv", index=False)
    return d


def make_bundle(root: Path, challenger: bool = True, segments: bool = True) -> Path:
    """Data -> feature store -> SVD champion (+ popularity challenger) -> bundle folder."""
    data = make_data(root)
    settings = Settings(work_dir=root / "work")
    features = root / "features"
    build_features(data, features, settings, progress=False)
    inter = Interactions.load(features / "matrix")
    variants = {
        "champion": ExportVariant(
            SVDModel().fit(inter),
            {"registered_model": "linli-test", "version": "1", "trained_at": "2026-06-01"},
        )
    }
    if challenger:
        variants["challenger"] = ExportVariant(
            PopModel().fit(inter), {"registered_model": "linli-test", "version": "2"}
        )
    matching = root / "matching"
    matching.mkdir()
    if segments:
        users = inter.users.ids
        pd.DataFrame(
            {
                "user_id": users,
                "segment_id": [i % 3 for i in range(len(users))],
                "segment_name": [
                    ["fitness / light meals", "young parents", "premium fruit"][i % 3]
                    for i in range(len(users))
                ],
            }
        ).to_parquet(matching / "segments.parquet", index=False)
        pd.DataFrame(
            {
                "bundle_id": ["b1", "b2"],
                "item_ids": ["fruit-1;fruit-2;meat-0;fruit-3", "fruit-0;baby_food-0"],
                "name": ["夏日轻食", "芒果套餐"],
                "theme": ["light meals", "mango"],
                "segment_id": [0, 1],
                "lift": [3.2, 2.1],
            }
        ).to_parquet(matching / "bundles.parquet", index=False)
    return export_bundle(
        features,
        root / "bundle",
        variants,
        matching_dirs=[matching],
        interest_keywords={"fitness": ["减脂餐", "轻食"], "baby": ["宝宝", "辅食"]},
    )


def shared_bundle(base: Path) -> Path:
    """The world's bundle under `base` (pytest's session temp dir), built once per session."""
    root = base / "serving_world"
    bundle = root / "bundle"
    if not (bundle / "manifest.json").exists():
        if root.exists():
            import shutil

            shutil.rmtree(root)
        root.mkdir(parents=True)
        make_bundle(root)
    return bundle
