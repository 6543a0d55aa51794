"""Hardening without a server: per-row control characters and field caps, the byte-bounded
queue, one bad batch failing alone in a group commit, private files, a torn exposure line,
quiet client-error logs, the shared-identifier guard, online A/B with no outcomes yet, the
bundle pointer's recovery and a model state file changed behind the registry's back."""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from ingest_rows import ev

from features.event_store import StoreError, open_store
from serving import ingest, pointer
from serving.exposures import ExposureLog, read_exposures
from serving.log_privacy import ClientErrorFilter
from serving.runtime import Busy, WriteQueue


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


# -- validation by characters and bytes ----------------------------------------------------------
def test_control_characters_and_oversized_fields_are_rejected_per_row() -> None:
    rows = [
        ev(1),
        ev(2, id_value="w\x001"),  # NUL in an id
        ev(3, text="好吃\n下次还买\t!"),  # line breaks are fine in free text
        ev(4, text="x" * 5000),  # a 5,000-character text
        ev(5, item_id="i" * 300),  # a 300-character id
        ev(6, text="bad\x07bell"),
        ev(7, **{"note\x00": "x"}),  # NUL in a field name
    ]
    p = ingest.prepare("events", rows)
    got = {a.index: (a.status, a.reason or "") for a in ingest.answer(p, [True] * len(p.rows))}
    assert [got[i][0] for i in range(7)] == [
        "accepted",
        "rejected",
        "accepted",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
    ]
    assert got[1][1] == "field id_value: control character U+0000 at position 1"
    assert got[3][1] == "field text: 5000 characters, at most 2000"
    assert got[4][1] == "field item_id: 300 characters, at most 256"
    assert "U+0007" in got[5][1] and "U+0000" in got[6][1]
    assert all("w\x001" not in r for _, r in got.values())  # the value itself is never echoed


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_nul_row_fails_alone_on_both_stores(backend: str, tmp_path: Path) -> None:
    """The same rows get the same answers on SQLite and PostgreSQL (NUL refused before the store)."""
    from pg_server import postgres_server

    rows = [ev("a"), ev("b", id_value="w\x00"), ev("c", text="\x00")]

    def run(url: str) -> list[tuple[str, str | None]]:
        with open_store(url) as st_:
            q = WriteQueue(st_)
            out = q.submit("events", rows).result(timeout=60)
            q.close()
            assert st_.event_ids() == ["ea"]
        return [(a.status, a.reason) for a in out]

    if backend == "sqlite":
        got = run(f"sqlite:///{tmp_path / 'e.db'}")
    else:
        with postgres_server() as url:
            got = run(url)
    assert [g[0] for g in got] == ["accepted", "rejected", "rejected"]
    assert got[1][1] == "field id_value: control character U+0000 at position 1"


def test_queue_is_bounded_in_bytes_as_well_as_rows(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'e.db'}") as st_:
        q = WriteQueue(st_, max_pending_rows=100_000, max_pending_bytes=4096)
        q._pending, q._pending_bytes = 1, 4000  # as if a batch were waiting for the disk
        with pytest.raises(Busy, match="bytes"):
            q.submit("events", [ev(1, text="x" * 500)])
        q._pending, q._pending_bytes = 0, 0
        q.close()


