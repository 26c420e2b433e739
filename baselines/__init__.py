"""Leaderboard tracks, runner and result tables (imported as ``lm_gym.baselines``)."""
