"""The artifact bundle the server loads: numpy arrays, scipy CSR matrices and parquet tables.

One folder, written by ``training.export`` (or :func:`write_bundle` directly) and read by
:func:`load_bundle` without importing any training code:

```
BUNDLE/
  manifest.json              format version, created_at, data digest, variants, tables present
  users.parquet              user_id in user-index order (every unified user)
  identifiers.parquet        id_key ("type:value", normalised) -> user index; every identifier
  items.parquet              the catalogue in item-index order (item_id, name, category, price...)
  purchases.npz              users x items purchase lines (already-bought filter, reasons)
  last_purchase_age.npz      users x items days since the last purchase + 1
  constraints.npz            users x items, 1 where a hard constraint forbids the item
  constraint_tags.parquet    user, item, tag: which tag forbids it (for flags and reasons)
  popularity.npy             items: global popularity
  groups.parquet             group_id, name, ... in group-index order
  group_members.npz          groups x users membership
  group_popularity.npz       groups x items purchases by the group's members
  group_history.npz          groups x items purchase lines placed in the group (orders / 接龙 with its group_id)
  group_history_age.npz      groups x items days since the group last bought the item + 1
  item_neighbours.npz        items x items top co-purchase neighbours (cosine)
  user_profile.parquet       user index + RFM / value tier / AOV columns
  user_tags.parquet          user index, tag (rule and manual tags)
  user_activity.parquet      user index + engagement counts (messages, shares, referrals, 接龙)
  hosts.parquet              host_id, name, tags
  tables/*.parquet           matching outputs when present: segments, segment_profiles, bundles, koc...
  variants/<alias>/model.json               registered name, version, alias, kind, trained_at...
  variants/<alias>/user_vectors.npy  item_vectors.npy   (models with vectors), or
  variants/<alias>/topm.npz                 users x items top-M scores (models without vectors)
```
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from serving import pointer

FORMAT = "linli-bundle"
FORMAT_VERSION = 1

MANIFEST = "manifest.json"
USERS = "users.parquet"
IDENTIFIERS = "identifiers.parquet"
ITEMS = "items.parquet"
PURCHASES = "purchases.npz"
LAST_PURCHASE_AGE = "last_purchase_age.npz"
CONSTRAINTS = "constraints.npz"
CONSTRAINT_TAGS = "constraint_tags.parquet"
POPULARITY = "popularity.npy"
GROUPS = "groups.parquet"
GROUP_MEMBERS = "group_members.npz"
GROUP_POPULARITY = "group_popularity.npz"
GROUP_HISTORY = "group_history.npz"  # optional (bundles before it: no group history)
GROUP_HISTORY_AGE = "group_history_age.npz"
ITEM_NEIGHBOURS = "item_neighbours.npz"
USER_PROFILE = "user_profile.parquet"
USER_TAGS = "user_tags.parquet"
USER_ACTIVITY = "user_activity.parquet"
HOSTS = "hosts.parquet"
TABLES_DIR = "tables"
VARIANTS_DIR = "variants"
MODEL_INFO = "model.json"
USER_VECTORS = "user_vectors.npy"
ITEM_VECTORS = "item_vectors.npy"
USER_KNOWN = "user_known.npy"
ITEM_KNOWN = "item_known.npy"
TOPM = "topm.npz"

# matching outputs the server reads, copied into tables/ when they exist (the demand
# forecast is a planning table no endpoint serves: it stays in the matching folder)
KNOWN_TABLES = (
    "segments",
    "segment_profiles",
    "bundles",
    "host_scores",
    "koc",
    "audiences",
)

USER = "user"  # integer user index column
ITEM = "item"  # integer item index column
ID_KEY = "id_key"


class BundleError(ValueError):
    """The bundle folder is missing a file or its parts do not fit together."""


@dataclass
class Variant:
    """One model version the server can route to (champion, challenger)."""

    name: str
    info: dict[str, Any]
    user_vectors: np.ndarray | None = None  # users x f float32 (rows of unknown users are 0)
    item_vectors: np.ndarray | None = None  # items x f float32
    user_known: np.ndarray | None = None  # bool per user: the model has a vector / scores
    item_known: np.ndarray | None = None  # bool per item: the model scores it
    topm: sp.csr_matrix | None = None  # users x items top-M scores (models without vectors)
    # derived at load time (vectors only): item mean / covariance for score normalisation
    item_mean: np.ndarray | None = None
    item_cov: np.ndarray | None = None
    item_unit: np.ndarray | None = None  # L2-normalised item vectors for similar items

    @property
    def kind(self) -> str:
        """'vectors' or 'topm'."""
        return "vectors" if self.user_vectors is not None else "topm"

    def knows(self, user: int) -> bool:
        """Whether the model has scores for this user index."""
        return bool(self.user_known is not None and self.user_known[user])

    def prepare(self) -> None:
        """Precompute what ranking needs from vectors (means, covariance, unit vectors)."""
        if self.item_vectors is None:
            return
        v = self.item_vectors
        known = self.item_known if self.item_known is not None else np.ones(len(v), bool)
        vk = v[known] if known.any() else v
        self.item_mean = vk.mean(axis=0).astype(np.float32)
        centred = (vk - self.item_mean).astype(np.float64)
        self.item_cov = (centred.T @ centred / max(len(vk), 1)).astype(np.float32)
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        self.item_unit = np.ascontiguousarray(v / np.where(norms > 0, norms, 1.0), dtype=np.float32)


@dataclass
class Bundle:
    """Everything the server serves from, aligned on one user index and one item index."""

    path: Path
    manifest: dict[str, Any]
    users: np.ndarray  # user_id per user index (object array)
    identifiers: dict[str, int]  # normalised id_key -> user index
    items: pd.DataFrame  # catalogue in item-index order
    purchases: sp.csr_matrix
    last_purchase_age: sp.csr_matrix
    constraints: sp.csr_matrix
    constraint_tags: pd.DataFrame
    popularity: np.ndarray
    groups: pd.DataFrame
    group_members: sp.csr_matrix
    group_popularity: sp.csr_matrix
    item_neighbours: sp.csr_matrix
    variants: dict[str, Variant]
    group_history: sp.csr_matrix | None = None  # groups x items purchase lines in the group
    group_history_age: sp.csr_matrix | None = None  # days since the group's last one + 1
    user_profile: pd.DataFrame | None = None
    user_tags: pd.DataFrame | None = None
    user_activity: pd.DataFrame | None = None
    hosts: pd.DataFrame | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    # derived lookups
    item_index: dict[str, int] = field(default_factory=dict)
    group_index: dict[str, int] = field(default_factory=dict)
    categories: np.ndarray = field(default_factory=lambda: np.empty(0, object))
    item_category: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    user_groups: sp.csr_matrix | None = None  # users x groups (transpose of group_members)
    # runtime additions (e.g. a new allergy tag ingested): user index -> extra forbidden items
    extra_constraints: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def forbidden(self, user: int) -> np.ndarray:
        """Item indices a user's hard constraints forbid (static bundle + runtime additions)."""
        c = self.constraints
        row = c.indices[c.indptr[user] : c.indptr[user + 1]]
        extra = self.extra_constraints.get(user)
        return row if extra is None else np.union1d(row, extra)

    def bought(self, user: int) -> np.ndarray:
        """Item indices the user has bought."""
        p = self.purchases
        return p.indices[p.indptr[user] : p.indptr[user + 1]]

    def user_group_list(self, user: int) -> np.ndarray:
        """Group indices the user belongs to."""
        ug = self.user_groups
        if ug is None:
            return np.empty(0, np.int32)
        return ug.indices[ug.indptr[user] : ug.indptr[user + 1]]

    def members(self, group: int) -> np.ndarray:
        """User indices of a group's members."""
        g = self.group_members
        return g.indices[g.indptr[group] : g.indptr[group + 1]]

    def table(self, name: str) -> pd.DataFrame | None:
        """A matching table (tables/NAME.parquet) when the bundle has it."""
        return self.tables.get(name)


