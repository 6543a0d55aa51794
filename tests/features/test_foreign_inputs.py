"""Input a new user brings: each case once crashed or said nothing; now it works or says what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import linli_cli
from features.build import run as build_features
from features.errors import LinliInputError
from features.settings import Settings

HEADER = "event_id,ts,event_type,id_type,id_value,item_id,quantity,amount,order_id,text\n"
ROWS = (
    "e1,2026-05-01T10:00:00+08:00,order,openid,o1,i1,1,10,A1,\n"
    "e2,2026-05-02T10:00:00+08:00,order,openid,o2,i1,2,20,A2,\n"
    "e3,2026-05-03T10:00:00+08:00,view,openid,o1,i2,,,,\n"
)


def _data(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    d = tmp_path / "data"
    d.mkdir()
    (d / "events.csv").write_bytes(text.encode(encoding))
    return d


def _build(tmp_path: Path, data: Path, *extra: str) -> tuple[int, str]:
    argv = ["features", "build", "--data", str(data), "--out", str(tmp_path / "fs")]
    return linli_cli.app([*argv, "--no-progress", "--no-store", *extra]), ""


def test_a_search_text_with_no_known_keyword_builds(tmp_path: Path, settings: Settings) -> None:
    data = _data(
        tmp_path, HEADER + ROWS + "e4,2026-05-03T11:00:00+08:00,search,openid,o2,,,,,芒果\n"
    )
    s = build_features(data, tmp_path / "fs", settings, progress=False, use_store=False)
    assert s["tables"]["events"]["kept"] == 4 and s["users_after_unification"] == 2


def test_header_only_events_stop_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _data(tmp_path, "event_id,ts,event_type,id_type,id_value\n")
    rc, _ = _build(tmp_path, data)
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("linli")]
    assert rc == 2 and len(err) == 1
    assert "events.csv" in err[0] and "no valid event rows" in err[0] and "add events" in err[0]


def test_header_only_optional_table_is_an_empty_table(tmp_path: Path, settings: Settings) -> None:
    data = _data(tmp_path, HEADER + ROWS)
    (data / "items.csv").write_text("item_id,name,category\n", encoding="utf-8")
    (data / "manual_tags.jsonl").write_text("", encoding="utf-8")
    s = build_features(data, tmp_path / "fs", settings, progress=False, use_store=False)
    assert s["tables"]["items"]["read"] == 0 and s["tables"]["manual_tags"]["read"] == 0


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig"])
def test_gbk_and_bom_files_are_read_and_said_so(
    tmp_path: Path, settings: Settings, encoding: str
) -> None:
    text = HEADER + ROWS + "e4,2026-05-03T11:00:00+08:00,search,openid,o2,,,,,有没有减脂餐推荐\n"
    data = _data(tmp_path, text, encoding)
    s = build_features(data, tmp_path / "fs", settings, progress=False, use_store=False)
    assert s["tables"]["events"]["kept"] == 4
    enc = json.loads((tmp_path / "fs" / "summary.json").read_text(encoding="utf-8"))["encodings"]
    assert enc == {str(data / "events.csv"): "gb18030" if encoding != "utf-8-sig" else encoding}
    events = pd.read_parquet(tmp_path / "fs" / "events.parquet")
    assert "有没有减脂餐推荐" in set(events["text"].dropna())
    assert list(events.columns[:2]) == ["event_id", "ts"]  # no BOM glued to the first name


def test_epoch_seconds_and_milliseconds_are_timestamps(tmp_path: Path, settings: Settings) -> None:
    rows = ROWS.replace("2026-05-01T10:00:00+08:00", "1777600800").replace(
        "2026-05-02T10:00:00+08:00", "1777687200000"
    )
    data = _data(tmp_path, HEADER + rows + "e4,yesterday,view,openid,o1,i2,,,,\n")
    s = build_features(data, tmp_path / "fs", settings, progress=False, use_store=False)
    assert s["tables"]["events"]["kept"] == 3
    ts = pd.read_parquet(tmp_path / "fs" / "events.parquet").set_index("event_id")["ts"]
    assert ts["e1"] == pd.Timestamp("2026-05-01T10:00:00+08:00")
    assert ts["e2"] == pd.Timestamp("2026-05-02T10:00:00+08:00")
    reason = pd.read_csv(tmp_path / "fs" / "rejects" / "events.csv")["reason"].iloc[0]
    assert "ISO-8601" in reason and "epoch" in reason  # says what format is expected


def test_a_near_miss_column_name_gets_did_you_mean(tmp_path: Path, settings: Settings) -> None:
    data = _data(tmp_path, HEADER.replace("event_type", "type") + ROWS)
    with pytest.raises(LinliInputError) as exc:
        build_features(data, tmp_path / "fs", settings, progress=False, use_store=False)
    line = exc.value.one_line()
    assert "\n" not in line and "events.csv" in line and "'event_type'" in line
    assert "did you mean 'type'" in line


def test_a_run_rejecting_most_rows_exits_non_zero_after_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = "".join(f"b{i},not a time,view,openid,o1,i1,,,,\n" for i in range(4))  # 4 of 7 = 57%
    data = _data(tmp_path, HEADER + ROWS + bad)
    rc, _ = _build(tmp_path, data)
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("linli")]
    assert rc == 2 and len(err) == 1 and "57%" in err[0] and "--max-reject-rate" in err[0]
    assert len(pd.read_csv(tmp_path / "fs" / "rejects" / "events.csv")) == 4  # nothing lost
    assert (tmp_path / "fs" / "summary.json").exists()
    rc, _ = _build(tmp_path, data, "--max-reject-rate", "0.6")
    assert rc == 0
