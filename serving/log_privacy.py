"""Quiet, private server logs: a client's mistake is one INFO line without its body.

BentoML logs every rejected request (a pydantic ``ValidationError``, a 4xx
``BentoMLException``) at ERROR with a traceback whose text quotes the offending input, so a
bad phone number sent to an open endpoint lands in the log, about 3 KB per call.
:func:`install` puts a filter on BentoML's request loggers that turns such a record into
``client error 400 on /rank/user: 2 validation errors (loc: user, k)``: INFO, the field
locations only, no values and no traceback. Server faults (5xx) keep their traceback.
"""

from __future__ import annotations

import logging
from typing import Any

LOGGERS = ("bentoml._internal.server.http_app", "_bentoml_impl.server.app")
QUIET_LOG = "bentoml.serve"  # a logger BentoML's workers print at INFO


def client_error(exc: BaseException | None) -> tuple[int, str] | None:
    """(status, summary without values) when `exc` is the client's fault, else None."""
    if exc is None:
        return None
    try:
        from pydantic import ValidationError
    except ImportError:  # pragma: no cover - pydantic is a dependency
        return None
    if isinstance(exc, ValidationError):
        locs = sorted({".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()})
        return 400, f"{exc.error_count()} validation error(s) (loc: {', '.join(locs)[:200]})"
    code = getattr(getattr(exc, "error_code", None), "value", None)
    if isinstance(code, int) and 400 <= code < 500:
        return code, type(exc).__name__
    return None


class ClientErrorFilter(logging.Filter):
    """Rewrites records of client errors (see the module doc); lets everything else through."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        found = client_error(exc)
        if found is None:
            return True
        status, summary = found
        where = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        record.msg = "client error %s on %s: %s"
        record.args = (status, where, summary)
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def log_client_error(path: str, exc: BaseException) -> None:
    """The same quiet INFO line for a client error answered outside BentoML's handlers."""
    found = client_error(exc)
    if found is not None:
        status, summary = found
        logging.getLogger(QUIET_LOG).info("client error %s on %s: %s", status, path, summary)


def install(names: tuple[str, ...] = LOGGERS) -> Any:
    """Add the filter to BentoML's request loggers (once); returns it."""
    flt = ClientErrorFilter()
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ClientErrorFilter) for f in logger.filters):
            logger.addFilter(flt)
    return flt
