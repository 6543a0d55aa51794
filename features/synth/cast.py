"""The personas of one world and the hidden-structure document (truth/personas.json)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from features.synth.constants import (
    CHANNELS,
    ID_TYPES,
    PREF_GROUP,
    PREF_ORDERS,
    PREF_STORE,
    PREF_WEB,
)
from features.synth.helpers import (
    _Categorical,
)
from features.synth.specs import (
    CHAIN_THEME_MIX,
    CONSTRAINTS,
    GROUP_TYPES,
    HOST_TEMPLATES,
    LIVE_THEME_MIX,
    PERSONAS,
    STAPLES_AFFINITY,
    TAG_NOTES,
    THEME_KEYS,
    THEMES,
    PersonaSpec,
)


@dataclass(frozen=True)
class _Cast:
    """The personas of one world (the six base personas, then extras) and their hot-path vectors."""

    personas: tuple[PersonaSpec, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.personas)

    @property
    def n(self) -> int:
        return len(self.personas)

    def index(self, key: str) -> int:
        """Index of a persona; -2 (matches no person, not even "no secondary") when absent."""
        return self.keys.index(key) if key in self.keys else -2

    def vector(self, attr: str) -> np.ndarray:
        """One numeric persona attribute, in cast order."""
        return np.array([float(getattr(p, attr)) for p in self.personas])

    @property
    def fit(self) -> np.ndarray:
        """(persona, theme) fit; personas the themes do not list carry their own theme_fit."""
        return np.array(
            [
                [t.fit.get(p.key, p.theme_fit.get(t.key, 0.05)) for t in THEMES]
                for p in self.personas
            ]
        )

    @property
    def channel_dist(self) -> _Categorical:
        return _Categorical(
            np.array([[p.channels.get(c, 0.0) for c in CHANNELS] for p in self.personas])
        )

    @property
    def pools(self) -> dict[str, int]:
        """Row offsets of the text pools (see `_Builder.texts`)."""
        n = self.n
        return {
            "search": 0,
            "search_gen": n,
            "chat": n + 1,
            "chat_gen": 2 * n + 1,
            "comment": 2 * n + 2,
            "comment_gen": 3 * n + 2,
        }


def _overlapped(aff: np.ndarray, overlap: float) -> np.ndarray:
    """Persona item affinities pulled towards their common mean by `overlap` (0 = unchanged)."""
    if overlap <= 0:
        return aff
    norm = aff / aff.mean(axis=1, keepdims=True)
    return (1.0 - overlap) * norm + overlap * norm.mean(axis=0, keepdims=True)


def personas_document(cast: _Cast | None = None) -> dict[str, Any]:
    """The hidden structure as JSON: personas, themes, fit matrix and the live-response model."""
    cast = cast or _Cast(PERSONAS)
    return {
        "personas": [
            p.model_dump(exclude=None if p.theme_fit else {"theme_fit"}) for p in cast.personas
        ],
        "staples_affinity": STAPLES_AFFINITY,
        "themes": [t.model_dump() for t in THEMES],
        "fit_matrix": {
            "rows": list(cast.keys),
            "cols": list(THEME_KEYS),
            "values": cast.fit.tolist(),
        },
        "group_types": list(GROUP_TYPES),
        "live_theme_mix": {
            "rows": list(GROUP_TYPES),
            "cols": list(THEME_KEYS),
            "values": LIVE_THEME_MIX.tolist(),
        },
        "chain_theme_mix": {
            "rows": list(GROUP_TYPES),
            "cols": list(THEME_KEYS),
            "values": CHAIN_THEME_MIX.tolist(),
        },
        "host_templates": [{"role": r, "tags": t} for r, t in HOST_TEMPLATES],
        "secondary_persona": "some people have a secondary persona: each persona-driven action"
        " (purchase line, favourite, browse, search, chat, comment) follows it with probability"
        " secondary_weight; their fit to a theme is (1 - w) * fit[primary] + w * fit[secondary]",
        "response_model": {
            "p_view": "clip(live_view_propensity * (0.12 + 0.88 * fit) * (1 if host_fit else 0.8)"
            " * (1 if person active that day else 0.15), 0, 0.98)",
            "p_jielong_if_view": "clip(jielong_propensity * (0.05 + 0.95 * fit)"
            " * (1 if host_fit else 0.7), 0, 0.97)",
            "p_jielong_if_not_view": "0.05 * p_jielong_if_view * activity_factor",
            "p_chain_join": "clip(jielong_propensity * (0.02 + 0.3 * fit) * activity_factor, 0, 0.9)",
            "host_fit": "host tags intersect the theme's host_tags",
        },
        "constraints": {
            "allergy": [c for c in CONSTRAINTS if c != "pork"],
            "avoid": ["pork"],
            "rule": "a person never orders / 接龙s an item whose attributes hold contains:X",
        },
        "manual_tags": {k: list(v) for k, v in TAG_NOTES.items()},
        "id_preference": {
            "web": [ID_TYPES[i] for i in PREF_ORDERS[PREF_WEB]],
            "store": [ID_TYPES[i] for i in PREF_ORDERS[PREF_STORE]],
            "group": [ID_TYPES[i] for i in PREF_ORDERS[PREF_GROUP]],
        },
        "phone_formats": [
            "13812345678",
            "+86 138-1234-5678",
            "138 1234 5678",
            "+8613812345678",
            "138-1234-5678",
        ],
    }