# -- writing ---------------------------------------------------------------------------------
def _csr(m: sp.spmatrix | None, shape: tuple[int, int], dtype: Any = np.float32) -> sp.csr_matrix:
    if m is None:
        return sp.csr_matrix(shape, dtype=dtype)
    out = sp.csr_matrix(m, dtype=dtype)
    out.sum_duplicates()
    out.sort_indices()
    return out


def write_bundle(
    out: Path | str,
    *,
    users: np.ndarray | list[str],
    identifiers: pd.DataFrame,
    items: pd.DataFrame,
    purchases: sp.spmatrix,
    last_purchase_age: sp.spmatrix | None = None,
    constraint_tags: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
    group_members: sp.spmatrix | None = None,
    item_neighbours: sp.spmatrix | None = None,
    group_history: sp.spmatrix | None = None,
    group_history_age: sp.spmatrix | None = None,
    variants: dict[str, dict[str, Any]],
    user_profile: pd.DataFrame | None = None,
    user_tags: pd.DataFrame | None = None,
    user_activity: pd.DataFrame | None = None,
    hosts: pd.DataFrame | None = None,
    tables: dict[str, pd.DataFrame] | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write a bundle folder atomically (a temp folder renamed into place); returns its path.

    `identifiers` has columns id_key, user (index); `constraint_tags` user, item, tag;
    each variant is {"info": {...}, "user_vectors"/"item_vectors"/"user_known"/"item_known"}
    or {"info": {...}, "topm": csr, "user_known": ...}.
    """
    out = Path(out)
    users = np.asarray(users, dtype=object)
    n_users, n_items = len(users), len(items)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}-{time.time_ns()}")
    tmp.mkdir(parents=True)
    try:
        pd.DataFrame({"user_id": pd.Series(users, dtype="string")}).to_parquet(tmp / USERS)
        ident = identifiers[[ID_KEY, USER]].astype({USER: np.int32})
        ident.to_parquet(tmp / IDENTIFIERS, index=False)
        items.reset_index(drop=True).to_parquet(tmp / ITEMS, index=False)
        purchases = _csr(purchases, (n_users, n_items))
        sp.save_npz(tmp / PURCHASES, purchases)
        sp.save_npz(tmp / LAST_PURCHASE_AGE, _csr(last_purchase_age, (n_users, n_items)))
        ct = (
            constraint_tags
            if constraint_tags is not None
            else pd.DataFrame({USER: [], ITEM: [], "tag": []})
        )
        ct = ct.astype({USER: np.int32, ITEM: np.int32})
        if not isinstance(ct["tag"].dtype, pd.CategoricalDtype):  # categorical stays (compact)
            ct = ct.astype({"tag": "string"})
        cons = sp.csr_matrix(
            (np.ones(len(ct), np.int8), (ct[USER].to_numpy(), ct[ITEM].to_numpy())),
            shape=(n_users, n_items),
        )
        cons.sum_duplicates()
        cons.data[:] = 1
        sp.save_npz(tmp / CONSTRAINTS, cons)
        ct.to_parquet(tmp / CONSTRAINT_TAGS, index=False)
        pop = np.asarray(purchases.sum(axis=0), np.float32).ravel()
        np.save(tmp / POPULARITY, pop)
        groups = groups if groups is not None else pd.DataFrame({"group_id": []}, dtype="string")
        groups.reset_index(drop=True).to_parquet(tmp / GROUPS, index=False)
        gm = _csr(group_members, (len(groups), n_users))
        gm.data[:] = 1.0
        sp.save_npz(tmp / GROUP_MEMBERS, gm)
        sp.save_npz(tmp / GROUP_POPULARITY, _csr(gm @ purchases, (len(groups), n_items)))
        sp.save_npz(tmp / ITEM_NEIGHBOURS, _csr(item_neighbours, (n_items, n_items)))
        sp.save_npz(tmp / GROUP_HISTORY, _csr(group_history, (len(groups), n_items)))
        sp.save_npz(tmp / GROUP_HISTORY_AGE, _csr(group_history_age, (len(groups), n_items)))
        for name, df in (
            (USER_PROFILE, user_profile),
            (USER_TAGS, user_tags),
            (USER_ACTIVITY, user_activity),
            (HOSTS, hosts),
        ):
            if df is not None:
                df.reset_index(drop=True).to_parquet(tmp / name, index=False)
        (tmp / TABLES_DIR).mkdir()
        for name, df in (tables or {}).items():
            df.to_parquet(tmp / TABLES_DIR / f"{name}.parquet", index=False)
        vinfo = {}
        for alias, v in variants.items():
            vdir = tmp / VARIANTS_DIR / alias
            vdir.mkdir(parents=True)
            info = {**v["info"], "alias": alias}
            for key, fname in (
                ("user_vectors", USER_VECTORS),
                ("item_vectors", ITEM_VECTORS),
                ("user_known", USER_KNOWN),
                ("item_known", ITEM_KNOWN),
            ):
                if v.get(key) is not None:
                    np.save(vdir / fname, np.ascontiguousarray(v[key]))
            if v.get("topm") is not None:
                sp.save_npz(vdir / TOPM, _csr(v["topm"], (n_users, n_items)))
            info["scoring"] = "vectors" if v.get("user_vectors") is not None else "topm"
            (vdir / MODEL_INFO).write_text(
                json.dumps(info, ensure_ascii=False, indent=1, default=str)
            )
            vinfo[alias] = info
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": pd.Timestamp.now(tz="UTC").isoformat(),
            "users": n_users,
            "items": n_items,
            "groups": len(groups),
            "variants": vinfo,
            "tables": sorted((tables or {}).keys()),
            **(meta or {}),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1, default=str))
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Replace `out` by `tmp` with two renames (a reader never sees a half-written bundle).

    When `out` is a pointer (``bundle -> bundle-v3``, see :mod:`serving.pointer`) the new
    bundle gets a folder of its own and the pointer is flipped in one atomic step instead.
    """
    if out.is_symlink():
        final = out.with_name(
            f"{out.name}-export-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**6}"
        )
        tmp.rename(final)
        pointer.point(out, final.name)
        return
    old = out.with_name(f".{out.name}.old-{time.time_ns()}")
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)


