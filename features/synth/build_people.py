"""Builder steps: people (personas, propensities, lives) and their identifiers and links."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from features.schema import Col
from features.synth.build_catalogue import CatalogueSteps
from features.synth.constants import (
    CARD,
    DAY,
    ID_TYPES,
    MONTH_DAYS,
    N_PHONE_FORMATS,
    OPENID,
    PHONE,
    PHONE_FORMAT_WEIGHTS,
    PHONE_PREFIXES,
    PREF_GROUP,
    PREF_ORDERS,
    PREF_PLAUSIBLE,
    WECOM,
)
from features.synth.helpers import (
    _chars,
    _fmt_ts,
    _take,
    _to_pandas,
    _unique_block,
)
from features.synth.specs import (
    CONSTRAINTS,
)


class PeopleSteps(CatalogueSteps):
    """People (personas, propensities, active spans) and their identifiers."""

    def people(self) -> None:
        cfg, rng = self.cfg, self.rng["people"]
        n = cfg.people
        self.n = n
        n_personas = self.cast.n
        persona = rng.choice(n_personas, size=n, p=cfg.shares()).astype(np.int64)
        self.persona = persona

        def beta(means: np.ndarray, conc: float) -> np.ndarray:
            m = np.clip(means, 0.01, 0.99)
            return rng.beta(m * conc, (1 - m) * conc)

        spec = lambda attr: self.cast.vector(attr)[persona]  # noqa: E731
        self.activity = rng.gamma(2.5, 0.4, n)
        self.loyalty = np.clip(beta(spec("loyalty") * cfg.loyalty_scale, 20.0), 0.05, 0.97)
        self.price_level = beta(spec("price_level"), 12.0)
        self.lvp = beta(spec("live_view"), 12.0)
        self.jlp = beta(spec("jielong"), 12.0)
        koc = rng.beta(0.6, 9.0, n)
        star = rng.random(n) < 0.03
        self.koc = np.where(star, np.clip(koc * 4 + 0.3, 0, 0.95), koc)
        n_comp = max(1, round(n / cfg.compound_size))
        comp_w = rng.uniform(0.7, 1.3, n_comp)
        self.compound = rng.choice(n_comp, size=n, p=comp_w / comp_w.sum()).astype(np.int64)
        self.n_comp = n_comp
        # activity window: most people are there all along, some join late, some churn
        u = rng.random(n)
        last = self.n_days - 1
        a_from = np.where(u < 0.12, (rng.random(n) * 0.8 * last).astype(np.int64), 0)
        churn = rng.random(n) < 0.08
        a_to = np.where(
            churn, a_from + ((last - a_from) * rng.uniform(0.2, 0.9, n)).astype(np.int64), last
        )
        self.active_from = a_from
        self.active_to = np.maximum(a_to, a_from)
        self.acquisition = rng.choice(4, size=n, p=[0.3, 0.2, 0.2, 0.3])  # store ad referral group
        # a secondary persona for some (a fitness fan who is also a young parent, ...)
        has2 = rng.random(n) < cfg.secondary_share
        p2 = rng.choice(n_personas, size=n, p=cfg.shares())
        clash = p2 == persona
        p2 = np.where(clash, (persona + 1 + rng.integers(0, n_personas - 1, n)) % n_personas, p2)
        self.persona2 = np.where(has2, p2, -1)
        m = cfg.secondary_mix
        self.mix2 = np.where(has2, rng.beta(10 * m, 10 * (1 - m), n), 0.0)
        # constraints (bit k = CONSTRAINTS[k])
        bits = np.zeros(n, dtype=np.int64)
        is_parent = self._is(self.cast.index("young_parents"))
        is_baker = self._is(self.cast.index("home_bakers"))
        for k, x in enumerate(CONSTRAINTS):
            rate = np.full(n, cfg.allergy_rates.get(x, 0.0))
            if x == "mango":
                rate = np.where(is_parent, rate * 4, rate)
            if x == "milk":
                rate = np.where(is_baker, 0.0, rate)
            bits |= (rng.random(n) < rate).astype(np.int64) << k
        self.person_bits = bits
        active_months = (self.active_to - self.active_from + 1) / MONTH_DAYS
        self.active_months = active_months
        # standing favourites (re-bought staples of each person), from the neutral period
        k_fav = 12
        taste = np.where(
            rng.random((n, k_fav)) < self.mix2[:, None], self.persona2[:, None], persona[:, None]
        )
        src = np.where(rng.random((n, k_fav)) < self.loyalty[:, None], taste, self.src_staples)
        fav = self._sample_items(rng, src.ravel(), np.full(n * k_fav, self.neutral_period))
        fav = self._repick_variant(rng, fav, np.repeat(self.price_level, k_fav), 0.5)
        self.fav = fav.reshape(n, k_fav)

    def _keep_text(self, own: np.ndarray) -> np.ndarray:
        """Persona-driven texts, of which `text_noise` become keyword-free generic ones."""
        if self.cfg.text_noise <= 0:
            return own
        return own & (self.rng["knobs"].random(own.size) >= self.cfg.text_noise)

    def _is(self, persona: int) -> np.ndarray:
        """People whose primary or secondary persona is `persona`."""
        return (self.persona == persona) | (self.persona2 == persona)

    def _taste(self, rng: np.random.Generator, person: np.ndarray) -> np.ndarray:
        """The persona behind one persona-driven action: the secondary with its weight."""
        use2 = rng.random(person.size) < self.mix2[person]
        return np.where(use2, self.persona2[person], self.persona[person])

    # ---- identifiers -------------------------------------------------------------------------

    def identifiers(self) -> None:
        cfg, rng = self.cfg, self.rng["ids"]
        n = self.n
        has = np.zeros((n, 4), dtype=bool)
        has[:, WECOM] = rng.random(n) < cfg.wecom_share
        has[:, OPENID] = rng.random(n) < 0.8
        has[:, PHONE] = rng.random(n) < 0.75
        elderly = self.persona == self.cast.index("elderly_staples")
        has[:, CARD] = rng.random(n) < np.where(elderly, 0.6, 0.35)
        for _ in range(2):  # top up to at least two identifiers
            short = has.sum(1) < 2
            if not short.any():
                break
            keys = rng.random((short.sum(), 4)) * np.array([3.0, 1.0, 1.2, 2.0])
            keys[has[short]] = np.inf
            has[np.flatnonzero(short), keys.argmin(1)] = True
        self.has = has
        b62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        b64 = b62 + "-_"
        rnd = lambda k, base: rng.integers(0, base, (n, k))  # noqa: E731
        wecom = np.concatenate(
            [rnd(4, 62), _unique_block(n, 62, 6, 35_104_981_557, 9_876_543_211), rnd(8, 62)], axis=1
        )
        openid = np.concatenate(
            [rnd(5, 64), _unique_block(n, 64, 6, 42_470_590_831, 31_415_926_535), rnd(16, 64)],
            axis=1,
        )
        wecom_s = np.char.add("wm", _chars(wecom, b62))
        openid_s = np.char.add("o", _chars(openid, b64))
        card = _unique_block(n, 10, 10, 6_180_339_887, 2_718_281_828)
        card_s = np.char.add("MC", _chars(card, "0123456789"))
        sfx = _unique_block(n, 10, 8, 61_803_399, 57_721_566)
        mid, tail = _chars(sfx[:, :4], "0123456789"), _chars(sfx[:, 4:], "0123456789")
        a = PHONE_PREFIXES[rng.integers(0, PHONE_PREFIXES.size, n)].astype(str)
        digits = np.char.add(a, np.char.add(mid, tail))
        dash = np.char.add(np.char.add(np.char.add(a, "-"), np.char.add(mid, "-")), tail)
        space = np.char.add(np.char.add(np.char.add(a, " "), np.char.add(mid, " ")), tail)
        phones = [digits, np.char.add("+86 ", dash), space, np.char.add("+86", digits), dash]
        self.phone_norm = digits
        strings = [wecom_s, openid_s, *phones, card_s]
        self.id_strings = pa.array(np.concatenate(strings).astype(object), type=pa.string())
        self.id_values = {"wecom": wecom_s, "openid": openid_s, "phone": digits, "card": card_s}
        prefixed = [np.char.add(ID_TYPES[WECOM] + ":", wecom_s)]
        prefixed.append(np.char.add(ID_TYPES[OPENID] + ":", openid_s))
        prefixed += [np.char.add(ID_TYPES[PHONE] + ":", p) for p in phones]
        prefixed.append(np.char.add(ID_TYPES[CARD] + ":", card_s))
        self.ref_strings = pa.array(np.concatenate(prefixed).astype(object), type=pa.string())
        self.id_type_strings = pa.array(list(ID_TYPES), type=pa.string())
        # the referrer (and leader-note) identity: first available of the group preference
        self.main_type = PREF_ORDERS[PREF_GROUP][has[:, PREF_ORDERS[PREF_GROUP]].argmax(1)]

    def _id_index(self, person: np.ndarray, t: np.ndarray, fmt: np.ndarray) -> np.ndarray:
        """Index into id_strings of (person, id type, phone format)."""
        n = self.n
        base = np.choose(t, [0, n, 2 * n, 7 * n]) + np.where(t == PHONE, fmt * n, 0)
        idx = base + person
        self._mark_used(idx)
        return idx

    def _mark_used(self, idx: np.ndarray) -> None:
        if self.used_ids is None:
            self.used_ids = np.zeros(8 * self.n, dtype=bool)
        self.used_ids[idx] = True

    def _choose_ids(
        self, rng: np.random.Generator, person: np.ndarray, pref: np.ndarray, noise: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Identifier type and phone format for each event: preferred by channel, some noise."""
        avail = self.has[person]
        t = np.empty(person.size, dtype=np.int64)
        for c, order in enumerate(PREF_ORDERS):
            m = pref == c
            t[m] = order[avail[m][:, order].argmax(1)]
        flip = rng.random(person.size) < noise
        if flip.any():
            av = avail[flip] & PREF_PLAUSIBLE[pref[flip]]
            ok = av.any(1)
            flip[np.flatnonzero(flip)[~ok]] = False
            av = av[ok]
            pick = (rng.random(flip.sum()) * av.sum(1)).astype(np.int64)
            t[flip] = (np.cumsum(av, axis=1) > pick[:, None]).argmax(1)
        fmt = rng.choice(N_PHONE_FORMATS, size=person.size, p=PHONE_FORMAT_WEIGHTS)
        return t, np.where(t == PHONE, fmt, 0)

    def identity_links(self) -> pd.DataFrame:
        rng = self.rng["ids"]
        n = self.n
        keys = np.where(self.has, rng.random((n, 4)), np.inf)
        order = np.argsort(keys, axis=1)  # a random order of each person's identifiers
        k = self.has.sum(1)
        pa_list, ta_list, tb_list = [], [], []
        for j in range(1, 4):  # random spanning tree: slot j links to a random earlier slot
            m = k > j
            p = np.flatnonzero(m)
            partner = (rng.random(p.size) * j).astype(np.int64)
            pa_list.append(p)
            ta_list.append(order[p, partner])
            tb_list.append(order[p, j])
        extra = np.flatnonzero(rng.random(n) < 0.25)  # redundant re-links (repeat logins)
        i1 = (rng.random(extra.size) * k[extra]).astype(np.int64)
        i2 = (i1 + 1 + (rng.random(extra.size) * (k[extra] - 1)).astype(np.int64)) % k[extra]
        pa_list.append(extra)
        ta_list.append(order[extra, i1])
        tb_list.append(order[extra, i2])
        person = np.concatenate(pa_list)
        ta = np.concatenate(ta_list)
        tb = np.concatenate(tb_list)
        swap = rng.random(person.size) < 0.5
        ta, tb = np.where(swap, tb, ta), np.where(swap, ta, tb)
        fa = rng.choice(N_PHONE_FORMATS, size=person.size, p=PHONE_FORMAT_WEIGHTS)
        fb = rng.choice(N_PHONE_FORMATS, size=person.size, p=PHONE_FORMAT_WEIGHTS)
        pair = np.stack([ta, tb], axis=1)
        has_card = (pair == CARD).any(1)
        has_wecom = (pair == WECOM).any(1)
        source = np.where(has_card, 0, np.where(has_wecom, 1, 2))
        source = np.where(rng.random(person.size) < 0.05, 3, source)
        sources = pa.array(["store_checkout", "wecom_bind", "miniapp_login", "crm_import"])
        ts = rng.integers(self.t0 - 180 * DAY, self.t_end, person.size)
        o = np.argsort(ts, kind="stable")
        naive = rng.random(person.size) < self.cfg.naive_ts_share
        o = o[self._linkable(person[o], ta[o], tb[o])]
        ia = self._id_index(person[o], ta[o], np.where(ta[o] == PHONE, fa[o], 0))
        ib = self._id_index(person[o], tb[o], np.where(tb[o] == PHONE, fb[o], 0))
        table = pa.table(
            {
                Col.ID_TYPE_A: _take(self.id_type_strings, ta[o]),
                Col.ID_VALUE_A: _take(self.id_strings, ia),
                Col.ID_TYPE_B: _take(self.id_type_strings, tb[o]),
                Col.ID_VALUE_B: _take(self.id_strings, ib),
                Col.TS: _fmt_ts(ts[o], naive[: o.size]),  # i.i.d. flags: any subset will do
                Col.SOURCE: _take(sources, source[o]),
            }
        )
        return _to_pandas(table)

    def _linkable(self, person: np.ndarray, ta: np.ndarray, tb: np.ndarray) -> np.ndarray:
        """Link rows kept: none touching an identifier made unlinkable by `unlinked_share`."""
        keep = np.ones(person.size, dtype=bool)
        self.unlinked = np.zeros_like(self.has)
        if self.cfg.unlinked_share <= 0:
            return keep
        self.unlinked = self.has & (
            self.rng["knobs"].random(self.has.shape) < self.cfg.unlinked_share
        )
        return ~(self.unlinked[person, ta] | self.unlinked[person, tb])
