"""Fitted model versions + feature store -> the artifact bundle the server reads (serving.artifacts).

`linli export --features DIR --out DIR` loads the registered versions behind the aliases
`champion` (required) and `challenger` (when set) through :mod:`training.tracking`, aligns
them on the feature store's user and item index and writes one bundle folder: vectors for
models that have them, sparse top-M scores for the others, plus id maps (every identifier
-> user), catalogue, purchases, constraints, group memberships and popularity, item
neighbours, tags, engagement counts, hosts and whatever matching tables exist (segments,
bundles, KOC, ...). `--model-dir champion=PATH` exports a model folder written by
``Recommender.save`` instead of a registered version (no MLflow needed).
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features import store_layout as store
from features.cli_parser import LinliParser, existing_dir, one_line
from features.errors import LinliInputError
from features.group_history import group_item_history
from features.identity import id_keys
from features.matrix import IdMap, Interactions
from features.progress import Steps
from features.schema import LIST_SEP, Col, EventType
from serving import artifacts as art
from serving.response import MANIFEST_KEY as RESPONSE_KEY
from training.hosts import DEFAULT_TAG_MAP
from training.models.base import Recommender
from training.response import BundleResponse, fit_for_bundle
from training.settings import Settings, load_settings

log = logging.getLogger("linli.export")

DEFAULT_TOP_M = 200
DEFAULT_NEIGHBOURS = 50
EARLY_JIELONG_SHARE = 0.2  # a 接龙 join among the first 20% of its live / group-day counts as early


@dataclass
class ExportVariant:
    """One model to export under an alias, with the id maps it was fitted on."""

    model: Recommender
    info: dict[str, Any] = field(default_factory=dict)
    users: IdMap | None = None  # None: the model's user index is the feature store's
    items: IdMap | None = None


# -- tables from the feature store -------------------------------------------------------------
def _read(features: Path, name: str) -> pd.DataFrame | None:
    p = features / name
    return pd.read_parquet(p) if p.exists() else None


def identifier_table(identity: pd.DataFrame, users: IdMap) -> pd.DataFrame:
    """Every identifier in normalised `type:value` form -> user index (plus each user_id itself)."""
    keys = id_keys(identity[Col.ID_TYPE], identity[Col.ID_VALUE])
    u = users.index(identity[Col.USER_ID])
    ids = pd.DataFrame({art.ID_KEY: keys.astype(str).to_numpy(), art.USER: u})
    own = pd.DataFrame({art.ID_KEY: users.ids.astype(str), art.USER: np.arange(len(users))})
    out = pd.concat([ids[ids[art.USER] >= 0], own], ignore_index=True)
    return out.drop_duplicates(art.ID_KEY, keep="first").reset_index(drop=True)


def catalogue_table(items_df: pd.DataFrame | None, items: IdMap) -> pd.DataFrame:
    """The catalogue in item-index order (items missing from it get their id as name)."""
    base = pd.DataFrame({Col.ITEM_ID: pd.Series(items.ids, dtype="string")})
    if items_df is None:
        cat = base.assign(**{Col.NAME: base[Col.ITEM_ID], Col.CATEGORY: "unknown"})  # type: ignore[arg-type]
    else:
        keep = [c for c in items_df.columns if c != "in_catalogue"]
        d = items_df[keep].drop_duplicates(Col.ITEM_ID).astype({Col.ITEM_ID: "string"})
        cat = base.merge(d, on=Col.ITEM_ID, how="left")
        if Col.NAME not in cat.columns:
            cat[Col.NAME] = cat[Col.ITEM_ID]
        cat[Col.NAME] = cat[Col.NAME].astype("string").fillna(cat[Col.ITEM_ID])
        if Col.CATEGORY not in cat.columns:
            cat[Col.CATEGORY] = "unknown"
        cat[Col.CATEGORY] = cat[Col.CATEGORY].astype("string").fillna("unknown")
    for c in cat.columns:
        if cat[c].dtype == object:
            cat[c] = cat[c].astype("string")
    return cat.reset_index(drop=True)


def constraint_table(cons: pd.DataFrame | None, users: IdMap, items: IdMap) -> pd.DataFrame:
    """(user index, item index, tag) of every hard-constraint pair."""
    if cons is None or not len(cons):
        return pd.DataFrame({art.USER: [], art.ITEM: [], Col.TAG: []})
    u = users.index(cons[Col.USER_ID])
    i = items.index(cons[Col.ITEM_ID])
    ok = (u >= 0) & (i >= 0)
    if (~ok).any():
        log.warning("%d constraint rows name users or items outside the matrix", int((~ok).sum()))
    tag = pd.Categorical(cons[Col.TAG].astype("string"))  # codes: no Python string per row
    keep = pd.Categorical.from_codes(tag.codes[ok], categories=tag.categories.astype(str))
    return pd.DataFrame({art.USER: u[ok], art.ITEM: i[ok], Col.TAG: keep})


def group_tables(
    groups: pd.DataFrame | None,
    members: pd.DataFrame | None,
    users: IdMap,
    snapshot: pd.Timestamp,
) -> tuple[pd.DataFrame, sp.csr_matrix]:
    """Groups (in index order) and the groups x users membership of members active at the snapshot."""
    ids = pd.Series([], dtype="string")
    if groups is not None and Col.GROUP_ID in groups.columns:
        ids = pd.concat([ids, groups[Col.GROUP_ID].astype("string")])
    if members is not None:
        ids = pd.concat([ids, members[Col.GROUP_ID].astype("string")])
    gmap = IdMap.from_values(ids)
    table = gmap.to_frame(Col.GROUP_ID)
    if groups is not None:
        keep = [c for c in groups.columns if c in (Col.GROUP_ID, Col.NAME, Col.KIND, Col.LEADER)]
        g = groups[keep].drop_duplicates(Col.GROUP_ID).astype({Col.GROUP_ID: "string"})
        table = table.merge(g, on=Col.GROUP_ID, how="left")
        for c in table.columns:
            if table[c].dtype == object:
                table[c] = table[c].astype("string")
    if members is None or not len(members):
        return table, sp.csr_matrix((len(gmap), len(users)), dtype=np.float32)
    m: pd.DataFrame = members[members[Col.USER_ID].notna()]
    if Col.LEFT_AT in m.columns:
        left = pd.to_datetime(m[Col.LEFT_AT], utc=True)
        snap = snapshot.tz_localize("UTC") if snapshot.tzinfo is None else snapshot
        m = m[left.isna() | (left > snap)]
    gi = gmap.index(m[Col.GROUP_ID])
    ui = users.index(m[Col.USER_ID])
    ok = (gi >= 0) & (ui >= 0)
    gm = sp.csr_matrix(
        (np.ones(int(ok.sum()), np.float32), (gi[ok], ui[ok])), shape=(len(gmap), len(users))
    )
    gm.sum_duplicates()
    gm.data[:] = 1.0
    return table, gm


def row_top_n(block: sp.csr_matrix, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, value) of the ``n`` largest entries of every row (ties: lower column first)."""
    block = sp.csr_matrix(block)
    row = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
    order = np.lexsort((block.indices, -block.data, row))  # by row, value down, column up
    row, col, val = row[order], block.indices[order], block.data[order]
    rank = np.arange(len(row)) - block.indptr[row]  # position within its row
    keep = rank < n
    return row[keep], col[keep], val[keep]


