"""Utilities: typing aliases and compatibility helpers."""

from .compat import (
    init_cpu_distributed,
    load_local_checkpoint,
    register_checkpoint_loader,
)

__all__ = [
    'init_cpu_distributed',
    'load_local_checkpoint',
    'register_checkpoint_loader',
]
