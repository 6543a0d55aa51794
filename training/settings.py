"""The whole settings object: the serving layer's settings plus the ``tracking`` section.

What every training job, experiment and report loads (see :mod:`features.settings` for how
settings are read). Environment: ``LINLI_TRACKING__<FIELD>``; ``MLFLOW_TRACKING_URI``
overrides the tracking URI.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, Field

from serving import settings as serving_settings


class TrackingSettings(BaseModel):
    """Where MLflow runs and the model registry live."""

    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI; None means a SQLite store under work_dir "
        "(MLFLOW_TRACKING_URI overrides both).",
    )
    experiment: str = Field(
        "linli",
        description="base name of the MLflow experiments: <base>-training, -tuning, "
        "-evaluation, -matching, -ab, -reports (training.mlflow_layout).",
    )
    registered_model: str = "linli-recommender"


class Settings(serving_settings.Settings):
    """Everything a Linli job needs to know that is not data."""

    tracking: TrackingSettings = TrackingSettings()

    @property
    def mlflow_uri(self) -> str:
        """The tracking URI in force: env MLFLOW_TRACKING_URI, then config, then embedded SQLite."""
        env = os.environ.get("MLFLOW_TRACKING_URI")
        if env:
            return env
        if self.tracking.tracking_uri:
            return self.tracking.tracking_uri
        return f"sqlite:///{(self.work_dir / 'mlflow.db').resolve()}"


def load_settings(**overrides: Any) -> Settings:
    """The settings in force (file, env, then explicit overrides)."""
    return Settings(**overrides)