def item_neighbours(
    purchases: sp.csr_matrix, n: int = DEFAULT_NEIGHBOURS, step: int = 2000
) -> sp.csr_matrix:
    """Top-n co-purchase neighbours per item by cosine of binary purchase columns.

    Blocks of ``step`` items at a time (items x items co-counts stay sparse and bounded).
    """
    x = sp.csr_matrix(purchases, dtype=np.float32)
    x.data[:] = 1.0
    xt = x.T.tocsr()
    norms = np.sqrt(np.asarray(xt.sum(axis=1)).ravel()).astype(np.float32)
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    n_items = x.shape[1]
    rows, cols, vals = [], [], []
    for start in range(0, n_items, step):
        block = (xt[start : start + step] @ x).tocsr()  # items_block x items co-counts
        block.setdiag(0, k=start)
        block.eliminate_zeros()
        block = sp.csr_matrix(sp.diags(inv[start : start + step]) @ block @ sp.diags(inv))
        r, c, v = row_top_n(block, n)
        rows.append(r + start)
        cols.append(c)
        vals.append(v)
    if not rows:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_items, n_items),
        dtype=np.float32,
    )


def activity_table(events: pd.DataFrame | None, users: IdMap) -> pd.DataFrame | None:
    """Per user: messages, comments, shares, live views, 接龙 joins (early ones), referred orders."""
    if events is None or not len(events):
        return None
    et = events[Col.EVENT_TYPE].astype("string")
    u = users.index(events[Col.USER_ID])
    counts = {}
    for name, kinds in (
        ("messages", [EventType.MESSAGE]),
        ("comments", [EventType.LIVE_COMMENT]),
        ("shares", [EventType.SHARE]),
        ("live_views", [EventType.LIVE_VIEW]),
        ("jielong", [EventType.JIELONG]),
        ("orders", [EventType.ORDER, EventType.JIELONG]),
    ):
        hit = et.isin([str(k) for k in kinds]).to_numpy() & (u >= 0)
        counts[name] = np.bincount(u[hit], minlength=len(users))
    jl = events[(et == str(EventType.JIELONG)).to_numpy() & (u >= 0)]
    early = np.zeros(len(users), np.int64)
    if len(jl):
        key = (
            jl[Col.LIVE_ID].astype("string")
            if Col.LIVE_ID in jl.columns and jl[Col.LIVE_ID].notna().any()
            else None
        )
        if key is None or key.isna().all():
            day = pd.to_datetime(jl[Col.TS], utc=True).dt.floor("D").astype("string")
            key = jl.get(Col.GROUP_ID, pd.Series("", index=jl.index)).astype("string") + "|" + day
        key = key.fillna("?")
        rank = jl.assign(_k=key.to_numpy()).groupby("_k")[Col.TS].rank(method="first", pct=True)
        first = (rank <= EARLY_JIELONG_SHARE).to_numpy()
        ju = users.index(jl[Col.USER_ID])
        early = np.bincount(ju[first & (ju >= 0)], minlength=len(users))
    counts["early_jielong"] = early
    ref = np.zeros(len(users), np.int64)
    if "referrer_user_id" in events.columns:
        buys = et.isin([str(EventType.ORDER), str(EventType.JIELONG)]).to_numpy()
        r = users.index(events["referrer_user_id"])
        hit = buys & (r >= 0)
        if hit.any():
            orders = events.loc[hit, [Col.ORDER_ID]].assign(r=r[hit]).drop_duplicates()
            ref = np.bincount(orders["r"].to_numpy(), minlength=len(users))
    counts["referred_orders"] = ref
    df = pd.DataFrame({art.USER: np.arange(len(users), dtype=np.int32), **counts})
    active = df.drop(columns=[art.USER]).sum(axis=1) > 0
    return df[active].reset_index(drop=True)


