"""The synthetic world's hidden truth joined to the feature store's unified users.

``truth/identifiers.parquet`` (person_id, id_type, id_value, normalized) and
``truth/people.parquet`` (person_id, persona, ...) are what the generator drew; the
feature store's ``identity.parquet`` (id_type, id_value, user_id) is what Linli
resolved. A user maps to the person most of its identifiers belong to.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features import store_layout as store
from features.identity import normalize_id_type, normalize_id_value
from features.schema import Col

PERSON_ID = "person_id"
PERSONA = "persona"
PEOPLE = "people.parquet"
IDENTIFIERS = "identifiers.parquet"


def user_truth(
    identity: pd.DataFrame, identifiers: pd.DataFrame, people: pd.DataFrame
) -> pd.DataFrame:
    """user_id -> person_id, persona (the person holding most of the user's identifiers)."""
    ids = identifiers.assign(
        _t=normalize_id_type(identifiers[Col.ID_TYPE]).astype(str),
        _v=normalize_id_value(identifiers[Col.ID_TYPE], identifiers[Col.ID_VALUE]).astype(str),
    )[["_t", "_v", PERSON_ID]].drop_duplicates()
    ident = identity.assign(
        _t=identity[Col.ID_TYPE].astype(str), _v=identity[Col.ID_VALUE].astype(str)
    )
    joined = ident.merge(ids, on=["_t", "_v"], how="inner")
    votes = joined.groupby([Col.USER_ID, PERSON_ID]).size().rename("n").reset_index()
    votes = votes.sort_values([Col.USER_ID, "n", PERSON_ID], ascending=[True, False, True])
    best = votes.drop_duplicates(Col.USER_ID)[[Col.USER_ID, PERSON_ID]]
    best = best.merge(people[[PERSON_ID, PERSONA]], on=PERSON_ID, how="left")
    best[Col.USER_ID] = best[Col.USER_ID].astype(str)
    return best.reset_index(drop=True)


def load_user_truth(features: Path, truth: Path) -> pd.DataFrame:
    """:func:`user_truth` from a feature store folder and a world's truth folder."""
    return user_truth(
        pd.read_parquet(features / store.IDENTITY),
        pd.read_parquet(truth / IDENTIFIERS),
        pd.read_parquet(truth / PEOPLE),
    )
