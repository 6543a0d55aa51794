"""Variants of one product share a key: pack sizes, grades and origins stripped, Chinese and English."""

from __future__ import annotations

import pandas as pd
import pytest

from features.products import base_name, product_keys


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("土豆 5斤", "土豆"),
        ("简装土豆 5斤·量贩装", "土豆"),
        ("牛油果 4个装", "牛油果"),
        ("特惠牛油果 4个装·精品装", "牛油果"),
        ("矿泉水 550ml×24瓶", "矿泉水"),
        ("农家食用盐 400g×3·家庭装", "食用盐"),
        ("有机大米【东北】 2kg 2号款", "大米"),
        ("8424西瓜 1个约7斤", "8424西瓜"),
        ("Organic Bananas", "banana"),
        ("Bag of Organic Bananas (3 lb)", "banana"),
        ("Honey Nut Cheerios 12 oz x2", "honey nut cheerio"),
        ("2 x 500g Rolled Oats", "rolled oat"),
        ("ＦＵＬＬ-ＷＩＤＴＨ Milk 1L", "full width milk"),
    ],
)
def test_base_name_strips_what_makes_a_variant(name: str, base: str) -> None:
    assert base_name(name) == base


def test_product_keys_join_variants_within_a_subcategory_only() -> None:
    items = pd.DataFrame(
        {
            "name": [
                "土豆 5斤",
                "寿光土豆 5斤·家庭装",
                "有机土豆 2kg",
                "红富士苹果 5斤",
                "阿克苏冰糖心苹果 5斤",
                "团长推荐红富士苹果 5斤·量贩装",
                "土豆粉 500g",
                "Banana",
                "Organic Bananas",
                "Banana Chips",
            ],
            "sub": ["potatoes"] * 3 + ["apples"] * 3 + ["noodles", "fruit", "fruit", "snacks"],
        }
    )
    k = product_keys(items["name"], items["sub"]).tolist()
    assert k[0] == k[1] == k[2]  # potatoes: pack, origin and grade variants
    assert k[3] == k[5] and k[3] != k[4]  # two apple cultivars stay two products
    assert k[6] != k[0]  # potato noodles are another kind of goods
    assert k[7] == k[8] and k[9] != k[7]
    assert len(set(k)) == 6
