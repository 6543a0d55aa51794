"""The load benchmark's baseline: a bare FastAPI app calling the same :class:`serving.engine.Engine`.

    python -m uvicorn experiments.benchmarks.bare_app:create_app --factory --loop uvloop --http httptools \\
        --no-access-log --host 127.0.0.1 --port 3001

No middleware, no metrics, no tokens, no live changes: the body is parsed into the same
request model, the engine ranks (and logs the exposure, as it does in the service) and
the response model is serialised. Settings come from the environment like the service's
(``LINLI_SERVING__BUNDLE_DIR``, ``LINLI_WORK_DIR``). What the service costs on top of
this is what :mod:`experiments.benchmarks.load_bench` measures.
"""

from __future__ import annotations

import gc

from fastapi import FastAPI, Request, Response

from serving import schemas as s
from serving.engine import ApiError, Engine
from serving.settings import load_settings

JSON = "application/json"


def create_app() -> FastAPI:
    """The app: POST /rank/user and /rank/group over one Engine on the configured bundle."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # as the service does
    engine = Engine(load_settings())
    if engine.error:
        raise SystemExit(f"no bundle: {engine.error}")
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    gc.freeze()  # as the service does: the bundle stays out of the cyclic GC

    @app.post("/rank/user")
    async def rank_user(request: Request) -> Response:
        req = s.RankUserRequest.model_validate_json(await request.body())
        try:
            out = engine.rank_user(req).model_dump_json()
        except ApiError as exc:
            return Response(exc.body().model_dump_json(), exc.status, media_type=JSON)
        return Response(out, media_type=JSON)

    @app.post("/rank/group")
    async def rank_group(request: Request) -> Response:
        req = s.RankGroupRequest.model_validate_json(await request.body())
        try:
            out = engine.rank_group(req).model_dump_json()
        except ApiError as exc:
            return Response(exc.body().model_dump_json(), exc.status, media_type=JSON)
        return Response(out, media_type=JSON)

    @app.get("/readyz")
    async def readyz() -> Response:
        return Response("ok")

    return app
