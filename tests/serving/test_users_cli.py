"""`linli users query / profile` on a bundle: the same answers as the endpoints, one-line errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from serving_world import shared_bundle

from linli_cli import app


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_bundle(tmp_path_factory.getbasetemp())


def test_query_prints_count_and_page(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expr = "prefers:fruit AND NOT allergy:mango"
    assert app(["users", "query", expr, "--bundle", str(bundle), "--limit", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    count = int(out[0].split()[0])
    assert count > 3 and out[0].endswith(expr) and len(out) == 1 + 3 + 1


def test_query_csv_has_every_match(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "seg.csv"
    assert (
        app(["users", "query", "--segment", "1", "--bundle", str(bundle), "--csv", str(out)]) == 0
    )
    head = capsys.readouterr().out.splitlines()[0]
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert len(rows) == int(head.split()[0]) > 0
    assert {r["segment"] for r in rows} == {"young parents"} and rows[0]["orders"].isdigit()


def test_profile_by_bare_phone(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert app(["users", "profile", "139 0000 0003", "--bundle", str(bundle)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("wecom:w3") and "phone:13900000003" in out and "(rule)" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["users", "query", "tier:gold AND ("], "expression:"),
        (["users", "profile", "wecom:nobody"], "no member with identifier"),
        (["users", "query", "--segment", "99"], "unknown segments"),
    ],
)
def test_user_mistakes_are_one_line_exit_2(
    bundle: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    assert app([*argv, "--bundle", str(bundle)]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err and err.startswith("linli users: error:")


def test_missing_bundle_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert app(["users", "query", "tier:gold", "--bundle", str(tmp_path / "none")]) == 2
    assert "no artifact bundle" in capsys.readouterr().err
