"""The synthetic group-buying world: people with hidden personas, goods, groups, lives and 接龙.

`python -m features.synth --out DIR` writes `DIR/data/` (a SCHEMA.md data directory) and, apart
from it, `DIR/truth/` (the hidden personas, identities and live-stream propensities the data was
drawn from), so that identity resolution, tags, segments, audiences and campaign simulations can
be checked against what really happened.

Everything is drawn with numpy from one seed and vectorised per event family (no per-event Python
loops): the same config gives byte-identical tables, 10,000 people x 6 months take seconds and
200,000 people x 50,000 items take minutes.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from tqdm import tqdm

from features.schema import (
    CONTAINS_PREFIX,
    LIST_SEP,
    TABLES,
    Col,
    EventType,
    IdType,
)

Format = Literal["parquet", "csv", "jsonl"]
SUFFIX: dict[str, str] = {"parquet": ".parquet", "csv": ".csv", "jsonl": ".jsonl"}

DAY = 86_400
STRING_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default `str`
# small-vocabulary event columns kept as pandas categoricals in memory (plain strings in files)
CATEGORICAL_EVENT_COLUMNS: tuple[str, ...] = (Col.EVENT_TYPE, Col.ID_TYPE, Col.CHANNEL)
MONTH_DAYS = 30.44

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


_FITNESS_AFF = {
    "name:鸡胸": 9.0,
    "attr:high_protein": 3.0,
    "attr:low_fat": 4.0,
    "sub:avocado": 8.0,
    "sub:salad_greens": 6.0,
    "sub:broccoli": 4.0,
    "name:藜麦": 6.0,
    "name:燕麦": 4.0,
    "name:糙米": 3.0,
    "sub:yogurt": 3.0,
    "name:全麦": 3.0,
    "sub:asparagus": 4.0,
    "name:红薯": 2.5,
    "name:紫薯": 2.5,
    "sub:berries": 2.0,
    "sub:sparkling_water": 3.0,
    "name:椰子水": 3.0,
    "sub:eggs": 1.5,
    "name:龙利鱼": 3.0,
    "sub:salmon": 2.0,
    "sub:dressing": 3.0,
    "sub:okra": 2.0,
    "sub:fresh_cut": 2.0,
    "sub:cherries": 1.5,
    "sub:watermelon": 1.5,
}
_PARENTS_AFF = {
    "cat:baby_food": 9.0,
    "name:宝宝": 3.0,
    "name:儿童": 5.0,
    "name:婴儿": 3.0,
    "name:鳕鱼": 3.0,
    "sub:bananas": 2.5,
    "sub:apples": 2.0,
    "sub:milk": 2.0,
    "sub:yogurt": 2.0,
    "sub:eggs": 1.5,
    "sub:berries": 2.0,
    "sub:strawberries": 1.5,
    "sub:kids_milk": 3.0,
    "name:奶黄包": 2.0,
}
_BAKERS_AFF = {
    "cat:baking": 9.0,
    "sub:butter": 8.0,
    "sub:cream": 8.0,
    "sub:cheese": 3.0,
    "name:奶油奶酪": 4.0,
    "name:马苏里拉": 3.0,
    "sub:eggs": 2.5,
    "sub:milk": 2.0,
    "sub:strawberries": 3.0,
    "sub:berries": 2.0,
    "name:吐司": 1.5,
}
_PREMIUM_AFF = {
    "attr:imported": 5.0,
    "attr:organic": 5.0,
    "sub:cherries": 8.0,
    "cat:seafood": 2.0,
    "sub:salmon": 4.0,
    "sub:shrimp": 2.0,
    "sub:crab": 4.0,
    "sub:lobster": 3.0,
    "sub:beef": 4.0,
    "sub:grapes": 2.0,
    "name:晴王": 5.0,
    "sub:durian": 3.0,
    "sub:mangosteen": 2.0,
    "name:可生食": 4.0,
    "sub:tea": 1.5,
    "sub:kiwi": 2.0,
}
_PRICE_AFF = {
    "cat:household": 6.0,
    "attr:big_pack": 5.0,
    "sub:instant_noodles": 5.0,
    "sub:chips": 4.0,
    "sub:biscuits": 3.0,
    "sub:water": 4.0,
    "sub:soda": 3.0,
    "sub:potatoes": 3.0,
    "sub:bananas": 2.0,
    "cat:frozen": 2.5,
    "sub:seeds": 3.0,
    "sub:spicy_snacks": 3.0,
    "sub:oil": 1.5,
    "sub:cabbage": 1.5,
    "sub:sprouts": 2.0,
    "sub:watermelon": 2.0,
}
_ELDERLY_AFF = {
    "sub:rice": 5.0,
    "sub:oil": 4.0,
    "sub:eggs": 5.0,
    "sub:leafy_greens": 5.0,
    "sub:cabbage": 4.0,
    "sub:root_veg": 3.0,
    "sub:tofu": 6.0,
    "sub:pork": 4.0,
    "name:草鱼": 3.0,
    "name:鲈鱼": 3.0,
    "sub:noodles": 4.0,
    "name:小米": 4.0,
    "name:杂粮": 3.0,
    "sub:buns": 4.0,
    "sub:tea": 2.0,
    "sub:mushrooms": 2.5,
    "sub:jujube": 3.0,
    "name:山药": 3.0,
    "name:中筋": 2.0,
    "sub:soy_milk": 2.0,
    "sub:aromatics": 2.0,
}
STAPLES_AFFINITY: dict[str, float] = {
    "sub:eggs": 4.0,
    "sub:milk": 3.0,
    "sub:leafy_greens": 3.0,
    "cat:fruit": 1.0,
    "sub:bananas": 2.0,
    "sub:apples": 2.0,
    "sub:watermelon": 6.0,
    "sub:rice": 2.5,
    "sub:tomatoes": 2.5,
    "sub:potatoes": 2.0,
    "sub:pork": 2.0,
    "sub:poultry": 1.0,
    "sub:cucumbers": 2.0,
    "sub:tissue": 1.5,
    "cat:condiments": 1.0,
    "sub:noodles": 1.0,
    "sub:tofu": 1.5,
    "sub:onions": 1.0,
    "sub:aromatics": 1.5,
    "sub:yogurt": 1.0,
}
PERSONA_FLOOR = 0.05
STAPLES_FLOOR = 0.3

PERSONAS: tuple[PersonaSpec, ...] = (
    PersonaSpec(
        key="fitness",
        label="健身轻食",
        share=0.15,
        loyalty=0.72,
        orders_per_month=2.4,
        lines_per_order=2.6,
        extra_quantity=0.2,
        price_level=0.6,
        price_elasticity=0.0,
        live_view=0.85,
        jielong=0.85,
        searches_per_month=3.0,
        browses_per_month=4.0,
        messages_per_month=1.0,
        channels={"miniapp": 0.55, "group": 0.22, "store": 0.15, "ad": 0.08},
        affinity=_FITNESS_AFF,
        keywords=(
            "减脂餐",
            "轻食",
            "健身餐",
            "低脂",
            "鸡胸肉",
            "牛油果",
            "沙拉",
            "藜麦",
            "高蛋白",
            "低卡",
            "燕麦",
            "代餐",
        ),
        sentences=(
            "有没有减脂餐推荐",
            "最近在减脂,求轻食套餐",
            "健身完想吃点高蛋白的",
            "鸡胸肉怎么做不柴?",
            "有低脂的沙拉酱吗",
            "牛油果熟了吗,想做轻食",
            "求推荐低卡零食",
        ),
    ),
    PersonaSpec(
        key="young_parents",
        label="年轻宝妈宝爸",
        share=0.17,
        loyalty=0.7,
        orders_per_month=2.8,
        lines_per_order=2.8,
        extra_quantity=0.25,
        price_level=0.6,
        price_elasticity=0.0,
        live_view=0.8,
        jielong=0.85,
        searches_per_month=3.0,
        browses_per_month=4.0,
        messages_per_month=1.2,
        channels={"miniapp": 0.5, "group": 0.3, "store": 0.12, "ad": 0.08},
        affinity=_PARENTS_AFF,
        keywords=(
            "辅食",
            "宝宝",
            "婴儿",
            "米粉",
            "果泥",
            "宝宝面条",
            "奶酪棒",
            "宝宝零食",
            "奶粉",
            "儿童",
        ),
        sentences=(
            "宝宝八个月了,辅食吃什么好",
            "有没有无盐的宝宝面条",
            "婴儿米粉哪个牌子好",
            "孩子爱吃奶酪棒,还有吗",
            "宝宝零食有推荐的吗",
            "果泥是无添加的吗",
        ),
    ),
    PersonaSpec(
        key="home_bakers",
        label="烘焙爱好者",
        share=0.12,
        loyalty=0.72,
        orders_per_month=2.0,
        lines_per_order=3.0,
        extra_quantity=0.2,
        price_level=0.5,
        price_elasticity=0.0,
        live_view=0.8,
        jielong=0.8,
        searches_per_month=2.5,
        browses_per_month=4.0,
        messages_per_month=1.0,
        channels={"miniapp": 0.5, "group": 0.25, "store": 0.2, "ad": 0.05},
        affinity=_BAKERS_AFF,
        keywords=(
            "烘焙",
            "蛋糕",
            "面包",
            "低筋面粉",
            "黄油",
            "淡奶油",
            "芝士",
            "吐司",
            "蛋挞",
            "酵母",
        ),
        sentences=(
            "周末想做蛋糕,淡奶油有团吗",
            "低筋面粉还有货吗",
            "求推荐做面包的高筋面粉",
            "动物黄油什么时候到",
            "蛋挞皮好用吗",
            "有没有烘焙模具",
        ),
    ),
    PersonaSpec(
        key="premium_family",
        label="品质家庭",
        share=0.14,
        loyalty=0.7,
        orders_per_month=2.2,
        lines_per_order=2.6,
        extra_quantity=0.15,
        price_level=0.82,
        price_elasticity=0.8,
        live_view=0.75,
        jielong=0.85,
        searches_per_month=2.0,
        browses_per_month=4.0,
        messages_per_month=0.8,
        channels={"miniapp": 0.45, "group": 0.3, "store": 0.2, "ad": 0.05},
        affinity=_PREMIUM_AFF,
        keywords=(
            "进口",
            "有机",
            "车厘子",
            "牛排",
            "三文鱼",
            "晴王葡萄",
            "榴莲",
            "海鲜",
            "大闸蟹",
            "进口水果",
        ),
        sentences=(
            "车厘子是JJ级的吗",
            "有没有有机蔬菜套餐",
            "想给家里买点进口水果",
            "三文鱼新鲜吗,能生吃吗",
            "牛排是原切的吗",
            "大闸蟹什么时候开团",
        ),
    ),
    PersonaSpec(
        key="price_sensitive",
        label="实惠囤货",
        share=0.22,
        loyalty=0.68,
        orders_per_month=2.6,
        lines_per_order=3.0,
        extra_quantity=0.7,
        price_level=0.15,
        price_elasticity=-1.5,
        live_view=0.55,
        jielong=0.7,
        searches_per_month=2.5,
        browses_per_month=4.0,
        messages_per_month=1.0,
        channels={"miniapp": 0.35, "group": 0.35, "store": 0.25, "ad": 0.05},
        affinity=_PRICE_AFF,
        keywords=(
            "特价",
            "便宜",
            "实惠",
            "秒杀",
            "优惠券",
            "大包装",
            "清仓",
            "满减",
            "买一送一",
            "家庭装",
        ),
        sentences=(
            "今天有什么特价",
            "有没有便宜点的大米",
            "秒杀几点开始",
            "优惠券怎么领",
            "大包装的更实惠吗",
            "有满减活动吗",
        ),
    ),
    PersonaSpec(
        key="elderly_staples",
        label="中老年家常",
        share=0.20,
        loyalty=0.7,
        orders_per_month=3.0,
        lines_per_order=2.6,
        extra_quantity=0.35,
        price_level=0.35,
        price_elasticity=-0.5,
        live_view=0.45,
        jielong=0.6,
        searches_per_month=1.0,
        browses_per_month=2.0,
        messages_per_month=1.0,
        morning=True,
        channels={"miniapp": 0.12, "group": 0.3, "store": 0.58},
        affinity=_ELDERLY_AFF,
        keywords=(
            "大米",
            "鸡蛋",
            "蔬菜",
            "猪肉",
            "豆腐",
            "挂面",
            "小米",
            "食用油",
            "白菜",
            "馒头",
        ),
        sentences=(
            "明天有新鲜蔬菜吗",
            "鸡蛋还有吗,要两盒",
            "大米是新米吗",
            "豆腐几点到",
            "挂面要细的",
            "猪肉是今天的吗",
        ),
    ),
)
PERSONA_KEYS: tuple[str, ...] = tuple(p.key for p in PERSONAS)
N_PERSONAS = len(PERSONAS)

# extra personas, used by worlds with more than six (`SynthConfig.personas`, preset `many`)
EXTRA_PERSONAS: tuple[PersonaSpec, ...] = (
    PersonaSpec(
        key="snack_youth",
        label="零食饮料党",
        share=0.1,
        loyalty=0.7,
        orders_per_month=2.2,
        lines_per_order=3.2,
        extra_quantity=0.4,
        price_level=0.4,
        price_elasticity=-0.3,
        live_view=0.7,
        jielong=0.6,
        searches_per_month=3.5,
        browses_per_month=5.0,
        messages_per_month=0.8,
        channels={"miniapp": 0.6, "group": 0.15, "store": 0.1, "ad": 0.15},
        affinity={
            "sub:chips": 6.0,
            "sub:spicy_snacks": 6.0,
            "sub:instant_noodles": 4.0,
            "sub:jerky": 3.0,
            "sub:seeds": 3.0,
            "sub:soda": 5.0,
            "sub:ice_cream": 4.0,
            "sub:frozen_snacks": 3.0,
            "sub:biscuits": 3.0,
            "sub:coffee": 2.0,
        },
        keywords=("零食", "辣条", "薯片", "可乐", "冰淇淋", "泡面", "追剧", "宵夜"),
        sentences=(
            "有没有追剧零食推荐",
            "辣条还有货吗",
            "冰淇淋能送到吗,怕化",
            "宵夜吃什么好",
            "可乐有整箱的吗",
        ),
        theme_fit={"value_deal": 0.35, "seasonal_fruit": 0.25, "holiday_gift": 0.2},
    ),
    PersonaSpec(
        key="seafood_lovers",
        label="海鲜吃货",
        share=0.08,
        loyalty=0.72,
        orders_per_month=1.8,
        lines_per_order=2.4,
        extra_quantity=0.3,
        price_level=0.65,
        price_elasticity=0.3,
        live_view=0.75,
        jielong=0.8,
        searches_per_month=2.0,
        browses_per_month=3.5,
        messages_per_month=1.0,
        channels={"miniapp": 0.45, "group": 0.35, "store": 0.15, "ad": 0.05},
        affinity={
            "cat:seafood": 5.0,
            "sub:crayfish": 6.0,
            "sub:shrimp": 5.0,
            "sub:shellfish": 5.0,
            "sub:crab": 4.0,
            "sub:fish": 3.0,
            "sub:aromatics": 2.0,
            "sub:sauces": 1.5,
        },
        keywords=("海鲜", "小龙虾", "虾", "蛤蜊", "螃蟹", "鱼", "生蚝", "扇贝"),
        sentences=(
            "小龙虾是活的吗",
            "今天有新鲜的虾吗",
            "生蚝怎么做好吃",
            "扇贝还有吗,要两斤",
            "螃蟹什么时候到",
        ),
        theme_fit={"premium_fruit": 0.5, "holiday_gift": 0.45, "seasonal_fruit": 0.2},
    ),
    PersonaSpec(
        key="tea_wellness",
        label="养生茶饮",
        share=0.08,
        loyalty=0.7,
        orders_per_month=1.6,
        lines_per_order=2.2,
        extra_quantity=0.2,
        price_level=0.55,
        price_elasticity=0.0,
        live_view=0.6,
        jielong=0.7,
        searches_per_month=2.0,
        browses_per_month=3.0,
        messages_per_month=1.2,
        morning=True,
        channels={"miniapp": 0.4, "group": 0.25, "store": 0.35},
        affinity={
            "sub:tea": 8.0,
            "sub:jujube": 5.0,
            "sub:dried_fruit": 4.0,
            "sub:nuts": 4.0,
            "sub:grains": 3.0,
            "sub:soy_milk": 2.0,
            "sub:mushrooms": 2.0,
        },
        keywords=("养生", "红枣", "枸杞", "茶叶", "坚果", "杂粮", "花茶", "滋补"),
        sentences=(
            "有没有养生茶推荐",
            "红枣是新疆的吗",
            "坚果每日一包的有吗",
            "花茶适合泡水喝吗",
            "杂粮粥怎么搭配",
        ),
        theme_fit={"staples": 0.4, "holiday_gift": 0.5, "seasonal_fruit": 0.25},
    ),
    PersonaSpec(
        key="busy_workers",
        label="上班族快手菜",
        share=0.1,
        loyalty=0.68,
        orders_per_month=2.4,
        lines_per_order=2.4,
        extra_quantity=0.3,
        price_level=0.45,
        price_elasticity=-0.2,
        live_view=0.5,
        jielong=0.6,
        searches_per_month=2.5,
        browses_per_month=3.0,
        messages_per_month=0.5,
        channels={"miniapp": 0.7, "group": 0.1, "store": 0.1, "ad": 0.1},
        affinity={
            "sub:dumplings": 7.0,
            "sub:pancakes": 5.0,
            "sub:frozen_veg": 4.0,
            "sub:tangyuan": 3.0,
            "sub:noodles": 3.0,
            "sub:eggs": 2.0,
            "sub:sauces": 2.0,
            "sub:coffee": 3.0,
            "sub:bread": 3.0,
        },
        keywords=("速冻", "水饺", "快手菜", "手抓饼", "早餐", "懒人", "半成品", "咖啡"),
        sentences=(
            "下班晚,有快手菜推荐吗",
            "速冻水饺什么馅的好吃",
            "手抓饼还有吗",
            "早餐吃什么方便",
            "有没有半成品菜",
        ),
        theme_fit={"value_deal": 0.3, "staples": 0.25, "light_meal": 0.2},
    ),
)
PERSONA_LIBRARY: tuple[PersonaSpec, ...] = PERSONAS + EXTRA_PERSONAS


def _fit(**kw: float) -> dict[str, float]:
    return {k: kw.get(k, 0.05) for k in PERSONA_KEYS}


THEMES: tuple[ThemeSpec, ...] = (
    ThemeSpec(
        key="light_meal",
        titles=("夏日轻食·减脂餐专场", "轻食健身餐直播", "低脂高蛋白好物分享"),
        host_tags=("nutritionist", "fitness"),
        affinity={**_FITNESS_AFF, "sub:cherries": 5.0, "sub:watermelon": 5.0},
        fit=_fit(fitness=1.0, young_parents=0.1, home_bakers=0.1, premium_family=0.3),
    ),
    ThemeSpec(
        key="baby",
        titles=("宝宝辅食专场", "科学育儿·辅食添加", "萌娃零食节"),
        host_tags=("mother", "baby"),
        affinity=_PARENTS_AFF,
        fit=_fit(young_parents=1.0, home_bakers=0.15, premium_family=0.15, fitness=0.05),
    ),
    ThemeSpec(
        key="baking",
        titles=("周末烘焙课", "手把手教你做蛋糕", "烘焙原料团购"),
        host_tags=("baker",),
        affinity=_BAKERS_AFF,
        fit=_fit(home_bakers=1.0, young_parents=0.2, premium_family=0.15, fitness=0.1),
    ),
    ThemeSpec(
        key="premium_fruit",
        titles=("全球甄选·进口水果", "臻选海鲜与牛排", "车厘子开箱直播"),
        host_tags=("premium", "imported"),
        affinity=_PREMIUM_AFF,
        fit=_fit(premium_family=1.0, fitness=0.35, young_parents=0.25, home_bakers=0.25),
    ),
    ThemeSpec(
        key="value_deal",
        titles=("今日特价秒杀", "粮油日用囤货节", "限时满减专场"),
        host_tags=("deals", "bargain"),
        affinity=_PRICE_AFF,
        fit=_fit(
            price_sensitive=1.0,
            elderly_staples=0.5,
            young_parents=0.15,
            fitness=0.1,
            home_bakers=0.1,
        ),
    ),
    ThemeSpec(
        key="staples",
        titles=("家常菜·粮油专场", "新鲜蔬菜直供", "健康养生好食材"),
        host_tags=("home_cooking", "elderly"),
        affinity=_ELDERLY_AFF,
        fit=_fit(
            elderly_staples=1.0,
            price_sensitive=0.45,
            young_parents=0.15,
            fitness=0.1,
            home_bakers=0.1,
            premium_family=0.1,
        ),
    ),
    ThemeSpec(
        key="seasonal_fruit",
        titles=("应季水果节", "产地直采·当季鲜果", "鲜果开箱试吃"),
        host_tags=("fruit", "farmer"),
        affinity={"cat:fruit": 6.0, "attr:imported": 1.0, "sub:watermelon": 4.0},
        fit=_fit(
            fitness=0.4,
            young_parents=0.45,
            home_bakers=0.4,
            premium_family=0.55,
            price_sensitive=0.35,
            elderly_staples=0.35,
        ),
    ),
    ThemeSpec(
        key="holiday_gift",
        titles=("节日礼盒专场", "团圆佳节好礼", "节礼囤货直播"),
        host_tags=("premium", "chef"),
        affinity={"attr:gift": 8.0, "cat:seafood": 1.0, "sub:nuts": 2.0, "sub:mooncakes": 4.0},
        fit=_fit(
            fitness=0.25,
            young_parents=0.3,
            home_bakers=0.3,
            premium_family=0.6,
            price_sensitive=0.2,
            elderly_staples=0.4,
        ),
    ),
)
THEME_KEYS: tuple[str, ...] = tuple(t.key for t in THEMES)
N_THEMES = len(THEMES)
HOLIDAY_TITLES = {
    "spring_festival": ("年货节直播", "新春团圆年货"),
    "mid_autumn": ("中秋团圆礼盒", "中秋好礼直播"),
    "dragon_boat": ("端午粽香礼盒", "端午节礼专场"),
}

# host role, tags (the role is the host's public persona)
HOST_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("营养师", "nutritionist;fitness"),
    ("健身教练", "fitness;coach"),
    ("宝妈主播", "mother;baby"),
    ("育儿师", "mother;baby;nutritionist"),
    ("烘焙师", "baker"),
    ("甜点师", "baker;dessert"),
    ("主厨", "chef;premium"),
    ("品鉴师", "premium;imported"),
    ("果园主", "fruit;farmer"),
    ("海鲜达人", "seafood;chef;premium"),
    ("家常菜师傅", "chef;home_cooking"),
    ("砍价达人", "deals;bargain"),
    ("养生顾问", "elderly;health;home_cooking"),
    ("社区团长", "deals;daily;fruit"),
)
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
HOST_PREFIXES = ("小", "老", "")

# group types: 0 = general; 1.. = interest / value groups of a compound
# key, name suffix, kind, persona whose members join
INTEREST_GROUPS: tuple[tuple[str, str, str, str], ...] = (
    ("fitness", "轻食健身群", "interest", "fitness"),
    ("baking", "烘焙交流群", "interest", "home_bakers"),
    ("parents", "宝妈育儿群", "interest", "young_parents"),
    ("deals", "特价秒杀群", "interest", "price_sensitive"),
    ("vip", "臻选VIP群", "value", "premium_family"),
)
GROUP_TYPES: tuple[str, ...] = ("general",) + tuple(g[0] for g in INTEREST_GROUPS)


def _theme_row(**kw: float) -> list[float]:
    return [kw.get(k, 0.0) for k in THEME_KEYS]


# group type -> theme mix of its lives / of its plain 接龙 chains
LIVE_THEME_MIX = np.array(
    [
        _theme_row(
            light_meal=0.08,
            baby=0.08,
            baking=0.05,
            premium_fruit=0.08,
            value_deal=0.22,
            staples=0.2,
            seasonal_fruit=0.29,
        ),
        _theme_row(light_meal=0.85, seasonal_fruit=0.1, premium_fruit=0.05),
        _theme_row(baking=0.9, seasonal_fruit=0.1),
        _theme_row(baby=0.9, seasonal_fruit=0.1),
        _theme_row(value_deal=0.85, staples=0.15),
        _theme_row(premium_fruit=0.8, seasonal_fruit=0.2),
    ]
)
CHAIN_THEME_MIX = np.array(
    [
        _theme_row(value_deal=0.35, staples=0.3, seasonal_fruit=0.35),
        _theme_row(light_meal=0.8, seasonal_fruit=0.2),
        _theme_row(baking=1.0),
        _theme_row(baby=1.0),
        _theme_row(value_deal=1.0),
        _theme_row(premium_fruit=1.0),
    ]
)

COMPOUND_PREFIXES = (
    "阳光",
    "碧水",
    "翠湖",
    "金桂",
    "锦绣",
    "幸福",
    "和平",
    "春江",
    "绿城",
    "紫荆",
    "丽景",
    "华府",
    "枫林",
    "滨江",
    "世纪",
    "星河",
    "东方",
    "嘉禾",
    "怡景",
    "金色",
    "海棠",
    "玉兰",
    "香樟",
    "梧桐",
    "清华",
    "南湖",
    "北苑",
    "西溪",
    "长安",
    "万家",
)
COMPOUND_SUFFIXES = ("花园", "家园", "小区", "苑", "名邸", "公寓", "新村", "雅居", "湾", "府")
EXTRA_PHASES = ("", "二期", "三期", "四期", "五期", "六期", "七期", "八期")

# manual tags: tag -> leader notes
TAG_NOTES: dict[str, tuple[str, ...]] = {
    "allergy:mango": ("孩子对芒果过敏", "芒果过敏", "宝宝吃芒果会过敏"),
    "allergy:peanut": ("花生过敏", "孩子花生过敏,注意"),
    "allergy:seafood": ("海鲜过敏", "对虾蟹过敏,不吃海鲜"),
    "allergy:milk": ("乳糖不耐受,不喝牛奶", "牛奶过敏"),
    "avoid:pork": ("不吃猪肉", "清真,不吃猪肉"),
    "likes:baking": ("喜欢烘焙", "周末常做蛋糕面包"),
    "family:toddler": ("家里有宝宝,一岁半", "有个两岁的娃"),
    "diet:low-fat": ("在减脂,少油少糖", "健身中,要低脂的"),
    "likes:imported": ("喜欢进口水果", "只买进口的"),
    "likes:deals": ("只抢特价", "对价格很敏感"),
}
# soft tags: tag -> (persona whose members get it often, rate there, rate elsewhere)
SOFT_TAGS: tuple[tuple[str, str, float, float], ...] = (
    ("likes:baking", "home_bakers", 0.35, 0.01),
    ("family:toddler", "young_parents", 0.4, 0.01),
    ("diet:low-fat", "fitness", 0.35, 0.015),
    ("likes:imported", "premium_family", 0.25, 0.01),
    ("likes:deals", "price_sensitive", 0.2, 0.01),
)
# constraint bits: allergy:X / avoid:X match items whose attributes hold contains:X
CONSTRAINTS: tuple[str, ...] = ("mango", "peanut", "seafood", "milk", "pork")

GENERIC_SEARCHES = (
    "鸡蛋",
    "大米",
    "牛奶",
    "西瓜",
    "香蕉",
    "苹果",
    "猪肉",
    "西红柿",
    "土豆",
    "纸巾",
    "酸奶",
    "面条",
    "水果",
    "蔬菜",
    "葡萄",
    "橙子",
)
SEARCH_TEMPLATES = (("{k}", 6.0), ("{k}推荐", 1.0), ("{k} 哪个好", 0.5), ("{k}套餐", 0.5))
CHAT_TEMPLATES = (
    "有没有{k}推荐",
    "最近想买点{k}",
    "求推荐{k},谢谢",
    "团长,{k}还有吗",
    "{k}什么时候到货?",
    "大家买的{k}怎么样",
    "想要{k},有团吗",
)
GENERIC_CHAT = (
    "收到了,很新鲜",
    "谢谢团长",
    "今天几点送货?",
    "已取货",
    "+1",
    "明天还有吗",
    "这个好吃",
    "团长辛苦了",
    "质量不错,回购了",
    "几点可以自提?",
    "有人拼单吗",
)
COMMENT_TEMPLATES = ("{k}怎么吃?", "{k}还有货吗", "{k}多少钱", "想要{k}", "这个{k}看着不错")
GENERIC_COMMENTS = (
    "+1",
    "已接龙",
    "接龙了",
    "主播讲得好",
    "有优惠券吗",
    "能送货上门吗",
    "什么时候发货",
    "已下单",
    "给我来两份",
    "看着好新鲜",
)

# --------------------------------------------------------------------------------------------
# The base catalogue: name | category | subcategory | price | attributes | season | holiday
# A leading * marks core items, always kept when --items is smaller than the catalogue.
# --------------------------------------------------------------------------------------------

_CATALOGUE = """
*智利车厘子 2斤装|fruit|cherries|79.9|imported|12;1;2|
国产大樱桃 1斤装|fruit|cherries|39.9||5;6|
*麒麟西瓜 1个约8斤|fruit|watermelon|29.9||6-8|
8424西瓜 1个约7斤|fruit|watermelon|35.8||6-8|
*牛油果 4个装|fruit|avocado|25.9|imported||
墨西哥牛油果 6个装|fruit|avocado|36.9|imported||
赣南脐橙 5斤|fruit|citrus|29.9||11;12;1|
砂糖橘 3斤|fruit|citrus|19.9||11;12;1;2|
沃柑 3斤|fruit|citrus|22.9||1-4|
琯溪蜜柚 2个|fruit|citrus|19.9||9-12|
*红富士苹果 5斤|fruit|apples|29.9|||
阿克苏冰糖心苹果 5斤|fruit|apples|49.9||10-12|
有机苹果 6个|fruit|apples|35.9|organic||
*香蕉 3斤|fruit|bananas|12.9|||
阳光玫瑰葡萄 2斤|fruit|grapes|49.9||7-10|
日本晴王葡萄 1串|fruit|grapes|168|imported|7-9|
巨峰葡萄 2斤|fruit|grapes|19.9||7-9|
海南贵妃芒 3斤|fruit|mango|29.9|contains:mango|3-6|
台农小台芒 5斤|fruit|mango|26.9|contains:mango|4-7|
澳洲芒果 2个|fruit|mango|39.9|imported;contains:mango|11;12;1|
蓝莓 125g×4盒|fruit|berries|45.9||4-8|
有机蓝莓 125g×2盒|fruit|berries|39.9|organic|5-8|
杨梅 2斤|fruit|berries|39.9||6;7|
丹东草莓 3斤|fruit|strawberries|59.9||12;1;2;3;4|
妃子笑荔枝 2斤|fruit|lychee|29.9||5-7|
水蜜桃 5斤|fruit|peaches|39.9||6-8|
库尔勒香梨 5斤|fruit|pears|32.9||9-12|
新西兰奇异果 12个|fruit|kiwi|59.9|imported||
金枕榴莲 1个约5斤|fruit|durian|168|imported|5-8|
海南菠萝 2个|fruit|pineapple|15.9||2-5|
哈密瓜 1个|fruit|melon|19.9||6-9|
红心火龙果 4个|fruit|dragon_fruit|24.9|||
冬枣 3斤|fruit|jujube|29.9||9-11|
石榴 4个|fruit|pomegranate|29.9||9-11|
泰国山竹 2斤|fruit|mangosteen|49.9|imported|5-8|
百香果 3斤|fruit|passion_fruit|19.9||7-11|
火晶柿子 2斤|fruit|persimmon|19.9||10-12|
鲜切果盒 500g|fruit|fresh_cut|19.9|||
*有机西兰花 500g|vegetables|broccoli|12.9|organic||
西兰花 2颗|vegetables|broccoli|8.9|||
*上海青 500g|vegetables|leafy_greens|3.9|||
菠菜 500g|vegetables|leafy_greens|4.9|||
有机菠菜 300g|vegetables|leafy_greens|9.9|organic||
油麦菜 500g|vegetables|leafy_greens|4.5|||
韭菜 500g|vegetables|leafy_greens|3.9|||
*混合沙拉菜 200g|vegetables|salad_greens|12.9|low_fat||
羽衣甘蓝 250g|vegetables|salad_greens|14.9|low_fat||
球生菜 1颗|vegetables|salad_greens|4.5|||
芝麻菜 150g|vegetables|salad_greens|9.9|organic||
*番茄 3斤|vegetables|tomatoes|9.9|||
圣女果 2斤|vegetables|tomatoes|15.9|||
黄瓜 2斤|vegetables|cucumbers|6.9|||
*土豆 5斤|vegetables|potatoes|9.9|||
胡萝卜 3斤|vegetables|root_veg|6.9|||
有机胡萝卜 1kg|vegetables|root_veg|12.9|organic||
红薯 5斤|vegetables|root_veg|14.9|||
紫薯 3斤|vegetables|root_veg|12.9|||
铁棍山药 2斤|vegetables|root_veg|15.9|||
莲藕 2斤|vegetables|root_veg|12.9||9-12|
甜玉米 4根|vegetables|corn|9.9||6-10|
香菇 500g|vegetables|mushrooms|9.9|||
金针菇 3包|vegetables|mushrooms|5.9|||
杏鲍菇 500g|vegetables|mushrooms|6.9|||
*大白菜 1颗|vegetables|cabbage|5.9||11;12;1;2|
圆白菜 1颗|vegetables|cabbage|4.9|||
洋葱 3斤|vegetables|onions|6.9|||
青椒 1斤|vegetables|peppers|4.9|||
长茄子 2斤|vegetables|eggplant|6.9|||
冬瓜 1块约3斤|vegetables|gourds|5.9||6-9|
芦笋 300g|vegetables|asparagus|16.9|low_fat||
绿豆芽 500g|vegetables|sprouts|2.9|||
大蒜 500g|vegetables|aromatics|6.9|||
生姜 500g|vegetables|aromatics|7.9|||
小葱 1把|vegetables|aromatics|1.9|||
春笋 2斤|vegetables|bamboo_shoots|15.9||3;4|
秋葵 500g|vegetables|okra|9.9|low_fat|6-9|
*北豆腐 500g|bean_products|tofu|4.5|||
内酯豆腐 4盒|bean_products|tofu|6.9|||
腐竹 250g|bean_products|tofu|9.9|||
现磨豆浆 1L|bean_products|soy_milk|6.9|||
无糖豆浆 250ml×12|bean_products|soy_milk|29.9|low_fat||
*鸡胸肉 1kg|meat|poultry|29.9|high_protein;low_fat||
*即食鸡胸肉 10袋|meat|poultry|49.9|high_protein;low_fat||
琵琶鸡腿 2斤|meat|poultry|19.9|||
鸡翅中 1kg|meat|poultry|45.9|||
三黄鸡 1只|meat|poultry|39.9|||
散养老母鸡 1只|meat|poultry|69.9|||
鸭腿 4只|meat|poultry|25.9|||
*五花肉 1kg|meat|pork|39.9|contains:pork||
猪里脊 500g|meat|pork|19.9|contains:pork||
猪肋排 1kg|meat|pork|59.9|contains:pork||
猪肉馅 500g|meat|pork|16.9|contains:pork||
猪蹄 1kg|meat|pork|35.9|contains:pork||
*澳洲原切牛排 4片装|meat|beef|128|imported||
原切西冷牛排 2片|meat|beef|89.9|imported||
牛腱子 1kg|meat|beef|89.9|||
肥牛卷 500g|meat|beef|39.9|||
低脂牛肉丸 500g|meat|beef|29.9|high_protein||
羊肉卷 500g|meat|lamb|45.9||11;12;1;2|
羊排 1kg|meat|lamb|99.9||10;11;12;1;2|
*挪威三文鱼 300g|seafood|salmon|69.9|imported;contains:seafood||
*厄瓜多尔白虾 2斤|seafood|shrimp|89.9|imported;contains:seafood||
基围虾 1斤|seafood|shrimp|49.9|contains:seafood||
冷冻虾仁 500g|seafood|shrimp|39.9|high_protein;contains:seafood||
阳澄湖大闸蟹 4只|seafood|crab|198|gift;contains:seafood|9-11|
鲈鱼 1条|seafood|fish|29.9|contains:seafood||
草鱼 1条|seafood|fish|19.9|contains:seafood||
舟山带鱼 1kg|seafood|fish|45.9|contains:seafood||
龙利鱼柳 1kg|seafood|fish|39.9|low_fat;high_protein;contains:seafood||
银鳕鱼 300g|seafood|fish|89.9|imported;contains:seafood||
扇贝 1kg|seafood|shellfish|39.9|contains:seafood||
花甲 2斤|seafood|shellfish|9.9|contains:seafood||
小龙虾 3斤|seafood|crayfish|79.9|contains:seafood|5-8|
波士顿龙虾 1只|seafood|lobster|158|imported;contains:seafood||
即食海参 500g|seafood|sea_cucumber|299|gift;contains:seafood||
*纯牛奶 250ml×24盒|dairy|milk|59.9|contains:milk||
鲜牛奶 950ml|dairy|milk|16.9|contains:milk||
有机纯牛奶 250ml×12盒|dairy|milk|69.9|organic;contains:milk||
*希腊酸奶 无糖4杯|dairy|yogurt|19.9|low_fat;high_protein;contains:milk||
低脂酸奶 1kg|dairy|yogurt|16.9|low_fat;contains:milk||
老酸奶 6杯|dairy|yogurt|19.9|contains:milk||
*儿童奶酪棒 20支|dairy|cheese|39.9|contains:milk||
马苏里拉芝士 250g|dairy|cheese|25.9|contains:milk||
奶油奶酪 200g|dairy|cheese|28.9|contains:milk||
*动物淡奶油 1L|dairy|cream|39.9|contains:milk||
*新西兰动物黄油 454g|dairy|butter|45.9|imported;contains:milk||
无盐黄油 200g|dairy|butter|22.9|contains:milk||
*鲜鸡蛋 30枚|eggs|eggs|22.9|||
土鸡蛋 30枚|eggs|eggs|39.9|||
可生食鸡蛋 10枚|eggs|eggs|19.9|organic||
鹌鹑蛋 500g|eggs|eggs|12.9|||
咸鸭蛋 6枚|eggs|eggs|12.9|||
*五常大米 5kg|grain_oil|rice|69.9|||
东北大米 10kg|grain_oil|rice|49.9|big_pack||
泰国香米 5kg|grain_oil|rice|59.9|imported||
小米 2斤|grain_oil|grains|12.9|||
*藜麦 500g|grain_oil|grains|19.9|high_protein||
燕麦片 1kg|grain_oil|grains|19.9|contains:gluten||
糙米 2kg|grain_oil|grains|19.9|||
五谷杂粮 2kg|grain_oil|grains|29.9|||
红豆 500g|grain_oil|grains|8.9|||
*挂面 1kg|grain_oil|noodles|9.9|contains:gluten||
手工鸡蛋面 1kg|grain_oil|noodles|12.9|contains:gluten||
荞麦面 500g|grain_oil|noodles|9.9|low_fat;contains:gluten||
中筋面粉 5kg|grain_oil|flour|29.9|contains:gluten||
*花生油 5L|grain_oil|oil|89.9|contains:peanut||
菜籽油 5L|grain_oil|oil|69.9|||
玉米油 5L|grain_oil|oil|59.9|||
特级初榨橄榄油 1L|grain_oil|oil|59.9|imported||
每日坚果 30包|snacks|nuts|69.9|contains:peanut||
花生米 500g|snacks|nuts|12.9|contains:peanut||
*薯片 6袋|snacks|chips|19.9|big_pack||
苏打饼干 1kg|snacks|biscuits|15.9|big_pack;contains:gluten||
芒果干 500g|snacks|dried_fruit|29.9|contains:mango||
*方便面 24袋|snacks|instant_noodles|39.9|big_pack;contains:gluten||
辣条 20包|snacks|spicy_snacks|12.9|contains:gluten||
*蛋白棒 12支|snacks|protein_bars|59.9|high_protein;contains:milk;contains:peanut||
海苔 10包|snacks|seaweed|15.9|||
牛肉干 250g|snacks|jerky|39.9|high_protein||
五香瓜子 1kg|snacks|seeds|19.9|big_pack||
坚果礼盒 1.5kg|snacks|nuts|128|gift;contains:peanut|12;1;2|spring_festival
月饼礼盒 8枚|snacks|mooncakes|128|gift;contains:gluten;contains:milk|8;9;10|mid_autumn
肉粽礼盒 10只|snacks|zongzi|79.9|gift;contains:pork|5;6|dragon_boat
蜜枣粽 10只|snacks|zongzi|39.9||5;6|dragon_boat
*婴儿米粉 高铁250g|baby_food|rice_cereal|59.9|||
有机婴儿米粉 225g|baby_food|rice_cereal|79.9|organic||
*宝宝苹果泥 6袋|baby_food|puree|39.9|||
芒果香蕉果泥 6袋|baby_food|puree|42.9|contains:mango||
宝宝胡萝卜泥 6袋|baby_food|puree|39.9|||
*宝宝无盐面条 200g|baby_food|baby_noodles|25.9|contains:gluten||
宝宝溶豆 4盒|baby_food|baby_snacks|39.9|contains:milk||
宝宝鳕鱼肠 10支|baby_food|baby_snacks|49.9|contains:seafood||
宝宝肉松 100g|baby_food|baby_snacks|45.9|contains:pork||
宝宝磨牙饼干 6盒|baby_food|baby_snacks|35.9|contains:gluten;contains:milk||
婴儿配方奶粉 3段800g|baby_food|formula|298|imported;contains:milk||
儿童成长牛奶 200ml×12|baby_food|kids_milk|49.9|contains:milk||
宝宝核桃油 100ml|baby_food|baby_oil|69.9|imported||
*低筋面粉 2.5kg|baking|flour|29.9|contains:gluten||
高筋面粉 2.5kg|baking|flour|32.9|contains:gluten||
全麦面粉 1kg|baking|flour|15.9|contains:gluten||
细砂糖 1kg|baking|sugar|9.9|||
糖粉 400g|baking|sugar|9.9|||
即发干酵母 10袋|baking|yeast|9.9|||
泡打粉 100g|baking|leavening|6.9|||
可可粉 200g|baking|chocolate|19.9|||
黑巧克力币 500g|baking|chocolate|39.9|imported;contains:milk||
抹茶粉 100g|baking|matcha|29.9|||
*蛋挞皮 30个|baking|pastry|29.9|contains:gluten;contains:milk||
吉利丁片 50g|baking|gelatin|12.9|||
杏仁粉 250g|baking|nut_flour|29.9|imported||
烘焙模具套装 1套|baking|tools|49.9|||
裱花袋 100只|baking|tools|9.9|||
*全麦吐司 2袋|bakery|bread|19.9|low_fat;contains:gluten||
切片面包 400g|bakery|bread|12.9|contains:gluten;contains:milk||
*馒头 10个|bakery|buns|9.9|contains:gluten||
鲜肉包子 10个|bakery|buns|19.9|contains:gluten;contains:pork||
奶黄包 10个|bakery|buns|15.9|contains:gluten;contains:milk||
欧包 2个|bakery|bread|25.9|contains:gluten||
*矿泉水 550ml×24瓶|beverages|water|24.9|big_pack||
NFC橙汁 1L×2|beverages|juice|29.9|||
椰子水 1L×6|beverages|juice|59.9|imported;low_fat||
0糖气泡水 480ml×15|beverages|sparkling_water|49.9|low_fat||
可乐 330ml×24|beverages|soda|49.9|big_pack||
挂耳咖啡 30包|beverages|coffee|49.9|||
西湖龙井 250g|beverages|tea|128|gift||
菊花茶 100g|beverages|tea|19.9|||
酸梅汤 1L×6|beverages|juice|29.9||6-8|
*猪肉白菜水饺 1kg|frozen|dumplings|29.9|contains:pork;contains:gluten||
三鲜水饺 1kg|frozen|dumplings|35.9|contains:pork;contains:seafood;contains:gluten||
芝麻花生汤圆 1kg|frozen|tangyuan|19.9|contains:peanut;contains:gluten|12;1;2|spring_festival
手抓饼 20片|frozen|pancakes|29.9|contains:gluten||
鸡米花 1kg|frozen|frozen_snacks|29.9|contains:gluten||
鲜肉馄饨 1kg|frozen|dumplings|25.9|contains:pork;contains:gluten||
冰淇淋 8支|frozen|ice_cream|39.9|contains:milk|6-8|
冷冻西兰花 1kg|frozen|frozen_veg|15.9|low_fat||
*生抽 1.9L|condiments|soy_sauce|19.9|||
老陈醋 1L|condiments|vinegar|12.9|||
食用盐 400g×3|condiments|salt|6.9|||
蚝油 700g|condiments|sauces|12.9|contains:seafood||
火锅底料 4袋|condiments|sauces|29.9|||
油醋沙拉汁 300ml|condiments|dressing|19.9|low_fat||
芝麻酱 500g|condiments|sauces|15.9|||
花生酱 340g|condiments|sauces|19.9|contains:peanut||
香辣辣椒酱 280g|condiments|sauces|9.9|||
现磨黑胡椒 50g|condiments|spices|12.9|||
*抽纸 24包|household|tissue|49.9|big_pack||
卷纸 30卷|household|tissue|39.9|big_pack||
洗衣液 3kg×2|household|laundry|59.9|big_pack||
洗洁精 1.5kg×2|household|dish_soap|25.9|||
垃圾袋 10卷|household|trash_bags|15.9|||
保鲜膜 3卷|household|kitchen|19.9|||
厨房湿巾 4包|household|kitchen|19.9|||
"""

# variant qualifiers: label (price factor, extra attribute), pack (price factor, attribute)
VARIANT_LABELS: tuple[tuple[str, float, str], ...] = (
    ("", 1.0, ""),
    ("鲜直达", 1.0, ""),
    ("邻里优选", 0.95, ""),
    ("臻选", 1.35, ""),
    ("产地直发", 0.92, ""),
    ("精选", 1.1, ""),
    ("特惠", 0.8, ""),
    ("有机", 1.6, "organic"),
    ("农家", 1.05, ""),
    ("简装", 0.85, ""),
    ("团长推荐", 1.0, ""),
)
VARIANT_PACKS: tuple[tuple[str, float, str], ...] = (
    ("", 1.0, ""),
    ("家庭装", 1.9, "big_pack"),
    ("尝鲜装", 0.55, ""),
    ("量贩装", 2.8, "big_pack"),
    ("礼盒装", 2.2, "gift"),
    ("精品装", 1.3, ""),
)
VARIANT_ORIGINS: dict[str, tuple[str, ...]] = {
    "fruit": ("云南", "山东", "新疆", "海南", "广西", "四川", "陕西", "福建"),
    "vegetables": ("寿光", "云南", "崇明", "本地", "河北"),
    "meat": ("内蒙古", "黑龙江", "本地", "山东"),
    "seafood": ("舟山", "大连", "湛江", "青岛"),
    "eggs": ("农家散养", "本地"),
    "grain_oil": ("东北", "江苏"),
}

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


# --------------------------------------------------------------------------------------------
# Small vectorised helpers
# --------------------------------------------------------------------------------------------


class _Categorical:
    """Many categorical distributions over one support, sampled with a single searchsorted."""

    def __init__(self, weights: np.ndarray) -> None:
        w = np.where(np.asarray(weights, dtype=np.float64) > 0, weights, 0.0)
        rows, n = w.shape
        cdf = np.cumsum(w, axis=1)
        total = cdf[:, -1:]
        if (total <= 0).any():
            raise ValueError("a categorical distribution has no positive weight")
        cdf /= total
        cdf[:, -1] = 1.0
        self.n = n
        self.flat = (cdf + np.arange(rows, dtype=np.float64)[:, None]).ravel()

    def sample(self, rng: np.random.Generator, rows: np.ndarray | int, size: int = 0) -> np.ndarray:
        """One draw per entry of `rows` (or `size` draws from the single row `rows`)."""
        r = np.full(size, rows, np.int64) if size else np.asarray(rows, dtype=np.int64)
        u = rng.random(r.size)
        idx = np.searchsorted(self.flat, r + u, side="right") - r * self.n
        return np.clip(idx, 0, self.n - 1)


def _digits(x: np.ndarray, base: int, width: int) -> np.ndarray:
    """(n, width) digits of x in `base`, most significant first."""
    out = np.empty((x.size, width), dtype=np.int64)
    v = x.astype(np.int64).copy()
    for j in range(width - 1, -1, -1):
        out[:, j] = v % base
        v //= base
    return out


def _chars(codes: np.ndarray, alphabet: str) -> np.ndarray:
    """Rows of alphabet indices -> array of str."""
    table = np.frombuffer(alphabet.encode("ascii"), dtype=np.uint8)
    raw = np.ascontiguousarray(table[codes])
    return raw.view(f"S{codes.shape[1]}").ravel().astype(str)


def _unique_block(n: int, base: int, width: int, mult: int, add: int) -> np.ndarray:
    """n distinct, random-looking (n, width) digit rows: an affine bijection of 0..n-1."""
    space = base**width
    if n > space or math.gcd(mult, space) != 1:
        raise ValueError("identifier space too small or multiplier not coprime")
    x = (np.arange(n, dtype=np.int64) * mult + add) % space
    return _digits(x, base, width)


def _restricted_days(
    rng: np.random.Generator, cdf: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """Day index drawn from the day-weight cdf, restricted to [lo, hi] (inclusive)."""
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    c_lo = np.where(lo > 0, cdf[np.maximum(lo - 1, 0)], 0.0)
    c_hi = cdf[hi]
    u = c_lo + rng.random(lo.size) * (c_hi - c_lo)
    d = np.searchsorted(cdf, u, side="right")
    return np.clip(d, lo, hi)


def _fmt_ts(seconds: np.ndarray, naive: np.ndarray | None = None) -> pa.Array:
    """Local (China) epoch seconds -> ISO-8601 strings with +08:00 (naive where `naive`)."""
    arr = pa.array(np.asarray(seconds, dtype=np.int64), type=pa.timestamp("s"))
    # cast + replace is ~10x faster than pc.strftime
    s = pc.replace_substring(pc.cast(arr, pa.string()), " ", "T", max_replacements=1)
    with_tz = pc.binary_join_element_wise(s, "+08:00", "")
    if naive is None:
        return with_tz
    return pc.if_else(pa.array(naive), s, with_tz)


def _fmt_ts_nullable(seconds: np.ndarray, valid: np.ndarray, naive: np.ndarray) -> pa.Array:
    """As _fmt_ts, null where not `valid`."""
    s = _fmt_ts(np.where(valid, seconds, 0), naive)
    return pc.if_else(pa.array(valid), s, pa.scalar(None, pa.string()))


def _prefixed(
    prefix: str, codes: np.ndarray, width: int, valid: np.ndarray | None = None
) -> pa.Array:
    """`prefix` + zero-padded code, e.g. E00000042 (null where not valid)."""
    arr = pa.array(np.asarray(codes, dtype=np.int64), mask=None if valid is None else ~valid)
    s = pc.utf8_lpad(pc.cast(arr, pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, s, "")


CHUNK_ROWS = 2_000_000


def _chunked(n: int, fn: Callable[..., pa.Array], *arrays: np.ndarray) -> pa.ChunkedArray:
    """fn applied to row slices of the arrays (bounds the temporaries of big columns)."""
    bounds = [(lo, min(lo + CHUNK_ROWS, n)) for lo in range(0, n, CHUNK_ROWS)] or [(0, 0)]
    return pa.chunked_array([fn(*(a[lo:hi] for a in arrays)) for lo, hi in bounds])


def _take(values: pa.Array, idx: np.ndarray) -> pa.Array:
    """values[idx] with null where idx < 0."""
    idx = np.asarray(idx, dtype=np.int64)
    return pc.take(values, pa.array(idx, mask=idx < 0))


def _str_col(values: pa.ChunkedArray) -> pd.api.extensions.ExtensionArray:
    """Arrow strings -> the pandas `str` array (pandas copies the offsets to 64 bit)."""
    return pd.array(values, dtype=STRING_DTYPE)


def _cat_col(codes: np.ndarray, categories: tuple[str, ...]) -> pd.Categorical:
    """Small-vocabulary codes (-1 = missing) -> a pandas Categorical of strings."""
    return pd.Categorical.from_codes(
        codes.astype(np.int8), categories=pd.Index(list(categories), dtype=STRING_DTYPE)
    )


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow table -> DataFrame with nullable Int64 for integer columns and arrow strings."""
    mapper = {pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype()}
    return table.to_pandas(types_mapper=mapper.get, split_blocks=True, self_destruct=True)


