#!/usr/bin/env bash
# Closing the loop on the synthetic world (10,000 people, 6 months): offline A/B, online A/B with a
# deliberately worse challenger, the seed's campaign simulation, the BI report (+ its screenshot).
# The two-month retraining story is `python -m experiments.demos.retrain_demo` (see README).
# Usage: bash experiments/demos/loop_demo.sh [WORK]   (default work/loop-demo; needs chromium for the PNG)
set -euo pipefail
W="${1:-work/loop-demo}"
BIN="$(dirname "$0")/../../.venv/bin"
export LINLI_WORK_DIR="$W" OPENBLAS_NUM_THREADS=1
linli() { "$BIN/linli" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1/7 world + feature store + segments -> $W"
[ -f "$W/world/data/events.parquet" ] || linli synth --out "$W/world" --people 10000 --months 6 --seed 42 --quiet
[ -f "$W/features/summary.json" ] || linli features build --data "$W/world/data" --out "$W/features" --no-progress
[ -f "$W/matching/segments.parquet" ] || linli segments --features "$W/features"
step "2/7 champion (repeat) and challenger (ALS) registered in MLflow ($W/mlflow.db)"
linli train --model repeat --features "$W/features" --holdout temporal --alias champion
linli train --model als --features "$W/features" --holdout temporal --alias challenger
step "3/7 offline A/B: champion vs challenger on the same holdout (paired bootstrap, per segment)"
linli ab --features "$W/features" --champion alias:champion --challenger alias:challenger --out "$W/ab/champion-vs-als"
linli ab --features "$W/features" --champion alias:champion --challenger model:popularity --out "$W/ab/champion-vs-popularity"
step "4/7 online A/B: served 50/50 over HTTP, exposures -> simulated later events -> report"
"$BIN/python" -m experiments.demos.online_ab_demo --features "$W/features" --champion repeat --challenger popularity
step "5/7 campaign simulation: the seed's light-meal live, targeted 120 vs broadcast"
linli simulate --features "$W/features" --truth "$W/world/truth" --out "$W/simulation"
step "6/7 BI report -> $W/report.html (+ docs/report.png)"
linli report --out "$W/report.html" --features "$W/features" --screenshot docs/report.png
step "7/7 done"
echo "MLflow UI: $BIN/mlflow ui --backend-store-uri sqlite:///$(cd "$W" && pwd)/mlflow.db --port 5000 --workers 1  (experiments linli-training, linli-ab, linli-reports, ...)"
