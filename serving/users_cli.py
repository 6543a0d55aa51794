"""`linli users`: member profiles and tag queries from the command line.

linli users query "interest:fitness AND NOT allergy:mango"            # count + first page
linli users query "tier:gold OR tier:diamond" --segment 2 --csv gold.csv   # every match as CSV
linli users profile "138 0013 8000"                                   # one member, any identifier
linli users query "likes:durian" --server http://127.0.0.1:3000       # ask the running service

Without ``--server`` it reads the bundle folder (``--bundle``, default WORK/bundle) with the
same code as ``POST /users/query`` and ``/users/profile``; with ``--server`` it calls those
endpoints, so leader notes ingested since the bundle was built count too.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

from features.cli_parser import LinliParser
from features.errors import LinliInputError

PAGE = 20


def _parser() -> argparse.ArgumentParser:
    p = LinliParser(prog="linli users", description=__doc__)
    sub = p.add_subparsers(dest="action", required=True, metavar="{query,profile}")
    where = LinliParser(add_help=False)
    where.add_argument(
        "--bundle",
        type=Path,
        default=None,
        help="bundle folder to read (default: LINLI_SERVING__BUNDLE_DIR, else WORK/bundle)",
    )
    where.add_argument(
        "--server",
        default=None,
        help="ask a running service at this URL instead of reading a bundle (default: none)",
    )
    where.add_argument(
        "--token-env",
        default="LINLI_READ_TOKEN",
        help="env var holding the service's read token, sent with --server (default: %(default)s)",
    )
    q = sub.add_parser("query", parents=[where], help="users matching a tag expression")
    q.add_argument("expression", nargs="?", default=None, help="AND / OR / NOT, ( ), prefix:*")
    q.add_argument(
        "--segment",
        action="append",
        default=None,
        help="only users in this segment (repeat for any of several; default: all)",
    )
    q.add_argument("--limit", type=int, default=PAGE, help="rows to print (default: %(default)s)")
    q.add_argument("--offset", type=int, default=0, help="first row to print (default: 0)")
    q.add_argument("--csv", type=Path, default=None, help="write every match to this CSV file")
    q.add_argument("--json", action="store_true", help="print the JSON answer")
    pr = sub.add_parser("profile", parents=[where], help="one member's profile")
    pr.add_argument("user", help="any identifier: a phone in any format, wecom:..., the user_id")
    pr.add_argument("--json", action="store_true", help="print the JSON answer")
    return p


def _post(args: argparse.Namespace, path: str, body: dict[str, Any]) -> Any:
    import httpx

    headers = {}
    token = os.environ.get(args.token_env)
    if token:
        headers["authorization"] = f"Bearer {token}"
    try:
        r = httpx.post(args.server.rstrip("/") + path, json=body, headers=headers, timeout=60)
    except httpx.HTTPError as exc:
        raise LinliInputError(f"cannot reach {args.server}: {exc}") from None
    if r.status_code >= 400:
        try:
            msg = r.json().get("error") or r.text
        except ValueError:
            msg = r.text
        raise LinliInputError(f"{path}: HTTP {r.status_code}: {msg}")
    return r if body.get("format") == "csv" else r.json()


def _local(args: argparse.Namespace, call: str, body: dict[str, Any]) -> Any:
    from pydantic import ValidationError

    from serving import member_api
    from serving import profile_schemas as ps
    from serving.artifacts import BundleError, load_bundle
    from serving.engine import ApiError
    from serving.settings import load_settings

    settings = load_settings()
    folder = args.bundle or settings.serving.bundle_dir or settings.work_dir / "bundle"
    try:
        src = member_api.Source(load_bundle(folder))
    except (BundleError, OSError) as exc:
        raise LinliInputError(str(exc), hint="or give --bundle DIR") from None
    model = ps.UserProfileRequest if call == "profile" else ps.UsersQueryRequest
    try:
        req = model.model_validate(body)
        fn = {
            "profile": member_api.profile,
            "query": member_api.query,
            "csv": member_api.query_csv,
        }[call]
        return fn(src, req)  # type: ignore[operator]
    except ApiError as exc:
        raise LinliInputError(exc.message) from None
    except ValidationError as exc:
        e = exc.errors()[0]
        field = ".".join(str(x) for x in e["loc"])
        raise LinliInputError(f"{field}: {e['msg']}") from None


def _print_profile(p: dict[str, Any]) -> None:
    print(f"{p['user_id']}  tier {p.get('value_tier') or '-'}")
    if p["identifiers"]:
        print("  identifiers: " + ", ".join(p["identifiers"]))
    rfm = p["rfm"]
    print(
        "  orders {}  spend {}  last order {} days ago".format(
            rfm.get("frequency", "-"), rfm.get("monetary", "-"), rfm.get("recency_days", "-")
        )
    )
    if p.get("segment"):
        print(f"  segment: {p['segment']['id']} {p['segment']['name']}")
    print("  groups: " + (", ".join(g["id"] for g in p["groups"]) or "-"))
    print("  tags: " + ", ".join(f"{t['tag']} ({t['source']})" for t in p["tags"]))
    c = p["constraints"]
    if c["tags"]:
        print(f"  constraints: {', '.join(c['tags'])} ({c['forbidden_items']} items never offered)")


def _print_query(r: dict[str, Any]) -> None:
    print(f"{r['count']} users match {r['expression']}")
    if r["unknown_terms"]:
        print("  no one has: " + ", ".join(r["unknown_terms"]))
    for u in r["users"]:
        print(
            f"  {u['user_id']}\t{u.get('value_tier') or '-'}\t"
            f"{u.get('frequency') or 0} orders\t{u.get('monetary') or 0} yuan\t{u.get('segment') or ''}"
        )
    shown = r["offset"] + len(r["users"])
    if shown < r["count"]:
        print(f"  ... {r['count'] - shown} more (--offset {shown}, or --csv FILE for all)")


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    args = _parser().parse_args(argv)
    remote = args.server is not None
    if args.action == "profile":
        body: dict[str, Any] = {"user": args.user}
        out = _post(args, "/users/profile", body) if remote else _local(args, "profile", body)
        data = out if remote else out.model_dump(mode="json")
        if args.json:
            print(json.dumps(data, ensure_ascii=False, indent=1))
        else:
            _print_profile(data)
        return 0
    body = {"expression": args.expression, "segments": args.segment}
    body = {k: v for k, v in body.items() if v is not None}
    if args.csv is not None:
        csv_body = {**body, "format": "csv"}
        text = _post(args, "/users/query", csv_body).text if remote else _local(args, "csv", csv_body)  # fmt: skip
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        args.csv.write_text(text.lstrip("\ufeff"), encoding="utf-8-sig")
        rows = sum(1 for _ in csv.reader(io.StringIO(text))) - 1
        print(f"{rows} users written to {args.csv}", file=sys.stderr)
    body.update(limit=max(1, min(args.limit, 1000)), offset=max(0, args.offset))
    out = _post(args, "/users/query", body) if remote else _local(args, "query", body)
    data = out if remote else out.model_dump(mode="json")
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=1))
    else:
        _print_query(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
