"""Utilities: typing aliases, build-time validation, compatibility.

Checkpoint reading and writing live in :mod:`mmpointrend.checkpoint`.
"""

from .compat import init_cpu_distributed

__all__ = ['init_cpu_distributed']
