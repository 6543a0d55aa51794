"""Benchmarks: feature-build, ALS, serving-load and ingest throughput (`python -m experiments.benchmarks.NAME`)."""