def _indexed(df: pd.DataFrame | None, users: IdMap) -> pd.DataFrame | None:
    if df is None or Col.USER_ID not in df.columns:
        return None
    u = users.index(df[Col.USER_ID])
    out = df.assign(**{art.USER: u})[u >= 0].drop(columns=[Col.USER_ID])
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].astype("string")
    return out.reset_index(drop=True)


def matching_tables(dirs: list[Path]) -> dict[str, pd.DataFrame]:
    """Matching outputs (segments, bundles, koc, ...) found as NAME.parquet in any of `dirs`."""
    found: dict[str, pd.DataFrame] = {}
    for d in dirs:
        for name in art.KNOWN_TABLES:
            p = d / f"{name}.parquet"
            if name not in found and p.exists():
                found[name] = pd.read_parquet(p)
                log.info("matching table %s <- %s", name, p)
    return found


# -- models ------------------------------------------------------------------------------------
def _align(model_ids: IdMap | None, ids: IdMap, n_model: int, what: str) -> np.ndarray:
    """Model row of each bundle entity (-1 where the model does not know it)."""
    if model_ids is None:
        if n_model != len(ids):
            raise LinliInputError(
                f"the model has {n_model} {what} but the feature store {len(ids)}",
                hint="export with the feature store the model was trained on, "
                "or a registered version (it keeps its id maps)",
            )
        return np.arange(len(ids), dtype=np.int64)
    return model_ids.index(ids.ids)


SCORE_BATCH_BYTES = 128 * 2**20  # one batch of users x items scores (float32) at most


