"""The config of a synthetic world (SynthConfig, presets) and its result (World)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.schema import TABLES
from features.synth.specs import (
    CONSTRAINTS,
    PERSONA_LIBRARY,
    PersonaSpec,
)


class TruthCol:
    """Column names of the truth tables (`truth/*.parquet`); SCHEMA columns come from `Col`."""

    PERSON_ID = "person_id"
    PERSONA = "persona"
    SECONDARY_PERSONA = "secondary_persona"
    SECONDARY_WEIGHT = "secondary_weight"
    WECOM = "wecom"
    CANONICAL_ID = "canonical_id"
    N_IDS = "n_ids"
    COMPOUND = "compound"
    GENERAL_GROUP = "general_group"
    ACTIVITY = "activity"
    LOYALTY = "loyalty"
    PRICE_LEVEL = "price_level"
    LIVE_VIEW_PROPENSITY = "live_view_propensity"
    JIELONG_PROPENSITY = "jielong_propensity"
    KOC_PROPENSITY = "koc_propensity"
    ALLERGIES = "allergies"
    AVOID = "avoid"
    ACQUISITION = "acquisition"
    ACTIVE_FROM = "active_from"
    ACTIVE_TO = "active_to"
    N_EVENTS = "n_events"
    N_PURCHASE_LINES = "n_purchase_lines"
    NORMALIZED = "normalized"
    THEME_KEY = "theme_key"
    FIT = "fit"
    HOST_FIT = "host_fit"
    P_VIEW = "p_view"
    P_JIELONG_IF_VIEW = "p_jielong_if_view"
    P_JIELONG = "p_jielong"
    VIEWED = "viewed"
    JOINED = "joined"
    GROUP_TYPE = "group_type"
    DISCOUNT = "discount"
    INVITED = "invited"
    VIEWERS = "viewers"
    JIELONG_PEOPLE = "jielong_people"
    MEMBERS = "members"


class SynthConfig(BaseModel):
    """Size, seed and behavioural knobs of a synthetic world (logged beside it as config.json)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    people: int = Field(default=10_000, ge=20, le=5_000_000, description="number of real people")
    items: int = Field(
        default=400, ge=20, le=500_000, description="catalogue size (variants beyond base)"
    )
    months: int = Field(default=6, ge=1, le=36, description="length of the event log, in months")
    seed: int = Field(default=42, ge=0, description="one seed for everything")
    end: date = Field(
        default=date(2026, 10, 31), description="last day of the event log (China time)"
    )
    persona_shares: dict[str, float] | None = Field(
        default=None, description="override of the persona mix (keys: persona keys; renormalised)"
    )
    loyalty_scale: float = Field(
        default=1.0,
        gt=0,
        le=1.35,
        description="multiplies every persona's loyalty (~0.7 by default)",
    )
    repeat_share: float = Field(
        default=0.4, ge=0, le=1, description="share of lines re-buying favourites"
    )
    secondary_share: float = Field(
        default=0.25, ge=0, le=1, description="share of people with a secondary persona (overlap)"
    )
    secondary_mix: float = Field(
        default=0.3,
        gt=0,
        lt=1,
        description="mean weight of the secondary persona when there is one",
    )
    activity_scale: float = Field(
        default=1.0, gt=0, description="multiplies order/browse/search rates"
    )
    wecom_share: float = Field(
        default=0.85, ge=0, le=1, description="share of people with a WeCom id"
    )
    naive_ts_share: float = Field(
        default=0.03, ge=0, le=1, description="timestamps written without +08:00"
    )
    id_noise: float = Field(default=0.08, ge=0, le=1, description="events under a non-preferred id")
    compound_size: int = Field(default=450, ge=20, description="mean residents per compound")
    general_group_max: int = Field(
        default=500, ge=20, description="general groups split above this"
    )
    interest_group_rate: float = Field(
        default=0.65, ge=0, le=1, description="P(compound has group X)"
    )
    lives_per_month_general: float = Field(default=3.0, ge=0)
    lives_per_month_interest: float = Field(default=2.0, ge=0)
    chains_per_month: float = Field(
        default=6.0, ge=0, description="plain 接龙 chains per general group"
    )
    referral_share: float = Field(
        default=0.05, ge=0, le=1, description="online orders via a share link"
    )
    personas: int = Field(
        default=6,
        ge=2,
        le=10,
        description="number of personas: the six base ones, then extras (snacks, seafood, ...)",
    )
    taste_overlap: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="pull personas' item tastes towards their common mean (baskets look alike;"
        " price, time of day, channel and text still differ)",
    )
    unlinked_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="share of identifiers never linked to the person's others (look like new users)",
    )
    text_noise: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="share of persona searches / chats / comments replaced by keyword-free text",
    )
    allergy_rates: dict[str, float] = Field(
        default={"mango": 0.025, "peanut": 0.03, "seafood": 0.03, "milk": 0.015, "pork": 0.03},
        description="constraint -> base rate (mango is 4x among young parents; pork = avoid)",
    )

    @model_validator(mode="after")
    def _check(self) -> SynthConfig:
        if self.persona_shares is not None:
            known = [p.key for p in self.cast_personas()]
            unknown = set(self.persona_shares) - set(known)
            if unknown:
                raise ValueError(f"unknown personas {sorted(unknown)}; known: {known}")
            if sum(self.persona_shares.values()) <= 0:
                raise ValueError("persona_shares must have a positive sum")
        unknown = set(self.allergy_rates) - set(CONSTRAINTS)
        if unknown:
            raise ValueError(f"unknown allergy keys {sorted(unknown)}; known: {CONSTRAINTS}")
        return self

    def cast_personas(self) -> tuple[PersonaSpec, ...]:
        """The personas of this world: the first `personas` of the library."""
        return PERSONA_LIBRARY[: self.personas]

    def shares(self) -> np.ndarray:
        """Normalised persona shares in cast order (PERSONA_KEYS, then the extras)."""
        given = self.persona_shares or {}
        personas = self.cast_personas()
        s = np.array([given.get(p.key, p.share if not given else 0.0) for p in personas])
        return s / s.sum()

    def logged(self) -> dict[str, Any]:
        """The config as logged in truth/config.json (knobs left at their default omitted)."""
        doc: dict[str, Any] = json.loads(self.model_dump_json())
        for knob in _LOGGED_IF_SET:
            if doc[knob] == SynthConfig.model_fields[knob].default:
                del doc[knob]
        return doc


