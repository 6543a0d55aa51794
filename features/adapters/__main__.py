"""``python -m features.adapters NAME --src DIR --out DIR [--format parquet]``."""

from features.adapters import main

raise SystemExit(main())
