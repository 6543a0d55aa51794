"""`linli synth` / `python -m features.synth`: generate and write a world, print a summary."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pydantic import ValidationError

from features.cli_parser import LinliParser, iso_date, one_line
from features.synth.builder import (
    generate,
)
from features.synth.config import (
    PRESETS,
    preset_config,
)
from features.synth.constants import (
    SUFFIX,
)
from features.synth.write import (
    write_world,
)

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
    parser = LinliParser(
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
    parser.add_argument("--end", type=iso_date, help="last day, YYYY-MM-DD (default 2026-10-31)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    fields = ["people", "items", "months", "seed", "end"]
    fields += [flag[2:].replace("-", "_") for flag, _, _ in _KNOB_FLAGS]
    given = {f: getattr(args, f) for f in fields if getattr(args, f) is not None}
    try:
        cfg = preset_config(args.preset, **given)
    except ValidationError as exc:
        print(f"linli synth: error: {one_line(exc)}", file=sys.stderr)
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
