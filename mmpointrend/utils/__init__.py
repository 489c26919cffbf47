"""Utilities: safe checkpoint loading, typing aliases, compatibility."""

from .checkpoint import (
    TRUST_ENV,
    CorruptCheckpointError,
    UnsafeCheckpointError,
    load_checkpoint_file,
    load_weights_pickle,
    register_checkpoint_loaders,
    trust_requested,
    trusted_checkpoints,
)
from .compat import init_cpu_distributed

__all__ = [
    'TRUST_ENV',
    'CorruptCheckpointError',
    'UnsafeCheckpointError',
    'init_cpu_distributed',
    'load_checkpoint_file',
    'load_weights_pickle',
    'register_checkpoint_loaders',
    'trust_requested',
    'trusted_checkpoints',
]
