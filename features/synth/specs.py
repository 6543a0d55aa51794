"""Personas, themes, hosts, texts and catalogue: pydantic specs loaded from the YAML beside this."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

# --------------------------------------------------------------------------------------------
# Personas, themes, hosts: the hidden structure of the world (written to truth/personas.json)
# --------------------------------------------------------------------------------------------


class PersonaSpec(BaseModel):
    """One hidden persona: what its members buy, search and say, and how they react to lives."""

    model_config = ConfigDict(frozen=True)

    key: str
    label: str = Field(description="Chinese label, as an operator would name the segment")
    share: float = Field(description="share of people with this persona")
    loyalty: float = Field(description="mean share of purchase lines drawn from the persona")
    orders_per_month: float
    lines_per_order: float = Field(description="mean basket size (order lines)")
    extra_quantity: float = Field(description="mean of quantity - 1 per line (Poisson)")
    price_level: float = Field(description="mean variant-price quantile chosen, 0 cheap .. 1 dear")
    price_elasticity: float = Field(description="exponent on variant price / base price")
    live_view: float = Field(description="mean live-view propensity (Beta)")
    jielong: float = Field(description="mean 接龙 propensity once watching (Beta)")
    searches_per_month: float
    browses_per_month: float
    messages_per_month: float
    morning: bool = False
    channels: dict[str, float] = Field(description="order channel mix (miniapp/store/group/ad)")
    affinity: dict[str, float] = Field(description="item affinity: cat:/sub:/attr:/name: -> weight")
    keywords: tuple[str, ...]
    sentences: tuple[str, ...] = Field(description="persona chat sentences (keywords embedded)")
    theme_fit: dict[str, float] = Field(
        default={}, description="theme -> fit, for personas the themes do not list"
    )


class ThemeSpec(BaseModel):
    """A live-stream / 接龙 theme: its titles, the hosts that fit it and the goods it features."""

    model_config = ConfigDict(frozen=True)

    key: str
    titles: tuple[str, ...]
    host_tags: tuple[str, ...]
    affinity: dict[str, float]
    fit: dict[str, float] = Field(description="persona -> fit in [0, 1] (drives view / 接龙)")


_DATA = Path(__file__).with_name


def _load(name: str) -> dict[str, Any]:
    """One YAML data file beside this module (shipped as package data)."""
    with _DATA(name).open(encoding="utf-8") as fh:
        doc: dict[str, Any] = yaml.safe_load(fh)
    return doc


def _pairs(rows: list[dict[str, Any]], *keys: str) -> tuple[tuple[Any, ...], ...]:
    return tuple(tuple(row[k] for k in keys) for row in rows)


_PERSONAS_DOC = _load("personas.yaml")
_THEMES_DOC = _load("themes.yaml")
_TEXTS_DOC = _load("texts.yaml")
_CATALOGUE_DOC = _load("catalogue.yaml")

STAPLES_AFFINITY: dict[str, float] = {
    k: float(v) for k, v in _PERSONAS_DOC["staples_affinity"].items()
}
PERSONA_FLOOR = 0.05
STAPLES_FLOOR = 0.3

PERSONAS: tuple[PersonaSpec, ...] = tuple(PersonaSpec(**p) for p in _PERSONAS_DOC["personas"])
PERSONA_KEYS: tuple[str, ...] = tuple(p.key for p in PERSONAS)
N_PERSONAS = len(PERSONAS)
# extra personas, used by worlds with more than six (`SynthConfig.personas`, preset `many`)
EXTRA_PERSONAS: tuple[PersonaSpec, ...] = tuple(
    PersonaSpec(**p) for p in _PERSONAS_DOC["extra_personas"]
)
PERSONA_LIBRARY: tuple[PersonaSpec, ...] = PERSONAS + EXTRA_PERSONAS


def _theme(doc: dict[str, Any]) -> ThemeSpec:
    """A theme; `affinity: {persona: KEY, with: {...}}` = that persona's affinity, some replaced."""
    aff = doc["affinity"]
    if "persona" in aff:
        base = next(p for p in PERSONAS if p.key == aff["persona"])
        aff = {**base.affinity, **aff.get("with", {})}
    return ThemeSpec(**{**doc, "affinity": aff})