# knobs added after the first worlds were written: logged only when set, so default worlds'
# config.json stays byte-identical
_LOGGED_IF_SET = ("personas", "taste_overlap", "unlinked_share", "text_noise")


# named worlds far from the default (`linli synth --preset NAME`; flags still override)
PRESETS: dict[str, dict[str, Any]] = {
    # personas' baskets overlap heavily; motives (price, time of day, channel, text) still differ
    "overlap": {
        "taste_overlap": 0.85,
        "persona_shares": {
            "fitness": 0.1,
            "young_parents": 0.1,
            "home_bakers": 0.1,
            "premium_family": 0.1,
            "price_sensitive": 0.3,
            "elderly_staples": 0.3,
        },
    },
    # ten personas (the six base ones and four more), smaller groups
    "many": {"personas": 10, "general_group_max": 200},
    # short, sparse histories: two months, few events per person, bigger compounds
    "sparse": {"months": 2, "activity_scale": 0.3, "compound_size": 700},
    # many unlinkable identifiers, keyword-free text, messy ids and timestamps
    "noisy": {
        "unlinked_share": 0.3,
        "text_noise": 0.7,
        "id_noise": 0.25,
        "naive_ts_share": 0.15,
    },
}


def preset_config(name: str | None = None, **overrides: Any) -> SynthConfig:
    """The config of a named preset (None or "default": the default world), fields overridden."""
    if name not in (None, "default") and name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: default, {', '.join(PRESETS)}")
    base = PRESETS.get(name or "default", {})
    return SynthConfig(**{**base, **overrides})


@dataclass
class World:
    """A generated world: the SCHEMA tables, the ground truth behind them, and a summary."""

    config: SynthConfig
    tables: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]
    personas: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def events(self) -> pd.DataFrame:
        """The event log."""
        return self.tables[TABLES["events"].name]