def variant_arrays(
    v: ExportVariant,
    users: IdMap,
    items: IdMap,
    top_m: int = DEFAULT_TOP_M,
    batch: int | None = None,
) -> dict[str, Any]:
    """Vectors (reindexed to the bundle) or sparse top-M scores of one model."""
    model = v.model
    upos = _align(v.users, users, model.n_users, "users")
    ipos = _align(v.items, items, model.n_items, "items")
    item_known = ipos >= 0
    uv, iv = model.user_vectors(), model.item_vectors()
    info = {"kind": model.config.kind, "config": model.config.model_dump(mode="json"), **v.info}
    if uv is not None and iv is not None:
        f = uv.shape[1]
        U = np.zeros((len(users), f), np.float32)
        V = np.zeros((len(items), f), np.float32)
        U[upos >= 0] = uv[upos[upos >= 0]]
        V[item_known] = iv[ipos[item_known]]
        user_known = (upos >= 0) & (np.abs(U).sum(axis=1) > 0)
        info["factors"] = f
        return {
            "info": info,
            "user_vectors": U,
            "item_vectors": V,
            "user_known": user_known,
            "item_known": item_known,
        }
    # no vectors: score every known user in batches and keep the top M items
    known_users = np.flatnonzero(upos >= 0)
    m = min(top_m, len(items))
    rows, cols, vals = [], [], []
    to_bundle = np.full(model.n_items, -1, np.int64)
    to_bundle[ipos[item_known]] = np.flatnonzero(item_known)
    unknown = to_bundle < 0  # model items the bundle does not carry
    if batch is None:  # bounded memory: a batch of scores is at most SCORE_BATCH_BYTES
        batch = int(np.clip(SCORE_BATCH_BYTES // max(4 * model.n_items, 1), 64, 4096))
    for start in range(0, len(known_users), batch):
        bu = known_users[start : start + batch]
        s = model.score(upos[bu])
        if unknown.any():
            s = np.where(unknown[None, :], np.float32(-np.inf), s)
        mm = min(m, s.shape[1])
        top = np.argpartition(s, s.shape[1] - mm, axis=1)[:, -mm:]  # the mm largest, unordered
        sv = np.take_along_axis(s, top, axis=1)
        ok = np.isfinite(sv)
        rows.append(np.repeat(bu, mm)[ok.ravel()])
        cols.append(to_bundle[top].ravel()[ok.ravel()])
        vals.append(sv.ravel()[ok.ravel()].astype(np.float32))
        del s
    topm = sp.csr_matrix(
        (
            np.concatenate(vals) if vals else np.empty(0, np.float32),
            (
                np.concatenate(rows) if rows else np.empty(0, np.int64),
                np.concatenate(cols) if cols else np.empty(0, np.int64),
            ),
        ),
        shape=(len(users), len(items)),
        dtype=np.float32,
    )
    info["top_m"] = m
    user_known = np.diff(topm.indptr) > 0
    return {"info": info, "topm": topm, "user_known": user_known, "item_known": item_known}


def export_bundle(
    features: Path | str,
    out: Path | str,
    variants: dict[str, ExportVariant],
    matching_dirs: list[Path] | None = None,
    interest_keywords: dict[str, list[str]] | None = None,
    top_m: int = DEFAULT_TOP_M,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Write the bundle for `variants` ({alias: model}) over the feature store in `features`."""
    features = Path(features)
    if "champion" not in variants:
        raise LinliInputError(
            "export needs a 'champion' variant",
            hint="--model-dir champion=PATH or a registry alias",
        )
    t0 = time.perf_counter()
    with Steps("linli export", 4 + len(variants), enabled=progress) as steps:
        with steps.step("read the feature store"):
            inter, rest = _feature_tables(features)
        with steps.step("item neighbours"):
            neighbours = item_neighbours(inter.purchases)
        varr = {}
        for alias, v in variants.items():
            with steps.step(f"top-{top_m} of {alias} for {len(inter.users):,} users"):
                varr[alias] = variant_arrays(v, inter.users, inter.items, top_m)
        with steps.step("live response model"):
            response = _response_model(features, seed)
        with steps.step("write the bundle"):
            path = _write(features, out, inter, rest, neighbours, varr, matching_dirs, interest_keywords, response)  # fmt: skip
    log.info("bundle %s written in %.1fs", path, time.perf_counter() - t0)
    return path


def _feature_tables(features: Path) -> tuple[Interactions, dict[str, Any]]:
    """The matrices and every feature-store table the bundle carries, indexed for serving."""
    inter = Interactions.load(features / store.MATRIX_DIR)
    users, items = inter.users, inter.items
    identity = _read(features, store.IDENTITY)
    ident = (
        identifier_table(identity, users)
        if identity is not None
        else pd.DataFrame({art.ID_KEY: users.ids.astype(str), art.USER: np.arange(len(users))})
    )
    catalogue = catalogue_table(_read(features, store.ITEMS), items)
    cons = constraint_table(_read(features, store.CONSTRAINTS), users, items)
    snapshot = pd.Timestamp(inter.snapshot)
    groups, gm = group_tables(
        _read(features, store.GROUPS), _read(features, store.GROUP_MEMBERS), users, snapshot
    )
    tags = _read(features, store.TAGS)
    tag_cols = [Col.USER_ID, Col.TAG, Col.SOURCE]  # source: rule | manual (the profile shows it)
    user_tags = _indexed(tags[[c for c in tag_cols if c in tags.columns]] if tags is not None else None, users)  # fmt: skip
    profile = _indexed(_read(features, store.USERS), users)
    ev_path = features / store.EVENTS
    events = None
    if ev_path.exists():
        want = [
            Col.EVENT_TYPE,
            Col.USER_ID,
            Col.TS,
            Col.LIVE_ID,
            Col.GROUP_ID,
            Col.ORDER_ID,
            Col.ITEM_ID,
            "referrer_user_id",
        ]
        import pyarrow.parquet as pq

        have = set(pq.read_schema(ev_path).names)
        events = pd.read_parquet(ev_path, columns=[c for c in want if c in have])
    activity = activity_table(events, users)
    group_hist, group_hist_age = group_item_history(
        events, IdMap.from_values(groups[Col.GROUP_ID]), items, snapshot
    )
    hosts = _read(features, store.HOSTS)
    if hosts is not None and Col.TAGS in hosts.columns:
        hosts = hosts.assign(**{Col.TAGS: hosts[Col.TAGS].astype("string").fillna("")})
    rest = {
        "group_hist": group_hist,
        "group_hist_age": group_hist_age,
        "ident": ident,
        "catalogue": catalogue,
        "cons": cons,
        "groups": groups,
        "gm": gm,
        "profile": profile,
        "user_tags": user_tags,
        "activity": activity,
        "hosts": hosts,
        "snapshot": snapshot,
    }
    return inter, rest


def _write(
    features: Path,
    out: Path | str,
    inter: Interactions,
    rest: dict[str, Any],
    neighbours: sp.csr_matrix,
    varr: dict[str, dict[str, Any]],
    matching_dirs: list[Path] | None,
    interest_keywords: dict[str, list[str]] | None,
    response: BundleResponse | None,
) -> Path:
    from training.tracking import matrix_digest

    digest = matrix_digest(inter)
    for a in varr.values():
        a["info"].setdefault("data_digest", digest)
    tables = matching_tables([*(matching_dirs or []), features])
    meta = {
        "features_dir": str(features.resolve()),
        "data_digest": digest,
        "snapshot": str(rest["snapshot"]),
        "interest_keywords": interest_keywords or {},
        "list_sep": LIST_SEP,
        "host_tag_map": DEFAULT_TAG_MAP,
    }
    if response is not None:
        tables.update(response.tables)
        meta[RESPONSE_KEY] = response.model
    return art.write_bundle(
        out,
        users=inter.users.ids,
        identifiers=rest["ident"],
        items=rest["catalogue"],
        purchases=inter.purchases,
        last_purchase_age=inter.last_purchase_age,
        constraint_tags=rest["cons"],
        groups=rest["groups"],
        group_members=rest["gm"],
        item_neighbours=neighbours,
        group_history=rest["group_hist"],
        group_history_age=rest["group_hist_age"],
        variants=varr,
        user_profile=rest["profile"],
        user_tags=rest["user_tags"],
        user_activity=rest["activity"],
        hosts=rest["hosts"],
        tables=tables,
        meta=meta,
    )


def _response_model(features: Path, seed: int) -> BundleResponse | None:
    """The live response model for plans' funnels (None, logged, when there are too few lives)."""
    t0 = time.perf_counter()
    try:
        out = fit_for_bundle(features, seed)
    except (ValueError, KeyError) as exc:  # too few lives, or lives without items / hosts
        log.warning("no live response model in the bundle (plans carry no funnel): %s", exc)
        return None
    log.info("live response model fitted in %.1fs", time.perf_counter() - t0)
    return out


def registry_variants(
    settings: Settings, aliases: tuple[str, ...] = ("champion", "challenger")
) -> dict[str, ExportVariant]:
    """Load the registered versions behind `aliases` (missing ones other than champion are skipped)."""
    from training import tracking

    table = tracking.versions(settings)
    out: dict[str, ExportVariant] = {}
    for alias in aliases:
        version = tracking.alias_version(alias, settings)
        if version is None:
            if alias == "champion":
                raise LinliInputError(
                    f"no version of {settings.tracking.registered_model!r} has alias 'champion'",
                    hint="train one, then `linli alias set --version N --alias champion`",
                )
            continue
        loaded = tracking.load_recommender(alias=alias, settings=settings)
        row = table[table["version"].astype(str) == str(loaded.version)]
        info: dict[str, Any] = {
            "registered_model": settings.tracking.registered_model,
            "version": str(loaded.version),
            "run_id": loaded.run_id,
        }
        if len(row):
            r = row.iloc[0]
            info["trained_at"] = str(r["created"])
            for m in ("recall_at_10", "ndcg_at_10"):
                if pd.notna(r.get(m)):
                    info[m] = float(r[m])
        out[alias] = ExportVariant(loaded.model, info, loaded.users, loaded.items)
    return out


def _interest_keywords(settings: Settings) -> dict[str, list[str]]:
    try:
        from features.tags import load_rules

        rules = load_rules(settings.features.tag_rules)
        return {str(k): [str(w) for w in v] for k, v in rules["interests"]["keywords"].items()}
    except Exception as exc:  # the bundle still works without the keyword map
        log.warning("no interest keywords: %s", exc)
        return {}


def main(argv: list[str] | None = None) -> int:
    """CLI: `linli export --features DIR --out DIR [--model-dir ALIAS=PATH ...]`."""
    p = LinliParser(prog="linli export", description=__doc__)
    p.add_argument(
        "--features", type=existing_dir, default=None, help="feature store (WORK/features)"
    )
    p.add_argument("--out", type=Path, default=None, help="bundle folder (WORK/bundle)")
    p.add_argument(
        "--aliases", default="champion,challenger", help="registry aliases to export, in order"
    )
    p.add_argument(
        "--model-dir",
        action="append",
        default=[],
        metavar="ALIAS=PATH",
        help="export a Recommender.save() folder under ALIAS instead of the registry",
    )
    p.add_argument(
        "--matching", type=Path, action="append", default=[], help="folder of matching tables"
    )
    p.add_argument("--top-m", type=int, default=DEFAULT_TOP_M, help="top-M kept per user")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = load_settings()
    features = args.features or settings.work_dir / "features"
    out = args.out or settings.serving.bundle_dir or settings.work_dir / "bundle"
    try:
        if args.model_dir:
            variants = {}
            for spec in args.model_dir:
                alias, _, path = spec.partition("=")
                if not path:
                    raise LinliInputError(f"--model-dir wants ALIAS=PATH, got {spec!r}")
                model = Recommender.load(path)
                variants[alias] = ExportVariant(
                    model, {"registered_model": None, "version": None, "source": str(path)}
                )
        else:
            variants = registry_variants(settings, tuple(args.aliases.split(",")))
        matching = [
            *args.matching,
            features.resolve().parent / "matching",  # where `linli segments` etc. write
            settings.work_dir / "matching",
        ]
        path = export_bundle(
            features,
            out,
            variants,
            matching,
            _interest_keywords(settings),
            args.top_m,
            settings.seed,
        )
    except (LinliInputError, FileNotFoundError) as exc:  # anything else is a bug: exit 1
        print(f"linli export: error: {one_line(exc)}", file=sys.stderr)
        return 2
    print(f"bundle: {path}  variants: {', '.join(variants)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
