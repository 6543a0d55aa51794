"""Evaluation under training: splits, metrics, folds, the leaderboard and champion-vs-challenger."""
