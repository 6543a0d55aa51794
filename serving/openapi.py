"""The OpenAPI document of the service: BentoML's, made into a page people can use.

:func:`build` takes the document BentoML generates (``Service.openapi_spec``) and gives it
the service's title, description and package version; request and response schemas as
pydantic writes them (OpenAPI 3.1: nullable fields, ids that may be numbers, every field's
description; BentoML's 3.0 conversion drops these and names them ``...IODescriptor``); an
example request per endpoint (:mod:`serving.api_examples`, with the served bundle's ids);
every error status an endpoint can answer with its body (``ErrorResponse`` /
``ValidationErrorResponse``); the bearer-token scheme on the endpoints that need it;
``GET /info``. A pure function of its inputs; :mod:`serving.api_pages` serves it.

A new endpoint gets the general statuses (400, 401, 408, 413, 415, 429, 503); one that can
also answer 404 or 422 says so in :data:`ROUTE_ERRORS`, e.g.
``ROUTE_ERRORS["/users/profile"] = {404: "An identifier no person has: ..."}``.
"""

from __future__ import annotations

import copy
import tomllib
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from serving import schemas as s
from serving.api_examples import EXAMPLES, ExampleIds

Models = dict[str, tuple[type[BaseModel] | None, type[BaseModel] | None]]  # route -> in, out

TITLE = "Linli"
REF = "#/components/schemas/{model}"
WRITE_PREFIXES = ("/ingest/", "/admin/")

DESCRIPTION = """\
**Linli 邻里** ranks items for the members and groups of a community group-buying brand and \
plans its live-streams: per-person and per-group rankings that never break a member's \
allergies, similar items, bundles, theme audiences, segments, hosts, KOCs and whole live \
plans, from the models registered as champion / challenger (A/B routed by a stable hash).

**Try it out**: every endpoint below carries an example that answers 200 on this server. \
The examples use the ids of `make demo`'s world (`linli synth --people 10000 --months 6 \
--seed 42`: group `G00001`, item `SKU000001`, segment 0, a member reached by her phone); \
on another bundle they use ids that bundle holds. Every request is a flat JSON object \
(`content-type: application/json`); unknown fields are refused.

**Identifiers** of a person: `type:value` (`wecom:…`, `openid:…`, `phone:…`, \
`member_card:…`; the unified `user_id` has this form) or a bare 11-digit mainland phone \
(`13812345678`, `+86 138-1234-5678`). Ids that look like numbers may be sent as numbers \
(`"segment_id": 4`).

**Auth**: `/ingest/*` and `/admin/*` need `Authorization: Bearer <token>` with the admin token \
(environment variable `LINLI_ADMIN_TOKEN`; press *Authorize*). The other endpoints are open \
unless `serving.auth.protect_ranking` is on (then the read token `LINLI_READ_TOKEN` or the \
admin token). `/info`, `/docs`, `/readyz`, `/livez`, `/metrics` stay open.

**Errors** are JSON `{"error": "<field>: <what is wrong>", "field": "<field>"}` in one line; \
a body that does not fit is a 400 that also lists every problem in `detail`. Never a 500 for \
bad input. Health: `GET /readyz` (503 until the bundle is loaded), `GET /livez`, \
`GET /metrics` (Prometheus), `GET /info` (models served).
"""