# -- reading ---------------------------------------------------------------------------------
def _need(path: Path) -> Path:
    if not path.exists():
        raise BundleError(f"bundle is missing {path.name} (looked in {path.parent})")
    return path


def _npz(path: Path) -> sp.csr_matrix:
    return sp.load_npz(_need(path)).tocsr()


def _opt_npz(path: Path) -> sp.csr_matrix | None:
    return sp.load_npz(path).tocsr() if path.exists() else None


def _opt_parquet(path: Path) -> pd.DataFrame | None:
    return pd.read_parquet(path) if path.exists() else None


def _load_variant(vdir: Path, n_users: int, n_items: int) -> Variant:
    info = json.loads(_need(vdir / MODEL_INFO).read_text())
    v = Variant(name=vdir.name, info=info)
    if (vdir / USER_VECTORS).exists():
        v.user_vectors = np.ascontiguousarray(np.load(vdir / USER_VECTORS), dtype=np.float32)
        v.item_vectors = np.ascontiguousarray(np.load(_need(vdir / ITEM_VECTORS)), dtype=np.float32)
    elif (vdir / TOPM).exists():
        v.topm = _npz(vdir / TOPM)
    else:
        raise BundleError(f"variant {vdir.name}: neither {USER_VECTORS} nor {TOPM}")
    v.user_known = (
        np.load(vdir / USER_KNOWN).astype(bool)
        if (vdir / USER_KNOWN).exists()
        else np.ones(n_users, bool)
    )
    v.item_known = (
        np.load(vdir / ITEM_KNOWN).astype(bool)
        if (vdir / ITEM_KNOWN).exists()
        else np.ones(n_items, bool)
    )
    _validate_variant(v, n_users, n_items)
    v.prepare()
    return v


