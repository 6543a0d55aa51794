"""Products behind SKUs: variants of one product (pack size, grade, origin) share a key.

A catalogue lists one product many times: ``土豆 5斤``, ``寿光土豆 5斤·家庭装``,
``有机土豆 2kg``; ``Organic Bananas``, ``Bag of Bananas (3 lb)``. :func:`base_name` strips
what makes a variant (brackets, quantities with units, ``x2`` / ``×24瓶`` multipliers,
``4个装`` / ``家庭装`` packs, ``2号款`` model numbers, grade words such as 有机 / 精选 /
organic / premium) and folds case, width and English plurals. :func:`product_keys` then
joins, within one subcategory (or category), a Chinese name to the shortest other base name
of the catalogue it ends with after a short qualifier: ``寿光土豆`` -> ``土豆`` when ``土豆`` is
sold too; English names join when their base names are equal (``Bag of Organic Bananas`` =
``Banana``). Pure functions; Chinese and English names.
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

_UNITS = (
    "斤|公斤|千克|克|两|毫升|升|个|只|枚|袋|包|瓶|盒|卷|串|条|片|罐|箱|支|粒|根|颗|份|块|桶|听|杯|"
    "双|套|提|入|kg|mg|ml|cl|g|l|pcs|pc|packs|pack|pk|ct|count|oz|lbs|lb|inch|in"
)
_NUM = r"(?<![\d.,])\d+(?:[.,]\d+)?"
_BRACKETS = re.compile(r"[(\[（【「〔{][^)\]）】」〕}]*[)\]）】」〕}]")
_QTY = re.compile(rf"(?:约|approx\.?\s*|about\s+)?{_NUM}\s*(?:{_UNITS})(?![a-z])")
_MULT = re.compile(rf"[x×*]\s*{_NUM}\s*(?:{_UNITS})?(?![a-z])")
_LEAD_MULT = re.compile(rf"(?<![a-z]){_NUM}\s*[x×*]")
_PACK = re.compile(r"[\u4e00-\u9fff]{0,3}装(?=$|[\s·,/、])")
_MODEL = re.compile(r"\d+号款")
_NUMBER_WORDS = re.compile(r"(?<![a-z\u4e00-\u9fff\d.,])\d+(?:[.,]\d+)?(?![a-z\u4e00-\u9fff\d.,])")
_SEPARATORS = re.compile(r"[·•・,，、/|\-_+&.:;!！?？'\"%]+")
MAX_CJK_PREFIX = 4  # 寿光 / 内蒙古 / 农家散养: an origin or a cultivar, not another dish
GRADE_WORDS_ZH = (
    "邻里优选",
    "团长推荐",
    "产地直发",
    "鲜直达",
    "优选",
    "臻选",
    "精选",
    "特惠",
    "特价",
    "有机",
    "农家",
    "简装",
    "精品",
    "新鲜",
    "进口",
)
GRADE_WORDS_EN = frozenset(
    {
        "organic",
        "fresh",
        "premium",
        "select",
        "selected",
        "natural",
        "original",
        "classic",
        "value",
        "family",
        "size",
        "large",
        "small",
        "medium",
        "mini",
        "jumbo",
        "extra",
        "new",
        "pack",
        "bag",
        "of",
        "the",
        "a",
    }
)


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes", "oes")):
        return word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def base_name(name: str) -> str:
    """A product name without what makes one variant differ from another (case and width folded)."""
    s = unicodedata.normalize("NFKC", str(name)).lower()
    s = _BRACKETS.sub(" ", s)
    s = _MODEL.sub(" ", s)
    s = _MULT.sub(" ", s)
    s = _LEAD_MULT.sub(" ", s)
    s = _QTY.sub(" ", s)
    s = _PACK.sub(" ", s)
    s = _NUMBER_WORDS.sub(" ", s)
    for w in GRADE_WORDS_ZH:
        s = s.replace(w, " ")
    s = _SEPARATORS.sub(" ", s)
    words = [_singular(w) for w in s.split() if w not in GRADE_WORDS_EN]
    out = " ".join(words).strip()
    # CJK characters need no spaces between them: 寿光 土豆 -> 寿光土豆
    out = re.sub(r"(?<=[\u4e00-\u9fff]) (?=[\u4e00-\u9fff])", "", out)
    return out or unicodedata.normalize("NFKC", str(name)).lower().strip()


def _ends_with(longer: str, shorter: str) -> bool:
    """``longer`` is ``shorter`` with a short Chinese qualifier in front (寿光土豆 / 土豆).

    Only Chinese names: there the product word comes last and an origin or cultivar of at
    most ``MAX_CJK_PREFIX`` characters goes in front. English names join only when their
    base names are equal (``cheddar cheese`` and ``cheese`` stay two products).
    """
    if len(shorter) < 2 or len(shorter) >= len(longer) or not longer.endswith(shorter):
        return False
    prefix = longer[: len(longer) - len(shorter)]
    cjk = all("\u4e00" <= ch <= "\u9fff" for ch in prefix + shorter[0])
    return cjk and len(prefix) <= MAX_CJK_PREFIX


def product_keys(names: pd.Series, groups: pd.Series | None = None) -> pd.Series:
    """Per SKU, the key of its product: ``group|base name``, joined to a shorter base it ends with.

    ``groups`` (subcategory, else category; same index as ``names``) keeps goods of other
    kinds apart. The shorter base must itself be a base name of the catalogue in that group.
    """
    base = names.astype("string").fillna("").map(base_name)
    grp = (
        groups.astype("string").fillna("").reindex(names.index)
        if groups is not None
        else pd.Series("", index=names.index, dtype="string")
    )
    root: dict[tuple[str, str], str] = {}
    for g, bases in base.groupby(grp.to_numpy(), sort=False):  # one pass per subcategory
        uniq = sorted(set(bases.tolist()), key=lambda b: (len(b), b))
        for i, b in enumerate(uniq):
            parent = next((c for c in uniq[:i] if _ends_with(b, c)), None)
            root[(str(g), b)] = root[(str(g), parent)] if parent is not None else b
    keys = [f"{g}|{root[(str(g), b)]}" for g, b in zip(grp.tolist(), base.tolist(), strict=True)]
    return pd.Series(keys, index=names.index, dtype=object)
