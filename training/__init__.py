"""Models, evaluation, the training job, the matching tools and the bundle export."""

import os

# OpenMP worker threads (scikit-learn's gradient boosting and k-means, implicit's ALS) sleep
# instead of spinning while they wait for work. On a machine shared by several jobs the
# spinning made HistGradientBoosting 25-35x slower (`experiments/benchmarks/bench_jobs.py`);
# the variable is read when the OpenMP runtime loads, i.e. before any of those libraries
# is imported, and a value the caller set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
