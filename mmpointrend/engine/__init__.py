"""Runner extensions: checkpoint checks, exact resume, CPU mixed precision."""

from mmpointrend.checkpoint.fit import (
    DEFAULT_MIN_FIT,
    CheckpointMismatchError,
    check_checkpoint_fit,
)

from .checkpoint_fit import CheckpointFitHook
from .optim_wrapper import CPUAutocastOptimWrapper
from .random_state import (
    RandomStateHook,
    capture_random_state,
    restore_random_state,
)

__all__ = [
    'DEFAULT_MIN_FIT',
    'CPUAutocastOptimWrapper',
    'CheckpointFitHook',
    'CheckpointMismatchError',
    'RandomStateHook',
    'capture_random_state',
    'check_checkpoint_fit',
    'restore_random_state',
]
