"""`wrk` as the benchmarks' load generator: keep-alive connections POSTing JSON bodies.

wrk (C, event loop) costs a fraction of what a Python client would, so it is not the
bottleneck on a 2-core machine. Debian: ``apt-get install wrk``. Each run rotates through
a file of request bodies (one JSON document per line) and reports the request count,
non-2xx answers, socket errors and the p50 / p90 / p99 / max latency (from a Lua ``done``
hook, printed as one JSON line).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

SCRIPT = """
local bodies = {}
for line in io.lines(os.getenv("WRK_BODIES")) do bodies[#bodies + 1] = line end
local path = os.getenv("WRK_PATH")
local headers = {["Content-Type"] = "application/json"}
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", path, headers, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nWRKJSON {"requests":%d,"duration_us":%d,"non2xx":%d,"socket_errors":%d,'
    .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


class WrkMissing(RuntimeError):
    """wrk is not installed."""


def wrk_binary() -> str:
    """The wrk executable; raises :class:`WrkMissing` with the install command."""
    found = shutil.which("wrk")
    if found is None:
        raise WrkMissing("wrk is not installed: apt-get install wrk (Debian / Ubuntu)")
    return found


def run(
    url: str, bodies_file: Path, seconds: float, connections: int, workdir: Path
) -> dict[str, Any]:
    """One wrk run (one thread, `connections` keep-alive connections) -> figures."""
    script = workdir / "post.lua"
    if not script.exists():
        script.write_text(SCRIPT)
    base, _, path = url.partition("://")[2].partition("/")
    env = {"WRK_BODIES": str(bodies_file), "WRK_PATH": "/" + path, "PATH": "/usr/bin:/bin"}
    cmd = [wrk_binary(), "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
    done = subprocess.run(
        [*cmd, "--timeout", "10s", "-s", str(script), f"http://{base}"],
        env=env, capture_output=True, text=True, timeout=seconds + 60,
    )  # fmt: skip
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-500:]}")
    raw = json.loads(line.removeprefix("WRKJSON "))
    secs = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "errors": raw["non2xx"] + raw["socket_errors"],
        "seconds": round(secs, 3),
        "throughput_rps": round(raw["requests"] / secs, 1) if secs > 0 else 0.0,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
    }