def _or_none(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Object array of values, None where not mask."""
    out = np.asarray(values, dtype=object).copy()
    out[~np.asarray(mask, dtype=bool)] = None
    return out


def _parse_season(s: str) -> np.ndarray:
    """'6-8' / '12;1;2' / '11-2' -> bool[13] (index 1..12 = months in season)."""
    out = np.zeros(13, dtype=bool)
    if not s:
        out[1:] = True
        return out
    for part in s.split(LIST_SEP):
        if "-" in part:
            a, b = (int(v) for v in part.split("-"))
            m = a
            while True:
                out[m] = True
                if m == b:
                    break
                m = m % 12 + 1
        else:
            out[int(part)] = True
    return out


# fallback when the `holidays` package is missing: (kind, date)
_HOLIDAY_FALLBACK: tuple[tuple[str, str], ...] = (
    ("spring_festival", "2024-02-10"),
    ("spring_festival", "2025-01-29"),
    ("spring_festival", "2026-02-17"),
    ("spring_festival", "2027-02-06"),
    ("spring_festival", "2028-01-26"),
    ("dragon_boat", "2024-06-10"),
    ("dragon_boat", "2025-05-31"),
    ("dragon_boat", "2026-06-19"),
    ("dragon_boat", "2027-06-09"),
    ("dragon_boat", "2028-05-28"),
    ("mid_autumn", "2024-09-17"),
    ("mid_autumn", "2025-10-06"),
    ("mid_autumn", "2026-09-25"),
    ("mid_autumn", "2027-09-15"),
    ("mid_autumn", "2028-10-03"),
)
_HOLIDAY_NAMES = {
    "Chinese New Year (Spring Festival)": "spring_festival",
    "Dragon Boat Festival": "dragon_boat",
    "Mid-Autumn Festival": "mid_autumn",
}


def holiday_dates(first_year: int, last_year: int) -> list[tuple[str, pd.Timestamp]]:
    """First day of Spring Festival, Dragon Boat and Mid-Autumn in the years (China calendar)."""
    found: dict[tuple[str, int], pd.Timestamp] = {}
    try:
        import holidays

        cn = holidays.country_holidays(
            "CN", years=range(first_year, last_year + 1), language="en_US"
        )
        for d, name in sorted(cn.items()):
            kind = _HOLIDAY_NAMES.get(str(name))
            if kind and (kind, d.year) not in found:
                found[(kind, d.year)] = pd.Timestamp(d)
    except Exception:  # noqa: BLE001 - optional dependency; fall back to a fixed table
        found = {}
    if not found:
        for kind, day in _HOLIDAY_FALLBACK:
            ts = pd.Timestamp(day)
            if first_year <= ts.year <= last_year:
                found[(kind, ts.year)] = ts
    return sorted(((k, v) for (k, _), v in found.items()), key=lambda kv: kv[1])


# --------------------------------------------------------------------------------------------
# The builder: one method per step, all randomness from per-step streams of one SeedSequence
# --------------------------------------------------------------------------------------------

_EV_FIELDS: dict[str, tuple[type, Any]] = {
    "ts": (np.int64, 0),
    "et": (np.int8, 0),
    "person": (np.int32, 0),
    "pref": (np.int8, PREF_WEB),
    "item": (np.int32, -1),
    "qty": (np.int16, 0),
    "amount": (np.float64, np.nan),
    "order": (np.int64, -1),
    "group": (np.int32, -1),
    "live": (np.int32, -1),
    "text": (np.int32, -1),
    "channel": (np.int8, -1),
    "ref": (np.int32, -1),
}


class _Builder:
    """Builds a World step by step (see `generate`)."""

    def __init__(self, cfg: SynthConfig) -> None:
        self.cfg = cfg
        seqs = np.random.SeedSequence(cfg.seed).spawn(len(_STREAMS))
        self.rng = {name: np.random.default_rng(s) for name, s in zip(_STREAMS, seqs, strict=True)}
        self.cast = _Cast(cfg.cast_personas())
        self.parts: list[dict[str, np.ndarray]] = []
        self.n_orders = 0
        self.order_ts: list[np.ndarray] = []
        self.used_ids: np.ndarray | None = None  # bool mask over id_strings: written somewhere

    # ---- events bookkeeping ----------------------------------------------------------------

    def _emit(self, n: int, **cols: Any) -> None:
        if n == 0:
            return
        part: dict[str, np.ndarray] = {}
        for key, (dtype, fill) in _EV_FIELDS.items():
            v: np.ndarray = np.asarray(cols.pop(key, fill), dtype=dtype)
            part[key] = v if v.ndim else np.full(n, v, dtype=dtype)
            if part[key].shape != (n,):
                raise ValueError(f"event column {key}: shape {part[key].shape} != ({n},)")
        if cols:
            raise ValueError(f"unknown event columns {sorted(cols)}")
        self.parts.append(part)

    def _new_orders(self, ts: np.ndarray) -> np.ndarray:
        """Codes for new baskets placed at `ts` (order ids are later given in time order)."""
        n = ts.size
        out = np.arange(self.n_orders, self.n_orders + n, dtype=np.int64)
        self.n_orders += n
        self.order_ts.append(np.asarray(ts, dtype=np.int64))
        return out

    # ---- calendar ----------------------------------------------------------------------------

    def calendar(self) -> None:
        cfg, rng = self.cfg, self.rng["calendar"]
        end = pd.Timestamp(cfg.end)
        start = end - pd.DateOffset(months=cfg.months) + pd.Timedelta(days=1)
        days = pd.date_range(start, end, freq="D")
        n_days = len(days)
        self.start, self.end_day = start, end
        self.n_days = n_days
        self.t0 = int((start - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1))
        self.t_end = self.t0 + n_days * DAY - 1
        self.months_f = n_days / MONTH_DAYS
        ym = (days.year * 12 + days.month - 1).to_numpy()
        period = (ym - ym.min()).astype(np.int64)
        n_month_periods = int(period.max()) + 1
        period_month = [(int(v) % 12) + 1 for v in range(ym.min(), ym.max() + 1)]
        period_kind: list[str | None] = [None] * n_month_periods
        weight = np.array([1.0, 1.0, 1.0, 1.0, 1.05, 1.15, 1.12])[days.day_of_week.to_numpy()]
        self.holidays: list[tuple[str, str]] = []
        for kind, d in holiday_dates(start.year - 1, end.year + 1):
            window = (days >= d - pd.Timedelta(days=14)) & (days <= d)
            if window.any():
                period[window] = len(period_month)
                period_month.append(d.month)
                period_kind.append(kind)
                self.holidays.append((kind, d.date().isoformat()))
            weight[(days >= d - pd.Timedelta(days=10)) & (days < d)] *= 1.35
            if kind == "spring_festival":
                weight[(days >= d) & (days <= d + pd.Timedelta(days=6))] *= 0.5
        weight *= rng.lognormal(0.0, 0.08, n_days)
        # the neutral period: no seasonal and no holiday goods (used for standing favourites)
        self.neutral_period = len(period_month)
        period_month.append(0)
        period_kind.append(None)
        self.day_period = period
        self.day_weight = weight
        self.day_cdf = np.cumsum(weight) / weight.sum()
        self.day_cdf[-1] = 1.0
        self.period_month = np.array(period_month)
        self.period_kind = period_kind
        self.n_periods = len(period_month)
        self.holiday_period_mask = np.array([k is not None for k in period_kind])
        hours = np.stack(
            [HOUR_WEIGHTS * (MORNING_BOOST if p.morning else 1.0) for p in self.cast.personas]
            + [HOUR_WEIGHTS]
        )
        self.hours = _Categorical(hours)

    def _clock(
        self, rng: np.random.Generator, day: np.ndarray, row: np.ndarray | int
    ) -> np.ndarray:
        """Epoch seconds for events on `day`, hour drawn from hour-profile `row`."""
        n = day.size
        hour = self.hours.sample(rng, row, size=n if np.ndim(row) == 0 else 0)
        return self.t0 + day * DAY + hour * 3600 + rng.integers(0, 3600, n)

    # ---- catalogue ---------------------------------------------------------------------------

    def catalogue(self) -> None:
        cfg, rng = self.cfg, self.rng["catalogue"]
        rows = [ln.split("|") for ln in _CATALOGUE.strip().splitlines()]
        base = pd.DataFrame(
            rows,
            columns=[
                Col.NAME,
                Col.CATEGORY,
                Col.SUBCATEGORY,
                Col.PRICE,
                "attrs",
                Col.SEASON,
                "hol",
            ],
        )
        base["core"] = base[Col.NAME].str.startswith("*")
        base[Col.NAME] = base[Col.NAME].str.lstrip("*")
        base[Col.PRICE] = base[Col.PRICE].astype(float)
        n_base = len(base)
        pop = np.where(base["core"], 2.0, 1.0) * rng.lognormal(0.0, 0.5, n_base)
        if cfg.items < n_base:
            order = np.lexsort((rng.random(n_base), ~base["core"].to_numpy()))
            keep = np.sort(order[: cfg.items])
            base = base.iloc[keep].reset_index(drop=True)
            pop = pop[keep]
            n_base = len(base)
        # variants: spread the remaining items over the bases by popularity
        n_extra = cfg.items - n_base
        counts = np.zeros(n_base, dtype=np.int64)
        if n_extra > 0:
            alloc = pop / pop.sum() * n_extra
            counts = np.floor(alloc).astype(np.int64)
            rest = n_extra - counts.sum()
            counts[np.argsort(-(alloc - counts), kind="stable")[:rest]] += 1
        recs: list[tuple[int, str, float, str, float, bool]] = []
        for b in range(n_base):
            row = base.iloc[b]
            name = str(row[Col.NAME])
            core, _, spec = name.partition(" ")
            attrs = str(row["attrs"])
            imported = "imported" in attrs.split(LIST_SEP)
            origins: tuple[str, ...] = ("",)
            if not imported:
                origins = ("", *VARIANT_ORIGINS.get(str(row[Col.CATEGORY]), ()))
            recs.append((b, name, float(row[Col.PRICE]), attrs, 1.0, True))
            if counts[b] == 0:
                continue
            n_combo = len(VARIANT_LABELS) * len(origins) * len(VARIANT_PACKS)
            combos = 1 + rng.permutation(n_combo - 1)  # combo 0 is the base item itself
            # variants share a fixed popularity mass, so catalogue size keeps basket economics
            vpop = rng.lognormal(0.0, 0.8, counts[b])
            vpop *= min(1.5, 0.5 * counts[b]) / vpop.sum()
            for j in range(int(counts[b])):
                c = int(combos[j % (n_combo - 1)])
                lab, rest_c = divmod(c, len(origins) * len(VARIANT_PACKS))
                org, pk = divmod(rest_c, len(VARIANT_PACKS))
                label, lf, la = VARIANT_LABELS[lab]
                if label and label in core:
                    label, lf, la = "", 1.0, ""
                pack, pf, pa_ = VARIANT_PACKS[pk]
                vname = f"{label}{origins[org]}{core}"
                vname += f" {spec}" if spec else ""
                vname += f"·{pack}" if pack else ""
                if j >= n_combo - 1:
                    vname += f" {j // (n_combo - 1) + 1}号款"
                extra = [a for a in (la, pa_) if a and a not in attrs.split(LIST_SEP)]
                vattrs = LIST_SEP.join([a for a in attrs.split(LIST_SEP) if a] + extra)
                price = float(row[Col.PRICE]) * lf * pf * rng.uniform(0.9, 1.1)
                recs.append((b, vname, price, vattrs, float(vpop[j]), False))
        items = pd.DataFrame(
            recs, columns=["base", Col.NAME, Col.PRICE, "attrs", "vpop", "is_base"]
        )
        p = items[Col.PRICE].to_numpy()
        nice = np.where(p >= 10, np.floor(p) + 0.9, np.round(p, 1))
        items[Col.PRICE] = np.where(items["is_base"], p, nice)
        # repeated names (label already in the core name etc.) get a model number
        dup = items.groupby(Col.NAME, sort=False).cumcount().to_numpy()
        names = items[Col.NAME].to_numpy(dtype=object)
        for i in np.flatnonzero(dup):
            names[i] = f"{names[i]} {dup[i] + 1}号款"
        items[Col.NAME] = names
        b_idx = items["base"].to_numpy()
        items[Col.CATEGORY] = base[Col.CATEGORY].to_numpy()[b_idx]
        items[Col.SUBCATEGORY] = base[Col.SUBCATEGORY].to_numpy()[b_idx]
        items[Col.SEASON] = base[Col.SEASON].to_numpy()[b_idx]
        items["hol"] = base["hol"].to_numpy()[b_idx]
        items["base_price"] = base[Col.PRICE].to_numpy()[b_idx]
        n = len(items)
        width = max(6, len(str(n)))
        items[Col.ITEM_ID] = [f"SKU{i:0{width}d}" for i in range(1, n + 1)]
        self.items = items
        self.n_items = n
        self.item_price = items[Col.PRICE].to_numpy(dtype=np.float64)
        self.item_base = b_idx
        self.item_ids = pa.array(items[Col.ITEM_ID].to_numpy(dtype=object), type=pa.string())
        attrs_wrapped = LIST_SEP + items["attrs"] + LIST_SEP
        self._attr_cache: dict[str, np.ndarray] = {}
        self._mask_cache: dict[str, np.ndarray] = {}

        def has_attr(a: str) -> np.ndarray:
            if a not in self._attr_cache:
                self._attr_cache[a] = attrs_wrapped.str.contains(
                    LIST_SEP + a + LIST_SEP, regex=False
                ).to_numpy(dtype=bool)
            return self._attr_cache[a]

        self._has_attr = has_attr
        bits = np.zeros(n, dtype=np.int64)
        for k, x in enumerate(CONSTRAINTS):
            bits |= has_attr(CONTAINS_PREFIX + x).astype(np.int64) << k
        self.item_bits = bits
        seasons = {s: _parse_season(s) for s in items[Col.SEASON].unique()}
        self.item_season = np.stack([seasons[s] for s in items[Col.SEASON]])  # (n, 13)
        self.item_seasonal = items[Col.SEASON].to_numpy() != ""
        self.item_hol = items["hol"].to_numpy()
        # variants of one base sorted by price (for the person-level price-level re-pick)
        order = np.lexsort((self.item_price, b_idx))
        self.var_sorted = order
        n_bases = int(b_idx.max()) + 1
        self.var_count = np.bincount(b_idx, minlength=n_bases)
        self.var_start = np.concatenate([[0], np.cumsum(self.var_count)[:-1]])
        self.item_pop = items["vpop"].to_numpy() * pop[b_idx]
        self.price_ratio = self.item_price / items["base_price"].to_numpy()

    def _affinity(self, spec: dict[str, float], floor: float) -> np.ndarray:
        """Item weights from a cat:/sub:/attr:/name: spec."""
        w = np.full(self.n_items, floor)
        for key, weight in spec.items():
            w = w + weight * self._mask(key)
        return w

    def _mask(self, key: str) -> np.ndarray:
        """Items matching one cat:/sub:/attr:/name: key (cached)."""
        if key in self._mask_cache:
            return self._mask_cache[key]
        it = self.items
        kind, _, val = key.partition(":")
        if kind == "cat":
            m = (it[Col.CATEGORY] == val).to_numpy(dtype=bool)
        elif kind == "sub":
            m = (it[Col.SUBCATEGORY] == val).to_numpy(dtype=bool)
        elif kind == "attr":
            m = self._has_attr(val)
        elif kind == "name":
            m = it[Col.NAME].str.contains(val, regex=False).to_numpy(dtype=bool)
        else:
            raise ValueError(f"bad affinity key {key!r}")
        self._mask_cache[key] = m
        return m

    def distributions(self) -> None:
        """Item distributions per (source, period); sources = personas, staples, themes."""
        personas = self.cast.personas
        aff_persona = np.stack([self._affinity(p.affinity, PERSONA_FLOOR) for p in personas])
        self.aff_persona = _overlapped(aff_persona, self.cfg.taste_overlap)
        aff = [*self.aff_persona, self._affinity(STAPLES_AFFINITY, STAPLES_FLOOR)]
        aff += [self._affinity(t.affinity, PERSONA_FLOOR) for t in THEMES]
        elasticity = [p.price_elasticity for p in personas] + [-0.3] + [0.0] * N_THEMES
        self.src_staples = len(personas)
        self.src_theme0 = len(personas) + 1
        gift = self._has_attr("gift")
        seafood = (self.items[Col.CATEGORY] == "seafood").to_numpy()
        meat = (self.items[Col.CATEGORY] == "meat").to_numpy()
        fruit = (self.items[Col.CATEGORY] == "fruit").to_numpy()
        sub = self.items[Col.SUBCATEGORY].to_numpy()
        per_period = []
        for month, kind in zip(self.period_month, self.period_kind, strict=True):
            if month == 0:
                f = np.where(self.item_seasonal, 0.0, 1.0)
            else:
                f = np.where(self.item_season[:, month], 1.0, 0.01)
            has_hol = self.item_hol != ""
            f = np.where(has_hol, np.where(self.item_hol == (kind or "-"), 8.0, 0.01), f)
            if month == 0:
                f = np.where(has_hol, 0.0, f)
            if kind is not None:
                f = f * np.where(gift, 2.5, 1.0)
                if kind == "spring_festival":
                    f = f * np.where(seafood, 1.6, 1.0) * np.where(meat, 1.5, 1.0)
                    f = f * np.where(sub == "nuts", 2.0, 1.0)
                elif kind == "mid_autumn":
                    f = f * np.where(sub == "crab", 2.5, 1.0) * np.where(fruit, 1.3, 1.0)
            per_period.append(f)
        season = np.stack(per_period)  # (P, n)
        w = np.stack(
            [
                a[None, :] * season * self.item_pop[None, :] * self.price_ratio[None, :] ** e
                for a, e in zip(aff, elasticity, strict=True)
            ]
        )  # (S, P, n)
        self.dist = _Categorical(w.reshape(-1, self.n_items))

    def _rows(self, source: np.ndarray | int, period: np.ndarray) -> np.ndarray:
        return np.asarray(source, dtype=np.int64) * self.n_periods + period

    def _sample_items(
        self, rng: np.random.Generator, source: np.ndarray | int, period: np.ndarray
    ) -> np.ndarray:
        return self.dist.sample(rng, self._rows(source, period)).astype(np.int32)

    def _repick_variant(
        self, rng: np.random.Generator, item: np.ndarray, level: np.ndarray, share: float
    ) -> np.ndarray:
        """Move `share` of lines to the variant of the same base at the person's price level."""
        b = self.item_base[item]
        cnt = self.var_count[b]
        m = (rng.random(item.size) < share) & (cnt > 1)
        q = np.clip(level[m] + rng.normal(0.0, 0.2, m.sum()), 0.0, 0.999)
        out = item.copy()
        out[m] = self.var_sorted[self.var_start[b[m]] + (q * cnt[m]).astype(np.int64)]
        return out

    # ---- people ------------------------------------------------------------------------------

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

    # ---- groups ------------------------------------------------------------------------------

    def groups(self) -> None:
        cfg, rng = self.cfg, self.rng["groups"]
        n, n_comp = self.n, self.n_comp
        # compound names
        names = [p + s for p in COMPOUND_PREFIXES for s in COMPOUND_SUFFIXES]
        names = [names[i] for i in rng.permutation(len(names))]
        n_names = len(names)
        comp_names = [
            names[c % n_names]
            + (
                EXTRA_PHASES[c // n_names]
                if c // n_names < len(EXTRA_PHASES)
                else f"{c // n_names + 1}期"
            )
            for c in range(n_comp)
        ]
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
        # membership spans
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
        # featured goods: 4-8 for lives, 1-3 for chains, from the theme's goods in season
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
        self.s_feat = np.where(keep, cand, -1).astype(np.int64)
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
        title_pick = rng.integers(0, 3, n_s)
        titles = []
        for s in range(self.n_lives):
            th = THEMES[self.s_theme[s]]
            kind = self.period_kind[self.day_period[self.s_day[s]]]
            if th.key == "holiday_gift" and kind in HOLIDAY_TITLES:
                options = HOLIDAY_TITLES[kind]
                titles.append(options[title_pick[s] % len(options)])
            else:
                titles.append(th.titles[title_pick[s] % len(th.titles)])
        self.live_titles = titles
        width = max(5, len(str(self.n_lives)))
        self.live_ids = pa.array([f"L{i + 1:0{width}d}" for i in range(self.n_lives)], pa.string())
        hw = max(3, len(str(n_hosts)))
        self.host_ids = pa.array([f"H{i + 1:0{hw}d}" for i in range(n_hosts)], pa.string())

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
        # live_view / live_comment
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
        # when each basket joins the chain: KOCs early, viewers during the live, others later
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

    # ---- orders, funnels, browsing, searching, chatting, sharing ------------------------------

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
        # online funnel before the order: view -> click -> cart
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
        # the share events behind referral orders (one per order, shortly before it)
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

    # ---- text pools --------------------------------------------------------------------------

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

    # ---- the event log -----------------------------------------------------------------------

    def events(self) -> pd.DataFrame:
        """Concatenate, clip to the window, sort by time, give ids, format; column by column."""
        rng = self.rng["assemble"]
        cols: dict[str, np.ndarray] = {}
        for k in _EV_FIELDS:  # concatenate one column at a time, freeing the parts as we go
            cols[k] = np.concatenate([p.pop(k) for p in self.parts])
        self.parts = []
        ts = cols["ts"]
        keep = np.flatnonzero((ts >= self.t0) & (ts <= self.t_end))
        o = keep[np.argsort(ts[keep], kind="stable")]
        del keep, ts
        for k in _EV_FIELDS:
            cols[k] = cols[k][o]
        n_ev = o.size
        del o
        self._event_stats(cols)
        person = cols.pop("person")
        t, fmt = self._choose_ids(rng, person, cols.pop("pref"), self.cfg.id_noise)
        id_idx = self._id_index(person, t, fmt)
        del person, fmt
        # order ids in time order of the baskets
        order_ts = np.concatenate(self.order_ts) if self.order_ts else np.zeros(0, np.int64)
        rank = np.empty(order_ts.size, dtype=np.int64)
        rank[np.argsort(order_ts, kind="stable")] = np.arange(order_ts.size)
        oc = cols.pop("order")
        has_order = oc >= 0
        order_rank = np.where(has_order, rank[np.maximum(oc, 0)], -1)
        del oc, rank
        ref = cols.pop("ref")
        ref_t = self.main_type[np.maximum(ref, 0)]
        ref_idx = np.where(
            ref >= 0, np.choose(ref_t, [0, self.n, 2 * self.n, 7 * self.n]) + ref, -1
        )
        self._mark_used(ref_idx[ref >= 0])
        del ref, ref_t
        # naive timestamps come from some writers: one basket is written by one system
        naive = rng.random(n_ev) < self.cfg.naive_ts_share
        naive_order = rng.random(order_ts.size) < self.cfg.naive_ts_share
        naive[has_order] = naive_order[order_rank[has_order]]
        out: dict[str, Any] = {}  # column -> pandas array, built one at a time
        width = max(9, len(str(n_ev)))
        out[Col.EVENT_ID] = _str_col(
            _chunked(n_ev, lambda a: _prefixed("E", a, width), np.arange(1, n_ev + 1))
        )
        out[Col.TS] = _str_col(_chunked(n_ev, _fmt_ts, cols.pop("ts"), naive))
        del naive
        out[Col.EVENT_TYPE] = _cat_col(cols.pop("et"), EVENT_TYPES)
        out[Col.ID_TYPE] = _cat_col(t, ID_TYPES)
        out[Col.ID_VALUE] = _str_col(_chunked(n_ev, lambda a: _take(self.id_strings, a), id_idx))
        del t, id_idx
        out[Col.ITEM_ID] = _str_col(
            _chunked(n_ev, lambda a: _take(self.item_ids, a), cols.pop("item"))
        )
        qty = cols.pop("qty")
        out[Col.QUANTITY] = pd.arrays.IntegerArray(qty.astype(np.int64), qty == 0)
        del qty
        out[Col.AMOUNT] = cols.pop("amount")
        ow = max(8, len(str(order_ts.size)))
        out[Col.ORDER_ID] = _str_col(
            _chunked(n_ev, lambda a, m: _prefixed("O", a + 1, ow, m), order_rank, has_order)
        )
        del order_rank, has_order
        for col, key, values in (
            (Col.GROUP_ID, "group", self.group_ids),
            (Col.LIVE_ID, "live", self.live_ids),
            (Col.TEXT, "text", self.text_strings),
        ):
            out[col] = _str_col(_chunked(n_ev, lambda a, v=values: _take(v, a), cols.pop(key)))
        out[Col.CHANNEL] = _cat_col(cols.pop("channel"), CHANNELS)
        out[Col.REFERRER] = _str_col(_chunked(n_ev, lambda a: _take(self.ref_strings, a), ref_idx))
        del ref_idx
        return pd.DataFrame(out, copy=False)

    def _event_stats(self, cols: dict[str, np.ndarray]) -> None:
        """Per-person counts and per-persona basket values, for the truth and the summary."""
        person, et = cols["person"], cols["et"]
        self.n_events_person = np.bincount(person, minlength=self.n)
        purchase = (et == ET[EventType.ORDER]) | (et == ET[EventType.JIELONG])
        self.n_purchase_person = np.bincount(person[purchase], minlength=self.n)
        self.type_counts = np.bincount(et, minlength=len(EVENT_TYPES))
        oc, amount = cols["order"], cols["amount"]
        basket_amount = np.bincount(oc[purchase], weights=amount[purchase], minlength=self.n_orders)
        basket_seen = np.bincount(oc[purchase], minlength=self.n_orders) > 0
        order_lines = et == ET[EventType.ORDER]
        is_order = np.zeros(self.n_orders, dtype=bool)
        is_order[oc[order_lines]] = True
        basket_persona = np.zeros(self.n_orders, dtype=np.int64)
        basket_persona[oc[purchase]] = self.persona[person[purchase]]
        self.basket_stats = {
            "baskets": int(basket_seen.sum()),
            "mean_basket_amount": round(float(basket_amount[basket_seen].mean()), 2)
            if basket_seen.any()
            else 0.0,
            "aov_orders_by_persona": {
                key: round(float(basket_amount[is_order & (basket_persona == i)].mean()), 2)
                for i, key in enumerate(self.cast.keys)
                if (is_order & (basket_persona == i)).any()
            },
            "aov_jielong_by_persona": {
                key: round(float(basket_amount[sel].mean()), 2)
                for i, key in enumerate(self.cast.keys)
                if (sel := basket_seen & ~is_order & (basket_persona == i)).any()
            },
        }

    # ---- truth -------------------------------------------------------------------------------

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


def _release_memory() -> None:
    """Give freed heap back to the OS (glibc keeps it otherwise; matters for 200k-people runs)."""
    pa.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        with suppress(OSError, AttributeError):  # not glibc: nothing to trim
            ctypes.CDLL("libc.so.6").malloc_trim(0)


@contextmanager
def _step(bar: tqdm | None, name: str) -> Iterator[None]:
    if bar is not None:
        bar.set_postfix_str(name)
    yield
    _release_memory()
    if bar is not None:
        bar.update(1)


def generate(config: SynthConfig, progress: bool = False) -> World:
    """Draw a whole world (SCHEMA tables + ground truth) from the config; pure and deterministic."""
    b = _Builder(config)
    steps: list[tuple[str, Callable[[], Any]]] = []
    out: dict[str, Any] = {}

    def put(name: str, fn: Callable[[], Any]) -> None:
        steps.append((name, lambda: out.__setitem__(name, fn())))

    put("calendar", b.calendar)
    put("catalogue", b.catalogue)
    put("distributions", b.distributions)
    put("texts", b.texts)
    put("people", b.people)
    put("identifiers", b.identifiers)
    put("identity_links", b.identity_links)
    put("groups", b.groups)
    put("group_tables", b.groups_tables)
    put("sessions", b.sessions)
    put("live_tables", b.lives_tables)
    put("invitations", b.invitations)
    put("orders", b.orders)
    put("browse", b.browse)
    put("search", b.search)
    put("messages", b.messages)
    put("shares", b.shares)
    put("manual_tags", b.manual_tags)
    put("events", b.events)
    put("truth_people", b.truth_people)
    put("truth_identifiers", b.truth_identifiers)
    put("truth_lives", b.truth_lives)
    put("truth_groups", b.truth_groups)
    bar = tqdm(total=len(steps), desc="synth", unit="step", leave=False) if progress else None
    try:
        for name, fn in steps:
            with _step(bar, name):
                fn()
    finally:
        if bar is not None:
            bar.close()
    items = b.items
    items_df = pd.DataFrame(
        {
            Col.ITEM_ID: items[Col.ITEM_ID].to_numpy(dtype=object),
            Col.NAME: items[Col.NAME].to_numpy(dtype=object),
            Col.CATEGORY: items[Col.CATEGORY].to_numpy(dtype=object),
            Col.PRICE: b.item_price,
            Col.SUBCATEGORY: items[Col.SUBCATEGORY].to_numpy(dtype=object),
            Col.ATTRIBUTES: items["attrs"].replace("", None).to_numpy(dtype=object),
            Col.SEASON: items[Col.SEASON].replace("", None).to_numpy(dtype=object),
        }
    )
    groups_df, members_df = out["group_tables"]
    lives_df, hosts_df = out["live_tables"]
    tables = {
        "events": out["events"],
        "identity_links": out["identity_links"],
        "items": items_df,
        "groups": groups_df,
        "group_members": members_df,
        "live_sessions": lives_df,
        "hosts": hosts_df,
        "manual_tags": out["manual_tags"],
    }
    tables = {TABLES[k].name: _astype_schema(k, v) for k, v in tables.items()}
    live_truth, lives_truth = out["truth_lives"]
    truth = {
        "people": out["truth_people"],
        "identifiers": out["truth_identifiers"],
        "live_truth": live_truth,
        "lives": lives_truth,
        "groups": out["truth_groups"],
    }
    summary = _summary(config, tables, truth, b)
    return World(
        config=config,
        tables=tables,
        truth=truth,
        personas=personas_document(b.cast),
        summary=summary,
    )


def _astype_schema(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """Column order of SCHEMA.md; strings as pandas `str`, quantity Int64, other numbers float."""
    spec = TABLES[name]
    out = df[list(spec.column_names)]  # copy-on-write: no data is copied here
    for c in spec.columns:
        if c.kind == "number":
            dtype: Any = pd.Int64Dtype() if c.name == Col.QUANTITY else np.dtype(np.float64)
        elif isinstance(out[c.name].dtype, pd.CategoricalDtype):
            continue
        else:
            dtype = STRING_DTYPE
        if out[c.name].dtype != dtype:
            out[c.name] = out[c.name].astype(dtype)
    return out


def _rate(mask: pd.Series, col: pd.Series) -> float | None:
    return round(float(col[mask].mean()), 3) if mask.any() else None


def _summary(
    cfg: SynthConfig, tables: dict[str, pd.DataFrame], truth: dict[str, pd.DataFrame], b: _Builder
) -> dict[str, Any]:
    people = truth["people"]
    lt = truth["live_truth"]
    matched = lt[TruthCol.FIT] >= 0.9
    n_events = len(tables["events"])
    return {
        "config": cfg.logged(),
        "window": [b.start.date().isoformat(), b.end_day.date().isoformat()],
        "holidays_in_window": b.holidays,
        "rows": {k: int(len(v)) for k, v in tables.items()},
        "truth_rows": {k: int(len(v)) for k, v in truth.items()},
        "events_per_person": round(n_events / max(cfg.people, 1), 1),
        "event_types": {t: int(c) for t, c in zip(EVENT_TYPES, b.type_counts, strict=True)},
        "persona_counts": people[TruthCol.PERSONA]
        .value_counts()
        .sort_index()
        .astype(int)
        .to_dict(),
        **b.basket_stats,
        "lives": int(len(truth["lives"])),
        "live_view_rate_matched": _rate(matched, lt[TruthCol.VIEWED]),
        "live_jielong_rate_matched": _rate(matched, lt[TruthCol.JOINED]),
        "live_view_rate_other": _rate(~matched, lt[TruthCol.VIEWED]),
        "live_jielong_rate_other": _rate(~matched, lt[TruthCol.JOINED]),
        **({"unlinked_ids": int(b.unlinked.sum())} if cfg.unlinked_share > 0 else {}),
    }


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


WRITE_ROWS = 2_000_000


def _file_slices(df: pd.DataFrame) -> Iterator[pa.Table]:
    """Arrow slices of a frame as written to files: categoricals become plain strings."""
    for lo in range(0, max(len(df), 1), WRITE_ROWS):
        table = pa.Table.from_pandas(df.iloc[lo : lo + WRITE_ROWS], preserve_index=False)
        yield _decode_dictionaries(table)


def _decode_dictionaries(table: pa.Table) -> pa.Table:
    """Dictionary / large strings -> plain strings; pandas metadata says `str` (not category)."""
    meta = table.schema.pandas_metadata
    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type) or pa.types.is_large_string(f.type):
            table = table.set_column(i, f.name, pc.cast(table.column(i), pa.string()))
    if meta is None:
        return table
    for col in meta["columns"]:
        if col["pandas_type"] == "categorical":
            col.update(pandas_type="object", numpy_type="str", metadata=None)
    return table.replace_schema_metadata({b"pandas": json.dumps(meta).encode("utf-8")})


def _write_table(df: pd.DataFrame, path: Path, fmt: Format) -> None:
    """One table to one file (written in row slices to bound memory)."""
    if fmt == "jsonl":
        with path.open("w", encoding="utf-8") as fh:
            for lo in range(0, len(df), WRITE_ROWS // 4):
                chunk = df.iloc[lo : lo + WRITE_ROWS // 4]
                text = chunk.to_json(orient="records", lines=True, force_ascii=False)
                fh.write(text if text.endswith("\n") or not text else text + "\n")
        return
    writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
    try:
        for table in _file_slices(df):
            if writer is None:
                if fmt == "parquet":
                    writer = pq.ParquetWriter(path, table.schema, compression="zstd")
                else:
                    options = pacsv.WriteOptions(quoting_style="needed")
                    writer = pacsv.CSVWriter(path, table.schema, write_options=options)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def write_world(world: World, out: Path | str, fmt: Format = "parquet") -> dict[str, Path]:
    """Write `out/data/<table>.<fmt>` and `out/truth/*`; return the paths written."""
    if fmt not in SUFFIX:
        raise ValueError(f"unknown format {fmt!r}; use one of {sorted(SUFFIX)}")
    out = Path(out)
    data_dir, truth_dir = out / "data", out / "truth"
    data_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, df in world.tables.items():
        for other in SUFFIX.values():  # a stale file in another format would shadow this one
            stale = data_dir / f"{name}{other}"
            if other != SUFFIX[fmt] and stale.exists():
                stale.unlink()
        path = data_dir / f"{name}{SUFFIX[fmt]}"
        _write_table(df, path, fmt)
        written[name] = path
    for name, df in world.truth.items():
        path = truth_dir / f"{name}.parquet"
        _write_table(df, path, "parquet")
        written[f"truth/{name}"] = path
    for name, doc in (
        ("personas", world.personas),
        ("summary", world.summary),
        ("config", world.config.logged()),
    ):
        path = truth_dir / f"{name}.json"
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written[f"truth/{name}"] = path
    return written


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


# world-shaping knobs exposed as flags: flag, type, help
_KNOB_FLAGS: tuple[tuple[str, type, str], ...] = (
    ("--personas", int, "number of personas, 2..10 (default 6)"),
    ("--taste-overlap", float, "0..1: personas' item tastes pulled together (default 0)"),
    ("--unlinked-share", float, "0..1: identifiers never linked to their person (default 0)"),
    ("--text-noise", float, "0..1: persona texts replaced by keyword-free ones (default 0)"),
    ("--activity-scale", float, "multiplies order/browse/search rates (default 1)"),
    ("--secondary-share", float, "0..1: people with a secondary persona (default 0.25)"),
    ("--id-noise", float, "0..1: events under a non-preferred id (default 0.08)"),
    ("--general-group-max", int, "general groups split above this size (default 500)"),
    ("--compound-size", int, "mean residents per compound (default 450)"),
)


def main(argv: list[str] | None = None) -> int:
    """`python -m features.synth --out DIR [...]`: generate and write a world, print a summary."""
    parser = argparse.ArgumentParser(
        prog="linli synth",
        description="Write a synthetic group-buying world: DIR/data (SCHEMA tables) and "
        "DIR/truth (hidden personas, identities, live propensities).",
    )
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument(
        "--preset",
        choices=["default", *PRESETS],
        default=None,
        help="a named world far from the default (flags below override its fields)",
    )
    parser.add_argument("--people", type=int, help="number of people (default 10000)")
    parser.add_argument("--items", type=int, help="number of items (catalogue size; default 400)")
    parser.add_argument("--months", type=int, help="months of events (default 6)")
    parser.add_argument("--seed", type=int, help="random seed (default 42)")
    for flag, kind, text in _KNOB_FLAGS:
        parser.add_argument(flag, type=kind, help=text)
    parser.add_argument("--format", choices=sorted(SUFFIX), default="parquet", help="file format")
    parser.add_argument("--end", type=date.fromisoformat, help="last day (default 2026-10-31)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    fields = ["people", "items", "months", "seed", "end"]
    fields += [flag[2:].replace("-", "_") for flag, _, _ in _KNOB_FLAGS]
    given = {f: getattr(args, f) for f in fields if getattr(args, f) is not None}
    try:
        cfg = preset_config(args.preset, **given)
    except ValidationError as exc:
        print(f"linli synth: invalid options:\n{exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    world = generate(cfg, progress=not args.quiet)
    t1 = time.perf_counter()
    written = write_world(world, args.out, args.format)
    t2 = time.perf_counter()
    s = world.summary
    print(
        f"synthetic world{f' ({args.preset})' if args.preset else ''}: "
        f"{cfg.people:,} people, {cfg.items:,} items, {cfg.months} months "
        f"({s['window'][0]} .. {s['window'][1]}), seed {cfg.seed}"
    )
    for name, df in world.tables.items():
        print(f"  data/{written[name].name:<24} {len(df):>12,} rows")
    for name, df in world.truth.items():
        print(f"  truth/{name + '.parquet':<23} {len(df):>12,} rows")
    print(
        f"  events per person: {s['events_per_person']}; baskets: {s['baskets']:,}; "
        f"mean basket: {s['mean_basket_amount']} yuan"
    )
    print(f"  generated in {t1 - t0:.1f}s, written in {t2 - t1:.1f}s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