_E400 = (
    "The body is not a JSON object, or a field is missing, of the wrong type, out of range "
    "or unknown: `error` names the first field in one line, `detail` lists every problem."
)
_E401_WRITE = "No or wrong `Authorization: Bearer <admin token>` (LINLI_ADMIN_TOKEN)."
_E401_READ = (
    "Only when `serving.auth.protect_ranking` is on: no or wrong `Authorization: Bearer "
    "<token>` (the read token LINLI_READ_TOKEN or the admin token)."
)
GENERAL_ERRORS: dict[int, str] = {
    408: "The body did not arrive within `serving.body_timeout_s` (10 s).",
    413: "The body is larger than `serving.max_body_bytes` "
    "(ingestion: `serving.ingest.max_body_bytes`).",
    415: "The content-type is not application/json.",
    429: "More requests in flight than `serving.max_concurrency`: retry shortly.",
    503: "No bundle is loaded yet (see `/readyz`).",
}
_GROUP_404 = "An unknown `group_id`: `field` names it."
_GROUP_422 = "The group has no current members."
ROUTE_ERRORS: dict[str, dict[int, str]] = {
    "/rank/user": {404: "An unknown category, or an unknown `group_id` given as context."},
    "/rank/group": {404: "An unknown `group_id` or category.", 422: _GROUP_422},
    "/items/similar": {404: "An unknown `item_id` or category."},
    "/bundles": {404: "An unknown seed item (`items`)."},
    "/audience": {404: "An unknown item or category in the theme (`theme.items`, ...)."},
    "/segments/profile": {404: "An unknown `segment_id`."},
    "/hosts": {404: _GROUP_404, 422: _GROUP_422},
    "/koc": {404: _GROUP_404, 422: _GROUP_422},
    "/live/plan": {404: "An unknown `group_id`, or an unknown item in the theme.", 422: _GROUP_422},
    "/users/profile": {404: "No member has that identifier."},
    "/users/query": {
        404: "An unknown segment in `segments`.",
        422: "The bundle has no segments table (run `linli segments`).",
    },
    "/groups/profile": {404: _GROUP_404},
    "/admin/reload": {
        422: "The bundle cannot be loaded (the old one keeps serving).",
        503: "The event store is unavailable: the reload was not applied.",
    },
    "/admin/experiment": {503: "The event store is unavailable: the change was not applied."},
}
_INGEST = {
    413: "More rows than `serving.ingest.max_batch` (1000) in one call, or a body over "
    "`serving.ingest.max_body_bytes`.",
    503: "The write queue is full or the event store is unavailable: nothing of the batch was "
    "stored; `Retry-After` says when to come back.",
}
for _route in ("/ingest/events", "/ingest/identity_links", "/ingest/manual_tags"):
    ROUTE_ERRORS[_route] = _INGEST
ERROR_EXAMPLES: dict[int, dict[str, Any]] = {
    400: {
        "error": "k: Input should be less than or equal to 200",
        "field": "k",
        "detail": [
            {
                "type": "less_than_equal",
                "loc": ["k"],
                "msg": "Input should be less than or equal to 200",
            }  # fmt: skip
        ],
    },
    401: {"error": "unauthorized"},
    404: {"error": "group_id: unknown group 'G99999'", "field": "group_id"},
    408: {"error": "request body not received within 10 s"},
    413: {"error": "request body too large: at most 2097152 bytes", "field": "body"},
    415: {"error": "content-type: send a JSON body (application/json)", "field": "content-type"},
    422: {"error": "group_id: group 'G00042' has no current members", "field": "group_id"},
    429: {"error": "Too many requests"},
    503: {"error": "no artifact bundle loaded: ..."},
}
TAGS = [
    ("Ranking", "Items for a person, a group, or like an item.", ("/rank/", "/items/")),
    ("Matching", "Bundles, audiences, segments, hosts, KOCs and live plans.", ()),
    ("Ingestion", "Events, identity links and leader notes, live (admin token).", ("/ingest/",)),
    ("Admin", "Reload the bundle, change the A/B routing (admin token).", ("/admin/",)),
    ("Health", "Readiness, liveness, metrics and the models served.", ()),
]
_HEALTH = frozenset({"/info", "/healthz", "/livez", "/readyz", "/metrics"})