def _validate_variant(v: Variant, n_users: int, n_items: int) -> None:
    where = f"variant {v.name}"
    if v.user_vectors is not None:
        assert v.item_vectors is not None
        if v.user_vectors.ndim != 2 or v.item_vectors.ndim != 2:
            raise BundleError(f"{where}: vectors must be 2-d")
        if v.user_vectors.shape[0] != n_users or v.item_vectors.shape[0] != n_items:
            raise BundleError(
                f"{where}: vectors {v.user_vectors.shape} / {v.item_vectors.shape} do not match "
                f"{n_users} users / {n_items} items"
            )
        if v.user_vectors.shape[1] != v.item_vectors.shape[1]:
            raise BundleError(f"{where}: user and item vectors differ in width")
        if not (np.isfinite(v.user_vectors).all() and np.isfinite(v.item_vectors).all()):
            raise BundleError(f"{where}: vectors hold NaN or inf")
    if v.topm is not None:
        if v.topm.shape != (n_users, n_items):
            raise BundleError(f"{where}: topm shape {v.topm.shape} != ({n_users}, {n_items})")
        if not np.isfinite(v.topm.data).all():
            raise BundleError(f"{where}: topm holds NaN or inf")
    if v.user_known is not None and len(v.user_known) != n_users:
        raise BundleError(f"{where}: user_known has {len(v.user_known)} entries, not {n_users}")
    if v.item_known is not None and len(v.item_known) != n_items:
        raise BundleError(f"{where}: item_known has {len(v.item_known)} entries, not {n_items}")


