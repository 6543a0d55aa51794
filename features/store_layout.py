"""Names of the files in a feature store directory (the layout training, serving and checks read).

Not to be confused with :mod:`features.event_store`, the ingestion database.
"""

from __future__ import annotations

from pathlib import Path

SUMMARY = "summary.json"
REJECTS_DIR = "rejects"
IDENTITY = "identity.parquet"  # id_type, id_value, user_id, first_seen
SUSPICIOUS = "suspicious_identifiers.csv"  # id_key, people, links, reason (not merged)
MERGES = "merges.parquet"  # ts, kept_user_id, absorbed_user_id, reason
EVENTS = "events.parquet"  # clean events + user_id (+ referrer_user_id)
ITEMS = "items.parquet"  # catalogue (derived from events when no items table)
USERS = "users.parquet"  # one row per unified user: RFM and profile columns
TAGS = "tags.parquet"  # user_id, tag, source (rule | manual)
CONSTRAINTS = "constraints.parquet"  # user_id, item_id, tag: items a user must never get
BASKETS = "baskets.parquet"  # order_id, user_id, ts, item_id, quantity, amount, group_id, live_id
GROUPS = "groups.parquet"
GROUP_MEMBERS = "group_members.parquet"  # group_id, user_id, joined_at, left_at
LIVE_SESSIONS = "live_sessions.parquet"
HOSTS = "hosts.parquet"
MATRIX_DIR = "matrix"


def rejects_path(out: Path, table: str) -> Path:
    """Where the rejected rows of one table are written."""
    return out / REJECTS_DIR / f"{table}.csv"