def service_version() -> str:
    """The package version: installed metadata, else pyproject.toml beside the code (a bento)."""
    try:
        return package_version("linli")
    except PackageNotFoundError:
        pass
    try:
        with (Path(__file__).resolve().parents[1] / "pyproject.toml").open("rb") as f:
            return str(tomllib.load(f)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def _tag(route: str) -> str:
    if route in _HEALTH:
        return "Health"
    for name, _, prefixes in TAGS:
        if any(route.startswith(p) for p in prefixes):
            return name
    return "Matching"


def _error(status: int, text: str) -> dict[str, Any]:
    model = "ValidationErrorResponse" if status == 400 else "ErrorResponse"
    media = {"schema": {"$ref": REF.format(model=model)}, "example": ERROR_EXAMPLES.get(status)}
    return {"description": text, "content": {"application/json": media}}


def errors_for(route: str, protect_ranking: bool = False) -> dict[str, dict[str, Any]]:
    """Status -> documented answer for every error `route` can give."""
    write = route.startswith(WRITE_PREFIXES)
    out = {"400": _error(400, _E400)}
    if write:
        out["401"] = _error(401, _E401_WRITE)
    elif route != "/info":
        out["401"] = _error(401, _E401_READ + (" It is on." if protect_ranking else ""))
    statuses = {**GENERAL_ERRORS, **ROUTE_ERRORS.get(route, {})}
    for status in sorted(statuses):
        out[str(status)] = _error(status, statuses[status])
    return dict(sorted(out.items()))


def _schemas(models: Models) -> tuple[dict[Any, str], dict[str, Any]]:
    """(model, mode) -> its $ref, and the component schemas of every model (pydantic's)."""
    mode: JsonSchemaMode = "validation"  # one schema per model, the fields as declared
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (s.ErrorResponse, mode),
        (s.ValidationErrorResponse, mode),
    ]
    for req, resp in models.values():
        wanted += [(m, mode) for m in (req, resp) if m is not None]
    wanted = list(dict.fromkeys(wanted))
    refs, top = models_json_schema(wanted, ref_template=REF)
    return {k: str(v["$ref"]) for k, v in refs.items()}, dict(top.get("$defs", {}))


def _operation(route: str, op: dict[str, Any], ids: ExampleIds, protect: bool) -> dict[str, Any]:
    doc = str(op.get("description") or "").strip()
    op["summary"] = doc.split("\n", 1)[0].rstrip(".")
    op["tags"] = [_tag(route)]
    op.pop("x-bentoml-name", None)
    ok = {str(k): v for k, v in op.get("responses", {}).items()}.get("200")
    op["responses"] = {"200": ok or {"description": "Successful Response"}}
    op["responses"].update(errors_for(route, protect))  # BentoML's generic 400/404/500 go
    example = EXAMPLES.get(route)
    media = op.get("requestBody", {}).get("content", {}).get("application/json")
    if example is not None and media is not None:
        media["example"] = example(ids)
    if route.startswith(WRITE_PREFIXES) or (protect and route != "/info"):
        op["security"] = [{"bearer": []}]
    return op


def _use_models(op: dict[str, Any], route: str, models: Models, refs: dict[Any, str]) -> None:
    """Point the operation's request body and 200 answer at pydantic's schemas."""
    req, resp = models.get(route, (None, None))
    media = op.get("requestBody", {}).get("content", {}).get("application/json")
    if req is not None and media is not None:
        media["schema"] = {"$ref": refs[(req, "validation")]}
    ok = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json")
    if resp is not None and ok is not None:
        ok["schema"] = {"$ref": refs[(resp, "validation")]}


def build(
    base: dict[str, Any], ids: ExampleIds, models: Models, protect_ranking: bool = False
) -> dict[str, Any]:
    """The service's OpenAPI document from BentoML's (see the module docstring).

    `models` maps each route to its request and response models.
    """
    spec: dict[str, Any] = copy.deepcopy(base)
    spec["openapi"] = "3.1.0"
    spec.pop("servers", None)  # calls go to the server the page came from
    spec["info"] = {"title": TITLE, "version": service_version(), "description": DESCRIPTION}
    spec["tags"] = [{"name": n, "description": d} for n, d, _ in TAGS]
    refs, schemas = _schemas(models)
    comps = spec["components"] = {"schemas": schemas}
    comps["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "The admin token (LINLI_ADMIN_TOKEN) for /ingest/* and /admin/*; "
            "the read token (LINLI_READ_TOKEN) when ranking is protected.",
        }
    }
    for route, item in spec.get("paths", {}).items():
        for method, op in item.items():
            if method == "post":
                _operation(route, op, ids, protect_ranking)
                _use_models(op, route, models, refs)
            elif isinstance(op, dict):
                op["tags"] = [_tag(route)]
    info = spec.get("paths", {}).get("/info", {}).get("post")
    if info is not None:
        get = {k: copy.deepcopy(v) for k, v in info.items() if k != "requestBody"}
        get["operationId"] = f"{info.get('operationId', 'info')}_get"
        get["responses"] = {k: v for k, v in get["responses"].items() if k not in ("400", "415")}
        spec["paths"]["/info"]["get"] = get
    return spec