def load_bundle(path: Path | str) -> Bundle:
    """Read and validate a bundle folder; raises :class:`BundleError` naming what is wrong.

    A pointer (``bundle -> bundle-v3``) is resolved once, first: every file comes from the
    one folder it named then, even if the pointer flips while this reads.
    """
    path = Path(path).resolve() if Path(path).is_symlink() else Path(path)
    if not path.is_dir():
        raise BundleError(f"no artifact bundle at {path} (run `linli export` first)")
    manifest = json.loads(_need(path / MANIFEST).read_text())
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{path / MANIFEST}: format {manifest.get('format')!r} v{manifest.get('format_version')}"
            f" is not {FORMAT!r} v{FORMAT_VERSION}"
        )
    users = pd.read_parquet(_need(path / USERS))["user_id"].to_numpy(dtype=object)
    ident = pd.read_parquet(_need(path / IDENTIFIERS))
    items = pd.read_parquet(_need(path / ITEMS))
    n_users, n_items = len(users), len(items)
    groups = pd.read_parquet(_need(path / GROUPS))
    variants = {}
    vroot = path / VARIANTS_DIR
    for vdir in sorted(vroot.iterdir()) if vroot.is_dir() else []:
        if vdir.is_dir():
            variants[vdir.name] = _load_variant(vdir, n_users, n_items)
    if not variants:
        raise BundleError(f"bundle {path} has no model variant under {VARIANTS_DIR}/")
    tables = {}
    tdir = path / TABLES_DIR
    if tdir.is_dir():
        for f in sorted(tdir.glob("*.parquet")):
            tables[f.stem] = pd.read_parquet(f)
    b = Bundle(
        path=path,
        manifest=manifest,
        users=users,
        identifiers=dict(
            zip(ident[ID_KEY].astype(str).tolist(), ident[USER].astype(int).tolist(), strict=True)
        ),
        items=items,
        purchases=_npz(path / PURCHASES),
        last_purchase_age=_npz(path / LAST_PURCHASE_AGE),
        constraints=_npz(path / CONSTRAINTS),
        constraint_tags=pd.read_parquet(_need(path / CONSTRAINT_TAGS)),
        popularity=np.load(_need(path / POPULARITY)).astype(np.float32),
        groups=groups,
        group_members=_npz(path / GROUP_MEMBERS),
        group_popularity=_npz(path / GROUP_POPULARITY),
        item_neighbours=_npz(path / ITEM_NEIGHBOURS),
        variants=variants,
        group_history=_opt_npz(path / GROUP_HISTORY),
        group_history_age=_opt_npz(path / GROUP_HISTORY_AGE),
        user_profile=_opt_parquet(path / USER_PROFILE),
        user_tags=_opt_parquet(path / USER_TAGS),
        user_activity=_opt_parquet(path / USER_ACTIVITY),
        hosts=_opt_parquet(path / HOSTS),
        tables=tables,
    )
    _validate(b)
    _derive(b)
    return b


