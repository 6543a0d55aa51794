"""``python -m experiments.report``: the same as ``linli report``."""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from experiments.report import main  # noqa: E402

raise SystemExit(main())