THEMES: tuple[ThemeSpec, ...] = tuple(_theme(t) for t in _THEMES_DOC["themes"])
THEME_KEYS: tuple[str, ...] = tuple(t.key for t in THEMES)
N_THEMES = len(THEMES)
HOLIDAY_TITLES: dict[str, tuple[str, ...]] = {
    k: tuple(v) for k, v in _THEMES_DOC["holiday_titles"].items()
}

# host role, tags (the role is the host's public persona)
HOST_TEMPLATES: tuple[tuple[str, str], ...] = _pairs(_THEMES_DOC["host_templates"], "role", "tags")
SURNAMES: str = _THEMES_DOC["surnames"]
HOST_PREFIXES: tuple[str, ...] = tuple(_THEMES_DOC["host_prefixes"])

# group types: 0 = general; 1.. = interest / value groups of a compound
# key, name suffix, kind, persona whose members join
INTEREST_GROUPS: tuple[tuple[str, str, str, str], ...] = _pairs(
    _THEMES_DOC["interest_groups"], "key", "suffix", "kind", "persona"
)
GROUP_TYPES: tuple[str, ...] = ("general",) + tuple(g[0] for g in INTEREST_GROUPS)


def _theme_mix(rows: dict[str, dict[str, float]]) -> np.ndarray:
    """(group type, theme) weights; themes a group type does not list weigh 0."""
    return np.array([[float(rows[g].get(k, 0.0)) for k in THEME_KEYS] for g in GROUP_TYPES])


# group type -> theme mix of its lives / of its plain 接龙 chains
LIVE_THEME_MIX = _theme_mix(_THEMES_DOC["live_theme_mix"])
CHAIN_THEME_MIX = _theme_mix(_THEMES_DOC["chain_theme_mix"])

COMPOUND_PREFIXES: tuple[str, ...] = tuple(_TEXTS_DOC["compound_prefixes"])
COMPOUND_SUFFIXES: tuple[str, ...] = tuple(_TEXTS_DOC["compound_suffixes"])
EXTRA_PHASES: tuple[str, ...] = tuple(_TEXTS_DOC["extra_phases"])

# manual tags: tag -> leader notes
TAG_NOTES: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in _TEXTS_DOC["tag_notes"].items()}
# soft tags: tag -> (persona whose members get it often, rate there, rate elsewhere)
SOFT_TAGS: tuple[tuple[str, str, float, float], ...] = _pairs(
    _TEXTS_DOC["soft_tags"], "tag", "persona", "rate_in", "rate_out"
)
# constraint bits: allergy:X / avoid:X match items whose attributes hold contains:X
CONSTRAINTS: tuple[str, ...] = ("mango", "peanut", "seafood", "milk", "pork")

GENERIC_SEARCHES: tuple[str, ...] = tuple(_TEXTS_DOC["generic_searches"])
SEARCH_TEMPLATES: tuple[tuple[str, float], ...] = _pairs(
    _TEXTS_DOC["search_templates"], "template", "weight"
)
CHAT_TEMPLATES: tuple[str, ...] = tuple(_TEXTS_DOC["chat_templates"])
GENERIC_CHAT: tuple[str, ...] = tuple(_TEXTS_DOC["generic_chat"])
COMMENT_TEMPLATES: tuple[str, ...] = tuple(_TEXTS_DOC["comment_templates"])
GENERIC_COMMENTS: tuple[str, ...] = tuple(_TEXTS_DOC["generic_comments"])

# The base catalogue: name | category | subcategory | price | attributes | season | holiday
# A leading * marks core items, always kept when --items is smaller than the catalogue.
CATALOGUE_ROWS: tuple[str, ...] = tuple(_CATALOGUE_DOC["rows"].strip().splitlines())
# variant qualifiers: label (price factor, extra attribute), pack (price factor, attribute)
VARIANT_LABELS: tuple[tuple[str, float, str], ...] = _pairs(
    _CATALOGUE_DOC["variant_labels"], "label", "price_factor", "attribute"
)
VARIANT_PACKS: tuple[tuple[str, float, str], ...] = _pairs(
    _CATALOGUE_DOC["variant_packs"], "pack", "price_factor", "attribute"
)
VARIANT_ORIGINS: dict[str, tuple[str, ...]] = {
    k: tuple(v) for k, v in _CATALOGUE_DOC["variant_origins"].items()
}
