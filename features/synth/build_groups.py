"""Builder steps: groups and members, live sessions / 接龙 chains and hosts, invitations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from features.schema import LIST_SEP, Col, EventType
from features.synth.build_texts import TextSteps
from features.synth.constants import (
    CH_GROUP,
    CH_LIVE,
    DAY,
    ET,
    MONTH_DAYS,
    OPENID,
    PREF_GROUP,
    WECOM,
)
from features.synth.helpers import (
    _Categorical,
    _fmt_ts,
    _fmt_ts_nullable,
    _restricted_days,
    _take,
    _to_pandas,
)
from features.synth.specs import (
    CHAIN_THEME_MIX,
    COMPOUND_PREFIXES,
    COMPOUND_SUFFIXES,
    EXTRA_PHASES,
    GROUP_TYPES,
    HOLIDAY_TITLES,
    HOST_PREFIXES,
    HOST_TEMPLATES,
    INTEREST_GROUPS,
    LIVE_THEME_MIX,
    N_THEMES,
    SURNAMES,
    THEME_KEYS,
    THEMES,
)


class GroupSteps(TextSteps):
    """Groups and memberships, hosts, lives and plain 接龙 chains, invitations."""

    def groups(self) -> None:
        cfg, rng = self.cfg, self.rng["groups"]
        n, n_comp = self.n, self.n_comp
        comp_names = _compound_names(rng, n_comp)
        self.comp_names = comp_names
        self.leaders = np.array([f"tz{c + 1:05d}" for c in range(n_comp)])
        reachable = self.has[:, WECOM] | self.has[:, OPENID]
        joins = rng.random(n) < np.where(reachable, 0.88, 0.3)
        members_per_comp = np.bincount(self.compound[joins], minlength=n_comp)
        n_gen = np.maximum(1, np.ceil(members_per_comp / cfg.general_group_max)).astype(np.int64)
        gen_start = np.concatenate([[0], np.cumsum(n_gen)[:-1]])
        sub = (rng.random(n) * n_gen[self.compound]).astype(np.int64)
        gen_group = np.where(joins, gen_start[self.compound] + sub, -1)
        g_comp = np.repeat(np.arange(n_comp), n_gen)
        g_type = np.zeros(g_comp.size, dtype=np.int64)
        g_name = [f"{comp_names[c]}{j + 1}号群" for c in range(n_comp) for j in range(n_gen[c])]
        n_general = g_comp.size
        # interest and value groups, per compound
        m_groups = [gen_group[joins]]
        m_persons = [np.flatnonzero(joins)]
        extra_comp, extra_type = [], []
        next_id = n_general
        for t, (_key, suffix, _kind, persona_key) in enumerate(INTEREST_GROUPS, start=1):
            exists = rng.random(n_comp) < cfg.interest_group_rate
            if cfg.interest_group_rate > 0 and not exists.any():  # every kind exists somewhere
                exists[rng.integers(0, n_comp)] = True
            gid = np.full(n_comp, -1)
            gid[exists] = next_id + np.arange(exists.sum())
            next_id += int(exists.sum())
            extra_comp.append(np.flatnonzero(exists))
            extra_type.append(np.full(exists.sum(), t))
            g_name += [f"{comp_names[c]}{suffix}" for c in np.flatnonzero(exists)]
            key_idx = self.cast.index(persona_key)
            match = self.persona == key_idx
            match2 = self.persona2 == key_idx
            p_join = np.where(match, 0.45, np.where(match2, 0.2, 0.02))
            if _key == "vip":
                rich = np.where(self.price_level > 0.7, 0.06, 0.01)
                p_join = np.where(match, 0.5, np.where(match2, 0.2, rich))
            p_join = p_join * reachable
            mem = (rng.random(n) < p_join) & (gid[self.compound] >= 0)
            m_groups.append(gid[self.compound][mem])
            m_persons.append(np.flatnonzero(mem))
        g_comp = np.concatenate([g_comp, *extra_comp])
        g_type = np.concatenate([g_type, *extra_type])
        n_groups = g_comp.size
        created = np.where(
            g_type == 0,
            self.t0 - rng.uniform(60, 720, n_groups) * DAY,
            self.t0 - rng.uniform(-0.5 * self.n_days, 400, n_groups) * DAY,
        ).astype(np.int64)
        created = np.minimum(created, self.t_end - 20 * DAY)
        m_group = np.concatenate(m_groups)
        m_person = np.concatenate(m_persons)
        joined, left = self._membership_spans(rng, created, m_group, m_person)
        order = np.lexsort((m_person, m_group))
        self.m_group, self.m_person = m_group[order], m_person[order]
        self.m_joined, self.m_left = joined[order], left[order]
        self.g_size = np.bincount(self.m_group, minlength=n_groups)
        self.g_start = np.concatenate([[0], np.cumsum(self.g_size)[:-1]])
        self.g_comp, self.g_type, self.g_created = g_comp, g_type, created
        self.g_name = g_name
        self.n_groups = n_groups
        self.gen_group = gen_group
        width = max(5, len(str(n_groups)))
        self.group_ids = pa.array([f"G{i + 1:0{width}d}" for i in range(n_groups)], pa.string())

    def _membership_spans(
        self,
        rng: np.random.Generator,
        created: np.ndarray,
        m_group: np.ndarray,
        m_person: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """When each member joined and left (never left: int64 max); churned people leave."""
        span = self.t_end - created[m_group]
        joined = created[m_group] + (span * rng.beta(0.5, 3.0, m_group.size)).astype(np.int64)
        late = self.t0 + self.active_from[m_person] * DAY + rng.integers(0, DAY, m_group.size)
        joined = np.where(self.active_from[m_person] > 0, np.maximum(joined, late), joined)
        joined = np.minimum(joined, self.t_end - 3600)
        churned = self.active_to[m_person] < self.n_days - 1
        gone = self.t0 + (self.active_to[m_person] + rng.uniform(0, 3, m_group.size)) * DAY
        left = np.full(m_group.size, np.iinfo(np.int64).max)
        leave_churn = churned & (rng.random(m_group.size) < 0.6) & (gone > joined)
        left = np.where(leave_churn, gone.astype(np.int64), left)
        quits = (~leave_churn) & (rng.random(m_group.size) < 0.04)
        q_at = joined + ((self.t_end - joined) * rng.uniform(0.2, 1.0, m_group.size)).astype(
            np.int64
        )
        left = np.where(quits & (q_at > joined + DAY), q_at, left)
        return joined, left

    def groups_tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        rng = self.rng["groups"]
        kinds = np.array(["general"] + [g[2] for g in INTEREST_GROUPS])
        naive = rng.random(self.n_groups) < self.cfg.naive_ts_share
        groups = pa.table(
            {
                Col.GROUP_ID: self.group_ids,
                Col.NAME: pa.array(self.g_name, pa.string()),
                Col.LEADER: pa.array(
                    np.char.add("wecom:", self.leaders[self.g_comp]).astype(object), pa.string()
                ),
                Col.KIND: pa.array(kinds[self.g_type].astype(object), pa.string()),
                Col.CREATED_AT: _fmt_ts(self.g_created, naive),
            }
        )
        t, fmt = self._choose_ids(
            rng, self.m_person, np.full(self.m_person.size, PREF_GROUP, np.int8), 0.0
        )
        idx = self._id_index(self.m_person, t, fmt)
        naive = rng.random(self.m_person.size) < self.cfg.naive_ts_share
        has_left = self.m_left < np.iinfo(np.int64).max
        members = pa.table(
            {
                Col.GROUP_ID: _take(self.group_ids, self.m_group),
                Col.ID_TYPE: _take(self.id_type_strings, t),
                Col.ID_VALUE: _take(self.id_strings, idx),
                Col.JOINED_AT: _fmt_ts(self.m_joined, naive),
                Col.LEFT_AT: _fmt_ts_nullable(self.m_left, has_left, naive),
            }
        )
        return _to_pandas(groups), _to_pandas(members)

    # ---- hosts, lives and plain 接龙 chains --------------------------------------------------

    def sessions(self) -> None:
        cfg, rng = self.cfg, self.rng["sessions"]
        match = self._hosts(rng)
        n_hosts = self.n_hosts
        # sessions per group
        act_from = np.maximum(self.g_created, self.t0)
        months_eff = (self.t_end - act_from) / (MONTH_DAYS * DAY)
        gt = self.g_type
        live_rate = np.where(
            gt == 0, cfg.lives_per_month_general, cfg.lives_per_month_interest
        ).astype(float)
        chain_rate = np.where(gt == 0, cfg.chains_per_month, np.where(gt == 5, 0.5, 1.0))
        n_live = rng.poisson(live_rate * months_eff)
        n_chain = rng.poisson(chain_rate * months_eff)
        s_group = np.concatenate(
            [
                np.repeat(np.arange(self.n_groups), n_live),
                np.repeat(np.arange(self.n_groups), n_chain),
            ]
        )
        is_live = np.concatenate([np.ones(n_live.sum(), bool), np.zeros(n_chain.sum(), bool)])
        n_s = s_group.size
        first_day = ((act_from[s_group] - self.t0) // DAY).astype(np.int64)
        day = _restricted_days(rng, self.day_cdf, first_day, np.full(n_s, self.n_days - 1))
        live_hour = np.array([10, 15, 19, 20, 20, 21])[rng.integers(0, 6, n_s)]
        hour = np.where(is_live, live_hour, rng.integers(7, 22, n_s))
        minute = np.where(is_live, rng.choice([0, 30], n_s), rng.integers(0, 60, n_s))
        start = self.t0 + day * DAY + hour * 3600 + minute * 60
        dur = np.where(is_live, rng.integers(60, 121, n_s) * 60, 0)
        mix = np.concatenate([LIVE_THEME_MIX, CHAIN_THEME_MIX])
        theme = _Categorical(mix).sample(rng, gt[s_group] + np.where(is_live, 0, len(GROUP_TYPES)))
        period = self.day_period[day]
        in_holiday = self.holiday_period_mask[period]
        hol_theme = in_holiday & (gt[s_group] == 0) & (rng.random(n_s) < 0.35)
        theme = np.where(hol_theme, THEME_KEYS.index("holiday_gift"), theme)
        # host: one who fits the theme 75% of the time, anyone otherwise
        host = rng.integers(0, n_hosts, n_s)
        for th in range(N_THEMES):
            fits = np.flatnonzero(match[th])
            m = (theme == th) & (rng.random(n_s) < 0.75) & (fits.size > 0)
            if fits.size:
                host[m] = fits[rng.integers(0, fits.size, m.sum())]
        host_fit = match[theme, host]
        self.s_feat = self._featured(rng, theme, period, is_live)
        # order: lives first (live ids follow start time), then chains
        o = np.lexsort((start, ~is_live))
        self.s_group, self.s_is_live, self.s_day = s_group[o], is_live[o], day[o]
        self.s_start, self.s_dur, self.s_theme = start[o], dur[o], theme[o]
        self.s_host, self.s_host_fit, self.s_feat = host[o], host_fit[o], self.s_feat[o]
        self.s_discount = np.where(
            self.s_is_live, rng.uniform(0.8, 0.95, n_s), rng.uniform(0.85, 0.97, n_s)
        )
        self.n_lives = int(is_live.sum())
        self.n_sessions = n_s
        self.live_titles = self._live_titles(rng.integers(0, 3, n_s))
        width = max(5, len(str(self.n_lives)))
        self.live_ids = pa.array([f"L{i + 1:0{width}d}" for i in range(self.n_lives)], pa.string())
        hw = max(3, len(str(n_hosts)))
        self.host_ids = pa.array([f"H{i + 1:0{hw}d}" for i in range(n_hosts)], pa.string())

    def _hosts(self, rng: np.random.Generator) -> np.ndarray:
        """Hosts (every template once, then random ones); returns (theme, host) tag match."""
        n_hosts = max(len(HOST_TEMPLATES), round(self.n_groups / 15))
        tmpl = np.concatenate(
            [
                np.arange(len(HOST_TEMPLATES)),
                rng.integers(0, len(HOST_TEMPLATES), n_hosts - len(HOST_TEMPLATES)),
            ]
        )
        sur = rng.integers(0, len(SURNAMES), n_hosts)
        pre = rng.integers(0, len(HOST_PREFIXES), n_hosts)
        self.host_names = [
            f"{HOST_TEMPLATES[t][0]}{HOST_PREFIXES[x]}{SURNAMES[s]}"
            for t, s, x in zip(tmpl, sur, pre, strict=True)
        ]
        self.host_tags = [HOST_TEMPLATES[t][1] for t in tmpl]
        tagsets = [set(t.split(LIST_SEP)) for t in self.host_tags]
        match = np.array([[bool(set(th.host_tags) & ts) for ts in tagsets] for th in THEMES])
        self.n_hosts = n_hosts
        return match

    def _featured(
        self,
        rng: np.random.Generator,
        theme: np.ndarray,
        period: np.ndarray,
        is_live: np.ndarray,
    ) -> np.ndarray:
        """Featured goods: 4-8 for lives, 1-3 for chains, from the theme's goods in season."""
        n_s = theme.size
        cand = self._sample_items(
            rng, np.repeat(self.src_theme0 + theme, 8), np.repeat(period, 8)
        ).reshape(n_s, 8)
        cand = np.sort(cand, axis=1)
        dup = np.zeros_like(cand, dtype=bool)
        dup[:, 1:] = cand[:, 1:] == cand[:, :-1]
        perm = np.argsort(rng.random((n_s, 8)) + dup, axis=1)  # unique first, in random order
        cand = np.take_along_axis(cand, perm, axis=1)
        dup = np.take_along_axis(dup, perm, axis=1)
        k = np.where(is_live, rng.integers(4, 9, n_s), rng.integers(1, 4, n_s))
        keep = (~dup) & (np.arange(8)[None, :] < k[:, None])
        return np.where(keep, cand, -1).astype(np.int64)

    def _live_titles(self, title_pick: np.ndarray) -> list[str]:
        """Live titles from the theme (holiday titles for gift lives in a holiday period)."""
        titles: list[str] = []
        for s in range(self.n_lives):
            th = THEMES[self.s_theme[s]]
            kind = self.period_kind[self.day_period[self.s_day[s]]]
            if th.key == "holiday_gift" and kind in HOLIDAY_TITLES:
                options = HOLIDAY_TITLES[kind]
                titles.append(options[title_pick[s] % len(options)])
            else:
                titles.append(th.titles[title_pick[s] % len(th.titles)])
        return titles

    def lives_tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        rng = self.rng["sessions"]
        nl = self.n_lives
        feat = self.s_feat[:nl]
        ids = self.items[Col.ITEM_ID].to_numpy()
        item_lists = [LIST_SEP.join(ids[row[row >= 0]]) for row in feat]
        naive = rng.random(nl) < self.cfg.naive_ts_share
        lives = pa.table(
            {
                Col.LIVE_ID: self.live_ids,
                Col.GROUP_ID: _take(self.group_ids, self.s_group[:nl]),
                Col.START_TS: _fmt_ts(self.s_start[:nl], naive),
                Col.END_TS: _fmt_ts(self.s_start[:nl] + self.s_dur[:nl], naive),
                Col.HOST_ID: _take(self.host_ids, self.s_host[:nl]),
                Col.THEME: pa.array(self.live_titles, pa.string()),
                Col.ITEM_IDS: pa.array(item_lists, pa.string()),
            }
        )
        hosts = pa.table(
            {
                Col.HOST_ID: self.host_ids,
                Col.NAME: pa.array(self.host_names, pa.string()),
                Col.TAGS: pa.array(self.host_tags, pa.string()),
            }
        )
        return _to_pandas(lives), _to_pandas(hosts)

    def invitations(self) -> None:
        """Every member present at a live / chain decides to view, comment and join the 接龙."""
        rng = self.rng["invites"]
        sizes = self.g_size[self.s_group]
        total = int(sizes.sum())
        sess = np.repeat(np.arange(self.n_sessions), sizes)
        offs = np.repeat(np.cumsum(sizes) - sizes, sizes)
        mrow = np.repeat(self.g_start[self.s_group], sizes) + (np.arange(total) - offs)
        start = self.s_start[sess]
        present = (self.m_joined[mrow] <= start) & (start < self.m_left[mrow])
        sess, mrow = sess[present], mrow[present]
        person = self.m_person[mrow]
        persona = self.persona[person]
        theme = self.s_theme[sess]
        # fit of a person to a theme: mixture of the primary and secondary personas' fits
        f1 = self.cast.fit[persona, theme]
        f2 = self.cast.fit[np.maximum(self.persona2[person], 0), theme]
        fit = f1 + self.mix2[person] * (f2 - f1)
        live = self.s_is_live[sess]
        hf = self.s_host_fit[sess]
        day = (self.s_start[sess] - self.t0) // DAY
        active = (day >= self.active_from[person]) & (day <= self.active_to[person])
        act = np.where(active, 1.0, 0.15)
        p_view = np.clip(
            self.lvp[person] * (0.12 + 0.88 * fit) * np.where(hf, 1.0, 0.8) * act, 0, 0.98
        )
        p_jv = np.clip(self.jlp[person] * (0.05 + 0.95 * fit) * np.where(hf, 1.0, 0.7), 0, 0.97)
        p_jnv = 0.05 * p_jv
        p_chain = np.clip(self.jlp[person] * (0.02 + 0.3 * fit) * act, 0, 0.9)
        p_view = np.where(live, p_view, 0.0)
        viewed = rng.random(sess.size) < p_view
        u = rng.random(sess.size)
        joined = np.where(live, np.where(viewed, u < p_jv, u < p_jnv * act), u < p_chain)
        self._views_and_comments(rng, sess, person, viewed, fit)
        # 接龙 baskets from the featured goods (never an item the person must avoid)
        j = np.flatnonzero(joined)
        feat = self.s_feat[sess[j]]  # (J, 8)
        pj = person[j]
        valid = (feat >= 0) & (
            (self.item_bits[np.maximum(feat, 0)] & self.person_bits[pj][:, None]) == 0
        )
        w = np.where(valid, self.aff_persona[persona[j][:, None], np.maximum(feat, 0)] + 0.3, 0.0)
        n_valid = valid.sum(1)
        # a themed live that fits sells bundles: more lines and larger quantities
        fit_j = fit[j]
        k_live = 1 + rng.binomial(3, 0.25 + 0.5 * fit_j)
        k = np.minimum(np.where(live[j], k_live, 1 + rng.binomial(1, 0.3, j.size)), n_valid)
        with np.errstate(divide="ignore"):
            keys = np.log(w) + rng.gumbel(size=w.shape)
        rank = np.argsort(-keys, axis=1)
        chosen = np.take_along_axis(feat, rank, axis=1)
        take = np.arange(8)[None, :] < k[:, None]
        row, col = np.nonzero(take)
        line_item = chosen[row, col]
        emitted = np.zeros(sess.size, dtype=bool)
        emitted[j[k > 0]] = True
        lv = np.flatnonzero(live)  # the truth keeps the lives only (chains are plain posts)
        self.invite = {
            "sess": sess[lv].astype(np.int32),
            "person": person[lv].astype(np.int32),
            "p_view": p_view[lv].astype(np.float32),
            "p_jv": p_jv[lv].astype(np.float32),
            "p_join": (p_view * p_jv + (1 - p_view) * p_jnv * act)[lv].astype(np.float32),
            "viewed": viewed[lv],
            "joined": emitted[lv],
            "fit": fit[lv].astype(np.float32),
        }
        self._jielong_lines(rng, sess, person, j, row, line_item, live, viewed, fit)

    def _views_and_comments(
        self,
        rng: np.random.Generator,
        sess: np.ndarray,
        person: np.ndarray,
        viewed: np.ndarray,
        fit: np.ndarray,
    ) -> None:
        """live_view events of the viewers, live_comment events (more when the theme fits)."""
        s_start, s_dur = self.s_start[sess], self.s_dur[sess]
        v = np.flatnonzero(viewed)
        view_ts = s_start[v] + (s_dur[v] * rng.uniform(0, 0.5, v.size)).astype(np.int64)
        live_idx = sess  # lives come first in session order, so session index == live index
        self._emit(
            v.size,
            ts=view_ts,
            et=ET[EventType.LIVE_VIEW],
            person=person[v],
            pref=PREF_GROUP,
            group=self.s_group[sess[v]],
            live=live_idx[v],
            channel=CH_LIVE,
        )
        n_com = rng.binomial(3, 0.12 + 0.3 * fit[v])
        c = np.repeat(v, n_com)
        c_ts = s_start[c] + (s_dur[c] * rng.uniform(0.05, 1.0, c.size)).astype(np.int64)
        persona_pool = self._keep_text(rng.random(c.size) < 0.6)
        pools = self.cast.pools
        pool = np.where(
            persona_pool, pools["comment"] + self._taste(rng, person[c]), pools["comment_gen"]
        )
        self._emit(
            c.size,
            ts=c_ts,
            et=ET[EventType.LIVE_COMMENT],
            person=person[c],
            pref=PREF_GROUP,
            group=self.s_group[sess[c]],
            live=live_idx[c],
            text=self.text_pools.sample(rng, pool),
            channel=CH_LIVE,
        )

    def _jielong_lines(
        self,
        rng: np.random.Generator,
        sess: np.ndarray,
        person: np.ndarray,
        j: np.ndarray,
        row: np.ndarray,
        line_item: np.ndarray,
        live: np.ndarray,
        viewed: np.ndarray,
        fit: np.ndarray,
    ) -> None:
        """The 接龙 lines of the joined baskets; when each basket joins the chain: KOCs early,
        viewers during the live, others later."""
        s_start, s_dur = self.s_start[sess], self.s_dur[sess]
        persona, pj, live_idx = self.persona[person], person[j], sess
        koc = self.koc[pj]
        dur = s_dur[j]
        delay_live = dur * rng.beta(1.3, 3.0, j.size) * (1 - 0.7 * koc)
        delay_live += rng.uniform(0, 300, j.size)
        delay_late = dur + rng.exponential(4 * 3600, j.size)
        delay_chain = np.minimum(rng.exponential(5 * 3600, j.size) * (1 - 0.7 * koc), 2 * DAY)
        delay = np.where(live[j], np.where(viewed[j], delay_live, delay_late), delay_chain)
        basket_ts = s_start[j] + delay.astype(np.int64)
        order_of_join = self._new_orders(basket_ts)[row]
        jrow = j[row]  # invitation index of each line
        is_live_line = live[jrow]
        ts = basket_ts[row]
        extra = (
            self.cast.vector("extra_quantity")[persona[jrow]]
            + 0.2
            + np.where(is_live_line, 0.8 * fit[jrow], 0.0)
        )
        qty = np.minimum(1 + rng.poisson(extra), 10)
        amount = np.round(
            self.item_price[line_item]
            * qty
            * self.s_discount[sess[jrow]]
            * rng.uniform(0.98, 1.0, row.size),
            2,
        )
        self._emit(
            row.size,
            ts=ts,
            et=ET[EventType.JIELONG],
            person=person[jrow],
            pref=PREF_GROUP,
            item=line_item,
            qty=qty,
            amount=amount,
            order=order_of_join,
            group=self.s_group[sess[jrow]],
            live=np.where(is_live_line, live_idx[jrow], -1),
            channel=CH_GROUP,
        )


def _compound_names(rng: np.random.Generator, n_comp: int) -> list[str]:
    """Compound names: prefix x suffix in random order, then further phases (二期, ...)."""
    names = [p + s for p in COMPOUND_PREFIXES for s in COMPOUND_SUFFIXES]
    names = [names[i] for i in rng.permutation(len(names))]
    n_names = len(names)
    return [
        names[c % n_names]
        + (
            EXTRA_PHASES[c // n_names]
            if c // n_names < len(EXTRA_PHASES)
            else f"{c // n_names + 1}期"
        )
        for c in range(n_comp)
    ]
