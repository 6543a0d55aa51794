"""The response model's examples built for all lives at once equal the per-live features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from loop_world import loop_world

from features import store_layout as store
from features.live_response import FEATURES, history_at, invitations, live_features
from features.schema import LIST_SEP, Col
from training.response import training_frame

pytestmark = pytest.mark.timeout(300)


def per_live_frame(h, inv: pd.DataFrame, lives: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """The reference: :func:`live_features` one live at a time (the former training_frame)."""
    items_of = (
        lives.set_index(lives[Col.LIVE_ID].astype(str))[Col.ITEM_IDS]
        .astype(str)
        .str.split(LIST_SEP)
    )
    parts = []
    for live_id, g in inv.groupby(Col.LIVE_ID, sort=True):
        host = g[Col.HOST_ID].iloc[0]
        x = live_features(
            h,
            pd.Index(g[Col.USER_ID].astype(str)),
            list(items_of.get(live_id, [])),
            None if pd.isna(host) else str(host),
            items,
        )
        parts.append(
            x.reset_index(drop=True).assign(
                live_id=live_id,
                start_ts=g[Col.START_TS].iloc[0],
                viewed=g["viewed"].to_numpy(),
                joined=g["joined"].to_numpy(),
            )
        )
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    f = loop_world(tmp_path_factory.getbasetemp()) / "features"
    rd = lambda n: pd.read_parquet(Path(f) / n)  # noqa: E731
    return {
        "events": rd(store.EVENTS),
        "baskets": rd(store.BASKETS),
        "items": rd(store.ITEMS),
        "lives": rd(store.LIVE_SESSIONS),
        "members": rd(store.GROUP_MEMBERS),
    }


@pytest.mark.parametrize("cut_q", [0.0, 0.5, 0.8])
def test_all_lives_at_once_equal_one_live_at_a_time(
    tables: dict[str, pd.DataFrame], cut_q: float
) -> None:
    t = tables
    inv = invitations(t["lives"], t["members"], t["events"])
    cut = inv[Col.START_TS].quantile(cut_q)
    h = history_at(cut, inv, t["events"], t["baskets"], t["items"], t["lives"])
    # a live with an unknown item, one without a host and one nobody knows the goods of
    lives = t["lives"].copy()
    lives.loc[lives.index[-1], Col.ITEM_IDS] = "no-such-item"
    lives.loc[lives.index[-2], Col.HOST_ID] = None
    later = inv[inv[Col.START_TS] >= cut]
    got = training_frame(h, later, lives, t["items"])
    want = per_live_frame(h, later, lives, t["items"])
    assert len(got) == len(want) == len(later) > 100
    assert got.columns.tolist() == want.columns.tolist()
    for c in [Col.LIVE_ID, Col.START_TS, "viewed", "joined"]:
        pd.testing.assert_series_equal(got[c], want[c], check_names=False)
    np.testing.assert_allclose(
        got[list(FEATURES)].to_numpy(float),
        want[list(FEATURES)].to_numpy(float),
        rtol=1e-12,
        atol=1e-12,
    )
    # the features vary (a frame of constants would pass trivially)
    assert (got[list(FEATURES)].std() > 0).sum() >= 8