class _FailsOnce:
    """A store whose write fails when a marked event is in the transaction (a poisoned row)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    def write(self, events: Any, changes: Any = ()) -> Any:
        self.calls += 1
        if any(e.get("event_id") == "epoison" for e in events):
            raise StoreError("simulated constraint violation")
        return self.inner.write(events, changes)


def test_a_failed_group_commit_retries_each_batch_alone(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'e.db'}") as real:
        store = _FailsOnce(real)
        q = WriteQueue(store, max_rows_per_commit=10_000)  # type: ignore[arg-type]
        with q._cv:  # hold the writer so every batch lands in one group
            futs = [q.submit("events", [ev(f"{b}-{i}") for i in range(50)]) for b in range(6)]
            futs.insert(3, q.submit("events", [ev("poison")]))
        answers = []
        for f in futs:
            try:
                answers.append(f.result(timeout=60))
            except StoreError:
                answers.append(None)
        q.close()
        assert answers[3] is None  # the bad batch fails alone ...
        assert all(
            a is not None and {x.status for x in a} == {"accepted"}
            for i, a in enumerate(answers)
            if i != 3
        )
        assert real.count_events() == 300  # ... and the six others are stored
        assert q.retried_alone == 1


# -- private files and quiet logs ------------------------------------------------------------------
def test_store_and_exposure_files_are_private(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'ingest' / 'events.db'}") as st_:
        st_.write(
            [
                {
                    "event_id": "e1",
                    "ts": "t",
                    "event_type": "view",
                    "id_type": "wecom",
                    "id_value": "w",
                }
            ]
        )
    assert mode(tmp_path / "ingest") == 0o700
    for f in (tmp_path / "ingest").iterdir():
        assert mode(f) == 0o600, f
    log = ExposureLog(tmp_path / "exp" / "sub")
    log.write({"user_id": "u1", "items": ["a"]})
    log.close()
    assert mode(tmp_path / "exp") == 0o700 and mode(tmp_path / "exp" / "sub") == 0o700
    assert [mode(f) for f in (tmp_path / "exp" / "sub").iterdir()] == [0o600]


def test_a_torn_exposure_line_does_not_swallow_the_next_record(tmp_path: Path) -> None:
    first = ExposureLog(tmp_path)
    first.write({"request_id": "r1", "user_id": "u1", "items": ["a"]})
    first.close()
    (f,) = tmp_path.glob("exposures-*.jsonl")
    with f.open("a") as fh:
        fh.write('{"request_id": "r2", "user_id": "u2", "ite')  # killed mid-line
    again = ExposureLog(tmp_path)  # same pid, same day: the same file
    again.write({"request_id": "r3", "user_id": "u3", "items": ["c"]})
    again.close()
    assert read_exposures(tmp_path)["request_id"].tolist() == ["r1", "r3"]


def test_client_errors_are_one_info_line_without_values() -> None:
    from pydantic import BaseModel, ValidationError

    class Req(BaseModel):
        user: str
        k: int

    try:
        Req.model_validate({"user": 13800138000, "k": "phone 13800138000"})
    except ValidationError:
        import sys

        exc_info = sys.exc_info()
    rec = logging.LogRecord(
        "bentoml._internal.server.http_app",
        logging.ERROR,
        __file__,
        1,
        "Exception on %s [%s]",
        ("/rank/user", "POST"),
        exc_info,
    )
    assert ClientErrorFilter().filter(rec)
    text = logging.Formatter().format(rec)
    assert rec.levelno == logging.INFO and rec.exc_info is None
    assert text.startswith("client error 400 on /rank/user: 2 validation error(s) (loc: k, user)")
    assert "13800138000" not in text and "Traceback" not in text
    rec5 = logging.LogRecord("x", logging.ERROR, __file__, 1, "Exception on %s", ("/a",), None)
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        import sys

        rec5.exc_info = sys.exc_info()
    assert ClientErrorFilter().filter(rec5) and rec5.levelno == logging.ERROR and rec5.exc_info


# -- online A/B with nothing to compare yet --------------------------------------------------------
def test_online_ab_says_no_outcomes_yet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from experiments import online_ab

    exp = tmp_path / "exp"
    log = ExposureLog(exp)
    for i in range(10):
        log.write(
            {
                "endpoint": "rank_user",
                "user_id": f"u{i}",
                "variant": ["champion", "challenger"][i % 2],
                "items": ["a"],
            }
        )
    log.close()
    ev_path = tmp_path / "events.csv"
    pd.DataFrame(
        {
            "event_id": ["e"],
            "ts": ["2026-01-01T00:00:00Z"],
            "event_type": ["view"],
            "user_id": ["u1"],
            "item_id": ["a"],
        }
    ).to_csv(ev_path, index=False)
    with pytest.raises(online_ab.NoOutcomes, match="no outcomes yet"):
        online_ab.run_analysis(exp, pd.read_csv(ev_path))


# -- the bundle pointer ---------------------------------------------------------------------------------
def _bundle(folder: Path, version: str) -> Path:
    folder.mkdir()
    (folder / "manifest.json").write_text(
        json.dumps({"variants": {"champion": {"version": version}}})
    )
    return folder


@pytest.mark.parametrize("stage", ["intent", "adopted", "flipped"])
def test_pointer_recovery_after_each_stage(tmp_path: Path, stage: str) -> None:
    live = _bundle(tmp_path / "bundle", "1")  # a plain folder from `linli export`
    new = _bundle(tmp_path / "bundle-v2", "2")
    pointer.write_intent(live, "bundle-v1", new.name, version="2", previous_version="1")
    if stage in ("adopted", "flipped"):
        pointer.adopt(live, "bundle-v1")
    if stage == "flipped":
        pointer.point(live, new.name)
    state = pointer.reconcile(live)
    want = "2" if stage == "flipped" else "1"
    assert (
        json.loads((live / "manifest.json").read_text())["variants"]["champion"]["version"] == want
    )
    assert state == (pointer.COMMITTED if stage == "flipped" else pointer.ROLLED_BACK)
    assert (pointer.read_intent(live) is not None) == (stage == "flipped")  # the alias is next
    if stage != "flipped":
        assert not new.exists()
    with pointer.promotion_lock(live) as mine:  # a running promotion is never touched
        assert mine and pointer.reconcile(live) in (pointer.CLEAN, pointer.BUSY)


def test_flip_is_one_atomic_replace(tmp_path: Path) -> None:
    a, b = _bundle(tmp_path / "bundle-v1", "1"), _bundle(tmp_path / "bundle-v2", "2")
    live = tmp_path / "bundle"
    pointer.point(live, a.name)
    seen = set()
    for i in range(200):
        pointer.point(live, (a, b)[i % 2].name)
        seen.add(os.readlink(live))
        assert (live / "manifest.json").exists()
    assert seen == {"bundle-v1", "bundle-v2"}


def test_a_changed_model_file_is_refused_before_unpickling(tmp_path: Path) -> None:
    from features.engine.frames import interactions_of_events
    from features.matrix import IdMap
    from training.models import build_model
    from training.models.base import STATE_FILE, Recommender

    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u3"],
            "item_id": ["a", "b", "a", "c"],
            "order_id": ["o1", "o1", "o2", "o3"],
            "ts": pd.to_datetime(
                ["2026-05-01", "2026-05-01", "2026-05-02", "2026-05-03"], utc=True
            ),
            "event_type": ["order"] * 4,
        }
    )
    users, items = IdMap.from_values(["u1", "u2", "u3"]), IdMap.from_values(["a", "b", "c"])
    data = interactions_of_events(
        events,
        users,
        items,
        {"order": 1.0},
        half_life_days=30.0,
        snapshot=pd.Timestamp("2026-05-04", tz="UTC"),
    )
    model = build_model("popularity")
    model.fit(data)
    model.save(tmp_path / "m")
    digest = Recommender.state_digest(tmp_path / "m")
    users = np.array([0, 1])
    again = Recommender.load(tmp_path / "m", expect_sha256=digest)
    assert np.allclose(again.score(users), model.score(users))
    (tmp_path / "m" / STATE_FILE).write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")
    with pytest.raises(ValueError, match="sha256 differs"):
        Recommender.load(tmp_path / "m", expect_sha256=digest)


def test_an_export_over_a_pointer_flips_it(tmp_path: Path) -> None:
    from serving import artifacts

    _bundle(tmp_path / "bundle-v1", "1")
    live = tmp_path / "bundle"
    pointer.point(live, "bundle-v1")
    tmp = _bundle(tmp_path / ".tmp-export", "9")
    artifacts._swap_into_place(tmp, live)
    assert live.is_symlink() and (tmp_path / "bundle-v1").is_dir()
    assert (
        json.loads((live / "manifest.json").read_text())["variants"]["champion"]["version"] == "9"
    )


def test_the_postgres_store_heals_after_a_restart(tmp_path: Path) -> None:
    """Idle connections killed by a database restart: the next write and read just work."""
    from pg_server import postgres_cluster

    with postgres_cluster() as pg, open_store(pg.url) as st_:
        assert st_.write([ev("h1")])[0] == [True]
        pg.stop("fast")
        with pytest.raises(StoreError):
            st_.write([ev("h2")])  # the server is away: a clear StoreError (503), not a crash
        assert not st_.healthy()
        pg.start()
        time.sleep(1.1)  # past the reconnect back-off
        assert st_.healthy()
        assert st_.write([ev("h2"), ev("h1")])[0] == [True, False]
        assert st_.event_ids() == ["eh1", "eh2"]
        pg.stop("fast")
        pg.start()  # again, with both connections idle this time
        time.sleep(1.1)
        assert st_.write([ev("h3")])[0] == [True] and st_.count_events() == 3
