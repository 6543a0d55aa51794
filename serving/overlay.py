"""Identity links and constraint tags ingested after the bundle was built, laid over it at once.

Pure bookkeeping over a loaded :class:`serving.artifacts.Bundle` (no I/O): identifiers joined
by ingested links form people (union-find over identifier keys and known users); a person's
ingested ``allergy:X`` / ``avoid:X`` tags become forbidden items through the same matching as
the feature job (its constraint SQL, :class:`features.engine.constraints_sql.ConstraintMatcher`,
with the synonyms of the tag rules).

What it changes on the bundle, so that every endpoint honours it without knowing about it:

- ``bundle.extra_constraints[u]``: the forbidden items of a known user (their own static
  constraints, those of every known user they were linked to, and the ingested subjects);
- ``bundle.identifiers[key]``: a new identifier linked to a known user resolves to that user.

A person the bundle does not know at all keeps their forbidden items in :attr:`key_forbidden`
(by normalised identifier key); the engine removes those from the popular-items fallback.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from features.engine.constraints_sql import ConstraintMatcher
from features.schema import Col
from serving.artifacts import Bundle
from serving.ranking import id_key

Node = tuple[str, Any]  # ("u", user index) or ("k", identifier key)


def row_key(id_type: Any, id_value: Any) -> str:
    """The normalised `type:value` key of an ingested identifier."""
    return id_key(f"{id_type}:{id_value}")


class Overlay:
    """Runtime identity links and hard constraints on top of one bundle."""

    def __init__(self, bundle: Bundle, prefixes: list[str], synonyms: dict[str, list[str]]) -> None:
        self.bundle = bundle
        self.prefixes = list(prefixes)
        self.synonyms = {k.lower(): list(v) for k, v in synonyms.items()}
        self._parent: dict[Node, Node] = {}
        self._members: dict[Node, set[Node]] = {}
        self._subjects: dict[Node, set[str]] = {}
        self._subject_items: dict[str, np.ndarray] = {}
        self._matcher: ConstraintMatcher | None = None  # opened at the first constraint tag
        self.key_forbidden: dict[str, np.ndarray] = {}
        self.links = 0
        self.constraint_tags = 0
        # every ingested leader note as (identifier key, tag, note), for profiles and tag queries
        self.notes: list[tuple[str, str, str]] = []

    # -- union-find ----------------------------------------------------------------------------
    def _node(self, key: str) -> Node:
        u = self.bundle.identifiers.get(key)
        return ("u", int(u)) if u is not None else ("k", key)

    def _find(self, n: Node) -> Node:
        if n not in self._parent:
            self._parent[n] = n
            self._members[n] = {n}
            return n
        root = n
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[n] != root:  # path compression
            self._parent[n], n = root, self._parent[n]
        return root

    def _union(self, a: Node, b: Node) -> Node:
        ra, rb = self._find(a), self._find(b)
        if ra == rb:
            return ra
        if len(self._members[ra]) < len(self._members[rb]):
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._members[ra] |= self._members.pop(rb)
        self._subjects.setdefault(ra, set()).update(self._subjects.pop(rb, set()))
        return ra

    @property
    def matcher(self) -> ConstraintMatcher:
        """The feature job's constraint SQL over this bundle's catalogue."""
        if self._matcher is None:
            rules = {"constraints": {"prefixes": self.prefixes, "synonyms": self.synonyms}}
            self._matcher = ConstraintMatcher(self.bundle.items, rules)
        return self._matcher

    # -- applying rows -------------------------------------------------------------------------
    def add(self, links: Iterable[dict[str, Any]] = (), tags: Iterable[dict[str, Any]] = ()) -> int:
        """Apply identity_links and manual_tags rows; returns how many people changed."""
        touched: set[Node] = set()
        for r in links:
            a = self._node(row_key(r[Col.ID_TYPE_A], r[Col.ID_VALUE_A]))
            b = self._node(row_key(r[Col.ID_TYPE_B], r[Col.ID_VALUE_B]))
            touched.add(self._union(a, b))
            self.links += 1
        rows = list(tags)
        self.notes += [
            (row_key(r[Col.ID_TYPE], r[Col.ID_VALUE]), str(r[Col.TAG]).strip(), str(r.get(Col.NOTE) or ""))
            for r in rows
        ]  # fmt: skip
        if rows:
            frame = pd.DataFrame(
                {
                    Col.USER_ID: [row_key(r[Col.ID_TYPE], r[Col.ID_VALUE]) for r in rows],
                    Col.TAG: pd.Series([r[Col.TAG] for r in rows], dtype="string").str.lower(),
                }
            )
            found = self.matcher.subjects(frame)
            for key, subject in zip(found[Col.USER_ID], found["subject"], strict=True):
                root = self._find(self._node(str(key)))
                self._subjects.setdefault(root, set()).add(str(subject))
                touched.add(root)
                self.constraint_tags += 1
        roots = {self._find(n) for n in touched}
        for root in roots:
            self._refresh(root)
        return len(roots)

    def _items_of(self, subject: str) -> np.ndarray:
        cached = self._subject_items.get(subject)
        if cached is None:
            cached = self.matcher.items_of(subject)
            self._subject_items[subject] = cached
        return cached

    def _refresh(self, root: Node) -> None:
        """Recompute one person's forbidden items and identifier mapping on the bundle."""
        b = self.bundle
        nodes = self._members[root]
        users = sorted(int(v) for kind, v in nodes if kind == "u")
        keys = sorted(str(v) for kind, v in nodes if kind == "k")
        parts = [
            b.constraints.indices[b.constraints.indptr[u] : b.constraints.indptr[u + 1]]
            for u in users
        ]
        parts += [self._items_of(s) for s in sorted(self._subjects.get(root, ()))]
        forbidden = (
            np.unique(np.concatenate(parts)).astype(np.int32) if parts else np.empty(0, np.int32)
        )
        for u in users:
            if len(forbidden):
                b.extra_constraints[u] = forbidden
        for k in keys:
            if users:
                b.identifiers[k] = users[0]
                self.key_forbidden.pop(k, None)
            elif len(forbidden):
                self.key_forbidden[k] = forbidden

    def forbidden_for_key(self, identifier: str) -> np.ndarray | None:
        """Forbidden items of an identifier the bundle does not know (None when there are none)."""
        return self.key_forbidden.get(id_key(identifier))
