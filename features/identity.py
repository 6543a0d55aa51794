"""Unified customer id: the identity table and the `type:value` key every identifier has.

A `user_id` is the canonical identifier of the person in `type:value` form, WeCom
preferred (then openid, phone, member card, others; earliest seen first). The
resolution itself (connected components over identity links, stable ids, merges, the
shared-identifier guard) runs in the feature job's engine:
:mod:`features.engine.identity_sql`. This module holds its result and the identifier
normalisation serving uses to look a person up (:func:`id_keys`, the same rule as
:func:`features.engine.identity_sql.key_sql`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.encoding import factorize, join_pairs
from features.schema import Col, IdType

KEY = "id_key"
FIRST_SEEN = "first_seen"
KEPT = "kept_user_id"
ABSORBED = "absorbed_user_id"


@dataclass(frozen=True)
class Identity:
    """The identifier -> user map and the merges that produced it."""

    table: pd.DataFrame  # id_type, id_value, user_id, first_seen
    merges: pd.DataFrame  # kept_user_id, absorbed_user_id, first_seen_kept, first_seen_absorbed
    # identifiers that would have joined too many people (id_key, people, links, reason)
    suspicious: pd.DataFrame = field(default_factory=lambda: _empty_suspicious())

    def lookup(self, id_type: pd.Series, id_value: pd.Series) -> pd.Series:
        """The user_id of each (id_type, id_value) pair; missing where unknown."""
        codes, ut, uv = pair_codes(id_type, id_value)
        mapping = pd.Series(self.table[Col.USER_ID].to_numpy(), index=self.keys().to_numpy())
        known = id_keys(ut, uv).map(mapping).astype(object).to_numpy()
        users = np.concatenate([known, np.array([None], dtype=object)])  # code -1 -> missing
        return pd.Series(users[codes], index=id_type.index, dtype="string")

    def keys(self) -> pd.Series:
        return id_keys(self.table[Col.ID_TYPE], self.table[Col.ID_VALUE])


def normalize_id_type(id_type: pd.Series) -> pd.Series:
    """Lower-case, trimmed id types."""
    return id_type.astype("string").str.strip().str.lower()


def normalize_id_value(id_type: pd.Series, id_value: pd.Series) -> pd.Series:
    """Identifier values in one canonical form; phones become their 11 national digits."""
    value = id_value.astype("string").str.strip()
    is_phone = normalize_id_type(id_type) == IdType.PHONE
    if is_phone.any():
        digits = value[is_phone].str.replace(r"\D", "", regex=True)
        national = digits.str.replace(r"^(?:0086|86)(?=1\d{10}$)", "", regex=True)
        value = value.copy()
        value[is_phone] = national.mask(national == "", value[is_phone])
    return value


def id_keys(id_type: pd.Series, id_value: pd.Series) -> pd.Series:
    """`type:value` keys after normalisation (the form a user_id takes)."""
    t = normalize_id_type(id_type)
    return t + ":" + normalize_id_value(t, id_value)


def pair_codes(id_type: pd.Series, id_value: pd.Series) -> tuple[np.ndarray, pd.Series, pd.Series]:
    """Encode (id_type, id_value) pairs: codes per row (-1 when missing) and the distinct pairs."""
    sep = "\x1f"
    codes, pairs = factorize(join_pairs(id_type, id_value, sep))
    parts = pairs.str.split(sep, n=1)
    return codes, parts.str[0], parts.str[1]


def _empty_suspicious() -> pd.DataFrame:
    return pd.DataFrame(
        {
            KEY: pd.Series(dtype="string"),
            "people": pd.Series(dtype="int64"),
            "links": pd.Series(dtype="int64"),
            "reason": pd.Series(dtype="string"),
        }
    )