def _validate(b: Bundle) -> None:
    nu, ni, ng = b.n_users, b.n_items, len(b.groups)
    for name, m, shape in (
        (PURCHASES, b.purchases, (nu, ni)),
        (LAST_PURCHASE_AGE, b.last_purchase_age, (nu, ni)),
        (CONSTRAINTS, b.constraints, (nu, ni)),
        (GROUP_MEMBERS, b.group_members, (ng, nu)),
        (GROUP_POPULARITY, b.group_popularity, (ng, ni)),
        (ITEM_NEIGHBOURS, b.item_neighbours, (ni, ni)),
    ):
        if m.shape != shape:
            raise BundleError(f"{name} has shape {m.shape}, expected {shape}")
    for name, opt in ((GROUP_HISTORY, b.group_history), (GROUP_HISTORY_AGE, b.group_history_age)):
        if opt is not None and opt.shape != (ng, ni):
            raise BundleError(f"{name} has shape {opt.shape}, expected {(ng, ni)}")
    if len(b.popularity) != ni:
        raise BundleError(f"{POPULARITY} has {len(b.popularity)} entries, expected {ni}")
    if "item_id" not in b.items.columns:
        raise BundleError(f"{ITEMS} has no item_id column")
    if b.items["item_id"].duplicated().any():
        raise BundleError(f"{ITEMS}: item_id values repeat")
    if len(b.groups) and b.groups["group_id"].duplicated().any():
        raise BundleError(f"{GROUPS}: group_id values repeat")
    bad = [k for k, u in b.identifiers.items() if not 0 <= u < nu][:3]
    if bad:
        raise BundleError(f"{IDENTIFIERS}: user index out of range for {bad}")
    ct = b.constraint_tags
    if len(ct) and (ct[USER].max() >= nu or ct[ITEM].max() >= ni):
        raise BundleError(f"{CONSTRAINT_TAGS}: index out of range")


def _derive(b: Bundle) -> None:
    b.item_index = {str(x): i for i, x in enumerate(b.items["item_id"].astype(str).tolist())}
    b.group_index = (
        {str(x): i for i, x in enumerate(b.groups["group_id"].astype(str).tolist())}
        if len(b.groups)
        else {}
    )
    for i, uid in enumerate(b.users.tolist()):  # a unified id is always an identifier of its user
        b.identifiers.setdefault(str(uid), i)
    cat = (
        b.items["category"].astype("string").fillna("unknown")
        if "category" in b.items.columns
        else pd.Series(["unknown"] * b.n_items, dtype="string")
    )
    codes, uniques = pd.factorize(cat)
    b.item_category = codes.astype(np.int32)
    b.categories = np.asarray(uniques, dtype=object)
    if b.group_history is None:
        b.group_history = sp.csr_matrix((len(b.groups), b.n_items), dtype=np.float32)
    if b.group_history_age is None:
        b.group_history_age = sp.csr_matrix((len(b.groups), b.n_items), dtype=np.float32)
    b.user_groups = b.group_members.T.tocsr()
    b.user_groups.sort_indices()
