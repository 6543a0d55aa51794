"""Check a running server's API page: every documented example is sent and must answer 200.

    python -m serving.api_check --url http://127.0.0.1:3000 [--token ADMIN_TOKEN]

Reads ``/docs.json``, sends each POST endpoint's example (the endpoints that need a token
only with ``--token``: they write events, links and notes, reload the bundle and change the
A/B routing) and each GET endpoint, and prints one line per call. Exit 0 when every call
answered 200, 1 otherwise, 2 when the page cannot be read.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import httpx


def calls(spec: dict[str, Any], with_token: bool) -> list[tuple[str, str, Any]]:
    """(method, route, example body) of every documented call to make."""
    out: list[tuple[str, str, Any]] = []
    for route, item in spec.get("paths", {}).items():
        for method, op in item.items():
            if method == "get":
                out.append(("GET", route, None))
            elif method == "post" and (with_token or not op.get("security")):
                media = op.get("requestBody", {}).get("content", {}).get("application/json", {})
                out.append(("POST", route, media.get("example")))
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: send every example, one line each; exit 0 when all answered 200."""
    p = argparse.ArgumentParser(prog="python -m serving.api_check", description=__doc__)
    p.add_argument("--url", default="http://127.0.0.1:3000", help="server (default: %(default)s)")
    p.add_argument(
        "--token", default=None, help="admin token: also send the write endpoints' examples"
    )
    args = p.parse_args(argv)
    headers = {"authorization": f"Bearer {args.token}"} if args.token else {}
    with httpx.Client(base_url=args.url, timeout=60, headers=headers) as client:
        try:
            spec = client.get("/docs.json").raise_for_status().json()
        except (httpx.HTTPError, ValueError) as exc:
            print(f"api_check: error: cannot read {args.url}/docs.json: {exc}", file=sys.stderr)
            return 2
        todo, failed = calls(spec, bool(args.token)), 0
        for method, route, body in todo:
            if method == "POST" and body is None:
                print(f"NO EXAMPLE  POST {route}")
                failed += 1
                continue
            t0 = time.perf_counter()
            r = client.request(method, route, json=body)
            ms = (time.perf_counter() - t0) * 1000
            failed += r.status_code != 200
            note = "" if r.status_code == 200 else f"  {r.text[:160]}"
            print(f"{r.status_code}  {ms:7.1f} ms  {method:4} {route}{note}")
    print(f"{len(todo) - failed} of {len(todo)} documented calls answered 200")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
