"""The synthetic group-buying world: people with hidden personas, goods, groups, lives and 接龙.

`python -m features.synth --out DIR` writes `DIR/data/` (a SCHEMA.md data directory) and, apart
from it, `DIR/truth/` (the hidden personas, identities and live-stream propensities the data was
drawn from), so that identity resolution, tags, segments, audiences and campaign simulations can
be checked against what really happened.

Everything is drawn with numpy from one seed and vectorised per event family (no per-event Python
loops): the same config gives byte-identical tables, 10,000 people x 6 months take seconds and
200,000 people x 50,000 items take minutes.

The package: `specs` loads personas, themes, texts and the catalogue from the YAML files beside
it; `config` holds SynthConfig, the presets and World; the builder is one module per step family
(`build_catalogue`, `build_texts`, `build_people`, `build_groups`, `build_orders`,
`build_events`, `build_truth`) over the shared `state`; `builder.generate` runs them in order;
`write` writes a world and `cli` is `linli synth`.
"""

from features.synth.builder import generate
from features.synth.cast import personas_document
from features.synth.cli import main
from features.synth.config import PRESETS, SynthConfig, TruthCol, World, preset_config
from features.synth.constants import (
    CATEGORICAL_EVENT_COLUMNS,
    CHANNELS,
    DAY,
    EVENT_TYPES,
    ID_TYPES,
    MONTH_DAYS,
    STRING_DTYPE,
    SUFFIX,
    Format,
)
from features.synth.holiday import holiday_dates
from features.synth.specs import (
    CATALOGUE_ROWS,
    CONSTRAINTS,
    EXTRA_PERSONAS,
    GROUP_TYPES,
    HOLIDAY_TITLES,
    HOST_TEMPLATES,
    INTEREST_GROUPS,
    N_PERSONAS,
    N_THEMES,
    PERSONA_KEYS,
    PERSONA_LIBRARY,
    PERSONAS,
    SOFT_TAGS,
    STAPLES_AFFINITY,
    TAG_NOTES,
    THEME_KEYS,
    THEMES,
    VARIANT_LABELS,
    VARIANT_ORIGINS,
    VARIANT_PACKS,
    PersonaSpec,
    ThemeSpec,
)
from features.synth.write import write_world

# the base catalogue as one text, one item a row (the form callers of the single module read)
_CATALOGUE = "\n".join(CATALOGUE_ROWS)

__all__ = [
    "CATALOGUE_ROWS",
    "CATEGORICAL_EVENT_COLUMNS",
    "CHANNELS",
    "CONSTRAINTS",
    "DAY",
    "EVENT_TYPES",
    "EXTRA_PERSONAS",
    "GROUP_TYPES",
    "HOLIDAY_TITLES",
    "HOST_TEMPLATES",
    "ID_TYPES",
    "INTEREST_GROUPS",
    "MONTH_DAYS",
    "N_PERSONAS",
    "N_THEMES",
    "PERSONAS",
    "PERSONA_KEYS",
    "PERSONA_LIBRARY",
    "PRESETS",
    "SOFT_TAGS",
    "STAPLES_AFFINITY",
    "STRING_DTYPE",
    "SUFFIX",
    "TAG_NOTES",
    "THEMES",
    "THEME_KEYS",
    "VARIANT_LABELS",
    "VARIANT_ORIGINS",
    "VARIANT_PACKS",
    "Format",
    "PersonaSpec",
    "SynthConfig",
    "ThemeSpec",
    "TruthCol",
    "World",
    "generate",
    "holiday_dates",
    "main",
    "personas_document",
    "preset_config",
    "write_world",
]
