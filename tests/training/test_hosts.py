"""Host matching: tag fit to a group's profile, past lives with similar groups, every target ranked."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.schema import Col
from training.hosts import (
    TARGET,
    HostConfig,
    host_profile_tags,
    live_outcomes,
    memberships,
    rank_all,
    rank_hosts,
    target_profiles,
)

HOSTS = pd.DataFrame(
    {
        Col.HOST_ID: ["H1", "H2", "H3"],
        Col.NAME: ["营养师", "宝妈主播", "砍价达人"],
        Col.TAGS: ["nutritionist;fitness", "mother;baby", "deals;bargain"],
    }
)


def _world() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Group g_fit: fitness fans; g_baby: parents; g_mix: a bit of both; 20 users each."""
    tags, members = [], []
    for g, mix in (("g_fit", 0.9), ("g_baby", 0.1), ("g_mix", 0.5)):
        for j in range(20):
            u = f"{g}_{j}"
            members.append((g, u))
            tags.append((u, "interest:fitness" if j < mix * 20 else "interest:baby"))
            if j % 4 == 0:
                tags.append((u, "interest:bargain"))
    return (
        pd.DataFrame(tags, columns=[Col.USER_ID, Col.TAG]),
        pd.DataFrame(members, columns=[Col.GROUP_ID, Col.USER_ID]),
    )


def test_host_tags_map_to_profile_tags() -> None:
    hp = host_profile_tags(HOSTS, HostConfig())
    h1 = set(hp.loc[hp[Col.HOST_ID] == "H1", Col.TAG])
    assert {"interest:fitness", "diet:low-fat", "interest:nutritionist"} <= h1


def test_profiles_share_and_lift() -> None:
    tags, members = _world()
    prof = target_profiles(tags, memberships(members), HostConfig(min_members=5))
    row = prof[(prof[TARGET] == "group:g_fit") & (prof[Col.TAG] == "interest:fitness")].iloc[0]
    assert row["share"] == pytest.approx(18 / 20)
    assert row["share_all"] == pytest.approx((18 + 2 + 10) / 60)
    assert row["lift"] == pytest.approx(row["share"] / row["share_all"])


def test_fitting_host_ranks_first_with_reasons() -> None:
    tags, members = _world()
    prof = target_profiles(tags, memberships(members))
    fit = rank_hosts("group:g_fit", prof, HOSTS)
    baby = rank_hosts("group:g_baby", prof, HOSTS)
    assert fit[Col.HOST_ID].iloc[0] == "H1"
    assert baby[Col.HOST_ID].iloc[0] == "H2"
    assert "interest:fitness" in fit["reasons"].iloc[0]
    assert "90% of members" in fit["reasons"].iloc[0]
    assert fit["rank"].tolist() == [1, 2, 3]


def test_past_lives_with_similar_groups_move_a_host_up() -> None:
    tags, members = _world()
    prof = target_profiles(tags, memberships(members))
    lives = pd.DataFrame(
        {
            "live_id": ["L1", "L2", "L3", "L4"],
            Col.GROUP_ID: ["g_fit", "g_fit", "g_fit", "g_fit"],
            Col.HOST_ID: ["H3", "H3", "H1", "H1"],
        }
    )
    events = pd.DataFrame(
        {
            Col.LIVE_ID: ["L1"] * 12 + ["L2"] * 12 + ["L3"] * 2 + ["L4"] * 2,
            Col.USER_ID: [f"g_fit_{j}" for j in range(12)] * 2 + ["g_fit_0", "g_fit_1"] * 2,
            Col.EVENT_TYPE: "jielong",
        }
    )
    hist = live_outcomes(lives, events, members)
    assert hist.set_index("live_id").loc["L1", "jielong_rate"] == pytest.approx(12 / 20)
    assert (
        hist.set_index("live_id")["uplift"].groupby(hist[Col.HOST_ID].to_numpy()).mean()["H3"] > 0
    )
    seg = pd.DataFrame({Col.USER_ID: [f"g_fit_{j}" for j in range(10, 20)], Col.SEGMENT_ID: 7})
    prof = target_profiles(tags, memberships(members, seg))
    ranked = rank_hosts("segment:7", prof, HOSTS, hist, HostConfig(w_history=2.0))
    h3 = ranked.set_index(Col.HOST_ID).loc["H3"]
    assert h3["history"] > 0 and h3["lives"] == 2
    assert "past lives with similar groups" in h3["reasons"]


def test_unknown_target_and_no_history_do_not_crash() -> None:
    tags, members = _world()
    prof = target_profiles(tags, memberships(members))
    r = rank_hosts("group:nope", prof, HOSTS, None)
    assert len(r) == 3 and (r["fit"] == 0).all()
    assert (r["reasons"] == "no tag fits this audience").all()


def test_rank_all_covers_groups_and_segments() -> None:
    tags, members = _world()
    seg = pd.DataFrame({Col.USER_ID: members[Col.USER_ID], Col.SEGMENT_ID: [0] * 30 + [1] * 30})
    prof = target_profiles(tags, memberships(members, seg))
    out = rank_all(prof, HOSTS, None)
    assert set(out[TARGET]) == {
        "group:g_fit",
        "group:g_baby",
        "group:g_mix",
        "segment:0",
        "segment:1",
    }


def test_cli_ranks_fitting_hosts_first_for_interest_groups(tmp_path: Path) -> None:
    from matching_world import small_world

    from training.matching_cli import hosts_main

    root = small_world()
    assert (
        hosts_main(["--features", str(root / "features"), "--out", str(tmp_path), "--no-mlflow"])
        == 0
    )
    scores = pd.read_parquet(tmp_path / "host_scores.parquet")
    assert {Col.GROUP_ID, Col.HOST_ID, Col.SCORE, "reasons"} <= set(scores.columns)
    truth = pd.read_parquet(root / "truth" / "groups.parquet")
    fitting = {
        "fitness": {"fitness", "nutritionist"},
        "parents": {"mother", "baby"},
        "baking": {"baker"},
        "vip": {"premium", "imported"},
        "deals": {"deals", "bargain"},
    }
    top = scores[scores["rank"] == 1].merge(truth, on=Col.GROUP_ID)
    top = top[top["group_type"].isin(list(fitting))]
    assert len(top)
    hits = [
        bool(fitting[t] & set(str(tags).split(";")))
        for t, tags in zip(top["group_type"], top["tags"], strict=True)
    ]
    assert sum(hits) / len(hits) >= 0.8
