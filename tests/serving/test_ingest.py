"""Ingestion without a server: per-row answers, the store's idempotency, group commit and
back-pressure, the feature job reading the store, live constraints, and the token guard."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_rows import MIXED, ev
from pg_server import postgres_server
from serving_world import shared_bundle

from features.build import run as build_features
from features.event_store import EventStore, open_store, read_store_tables
from features.load import load_data_dir
from serving import ranking
from serving import schemas as s
from serving.artifacts import load_bundle
from serving.engine import Engine
from serving.guard import Guard
from serving.ingest import answer, changes_of, counts, prepare
from serving.runtime import Busy, WriteQueue
from training.settings import Settings

pytestmark = pytest.mark.timeout(120)


# -- the pure part --------------------------------------------------------------------------
def test_mixed_batch_answers_each_row_with_the_feature_jobs_reasons(tmp_path: Path) -> None:
    p = prepare("events", MIXED)
    res = answer(p, [True] * len(p.rows))
    by = {r.index: r for r in res}
    assert [r.index for r in res] == list(range(len(MIXED)))
    assert {i for i, r in by.items() if r.status == "accepted"} == {0, 5, 11}
    assert by[6].status == "duplicate" and by[6].id == "e1"
    assert by[1].reason and "unknown event_type: teleport" in by[1].reason
    assert by[2].reason and "unparseable timestamp in ts" in by[2].reason
    assert by[3].reason and "negative quantity" in by[3].reason
    assert by[4].reason == "missing required field: order_id for order"
    assert by[7].reason == "row is not a JSON object"
    assert by[8].reason and by[8].reason.startswith("field text: expected a string")
    assert by[9].reason == "missing required field: ts"
    assert by[10].reason and "unparseable number in amount" in by[10].reason
    assert counts(res) == {"accepted": 3, "duplicate": 1, "rejected": 8}
    stored = dict(p.rows)
    assert stored[0]["quantity"] == "2" and stored[0]["amount"] == "59.8"
    assert json.loads(stored[11]["extra"] or "{}") == {"shop": "A"}

    # the same rows as a file: the feature job keeps exactly the rows ingestion accepts
    d = tmp_path / "data"
    d.mkdir()
    rows = [r for r in MIXED if isinstance(r, dict) and not isinstance(r.get("text"), dict)]
    pd.DataFrame(rows).to_json(d / "events.jsonl", orient="records", lines=True, force_ascii=False)
    kept = load_data_dir(d, ["events"]).clean("events")
    assert kept is not None
    assert sorted(kept["event_id"]) == sorted(str(p.ids[i]) for i, _ in p.rows)


def test_side_tables_get_content_keys_and_their_own_validation() -> None:
    tags = [
        {"id_type": "wecom", "id_value": "w1", "tag": "allergy:mango", "note": "孩子对芒果过敏"},
        {"id_type": "wecom", "id_value": "w1", "tag": "allergy:mango", "note": "孩子对芒果过敏"},
        {"id_type": "wecom", "tag": "likes:baking"},
    ]
    p = prepare("manual_tags", tags)
    assert [pos for pos, _ in p.rows] == [0, 1]
    assert p.ids[0] == p.ids[1] and p.ids[0] is not None  # same content, same key
    assert p.reasons == {2: "missing required field: id_value"}
    assert [c[0] for c in changes_of(p)] == ["manual_tags", "manual_tags"]
    links = prepare("identity_links", [{"id_type_a": "wecom", "id_value_a": "w1"}])
    assert links.reasons[0].startswith("missing required field: id_type_b")


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12)
)
rows_st = st.lists(
    st.one_of(
        st.dictionaries(
            st.sampled_from(
                [
                    "event_id",
                    "ts",
                    "event_type",
                    "id_type",
                    "id_value",
                    "item_id",
                    "quantity",
                    "order_id",
                    "x",
                    "TS ",
                ]
            ),  # fmt: skip
            st.one_of(scalars, st.lists(scalars, max_size=2)),
            max_size=8,
        ),
        scalars,
    ),
    max_size=12,
)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows_st)
def test_prepare_answers_every_row_and_never_raises(rows: list[Any]) -> None:
    p = prepare("events", rows)
    res = answer(p, [True] * len(p.rows))
    assert [r.index for r in res] == list(range(len(rows)))
    for r in res:
        assert (r.status == "rejected") == (r.reason is not None and r.status != "duplicate")
    ids = [str(p.ids[i]) for i, _ in p.rows]
    assert len(ids) == len(set(ids))  # never two copies of one event_id to store


# -- the store ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ingest' / 'events.db'}"
    else:
        base = request.getfixturevalue("pg_url")
        import psycopg

        db = f"t{time.time_ns()}"
        with psycopg.connect(base, autocommit=True) as con:
            con.execute(f"CREATE DATABASE {db}")
        url = base.rsplit("/", 1)[0] + f"/{db}"
    with open_store(url) as st_:
        yield st_


def test_store_is_idempotent_on_event_id_and_content_key(store: EventStore) -> None:
    p = prepare("events", [ev(i) for i in range(50)])
    first, _ = store.write([v for _, v in p.rows])
    assert all(first) and store.count_events() == 50
    again = prepare("events", [ev(i) for i in range(40, 60)])
    new, _ = store.write([v for _, v in again.rows])
    assert new == [False] * 10 + [True] * 10
    assert store.count_events() == 60
    assert store.event_ids() == [f"e{i}" for i in range(60)]
    # in one call a repeated id is stored once and reported once as new
    twice = [v for _, v in prepare("events", [ev(70)]).rows] * 2
    assert store.write(twice)[0] == [True, False]
    assert store.count_events() == 61

    tags = prepare("manual_tags", [{"id_type": "wecom", "id_value": "w1", "tag": "allergy:mango"}])
    assert store.version() == 0
    _, ch = store.write([], changes_of(tags))
    assert ch == [True] and store.version() > 0
    assert store.write([], changes_of(tags))[1] == [False]
    got = store.changes_since(0)
    assert [(c.kind, c.payload["tag"]) for c in got] == [("manual_tags", "allergy:mango")]
    assert store.changes_since(got[-1].seq) == []

    frame = store.events_frame()
    assert list(frame.columns)[:3] == ["event_id", "ts", "event_type"] and len(frame) == 61
    assert store.table_frame("manual_tags")["tag"].tolist() == ["allergy:mango"]


def test_sqlite_store_is_wal_with_full_sync(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'e.db'}") as st_:
        con = st_._w  # type: ignore[attr-defined]
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


# -- write queue: group commit and back-pressure ----------------------------------------------
def test_queue_answers_every_caller_and_commits_in_groups(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'e.db'}") as st_:
        q = WriteQueue(st_, max_pending_rows=100_000, max_rows_per_commit=2000)
        batches = [[ev(f"{b}-{i}") for i in range(100)] for b in range(20)]
        batches.append([ev("0-0"), ev("0-1"), ev("x", event_type="nope")])  # 2 repeats, 1 bad
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda b: q.submit("events", b).result(timeout=60), batches))
        q.close()
        assert all(len(r) == len(b) for r, b in zip(results, batches, strict=True))
        assert sum(a.status == "accepted" for r in results for a in r) == 2000
        last = [a.status for a in results[-1]]
        assert sorted(last) == ["duplicate", "duplicate", "rejected"]
        assert st_.count_events() == 2000
        assert q.commits < len(batches)  # waiting batches were committed together


class SlowStore:
    """A store whose writes wait for a gate (the disk is slower than the callers)."""

    def __init__(self, inner: EventStore) -> None:
        self.inner, self.gate = inner, threading.Event()

    def write(self, *a: Any, **kw: Any) -> Any:
        self.gate.wait(30)
        return self.inner.write(*a, **kw)


def test_full_queue_refuses_with_retry_after_and_drops_nothing(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'e.db'}") as st_:
        slow = SlowStore(st_)
        q = WriteQueue(slow, max_pending_rows=250, max_rows_per_commit=100, retry_after_s=2)  # type: ignore[arg-type]
        futs = [q.submit("events", [ev(f"{b}-{i}") for i in range(100)]) for b in range(2)]
        with pytest.raises(Busy) as err:
            q.submit("events", [ev(f"9-{i}") for i in range(100)])
        assert err.value.retry_after == 2 and "full" in str(err.value)
        assert q.pending_rows == 200
        slow.gate.set()
        assert all(a.status == "accepted" for f in futs for a in f.result(timeout=30))
        q.close()
        assert st_.count_events() == 200  # every acknowledged row, nothing of the refused call


# -- the feature job sees the store -----------------------------------------------------------
def test_feature_job_reads_the_store_with_the_files(tiny_data: Path, tmp_path: Path) -> None:
    cfg = Settings(work_dir=tmp_path / "work")
    with open_store(cfg.store_url) as st_:
        new = [ev(f"live{i}", id_value="w-alice", item_id="chicken") for i in range(3)]
        dup = ev(9, id_type="wecom", id_value="w-carol", item_id="puree", order_id="C1")
        rows = prepare("events", [*new, {**dup, "event_id": "e9"}]).rows
        st_.write([v for _, v in rows])
        tag = [{"id_type": "wecom", "id_value": "w-carol", "tag": "allergy:peanut"}]
        st_.write([], changes_of(prepare("manual_tags", tag)))
    assert set(read_store_tables(cfg.store_url)) == {"events", "manual_tags"}
    out = build_features(tiny_data, tmp_path / "fs", cfg, progress=False)
    without = build_features(tiny_data, tmp_path / "fs0", cfg, progress=False, use_store=False)
    assert out["events_kept"] == without["events_kept"] + 3  # e9 is in the file too: kept once
    assert out["event_store"]["rows"] == {"events": 4, "manual_tags": 1}
    assert out["tables"]["events"]["rejected"] == without["tables"]["events"]["rejected"] + 1
    tags = pd.read_parquet(tmp_path / "fs" / "tags.parquet")
    assert "allergy:peanut" in set(tags["tag"])


# -- live constraints and identity on a loaded bundle ----------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_bundle(tmp_path_factory.getbasetemp())


def _engine(bundle: Path, tmp: Path) -> Engine:
    return Engine(Settings(work_dir=tmp), load_bundle(bundle))


def _mango(e: Engine) -> set[str]:
    b = e.bundle
    assert b is not None
    items = b.items
    mask = items["name"].str.contains("芒果") | items["attributes"].fillna("").str.contains("mango")
    return set(items.loc[mask, "item_id"])


def _free_user(e: Engine, exclude: set[str]) -> str:
    """A known user whose top-20 holds a mango item and who has no constraints yet."""
    b = e.bundle
    assert b is not None
    for u in b.users.tolist():
        idx = b.identifiers[str(u)]
        if len(b.forbidden(idx)):
            continue
        got = e.rank_user(s.RankUserRequest(user=str(u), k=20))
        if {i.item_id for i in got.items} & exclude:
            return str(u)
    raise AssertionError("no user with mango in the top 20")


def test_ingested_allergy_and_links_hold_for_every_item_list(world: Path, tmp_path: Path) -> None:
    e = _engine(world, tmp_path)
    mango = _mango(e)
    user = _free_user(e, mango)

    e.add_live(
        [],
        [{"id_type": user.split(":")[0], "id_value": user.split(":")[1], "tag": "allergy:mango"}],
    )
    for k in (5, 50, 200):
        got = e.rank_user(s.RankUserRequest(user=user, k=k))
        assert not {i.item_id for i in got.items} & mango
    b = e.bundle
    assert b is not None
    uidx = b.identifiers[user]
    fruit = next(i for i in b.item_index if i not in mango and i.startswith("fruit"))
    sim = e.similar(s.SimilarRequest(item_id=fruit, user=user, k=50))
    assert not {i.item_id for i in sim.items} & mango
    bund = e.bundles(s.BundlesRequest(user=user, k=10))
    assert not {i.item_id for x in bund.bundles for i in x.items} & mango
    grp = e.rank_group(s.RankGroupRequest(users=[user, str(b.users[0])], k=50))
    assert not {i.item_id for i in grp.items} & mango
    gid = str(b.groups["group_id"].iloc[int(b.user_group_list(uidx)[0])])
    for strategy in ranking.STRATEGIES:
        g = e.rank_group(s.RankGroupRequest(group_id=gid, k=50, strategy=strategy))
        assert not {i.item_id for i in g.items} & mango, strategy
    plan = e.live_plan(s.LivePlanRequest(group_id=gid, k=20, audience_n=50))
    assert not {i.item_id for i in plan.items} & mango
    assert plan.bundle is None or not {i.item_id for i in plan.bundle.items} & mango

    # a new identifier linked to that person is that person, constraints included
    e.add_live([{"id_type_a": "openid", "id_value_a": "o-new", "id_type_b": user.split(":")[0],
                 "id_value_b": user.split(":")[1]}], [])  # fmt: skip
    linked = e.rank_user(s.RankUserRequest(user="openid:o-new", k=200))
    assert linked.known_user and linked.user_id == user
    assert not {i.item_id for i in linked.items} & mango

    # someone the bundle has never seen: the popular-items fallback leaves the item out too
    assert {
        i.item_id for i in e.rank_user(s.RankUserRequest(user="phone:13700000000", k=200)).items
    } & mango
    e.add_live([], [{"id_type": "phone", "id_value": "+86 137-0000-0000", "tag": "avoid:芒果"}])
    stranger = e.rank_user(s.RankUserRequest(user="phone:13700000000", k=200))
    assert stranger.fallback and not {i.item_id for i in stranger.items} & mango
    # ... and when that stranger is later linked to a known user, the known user inherits it
    other = _free_user(e, mango)
    t, v = other.split(":")
    e.add_live(
        [{"id_type_a": "phone", "id_value_a": "13700000000", "id_type_b": t, "id_value_b": v}], []
    )
    assert not {i.item_id for i in e.rank_user(s.RankUserRequest(user=other, k=200)).items} & mango


# -- the guard (ASGI, in process) ---------------------------------------------------------------
def _call(
    guard: Guard, path: str, body: bytes, headers: dict[str, str], chunks: int = 1
) -> tuple[int, bytes]:
    """Run one request through the guard around an echo app; (status, body of the answer)."""
    size = -(-len(body) // chunks)
    parts = [body[i * size : (i + 1) * size] for i in range(chunks)]
    msgs = [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1}
        for i, p in enumerate(parts)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return msgs.pop(0) if msgs else {"type": "http.disconnect"}

    async def send(m: dict[str, Any]) -> None:
        sent.append(m)

    async def echo(scope: Any, rcv: Any, snd: Any) -> None:
        got = b""
        while True:
            m = await rcv()
            got += m.get("body", b"")
            if not m.get("more_body"):
                break
        await snd({"type": "http.response.start", "status": 200, "headers": []})
        await snd({"type": "http.response.body", "body": got})

    guard.app = echo
    hdrs = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {"type": "http", "method": "POST", "path": path, "headers": hdrs}
    asyncio.run(guard(scope, receive, send))
    return sent[0]["status"], sent[1]["body"]


def test_guard_tokens_and_body_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINLI_ADMIN_TOKEN", "s3cret-admin")
    monkeypatch.setenv("LINLI_READ_TOKEN", "s3cret-read")
    cfg = Settings()
    open_guard = Guard(None, cfg)
    ok = {"authorization": "Bearer s3cret-admin"}
    for path in ("/ingest/events", "/ingest/manual_tags", "/admin/reload", "/admin/experiment"):
        assert _call(open_guard, path, b"{}", {}) == (401, b'{"error": "unauthorized"}')
        assert _call(open_guard, path, b"{}", {"authorization": "Bearer nope"})[0] == 401
        assert _call(open_guard, path, b"{}", {"authorization": "Bearer s3cret-read"})[0] == 401
        assert _call(open_guard, path, b"{}", ok) == (200, b"{}")
    assert _call(open_guard, "/rank/user", b"{}", {})[0] == 200  # ranking open by default

    cfg.serving.auth.protect_ranking = True
    closed = Guard(None, cfg)
    assert _call(closed, "/rank/user", b"{}", {})[0] == 401
    assert _call(closed, "/rank/user", b"{}", {"authorization": "Bearer s3cret-read"})[0] == 200
    assert _call(closed, "/rank/user", b"{}", ok)[0] == 200
    assert _call(closed, "/info", b"{}", {})[0] == 200

    big = b"x" * (cfg.serving.ingest.max_body_bytes + 1)
    assert _call(open_guard, "/ingest/events", big, ok)[0] == 413  # no content-length: counted
    assert (
        _call(open_guard, "/ingest/events", big, {**ok, "content-length": str(len(big))})[0] == 413
    )
    mid = b"y" * (cfg.serving.max_body_bytes + 1)
    assert _call(open_guard, "/rank/user", mid, {}, chunks=7)[0] == 413
    assert _call(open_guard, "/ingest/events", mid, ok, chunks=7) == (200, mid)  # replayed whole

    monkeypatch.delenv("LINLI_ADMIN_TOKEN")
    unset = Guard(None, Settings())
    assert _call(unset, "/ingest/events", b"{}", {"authorization": "Bearer "})[0] == 401
    assert _call(unset, "/ingest/events", b"{}", ok)[0] == 401  # no token configured: closed
