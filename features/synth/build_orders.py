"""Builder steps: orders and funnels, browsing, searching, chatting and sharing."""

from __future__ import annotations

import numpy as np

from features.schema import EventType
from features.synth.build_groups import (
    GroupSteps,
)
from features.synth.constants import (
    CH_AD,
    CH_GROUP,
    CH_MINIAPP,
    CH_REFERRAL,
    CH_STORE,
    DAY,
    ET,
    MONTH_DAYS,
    PREF_GROUP,
    PREF_STORE,
    PREF_WEB,
)
from features.synth.helpers import (
    _restricted_days,
)


class OrderSteps(GroupSteps):
    """Orders with their funnels and shares; browsing, searching, chatting, sharing."""

    def orders(self) -> None:
        cfg, rng = self.cfg, self.rng["orders"]
        n = self.n
        rate = (
            self.cast.vector("orders_per_month")[self.persona]
            * self.activity
            * self.active_months
            * cfg.activity_scale
        )
        n_ord = rng.poisson(rate)
        o_person = np.repeat(np.arange(n), n_ord)
        n_o = o_person.size
        o_day = _restricted_days(
            rng, self.day_cdf, self.active_from[o_person], self.active_to[o_person]
        )
        o_ts = self._clock(rng, o_day, self.persona[o_person])
        o_ch = self.cast.channel_dist.sample(rng, self.persona[o_person])
        # a person's first order comes through the channel that acquired them
        first = np.ones(n_o, dtype=bool)
        srt = np.lexsort((o_ts, o_person))
        first[srt[1:]] = o_person[srt[1:]] != o_person[srt[:-1]]
        acq_ch = np.array([CH_STORE, CH_AD, CH_REFERRAL, CH_GROUP])[self.acquisition[o_person]]
        o_ch = np.where(first, acq_ch, o_ch)
        no_group = self.gen_group[o_person] < 0
        o_ch = np.where((o_ch == CH_GROUP) & no_group, CH_MINIAPP, o_ch)
        # referral: a share link from a neighbour brought the order
        ref = (o_ch == CH_REFERRAL) | ((o_ch != CH_STORE) & (rng.random(n_o) < cfg.referral_share))
        o_ch = np.where(ref, CH_REFERRAL, o_ch)
        sharer = self._pick_sharers(rng, o_person[ref])
        o_ref = np.full(n_o, -1)
        o_ref[np.flatnonzero(ref)] = sharer
        o_ch = np.where(ref & (o_ref < 0), CH_MINIAPP, o_ch)
        # lines
        basket = self.cast.vector("lines_per_order")
        n_lines = np.minimum(1 + rng.poisson(basket[self.persona[o_person]] - 1), 15)
        lo = np.repeat(np.arange(n_o), n_lines)
        lp = o_person[lo]
        period = self.day_period[o_day[lo]]
        repeat = rng.random(lo.size) < cfg.repeat_share
        fav = self.fav[lp, (self.fav.shape[1] * rng.random(lo.size) ** 2).astype(np.int64)]
        loyal = rng.random(lo.size) < self.loyalty[lp]
        src = np.where(loyal, self._taste(rng, lp), self.src_staples)
        fresh = self._sample_items(rng, src, period)
        fresh = self._repick_variant(rng, fresh, self.price_level[lp], 0.5)
        item = np.where(repeat, fav, fresh)
        item = self._fix_constraints(rng, item, lp, period)
        keep = item >= 0
        lo, lp, item = lo[keep], lp[keep], item[keep]
        _, uniq = np.unique(lo.astype(np.int64) * self.n_items + item, return_index=True)
        uniq = np.sort(uniq)
        lo, lp, item = lo[uniq], lp[uniq], item[uniq]
        qty = np.minimum(1 + rng.poisson(self.cast.vector("extra_quantity")[self.persona[lp]]), 10)
        ch = o_ch[lo]
        disc = np.where(
            ch == CH_STORE, rng.uniform(0.97, 1.0, lo.size), rng.uniform(0.85, 1.0, lo.size)
        )
        amount = np.round(self.item_price[item] * qty * disc, 2)
        order_code = self._new_orders(o_ts)[lo]
        pref = np.where(ch == CH_STORE, PREF_STORE, np.where(ch == CH_GROUP, PREF_GROUP, PREF_WEB))
        ts = o_ts[lo]
        self._emit(
            lo.size,
            ts=ts,
            et=ET[EventType.ORDER],
            person=lp,
            pref=pref,
            item=item,
            qty=qty,
            amount=amount,
            order=order_code,
            group=np.where(ch == CH_GROUP, self.gen_group[lp], -1),
            channel=ch,
            ref=o_ref[lo],
        )
        self.order_stats = {"orders": n_o, "lines": int(lo.size), "gmv": float(amount.sum())}
        self._funnel(rng, ts, ch, lp, item, qty)
        self._referral_shares(rng, o_ref, o_ts, lo, item)

    def _funnel(
        self,
        rng: np.random.Generator,
        ts: np.ndarray,
        ch: np.ndarray,
        lp: np.ndarray,
        item: np.ndarray,
        qty: np.ndarray,
    ) -> None:
        """The online funnel before each online order line: view -> click -> cart."""
        online = ch != CH_STORE
        f = np.flatnonzero(online)
        cart_ts = ts[f] - rng.integers(60, 1800, f.size)
        click_ts = cart_ts - rng.integers(30, 600, f.size)
        view_ts = click_ts - rng.integers(10, 300, f.size)
        fch = np.where(ch[f] == CH_AD, CH_AD, CH_MINIAPP)
        for et, t, p_keep in (
            (EventType.VIEW, view_ts, 0.85),
            (EventType.CLICK, click_ts, 0.6),
            (EventType.CART, cart_ts, 0.55),
        ):
            m = rng.random(f.size) < p_keep
            self._emit(
                int(m.sum()),
                ts=t[m],
                et=ET[et],
                person=lp[f][m],
                pref=PREF_WEB,
                item=item[f][m],
                qty=qty[f][m] if et == EventType.CART else 0,
                channel=fch[m],
            )

    def _referral_shares(
        self,
        rng: np.random.Generator,
        o_ref: np.ndarray,
        o_ts: np.ndarray,
        lo: np.ndarray,
        item: np.ndarray,
    ) -> None:
        """The share events behind referral orders (one per order, shortly before it)."""
        n_o = o_ts.size
        r = np.flatnonzero(o_ref >= 0)
        first_line = np.full(n_o, -1)
        with_lines, first_idx = np.unique(lo, return_index=True)
        first_line[with_lines] = item[first_idx]
        r = r[first_line[r] >= 0]
        s_person = o_ref[r]
        s_ts = o_ts[r] - rng.integers(600, 2 * DAY, r.size)
        early = s_ts < self.t0  # keep the share inside the window, before its order
        s_ts[early] = self.t0 + (rng.random(early.sum()) * (o_ts[r][early] - self.t0)).astype(
            np.int64
        )
        s_group = self.gen_group[s_person]
        self._emit(
            r.size,
            ts=s_ts,
            et=ET[EventType.SHARE],
            person=s_person,
            pref=np.where(s_group >= 0, PREF_GROUP, PREF_WEB),
            item=first_line[r],
            group=s_group,
            channel=np.where(s_group >= 0, CH_GROUP, CH_MINIAPP),
        )

    def _pick_sharers(self, rng: np.random.Generator, buyers: np.ndarray) -> np.ndarray:
        """For each buyer, a sharer from the same compound weighted by KOC propensity."""
        order = np.argsort(self.compound, kind="stable")
        comp_sorted = self.compound[order]
        w = self.koc[order] + 0.005
        cnt = np.bincount(comp_sorted, minlength=self.n_comp)
        start = np.concatenate([[0], np.cumsum(cnt)[:-1]])
        cw = np.cumsum(w)
        tot = np.bincount(comp_sorted, weights=w, minlength=self.n_comp)
        base = np.concatenate([[0.0], np.cumsum(tot)[:-1]])
        norm = (cw - base[comp_sorted]) / tot[comp_sorted] + comp_sorted
        last = (np.cumsum(cnt) - 1)[cnt > 0]
        norm[last] = comp_sorted[last] + 1.0
        c = self.compound[buyers]
        pos = np.searchsorted(norm, c + rng.random(buyers.size), side="right")
        pos = np.clip(pos, start[c], start[c] + cnt[c] - 1)
        sharer = order[pos]
        same = sharer == buyers
        alt = start[c] + (pos - start[c] + 1) % np.maximum(cnt[c], 1)
        sharer = np.where(same, order[alt], sharer)
        return np.where(sharer == buyers, -1, sharer)

    def _fix_constraints(
        self, rng: np.random.Generator, item: np.ndarray, person: np.ndarray, period: np.ndarray
    ) -> np.ndarray:
        """Redraw lines a person must never buy (allergy / avoid); -1 where no luck."""
        item = item.copy()
        for _ in range(10):
            bad = np.flatnonzero((self.item_bits[item] & self.person_bits[person]) != 0)
            if bad.size == 0:
                return item
            item[bad] = self._sample_items(rng, self.src_staples, period[bad])
        bad = (self.item_bits[item] & self.person_bits[person]) != 0
        return np.where(bad, -1, item)

    def browse(self) -> None:
        cfg, rng = self.cfg, self.rng["browse"]
        rate = (
            self.cast.vector("browses_per_month")[self.persona]
            * self.activity
            * self.active_months
            * cfg.activity_scale
        )
        k = rng.poisson(rate)
        p = np.repeat(np.arange(self.n), k)
        day = _restricted_days(rng, self.day_cdf, self.active_from[p], self.active_to[p])
        ts = self._clock(rng, day, self.persona[p])
        src = np.where(rng.random(p.size) < self.loyalty[p], self._taste(rng, p), self.src_staples)
        item = self._sample_items(rng, src, self.day_period[day])
        item = self._repick_variant(rng, item, self.price_level[p], 0.5)
        ch = np.where(rng.random(p.size) < 0.07, CH_AD, CH_MINIAPP)
        self._emit(p.size, ts=ts, et=ET[EventType.VIEW], person=p, item=item, channel=ch)
        c = rng.random(p.size) < 0.35
        c_ts = ts[c] + rng.integers(5, 120, c.sum())
        self._emit(
            int(c.sum()), ts=c_ts, et=ET[EventType.CLICK], person=p[c], item=item[c], channel=ch[c]
        )
        ok = (self.item_bits[item] & self.person_bits[p]) == 0
        a = c & ok & (rng.random(p.size) < 0.1)
        self._emit(
            int(a.sum()),
            ts=ts[a] + rng.integers(130, 900, a.sum()),
            et=ET[EventType.CART],
            person=p[a],
            item=item[a],
            qty=1,
            channel=ch[a],
        )

    def search(self) -> None:
        cfg, rng = self.cfg, self.rng["search"]
        rate = (
            self.cast.vector("searches_per_month")[self.persona]
            * self.activity
            * self.active_months
            * cfg.activity_scale
        )
        k = rng.poisson(rate)
        p = np.repeat(np.arange(self.n), k)
        day = _restricted_days(rng, self.day_cdf, self.active_from[p], self.active_to[p])
        ts = self._clock(rng, day, self.persona[p])
        own = self._keep_text(rng.random(p.size) < 0.45 + 0.45 * self.loyalty[p])
        pools = self.cast.pools
        pool = np.where(own, pools["search"] + self._taste(rng, p), pools["search_gen"])
        self._emit(
            p.size,
            ts=ts,
            et=ET[EventType.SEARCH],
            person=p,
            text=self.text_pools.sample(rng, pool),
            channel=CH_MINIAPP,
        )

    def messages(self) -> None:
        cfg, rng = self.cfg, self.rng["messages"]
        p = self.m_person
        lo = np.maximum(self.m_joined, self.t0)
        hi = np.minimum(self.m_left, self.t_end)
        span = np.maximum(hi - lo, 0)
        interest = self.g_type[self.m_group] > 0
        rate = self.cast.vector("messages_per_month")[self.persona[p]] * np.where(
            interest, 1.5, 0.6
        )
        rate = rate * np.minimum(self.activity[p], 2.0) * cfg.activity_scale
        k = rng.poisson(rate * span / (MONTH_DAYS * DAY))
        r = np.repeat(np.arange(p.size), k)
        ts = lo[r] + (span[r] * rng.random(r.size)).astype(np.int64)
        own = self._keep_text(rng.random(r.size) < np.where(interest[r], 0.7, 0.5))
        pools = self.cast.pools
        pool = np.where(own, pools["chat"] + self._taste(rng, p[r]), pools["chat_gen"])
        self._emit(
            r.size,
            ts=ts,
            et=ET[EventType.MESSAGE],
            person=p[r],
            pref=PREF_GROUP,
            group=self.m_group[r],
            text=self.text_pools.sample(rng, pool),
            channel=CH_GROUP,
        )

    def shares(self) -> None:
        """Shares that lead nowhere (the referral ones come with their orders)."""
        rng = self.rng["shares"]
        k = rng.poisson(self.koc * 4 * self.active_months * self.cfg.activity_scale)
        p = np.repeat(np.arange(self.n), k)
        day = _restricted_days(rng, self.day_cdf, self.active_from[p], self.active_to[p])
        ts = self._clock(rng, day, self.persona[p])
        item = self.fav[p, rng.integers(0, self.fav.shape[1], p.size)]
        g = self.gen_group[p]
        self._emit(
            p.size,
            ts=ts,
            et=ET[EventType.SHARE],
            person=p,
            pref=np.where(g >= 0, PREF_GROUP, PREF_WEB),
            item=item,
            group=g,
            channel=np.where(g >= 0, CH_GROUP, CH_MINIAPP),
        )
