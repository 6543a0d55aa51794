"""Checks of the matching tools against ground truth and real datasets (`python -m experiments.checks.NAME`)."""
