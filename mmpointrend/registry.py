"""Registries of mmpointrend, children of the MMEngine roots.

``locations`` lets MMEngine import our modules lazily the first time a config
asks for ``mmpointrend.X``, so configs need no ``custom_imports`` and scripts
no ``register_all_modules``.
"""

from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import Registry

MODELS = Registry(
    'model', parent=MMENGINE_MODELS, locations=['mmpointrend.models']
)
TASK_UTILS = Registry(
    'task util', parent=MMENGINE_TASK_UTILS, locations=['mmpointrend.models']
)

METRICS = Registry(
    'metric', parent=MMENGINE_METRICS, locations=['mmpointrend.evaluation']
)

__all__ = ['METRICS', 'MODELS', 'TASK_UTILS']
