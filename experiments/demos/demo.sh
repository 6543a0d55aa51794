#!/usr/bin/env bash
# `make demo`: the whole loop on an embedded default (files + SQLite MLflow + one BentoML server).
# synthetic world -> feature store -> models (blend champion / ALS challenger) in MLflow -> segments, bundles,
# hosts, KOC, the seed's theme audience -> serving bundle -> server left running with three curl calls,
# then G00001's live plan (curl of /live/plan, printed readable).
set -euo pipefail
W="${1:-work}"
PORT="${LINLI_DEMO_PORT:-3000}"
BIN="$(dirname "$0")/../../.venv/bin"
export LINLI_WORK_DIR="$W" OPENBLAS_NUM_THREADS=1
linli() { "$BIN/linli" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1/7 synthetic world: 10,000 people, 6 months -> $W/world (data + truth)"
[ -f "$W/world/data/events.parquet" ] || linli synth --out "$W/world" --people 10000 --months 6 --seed 42
step "2/7 feature store -> $W/features"
linli features build --data "$W/world/data" --out "$W/features" --no-progress
step "3/7 models -> MLflow ($W/mlflow.db): repeat-aware blend as champion, ALS as challenger"
linli train --model blend --features "$W/features" --alias champion
linli train --model als --features "$W/features" --alias challenger
step "4/7 segments, bundles, hosts, KOC -> $W/matching"
linli segments --features "$W/features"
linli bundles --features "$W/features" --segments "$W/matching/segments.parquet" --show 5
linli hosts --features "$W/features"
linli koc --features "$W/features" --top 3
step "5/7 the seed's case: a light-meal / fat-loss audience of 120"
linli audience --features "$W/features" --theme experiments/themes/light_meal.json --n 120 --out "$W/matching/audience_light_meal.csv"
step "6/7 serving bundle + 7/7 BentoML server on 127.0.0.1:$PORT"
"$BIN/python" -m serving.demo --features "$W/features" --bundle "$W/bundle" --port "$PORT" --export
step "the live plan for G00001: items, bundle, host, audience, predicted funnel"
echo "curl -s -X POST http://127.0.0.1:$PORT/live/plan -H 'content-type: application/json' -d '{\"group_id\": \"G00001\", \"audience_n\": 120}' | python -m experiments.demos.show_plan"
curl -s -X POST "http://127.0.0.1:$PORT/live/plan" -H 'content-type: application/json' \
  -d '{"group_id": "G00001", "audience_n": 120}' | "$BIN/python" -m experiments.demos.show_plan
cat <<EOT

Outputs: world $W/world  features $W/features (summary.json, rejects/)  matching $W/matching
Ops console: http://127.0.0.1:$PORT/ui  (members, groups and live plans, audiences; 中文 / EN)
MLflow UI: make mlflow-ui  (http://127.0.0.1:5000; experiments linli-training, -tuning, -evaluation, -matching, -ab, -reports)
EOT
