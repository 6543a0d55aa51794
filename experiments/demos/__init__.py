"""Demos: the end-to-end stories (`make demo`, the loop demo, online A/B and retraining)."""
