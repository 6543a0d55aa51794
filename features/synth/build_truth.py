"""Builder steps: the truth tables (people, identifiers, lives, groups)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.schema import LIST_SEP, Col
from features.synth.build_events import (
    EventSteps,
)
from features.synth.config import (
    TruthCol,
)
from features.synth.constants import (
    CARD,
    ID_TYPES,
    OPENID,
    PHONE,
    PREF_GROUP,
    PREF_ORDERS,
    WECOM,
)
from features.synth.helpers import (
    _or_none,
    _take,
    _to_pandas,
)
from features.synth.specs import (
    CONSTRAINTS,
    GROUP_TYPES,
    THEME_KEYS,
)


class TruthSteps(EventSteps):
    """The truth tables: people, identifiers, live propensities, groups."""

    def truth_people(self) -> pd.DataFrame:
        n = self.n
        width = max(6, len(str(n)))
        pid = np.array([f"P{i + 1:0{width}d}" for i in range(n)], dtype=object)
        self.person_ids = pid
        self.person_id_arr = pa.array(pid, pa.string())
        allergies = []
        avoid = []
        for bits in self.person_bits:
            allergies.append(
                LIST_SEP.join(x for k, x in enumerate(CONSTRAINTS) if bits >> k & 1 and x != "pork")
            )
            avoid.append("pork" if bits >> CONSTRAINTS.index("pork") & 1 else "")
        wecom = _or_none(self.has[:, WECOM], self.id_values["wecom"])
        canon_vals = np.stack(
            [
                self.id_values["wecom"],
                self.id_values["openid"],
                self.id_values["phone"],
                self.id_values["card"],
            ],
            axis=1,
        )
        canon_t = PREF_ORDERS[PREF_GROUP][self.has[:, PREF_ORDERS[PREF_GROUP]].argmax(1)]
        canon = np.char.add(
            np.char.add(np.array(ID_TYPES)[canon_t], ":"), canon_vals[np.arange(n), canon_t]
        )
        acq = np.array(["store", "ad", "referral", "group"])[self.acquisition]
        counts = self.n_events_person
        n_lines = self.n_purchase_person
        return pd.DataFrame(
            {
                TruthCol.PERSON_ID: pid,
                TruthCol.PERSONA: np.array(self.cast.keys)[self.persona],
                TruthCol.SECONDARY_PERSONA: _or_none(
                    self.persona2 >= 0, np.array(self.cast.keys)[self.persona2]
                ),
                TruthCol.SECONDARY_WEIGHT: self.mix2,
                TruthCol.WECOM: wecom,
                TruthCol.CANONICAL_ID: canon,
                TruthCol.N_IDS: self.has.sum(1),
                TruthCol.COMPOUND: np.array(self.comp_names)[self.compound],
                TruthCol.GENERAL_GROUP: _or_none(
                    self.gen_group >= 0,
                    np.array(self.group_ids.to_pylist())[np.maximum(self.gen_group, 0)],
                ),
                TruthCol.ACTIVITY: self.activity,
                TruthCol.LOYALTY: self.loyalty,
                TruthCol.PRICE_LEVEL: self.price_level,
                TruthCol.LIVE_VIEW_PROPENSITY: self.lvp,
                TruthCol.JIELONG_PROPENSITY: self.jlp,
                TruthCol.KOC_PROPENSITY: self.koc,
                TruthCol.ALLERGIES: allergies,
                TruthCol.AVOID: avoid,
                TruthCol.ACQUISITION: acq,
                TruthCol.ACTIVE_FROM: (
                    self.start + pd.to_timedelta(self.active_from, unit="D")
                ).strftime("%Y-%m-%d"),
                TruthCol.ACTIVE_TO: (
                    self.start + pd.to_timedelta(self.active_to, unit="D")
                ).strftime("%Y-%m-%d"),
                TruthCol.N_EVENTS: counts,
                TruthCol.N_PURCHASE_LINES: n_lines,
            }
        )

    def truth_identifiers(self) -> pd.DataFrame:
        n = self.n
        used = np.flatnonzero(self.used_ids) if self.used_ids is not None else np.zeros(0, int)
        # every identifier a person has, in its plain form, plus every raw form that was written
        plain = np.concatenate(
            [
                np.flatnonzero(self.has[:, WECOM]),
                n + np.flatnonzero(self.has[:, OPENID]),
                2 * n + np.flatnonzero(self.has[:, PHONE]),
                7 * n + np.flatnonzero(self.has[:, CARD]),
            ]
        )
        idx = np.union1d(used, plain)
        slot, person = np.divmod(idx, n)
        t = np.array([WECOM, OPENID, PHONE, PHONE, PHONE, PHONE, PHONE, CARD])[slot]
        values = pc.take(self.id_strings, pa.array(idx)).to_numpy(zero_copy_only=False)
        norm = np.where(t == PHONE, self.phone_norm[person], values)
        o = np.lexsort((slot, person))
        return pd.DataFrame(
            {
                TruthCol.PERSON_ID: self.person_ids[person[o]],
                Col.ID_TYPE: np.array(ID_TYPES, dtype=object)[t[o]],
                Col.ID_VALUE: values[o],
                TruthCol.NORMALIZED: norm[o],
            }
        )

    def truth_lives(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        inv = self.invite
        sess = inv["sess"]
        person = inv["person"]
        persona_arr = pa.array(self.cast.keys, pa.string())
        theme_arr = pa.array(THEME_KEYS, pa.string())
        lt = _to_pandas(
            pa.table(
                {
                    Col.LIVE_ID: _take(self.live_ids, sess),
                    TruthCol.PERSON_ID: _take(self.person_id_arr, person),
                    TruthCol.PERSONA: _take(persona_arr, self.persona[person]),
                    TruthCol.THEME_KEY: _take(theme_arr, self.s_theme[sess]),
                    TruthCol.FIT: inv["fit"],
                    TruthCol.HOST_FIT: self.s_host_fit[sess],
                    TruthCol.P_VIEW: inv["p_view"],
                    TruthCol.P_JIELONG_IF_VIEW: inv["p_jv"],
                    TruthCol.P_JIELONG: inv["p_join"],
                    TruthCol.VIEWED: inv["viewed"],
                    TruthCol.JOINED: inv["joined"],
                }
            )
        )
        nl = self.n_lives
        invited = np.bincount(sess, minlength=nl)
        viewers = np.bincount(sess, weights=inv["viewed"], minlength=nl)
        joiners = np.bincount(sess, weights=inv["joined"], minlength=nl)
        lives = pd.DataFrame(
            {
                Col.LIVE_ID: self.live_ids.to_pylist(),
                Col.GROUP_ID: np.asarray(self.group_ids.to_pylist(), dtype=object)[
                    self.s_group[:nl]
                ],
                TruthCol.GROUP_TYPE: np.array(GROUP_TYPES)[self.g_type[self.s_group[:nl]]],
                TruthCol.THEME_KEY: np.array(THEME_KEYS)[self.s_theme[:nl]],
                Col.HOST_ID: np.asarray(self.host_ids.to_pylist(), dtype=object)[self.s_host[:nl]],
                TruthCol.HOST_FIT: self.s_host_fit[:nl],
                TruthCol.DISCOUNT: self.s_discount[:nl],
                TruthCol.INVITED: invited,
                TruthCol.VIEWERS: viewers.astype(np.int64),
                TruthCol.JIELONG_PEOPLE: joiners.astype(np.int64),
            }
        )
        return lt, lives

    def truth_groups(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                Col.GROUP_ID: self.group_ids.to_pylist(),
                TruthCol.GROUP_TYPE: np.array(GROUP_TYPES)[self.g_type],
                TruthCol.COMPOUND: np.array(self.comp_names)[self.g_comp],
                TruthCol.MEMBERS: self.g_size,
            }
        )
