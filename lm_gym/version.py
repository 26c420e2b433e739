"""The lm_gym version: part of every cache key and result file (``setup.cfg`` reads it)."""

__version__ = "0.1.0"
