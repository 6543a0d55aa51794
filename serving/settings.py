"""The serving layer's settings: the ``serving`` section beside the code that reads it.

:class:`Settings` is the feature layer's settings plus ``serving`` (see
:mod:`features.settings` for how they are read). Environment: ``LINLI_SERVING__<FIELD>``;
the older ``LINLI_SERVING_ACCESS_LOG`` / ``LINLI_SERVING_METRICS`` are still read when the
new names are not set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from features import settings as feature_settings

LEGACY_ENV = {"LINLI_SERVING_ACCESS_LOG": "access_log", "LINLI_SERVING_METRICS": "metrics"}


class ExperimentSettings(BaseModel):
    """Online A/B: route a share of users to the challenger by a stable hash."""

    enabled: bool = Field(False, description="Route users between champion and challenger.")
    name: str = Field("champion-vs-challenger", description="Experiment name in exposures.")
    challenger_share: float = Field(
        0.5, ge=0.0, le=1.0, description="Share of users (by stable hash) sent to the challenger."
    )
    salt: str = Field("linli", description="Hash salt; change it to reshuffle users.")


class AuthSettings(BaseModel):
    """Who may call what. Token values come from the environment only, never from a file."""

    protect_ranking: bool = Field(
        False, description="Ranking and matching endpoints need a token too (read or admin)."
    )
    admin_token_env: str = Field(
        "LINLI_ADMIN_TOKEN",
        description="Env var holding the token for ingestion, reload and experiment changes; "
        "unset means those endpoints refuse every call.",
    )
    read_token_env: str = Field(
        "LINLI_READ_TOKEN",
        description="Env var holding the token for ranking endpoints when protect_ranking is on "
        "(the admin token is accepted too).",
    )


class IngestSettings(BaseModel):
    """Bounds of the ingestion endpoints and their write queue."""

    max_body_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Largest ingestion request body (413 beyond)."
    )
    max_batch: int = Field(
        1000, ge=1, le=100_000, description="Most rows in one call (413 beyond)."
    )
    max_pending_rows: int = Field(
        20_000,
        ge=1,
        description="Rows waiting for the disk; a call that would exceed it gets 503 + Retry-After.",
    )
    max_rows_per_commit: int = Field(
        5000, ge=1, description="Most rows validated and committed in one transaction."
    )
    max_pending_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        description="Bytes (JSON text) waiting for the disk; beyond, 503 + Retry-After.",
    )
    max_field_chars: int = Field(
        256, ge=16, description="Longest id or other short field of an ingested row (rejected)."
    )
    max_text_chars: int = Field(
        2000, ge=16, description="Longest free-text field (`text`, `note`) of an ingested row."
    )
    max_fields: int = Field(64, ge=8, description="Most fields in one ingested row.")
    retry_after_s: int = Field(1, ge=1, le=600, description="Retry-After of a 503 when full.")
    validator_process: bool = Field(
        True,
        description="Validate batches in a helper process (keeps ranking latency flat under "
        "ingestion); False validates in the writer thread.",
    )


class ServingSettings(BaseModel):
    """What the BentoML server loads and how it routes and logs."""

    host: str = Field(
        "127.0.0.1", description="Bind address; loopback unless set (e.g. 0.0.0.0 behind a proxy)."
    )
    max_body_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="Largest request body of the other endpoints (413)."
    )
    body_timeout_s: float = Field(
        10.0, gt=0, description="A request body not fully received by then is answered 408."
    )
    max_concurrency: int = Field(
        256,
        ge=1,
        description="Requests in flight per worker (BentoML traffic.max_concurrency); 429 beyond.",
    )
    auth: AuthSettings = AuthSettings()
    ingest: IngestSettings = IngestSettings()

    bundle_dir: Path | None = Field(
        None, description="Artifact bundle folder; None means work_dir/bundle."
    )
    exposure_dir: Path | None = Field(
        None, description="Exposure log folder; None means work_dir/exposures."
    )
    experiment: ExperimentSettings = ExperimentSettings()
    workers: int = Field(1, ge=1, le=16, description="Server worker processes.")
    group_pool: int = Field(
        1000,
        ge=50,
        le=20000,
        description="Items scored per member for non-linear group strategies.",
    )
    fsync_exposures: bool = Field(
        False, description="fsync the exposure log after every line (slower, survives power loss)."
    )
    access_log: bool = Field(
        True, description="Log every request (it costs about 10% of throughput)."
    )
    metrics: bool = Field(True, description="Serve Prometheus metrics at /metrics.")


class Settings(feature_settings.Settings):
    """The feature layer's settings plus the ``serving`` section."""

    serving: ServingSettings = ServingSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        first, *rest = super().settings_customise_sources(
            settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
        )
        return (first, env_settings, _LegacyEnvSource(settings_cls), *rest[1:])


class _LegacyEnvSource(PydanticBaseSettingsSource):
    """``LINLI_SERVING_ACCESS_LOG=0`` and ``LINLI_SERVING_METRICS=0`` (the names before the scheme)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found = {f: os.environ[k] != "0" for k, f in LEGACY_ENV.items() if k in os.environ}
        return {"serving": found} if found else {}


def load_settings(**overrides: Any) -> Settings:
    """The serving layer's settings in force (file, env, then explicit overrides)."""
    return Settings(**overrides)
