"""The BentoML 1.4 service ops call: thin endpoints over :class:`serving.engine.Engine`.

Run: ``bentoml serve serving.service:Linli --host 127.0.0.1 --port 3000`` (or ``linli serve``).
Request bodies are flat JSON objects typed by :mod:`serving.schemas`; the OpenAPI page is at
``/docs`` (spec ``/docs.json``, ``/`` redirects there; :mod:`serving.api_pages`), with an
example per endpoint (:mod:`serving.api_examples`). Readiness ``GET /readyz`` (503 until the
bundle is loaded), liveness ``GET /livez``; ``GET`` or ``POST /info`` tells the model versions
served. A body that does not fit its model is a 400 whose one-line ``error`` names the field
(:mod:`serving.validation`); unknown groups, items, categories and segments are 404 / 422
with ``{"error": "...", "field": "..."}``.

Writes (token from ``LINLI_ADMIN_TOKEN``, see :mod:`serving.guard`): ``/ingest/events``,
``/ingest/identity_links``, ``/ingest/manual_tags`` (answers per row, each accepted row is
committed first; a full queue is 503 + Retry-After), ``/admin/reload`` (swap in a new
bundle), ``/admin/experiment`` (A/B routing). Binds to ``serving.host`` (loopback).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

import bentoml
from starlette.responses import Response

from features.event_store import StoreError
from serving import api_pages, fastpath, ingest, log_privacy, member_api, validation
from serving import profile_schemas as ps
from serving import schemas as s
from serving.artifacts import BundleError
from serving.console import PATH as CONSOLE_PATH
from serving.console import console_app
from serving.engine import ApiError, Engine
from serving.guard import Guard
from serving.runtime import Busy, Runtime
from serving.settings import load_settings

log = logging.getLogger("linli.serving")
T = TypeVar("T")
log_privacy.install()  # 4xx: one INFO line, no body, no traceback


def _workers() -> int:
    """Worker processes: LINLI_SERVING__WORKERS, else `serving.workers` of the settings (1)."""
    try:
        return max(1, int(load_settings().serving.workers))
    except (ValueError, OSError):
        return 1


def _access_log() -> bool:
    """Access log on unless `serving.access_log` is off (LINLI_SERVING__ACCESS_LOG=0)."""
    try:
        return bool(load_settings().serving.access_log)
    except (ValueError, OSError):
        return True


def _host() -> str:
    """Bind address: `serving.host` of the settings (loopback unless configured)."""
    try:
        return str(load_settings().serving.host)
    except (ValueError, OSError):
        return "127.0.0.1"


def _max_concurrency() -> int:
    """Requests in flight per worker (`serving.max_concurrency`); BentoML answers 429 beyond."""
    try:
        return int(load_settings().serving.max_concurrency)
    except (ValueError, OSError):
        return 256


def _metrics() -> bool:
    """Prometheus /metrics on unless `serving.metrics` is off (LINLI_SERVING__METRICS=0)."""
    try:
        return bool(load_settings().serving.metrics)
    except (ValueError, OSError):
        return True


def _protect_ranking() -> bool:
    """Whether ranking and matching need a token (`serving.auth.protect_ranking`)."""
    try:
        return bool(load_settings().serving.auth.protect_ranking)
    except (ValueError, OSError):
        return False


def _tracing() -> dict[str, Any]:
    """Ranking calls are not traced unless `serving.trace_ranking` (LINLI_SERVING__TRACE_RANKING=1)."""
    try:
        if load_settings().serving.trace_ranking:
            return {}
    except (ValueError, OSError):
        pass
    return {"excluded_urls": list(fastpath.ROUTES)}


def _call(ctx: bentoml.Context, fn: Callable[[Any], T], req: Any) -> T | s.ErrorResponse:
    """Run one engine method; ApiError -> its status and body, anything else -> logged 500."""
    try:
        return fn(req)
    except ApiError as exc:
        ctx.response.status_code = exc.status
        return exc.body()


def _refuse(ctx: bentoml.Context, status: int, error: str, retry_after: int | None = None) -> Any:
    """An error answer (with Retry-After when the caller should come back)."""
    ctx.response.status_code = status
    if retry_after is not None:
        ctx.response.headers["Retry-After"] = str(retry_after)
    return s.ErrorResponse(error=error)


class JsonOnly:
    """ASGI middleware: a POST whose body is not JSON gets 415 (BentoML would answer 500 for some)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and scope.get("method") == "POST":
            ctype = b""
            for k, v in scope.get("headers", []):
                if k == b"content-type":
                    ctype = v
                    break
            media = ctype.split(b";")[0].strip().lower()
            if media not in (b"", b"application/json"):
                body = json.dumps(
                    {
                        "error": "content-type: send a JSON body (application/json)",
                        "field": "content-type",
                    }  # fmt: skip
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 415,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


@bentoml.service(
    name="linli",
    workers=_workers(),
    http={"host": _host()},
    traffic={"timeout": 30, "max_concurrency": _max_concurrency()},
    metrics={"enabled": _metrics()},
    tracing=_tracing(),
    logging={"access": {"enabled": _access_log(), "skip_paths": ["/readyz", "/livez", "/metrics"]}},
    envs=[{"name": "OPENBLAS_NUM_THREADS", "value": "1"}],
)
@bentoml.asgi_app(console_app(), path=CONSOLE_PATH, name="console")  # the ops console at /ui
class Linli:
    """Linli recommendations over HTTP: users, groups, items, bundles, audiences, live plans."""

    def __init__(self) -> None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)  # one BLAS thread per worker, whatever the environment said
        self.settings = load_settings()
        self.rt = Runtime(self.settings)
        if self.rt.engine.error:
            log.error("no bundle loaded: %s", self.rt.engine.error)
        fastpath.bind(self.rt)  # /rank/user and /rank/group: see serving.fastpath
        api_pages.bind(self.rt)  # the /docs examples use the served bundle's ids
        # the bundle and the libraries are long-lived: keep them out of the cyclic GC, whose
        # full passes over them stalled every request for 0.3-0.5 s now and then
        gc.freeze()

    def __is_ready__(self) -> bool:
        return self.rt.engine.ready and self.rt.healthy()  # bundle loaded and store answering

    @bentoml.on_shutdown
    def _close(self) -> None:
        """Write what is queued, then close the store (a graceful stop loses nothing)."""
        fastpath.bind(None)
        api_pages.bind(None)
        self.rt.close()

    @property
    def engine(self) -> Engine:
        """The engine in service, after applying the store's new live changes."""
        return self.rt.sync()

    async def _ingest(self, ctx: bentoml.Context, table: str, rows: list[Any], rid: Any) -> Any:
        """Queue a batch, wait for its commit, apply live changes, answer per row."""
        limit = self.settings.serving.ingest.max_batch
        if len(rows) > limit:
            return _refuse(ctx, 413, f"batch of {len(rows)} rows: at most {limit} per call")
        if self.rt.queue is None:
            return _refuse(ctx, 503, "event store unavailable", 30)
        try:
            answers = await asyncio.wrap_future(self.rt.queue.submit(table, rows))
        except Busy as exc:
            return _refuse(ctx, 503, str(exc), exc.retry_after)
        except StoreError:
            return _refuse(ctx, 503, "event store write failed; nothing was stored", 5)
        self.rt.sync()  # a new allergy or link holds before this answer leaves
        c = ingest.counts(answers)
        return s.IngestResponse(
            request_id=str(rid or os.urandom(8).hex()),
            table=table,
            accepted=c["accepted"],
            duplicates=c["duplicate"],
            rejected=c["rejected"],
            results=[
                s.RowResult(index=a.index, id=a.id, status=a.status, reason=a.reason)
                for a in answers
            ],
        )

    @bentoml.api(route="/ingest/events", input_spec=s.IngestEventsRequest)
    async def ingest_events(self, ctx: bentoml.Context, **kw: Any) -> s.IngestResponse:
        """Store a batch of events: per event accepted, duplicate or rejected with the reason."""
        return await self._ingest(ctx, "events", kw["events"], kw.get("request_id"))  # type: ignore[no-any-return]

    @bentoml.api(route="/ingest/identity_links", input_spec=s.IngestLinksRequest)
    async def ingest_links(self, ctx: bentoml.Context, **kw: Any) -> s.IngestResponse:
        """Store identity links; they join identifiers for hard constraints at once."""
        return await self._ingest(ctx, "identity_links", kw["links"], kw.get("request_id"))  # type: ignore[no-any-return]

    @bentoml.api(route="/ingest/manual_tags", input_spec=s.IngestTagsRequest)
    async def ingest_tags(self, ctx: bentoml.Context, **kw: Any) -> s.IngestResponse:
        """Store leader notes; a new allergy:/avoid: tag holds for every endpoint at once."""
        return await self._ingest(ctx, "manual_tags", kw["tags"], kw.get("request_id"))  # type: ignore[no-any-return]

    @bentoml.api(route="/admin/reload", input_spec=s.ReloadRequest)
    async def reload(self, ctx: bentoml.Context, **kw: Any) -> s.ReloadResponse:
        """Load a newly exported bundle and swap it in; requests in flight finish on the old one."""
        before = self.rt.engine.info()
        try:
            loaded = await asyncio.to_thread(self.rt.load, kw.get("bundle_dir"))
        except Exception as exc:  # a bad bundle leaves the old one serving
            log.warning("reload refused: %s", exc)
            msg = str(exc) if isinstance(exc, BundleError | OSError) else type(exc).__name__
            return _refuse(ctx, 422, f"bundle_dir: cannot load the bundle: {msg}")  # type: ignore[no-any-return]
        try:  # recorded before it is in force, so a restart or another worker never reverts it
            await asyncio.to_thread(self.rt.record_reload, kw.get("bundle_dir"))
        except StoreError:
            return _refuse(ctx, 503, "event store unavailable: the reload was not applied", 5)  # type: ignore[no-any-return]
        self.rt.swap(loaded)
        gc.freeze()  # the new bundle is long-lived too
        now = self.rt.engine.info()
        return s.ReloadResponse(
            request_id=str(kw.get("request_id") or os.urandom(8).hex()),
            status="reloaded",
            bundle=now.bundle,
            bundle_created_at=now.bundle_created_at,
            variants=now.variants,
            previous={
                "bundle": before.bundle,
                "bundle_created_at": before.bundle_created_at,
                "variants": before.variants,
            },
        )

    @bentoml.api(route="/admin/experiment", input_spec=s.ExperimentRequest)
    async def experiment(self, ctx: bentoml.Context, **kw: Any) -> s.ExperimentResponse:
        """Change the champion / challenger routing on every worker."""
        update = {k: v for k, v in kw.items() if k != "request_id" and v is not None}
        exp = self.rt.experiment_with(update)
        try:
            await asyncio.to_thread(self.rt.record_experiment, exp)
        except StoreError:
            return _refuse(ctx, 503, "event store unavailable: the change was not applied", 5)  # type: ignore[no-any-return]
        self.rt.set_experiment(exp)
        return s.ExperimentResponse(
            request_id=str(kw.get("request_id") or os.urandom(8).hex()), experiment=exp.model_dump()
        )

    @bentoml.api(route="/rank/user", input_spec=s.RankUserRequest)
    async def rank_user(self, ctx: bentoml.Context, **kw: Any) -> s.RankUserResponse:
        """Rank items for one person (any identifier); unknown people get popular items (fallback)."""
        return _call(ctx, self.engine.rank_user, s.RankUserRequest.model_construct(**kw))  # type: ignore[return-value]

    @bentoml.api(route="/rank/group", input_spec=s.RankGroupRequest)
    async def rank_group(self, ctx: bentoml.Context, **kw: Any) -> s.RankGroupResponse:
        """Rank items for a group (group_id or explicit users) with an aggregation strategy."""
        return _call(ctx, self.engine.rank_group, s.RankGroupRequest.model_construct(**kw))  # type: ignore[return-value]

    @bentoml.api(route="/items/similar", input_spec=s.SimilarRequest)
    async def similar_items(self, ctx: bentoml.Context, **kw: Any) -> s.SimilarResponse:
        """Items similar to an item."""
        return _call(ctx, self.engine.similar, s.SimilarRequest.model_construct(**kw))  # type: ignore[return-value]

    @bentoml.api(route="/bundles", input_spec=s.BundlesRequest)
    async def bundles(self, ctx: bentoml.Context, **kw: Any) -> s.BundlesResponse:
        """Bundles of complementary items for a segment, a theme or seed items."""
        return _call(ctx, self.engine.bundles, s.BundlesRequest.model_construct(**kw))  # type: ignore[return-value]

    @bentoml.api(route="/audience", input_spec=s.AudienceRequest)
    async def audience(self, ctx: bentoml.Context, **kw: Any) -> s.AudienceResponse:
        """The users to invite for a theme, with reasons."""
        kw["theme"] = s.ThemeSpec.model_validate(kw["theme"])
        return _call(ctx, self.engine.audience, s.AudienceRequest.model_construct(**kw))  # type: ignore[return-value]

    @bentoml.api(route="/segments", input_spec=s.SegmentsRequest)
    async def segments(self, ctx: bentoml.Context, **kw: Any) -> s.SegmentsResponse:
        """Every segment with its name and size."""
        return _call(ctx, self.engine.segments, s.SegmentsRequest.model_construct(**kw))  # type: ignore[return-value]

    @bentoml.api(route="/segments/profile", input_spec=s.SegmentProfileRequest)
    async def segment_profile(self, ctx: bentoml.Context, **kw: Any) -> s.SegmentProfileResponse:
        """One segment's profile: size, value tiers, AOV, top categories and items, groups."""
        return _call(
            ctx, self.engine.segment_profile, s.SegmentProfileRequest.model_construct(**kw)
        )  # type: ignore[return-value]

    @bentoml.api(route="/hosts", input_spec=s.GroupRequest)
    async def hosts(self, ctx: bentoml.Context, **kw: Any) -> s.HostsResponse:
        """Live-stream hosts ranked by fit with a group."""
        return _call(ctx, self.engine.hosts, s.GroupRequest.model_construct(**kw))  # type: ignore[return-value]

    @bentoml.api(route="/koc", input_spec=s.GroupRequest)
    async def koc(self, ctx: bentoml.Context, **kw: Any) -> s.KOCResponse:
        """Key opinion consumers of a group, with what makes them influential."""
        return _call(ctx, self.engine.kocs, s.GroupRequest.model_construct(**kw))  # type: ignore[return-value]

    @bentoml.api(route="/live/plan", input_spec=s.LivePlanRequest)
    async def live_plan(self, ctx: bentoml.Context, **kw: Any) -> s.LivePlanResponse:
        """A live-stream plan for a group: theme, items, bundle, host, audience, KOCs."""
        if kw.get("theme") is not None:
            kw["theme"] = s.ThemeSpec.model_validate(kw["theme"])
        return _call(ctx, self.engine.live_plan, s.LivePlanRequest.model_construct(**kw))  # type: ignore[return-value]

    @bentoml.api(route="/users/profile", input_spec=ps.UserProfileRequest)
    async def user_profile(self, ctx: bentoml.Context, **kw: Any) -> ps.UserProfileResponse:
        """One member by any identifier: unified id, identifiers, tier, RFM, tags, segment, constraints."""
        req = ps.UserProfileRequest.model_construct(**kw)
        return _call(ctx, lambda r: member_api.profile(member_api.Source.of(self.engine), r), req)  # type: ignore[return-value]

    @bentoml.api(route="/users/query", input_spec=ps.UsersQueryRequest)
    async def users_query(self, ctx: bentoml.Context, **kw: Any) -> ps.UsersQueryResponse:
        """Users by a tag expression (AND / OR / NOT) and segments: count + a page, or CSV."""
        req = ps.UsersQueryRequest.model_construct(**kw)
        src = member_api.Source.of(self.engine)
        if req.format == "csv":
            try:
                text = await asyncio.to_thread(member_api.query_csv, src, req)
            except ApiError as exc:
                ctx.response.status_code = exc.status
                return exc.body()  # type: ignore[return-value]
            return Response(  # type: ignore[return-value]
                text.encode("utf-8-sig"),  # with a BOM: Excel opens the Chinese names right
                media_type="text/csv; charset=utf-8",
                headers={"content-disposition": 'attachment; filename="audience.csv"'},
            )
        return _call(ctx, lambda r: member_api.query(src, r), req)  # type: ignore[return-value]

    @bentoml.api(route="/groups/profile", input_spec=ps.GroupProfileRequest)
    async def group_profile(self, ctx: bentoml.Context, **kw: Any) -> ps.GroupProfileResponse:
        """One group: name, leader, members by tier and segment, commonest tags and items."""
        req = ps.GroupProfileRequest.model_construct(**kw)
        return _call(
            ctx, lambda r: member_api.group_profile(member_api.Source.of(self.engine), r), req
        )  # type: ignore[return-value]

    @bentoml.api(route="/info", input_spec=s.InfoRequest)
    async def info(self, **kw: Any) -> s.InfoResponse:
        """Health, readiness and model info (registered name, version, alias, trained-at, digest)."""
        out = self.engine.info()
        out.ingest = self.rt.status()
        out.bundle_digest, out.experiment_hash = self.rt.digests()
        return out


Linli.add_asgi_middleware(Guard)  # type: ignore[attr-defined]  # outer: tokens and size first
Linli.add_asgi_middleware(  # type: ignore[attr-defined]
    api_pages.ApiPages,
    base_spec=lambda: Linli.openapi_spec.asdict(),  # type: ignore[attr-defined]
    models=validation.api_models(Linli.apis),  # type: ignore[attr-defined]
    protect_ranking=_protect_ranking(),
)
Linli.add_asgi_middleware(JsonOnly)  # type: ignore[attr-defined]
Linli.add_asgi_middleware(fastpath.FastRank)  # type: ignore[attr-defined]  # ranking
Linli.add_asgi_middleware(  # type: ignore[attr-defined]  # inner: the other bodies, checked
    validation.CheckBody,
    models=validation.request_models(Linli.apis),  # type: ignore[attr-defined]
)
