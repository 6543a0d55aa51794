"""Fixed parameters of the synthetic world: formats, identifiers, channels, hours, RNG streams."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from features.schema import Col, EventType, IdType

Format = Literal["parquet", "csv", "jsonl"]
SUFFIX: dict[str, str] = {"parquet": ".parquet", "csv": ".csv", "jsonl": ".jsonl"}

DAY = 86_400
STRING_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default `str`
# small-vocabulary event columns kept as pandas categoricals in memory (plain strings in files)
CATEGORICAL_EVENT_COLUMNS: tuple[str, ...] = (Col.EVENT_TYPE, Col.ID_TYPE, Col.CHANNEL)
MONTH_DAYS = 30.44

ID_TYPES: tuple[str, ...] = (IdType.WECOM, IdType.OPENID, IdType.PHONE, IdType.MEMBER_CARD)
WECOM, OPENID, PHONE, CARD = 0, 1, 2, 3
N_PHONE_FORMATS = 5  # 13812345678 | +86 138-1234-5678 | 138 1234 5678 | +8613812345678 | 138-...
PHONE_FORMAT_WEIGHTS = np.array([0.45, 0.2, 0.2, 0.1, 0.05])
PHONE_PREFIXES = np.array(
    [130, 131, 132, 133, 135, 136, 137, 138, 139, 150, 151, 152, 155, 156, 157, 158, 159]
    + [166, 177, 180, 181, 182, 183, 185, 186, 187, 188, 189, 199]
)
# which identifier an event is emitted under: web/miniapp, store till, WeChat group
PREF_WEB, PREF_STORE, PREF_GROUP = 0, 1, 2
PREF_ORDERS = (
    np.array([OPENID, PHONE, WECOM, CARD]),
    np.array([CARD, PHONE, OPENID, WECOM]),
    np.array([WECOM, OPENID, PHONE, CARD]),
)
# ids an event of each class may plausibly carry (the noise in _choose_ids stays among these)
PREF_PLAUSIBLE = np.array(
    [[True, True, True, False], [False, False, True, True], [True, True, True, False]]
)
CHANNELS: tuple[str, ...] = ("miniapp", "store", "group", "ad", "referral", "live")
CH_MINIAPP, CH_STORE, CH_GROUP, CH_AD, CH_REFERRAL, CH_LIVE = range(6)
EVENT_TYPES: tuple[str, ...] = tuple(e.value for e in EventType)
ET = {e: i for i, e in enumerate(EventType)}

HOUR_WEIGHTS = np.array(
    [0.2, 0.1, 0.05, 0.05, 0.05, 0.2, 0.6, 1.2, 1.6, 1.5, 1.3, 1.2]
    + [1.4, 1.0, 0.8, 0.8, 0.9, 1.1, 1.4, 1.8, 2.0, 1.8, 1.2, 0.6]
)
MORNING_BOOST = np.array([1.0] * 6 + [2.5, 2.5, 2.2, 2.0, 1.5] + [1.0] * 10 + [0.5, 0.3, 0.3])

_STREAMS = (
    "calendar",
    "catalogue",
    "people",
    "ids",
    "groups",
    "sessions",
    "invites",
    "orders",
    "browse",
    "search",
    "messages",
    "shares",
    "tags",
    "assemble",
    "knobs",  # draws of the world-shaping knobs (text noise, unlinkable ids); unused by default
)


# --------------------------------------------------------------------------------------------
# Config and result
# --------------------------------------------------------------------------------------------
