"""The one typed settings object for every Linli job, read from `linli.yaml` and `LINLI_*` env.

Precedence: explicit keyword arguments > environment (`LINLI_WORK_DIR`,
`LINLI_FEATURES__HALF_LIFE_DAYS`, ...) > the YAML file named by `LINLI_CONFIG`
(default `./linli.yaml` when it exists) > the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_TAG_RULES = Path(__file__).with_name("tag_rules.yaml")


class FeatureSettings(BaseModel):
    """How events become interaction strength."""

    event_weights: dict[str, float] = Field(
        default={
            "view": 1.0,
            "click": 2.0,
            "live_view": 1.0,
            "live_comment": 1.5,
            "share": 3.0,
            "cart": 4.0,
            "order": 8.0,
            "jielong": 8.0,
        },
        description="Weight per event type in the user-item matrix (view < click < cart < order).",
    )
    half_life_days: float = Field(
        60.0, gt=0, description="Exponential time-decay half-life of an interaction, in days."
    )
    tag_rules: Path = Field(DEFAULT_TAG_RULES, description="YAML file of rule-tag definitions.")
    max_people_per_identifier: int | None = Field(
        20,
        ge=2,
        description="An identifier whose identity links would join more people than this "
        "(a shop phone typed in for everyone) is reported in suspicious_identifiers.csv and "
        "summary.json instead of merged through; None turns the guard off.",
    )
    min_item_interactions: int = Field(
        1, ge=1, description="Items with fewer interacting users are left out of the matrix."
    )


class TrackingSettings(BaseModel):
    """Where MLflow runs and the model registry live."""

    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI; None means a SQLite store under work_dir "
        "(MLFLOW_TRACKING_URI overrides both).",
    )
    experiment: str = "linli"
    registered_model: str = "linli-recommender"


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


class StoreSettings(BaseModel):
    """The durable event store ingestion writes and the feature job reads."""

    url: str | None = Field(
        None,
        description="`sqlite:///PATH` or `postgresql://...`; None means SQLite at "
        "work_dir/ingest/events.db.",
    )
    read_by_feature_job: bool = Field(
        True, description="The feature job adds the store's rows to the data directory's files."
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


class Settings(BaseSettings):
    """Everything a Linli job needs to know that is not data."""

    model_config = SettingsConfigDict(
        env_prefix="LINLI_", env_nested_delimiter="__", extra="ignore"
    )

    work_dir: Path = Field(Path("work"), description="Root of every output Linli writes.")
    seed: int = Field(42, description="Seed for every random step; same inputs, same outputs.")
    features: FeatureSettings = FeatureSettings()
    tracking: TrackingSettings = TrackingSettings()
    serving: ServingSettings = ServingSettings()
    store: StoreSettings = StoreSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @property
    def mlflow_uri(self) -> str:
        """The tracking URI in force: env MLFLOW_TRACKING_URI, then config, then embedded SQLite."""
        env = os.environ.get("MLFLOW_TRACKING_URI")
        if env:
            return env
        if self.tracking.tracking_uri:
            return self.tracking.tracking_uri
        return f"sqlite:///{(self.work_dir / 'mlflow.db').resolve()}"

    @property
    def store_url(self) -> str:
        """The event store in force: `store.url`, else SQLite under work_dir."""
        if self.store.url:
            return self.store.url
        return f"sqlite:///{(self.work_dir / 'ingest' / 'events.db').resolve()}"


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the YAML config file, if any."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = Path(os.environ.get("LINLI_CONFIG", "linli.yaml"))
        if not path.exists():
            if "LINLI_CONFIG" in os.environ:
                raise FileNotFoundError(f"LINLI_CONFIG points to a missing file: {path}")
            return {}
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: the config file must be a mapping at the top level")
        return data


def load_settings(**overrides: Any) -> Settings:
    """Build the settings in force (file, env, then explicit overrides)."""
    return Settings(**overrides)
