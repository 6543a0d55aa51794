"""Builder steps: the text pools (searches, chats, comments) and the manual tags."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa

from features.schema import Col
from features.synth.build_people import PeopleSteps
from features.synth.constants import (
    DAY,
    PREF_GROUP,
)
from features.synth.helpers import (
    _Categorical,
    _fmt_ts,
    _take,
    _to_pandas,
)
from features.synth.specs import (
    CHAT_TEMPLATES,
    COMMENT_TEMPLATES,
    CONSTRAINTS,
    GENERIC_CHAT,
    GENERIC_COMMENTS,
    GENERIC_SEARCHES,
    SEARCH_TEMPLATES,
    SOFT_TAGS,
    TAG_NOTES,
)


class TextSteps(PeopleSteps):
    """The text pools (searches, chats, comments) and the leaders' manual tags."""

    def texts(self) -> None:
        texts: list[str] = []
        index: dict[str, int] = {}

        def tid(s: str) -> int:
            if s not in index:
                index[s] = len(texts)
                texts.append(s)
            return index[s]

        pools: list[dict[int, float]] = []
        kw_weight = lambda i: 1.0 / math.sqrt(i + 1)  # noqa: E731
        for p in self.cast.personas:  # poolsSEARCH + p
            pool: dict[int, float] = {}
            for i, kw in enumerate(p.keywords):
                for tmpl, tw in SEARCH_TEMPLATES:
                    t = tid(tmpl.format(k=kw))
                    pool[t] = pool.get(t, 0.0) + kw_weight(i) * tw
            pools.append(pool)
        pools.append({tid(s): 1.0 for s in GENERIC_SEARCHES})  # POOL_SEARCH_GEN
        for p in self.cast.personas:  # poolsCHAT + p
            pool = {tid(s): 2.0 for s in p.sentences}
            for i, kw in enumerate(p.keywords):
                for tmpl in CHAT_TEMPLATES:
                    t = tid(tmpl.format(k=kw))
                    pool[t] = pool.get(t, 0.0) + kw_weight(i)
            pools.append(pool)
        pools.append({tid(s): 1.0 for s in GENERIC_CHAT})  # POOL_CHAT_GEN
        for p in self.cast.personas:  # poolsCOMMENT + p
            pool = {}
            for i, kw in enumerate(p.keywords):
                for tmpl in COMMENT_TEMPLATES:
                    t = tid(tmpl.format(k=kw))
                    pool[t] = pool.get(t, 0.0) + kw_weight(i)
            pools.append(pool)
        pools.append({tid(s): 1.0 for s in GENERIC_COMMENTS})  # POOL_COMMENT_GEN
        w = np.zeros((len(pools), len(texts)))
        for r, pool in enumerate(pools):
            for t, v in pool.items():
                w[r, t] = v
        self.text_pools = _Categorical(w)
        self.text_strings = pa.array(texts, pa.string())

    # ---- manual tags -------------------------------------------------------------------------

    def manual_tags(self) -> pd.DataFrame:
        rng = self.rng["tags"]
        n = self.n
        person_l, tag_l = [], []
        tag_names = list(TAG_NOTES)
        for k, x in enumerate(CONSTRAINTS):
            name = ("avoid:" if x == "pork" else "allergy:") + x
            p = np.flatnonzero((self.person_bits >> k) & 1)
            person_l.append(p)
            tag_l.append(np.full(p.size, tag_names.index(name)))
        for name, persona_key, rate_in, rate_out in SOFT_TAGS:
            key_idx = self.cast.index(persona_key)
            rate = np.where(self.persona2 == key_idx, rate_in / 2, rate_out)
            rate = np.where(self.persona == key_idx, rate_in, rate)
            p = np.flatnonzero(rng.random(n) < rate)
            person_l.append(p)
            tag_l.append(np.full(p.size, tag_names.index(name)))
        person = np.concatenate(person_l)
        tag = np.concatenate(tag_l)
        o = np.lexsort((tag, person))
        person, tag = person[o], tag[o]
        note_counts = np.array([len(TAG_NOTES[t]) for t in tag_names])
        note_pick = (rng.random(person.size) * note_counts[tag]).astype(np.int64)
        notes_flat = [s for t in tag_names for s in TAG_NOTES[t]]
        note_start = np.concatenate([[0], np.cumsum(note_counts)[:-1]])
        t, fmt = self._choose_ids(rng, person, np.full(person.size, PREF_GROUP, np.int8), 0.0)
        idx = self._id_index(person, t, fmt)
        ts = rng.integers(self.t0 - 60 * DAY, self.t_end, person.size)
        naive = rng.random(person.size) < self.cfg.naive_ts_share
        table = pa.table(
            {
                Col.ID_TYPE: _take(self.id_type_strings, t),
                Col.ID_VALUE: _take(self.id_strings, idx),
                Col.TAG: _take(pa.array(tag_names, pa.string()), tag),
                Col.NOTE: _take(pa.array(notes_flat, pa.string()), note_start[tag] + note_pick),
                Col.AUTHOR: pa.array(
                    np.char.add("wecom:", self.leaders[self.compound[person]]).astype(object),
                    pa.string(),
                ),
                Col.TS: _fmt_ts(ts, naive),
            }
        )
        return _to_pandas(table)
