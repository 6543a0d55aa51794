"""The bento: `bentofile.yaml` carries every module `serving` imports, and the built bento serves.

The serving test builds the bento into a temporary ``BENTOML_HOME`` and runs ``bentoml serve
<tag>`` from the bento's own ``src/`` with an interpreter that cannot see this checkout: a
fresh venv whose only link to the installed libraries is a ``.pth`` line naming their
site-packages folder (so the project's editable-install hook there is never run). A bento
built without ``features/event_store.py`` must then fail to start, which shows the check
cannot fall back on the working tree.
"""

from __future__ import annotations

import ast
import fnmatch
import site
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml
from serving_world import shared_bundle

from serving import artifacts as art
from serving.cli import free_port, server_env, start_server, stop_server

ROOT = Path(__file__).resolve().parents[2]
OURS = ("features", "serving", "training", "experiments")
# import name -> the distribution that provides it, where the two differ
DISTRIBUTION = {"yaml": "pyyaml", "pydantic_settings": "pydantic-settings"}


def serving_closure() -> tuple[set[str], set[str]]:
    """Files of ours that `serving/*.py` import (transitively), and the third-party imports."""
    files: set[str] = set()
    third: set[str] = set()
    todo = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "serving").glob("*.py"))
    while todo:
        rel = todo.pop()
        if rel in files:
            continue
        files.add(rel)
        for node in ast.walk(ast.parse((ROOT / rel).read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                top = name.split(".")[0]
                if top not in OURS:
                    if top not in sys.stdlib_module_names:
                        third.add(top)
                    continue
                parts = name.split(".")
                for i in range(1, len(parts) + 1):
                    for cand in ("/".join(parts[:i]) + ".py", "/".join(parts[:i]) + "/__init__.py"):
                        if (ROOT / cand).exists():
                            todo.append(cand)
    return files, third


def bentofile() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "bentofile.yaml").read_text())  # type: ignore[no-any-return]


def test_bentofile_includes_what_serving_imports_and_nothing_of_training() -> None:
    cfg = bentofile()
    include = cfg["include"]
    files, third = serving_closure()
    assert not [f for f in files if f.startswith(("training/", "experiments/"))]
    missing = [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in include)]
    assert not missing, f"bentofile.yaml does not include {missing}"
    assert not [p for p in include if p.startswith(("training", "experiments"))]
    assert "features/tag_rules.yaml" in include  # the constraint prefixes and synonyms
    static = [str(p.relative_to(ROOT)) for p in (ROOT / "serving" / "console").iterdir()]
    assert static and all(any(fnmatch.fnmatch(f, pat) for pat in include) for f in static)
    packages = {
        p.split("[")[0].split(">")[0].split("=")[0].strip().lower()
        for p in cfg["python"]["packages"]
    }
    wanted = {DISTRIBUTION.get(m, m).lower() for m in third} - {"bentoml"}  # bentoml: pinned
    assert wanted <= packages, f"bentofile.yaml lacks packages {sorted(wanted - packages)}"
    assert {"pyarrow", "uvloop", "httptools"} <= packages  # parquet reads, the fast HTTP loop


def _build(home: Path, bentofile_path: Path) -> str:
    env = {**server_env(), "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}
    done = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", str(ROOT), "-f", str(bentofile_path), "-o", "tag"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    tag = done.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    assert ":" in tag, done.stdout
    return tag


def _isolated_python(where: Path) -> Path:
    """A venv that sees the installed libraries but not this checkout (no editable hook)."""
    venv.EnvBuilder(with_pip=False).create(where)
    libs = [p for p in site.getsitepackages() if Path(p).is_dir()]
    pth = next(where.glob("lib/python3*/site-packages")) / "linli_libs.pth"
    pth.write_text("\n".join(libs) + "\n")
    return where / "bin" / "python"


def _serve_env(home: Path, bundle: Path, work: Path) -> dict[str, str]:
    env = server_env(bundle, work, workers=1, access_log=False)
    env.pop("PYTHONPATH", None)
    env.update({"BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"})
    return env


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_built_bento_serves_from_its_own_src(tmp_path: Path) -> None:
    home, work = tmp_path / "bentoml", tmp_path / "work"
    work.mkdir()
    bundle = shared_bundle(tmp_path)
    py = _isolated_python(tmp_path / "venv")
    probe = subprocess.run(
        [str(py), "-c", "import serving"], cwd=tmp_path, capture_output=True, text=True
    )
    assert probe.returncode != 0 and "No module named 'serving'" in probe.stderr

    tag = _build(home, ROOT / "bentofile.yaml")
    src = home / "bentos" / tag.replace(":", "/") / "src"
    assert (src / "features" / "event_store.py").exists()
    assert not (src / "training").exists()
    port = free_port()
    env = _serve_env(home, bundle, work)
    cmd = [str(py), "-m", "bentoml", "serve", tag, "--host", "127.0.0.1", "--port", str(port)]
    proc = start_server(port, env, work / "server.log", timeout=150, cmd=cmd, cwd=src)
    try:
        b = art.load_bundle(bundle)
        ct = pd.read_parquet(bundle / art.CONSTRAINT_TAGS)
        u = int(ct[art.USER].iloc[0])
        user = str(b.users[u])
        forbidden = {str(b.items["item_id"].iloc[int(i)]) for i in ct[ct[art.USER] == u][art.ITEM]}
        url = f"http://127.0.0.1:{port}"
        r = httpx.post(f"{url}/rank/user", json={"user": user, "k": b.n_items}, timeout=30)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["known_user"] is True and out["user_id"] == user
        got = [i["item_id"] for i in out["items"]]
        assert got and not set(got) & forbidden  # the hard constraint holds in the bento too
        page = httpx.get(f"{url}/ui/", timeout=30)  # the console's static files ship too
        assert page.status_code == 200 and "console.js" in page.text
        assert httpx.get(f"{url}/ui/console.js", timeout=30).status_code == 200
        info = httpx.post(f"{url}/info", json={}, timeout=30).json()
        assert info["ready"] is True and Path(info["bundle"]) == bundle.resolve()
    finally:
        stop_server(proc)
    assert "Traceback" not in (work / "server.log").read_text(errors="replace")

    # the same check on a bento missing one module must fail: nothing falls back on ROOT
    cfg = bentofile()
    cfg["include"] = [p for p in cfg["include"] if p != "features/event_store.py"]
    broken = tmp_path / "broken-bentofile.yaml"
    broken.write_text(yaml.safe_dump(cfg))
    tag2 = _build(home, broken)
    src2 = home / "bentos" / tag2.replace(":", "/") / "src"
    port2 = free_port()
    cmd2 = [str(py), "-m", "bentoml", "serve", tag2, "--host", "127.0.0.1", "--port", str(port2)]
    with pytest.raises((RuntimeError, TimeoutError)):
        p2 = start_server(port2, env, work / "broken.log", timeout=90, cmd=cmd2, cwd=src2)
        stop_server(p2)
    assert "No module named 'features.event_store'" in (work / "broken.log").read_text()
