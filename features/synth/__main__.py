"""`python -m features.synth --out DIR [...]`."""

from features.synth.cli import main

raise SystemExit(main())
