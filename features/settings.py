"""Linli's settings as the feature layer sees them, and how every layer's settings are read.

One settings object, assembled layer by layer: this module holds the root fields
(``work_dir``, ``seed``) and the sections of the feature layer (``features``, ``store``);
:mod:`serving.settings` adds ``serving``; :mod:`training.settings` adds ``tracking`` and
is the whole object the jobs load. Each layer imports only its own level (serving never
loads training code).

Read from `linli.yaml` and the environment, one naming scheme for every field:
``LINLI_<FIELD>`` at the root (``LINLI_WORK_DIR``, ``LINLI_SEED``) and
``LINLI_<SECTION>__<FIELD>`` below (``LINLI_FEATURES__HALF_LIFE_DAYS``,
``LINLI_SERVING__WORKERS``). Precedence: explicit keyword arguments > environment > the
YAML file named by ``LINLI_CONFIG`` (default ``./linli.yaml`` when it exists) > defaults.
Sections of upper layers in the file or the environment are ignored by lower layers.
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
    engine_memory_limit: str = Field(
        "3GB",
        description="Memory the embedded engine (DuckDB) may hold before it spills to disk; "
        "the feature job's peak stays near it on any number of events.",
    )
    min_item_interactions: int = Field(
        1, ge=1, description="Items with fewer interacting users are left out of the matrix."
    )
    max_reject_rate: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="The feature job exits non-zero (after writing everything) when a table "
        "loses more than this share of its rows to rejects.",
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


class Settings(BaseSettings):
    """The root fields and the feature layer's sections (the base of every layer's settings)."""

    model_config = SettingsConfigDict(
        env_prefix="LINLI_", env_nested_delimiter="__", extra="ignore"
    )

    work_dir: Path = Field(Path("work"), description="Root of every output Linli writes.")
    seed: int = Field(42, description="Seed for every random step; same inputs, same outputs.")
    features: FeatureSettings = FeatureSettings()
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
    """The feature layer's settings in force (file, env, then explicit overrides)."""
    return Settings(**overrides)
