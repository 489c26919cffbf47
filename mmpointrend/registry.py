"""Registries of mmpointrend, children of the MMEngine roots.

``locations`` lets MMEngine import our modules lazily the first time a config
asks for ``mmpointrend.X``, so configs need no ``custom_imports`` and scripts
no ``register_all_modules``.
"""

from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
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

HOOKS = Registry(
    'hook', parent=MMENGINE_HOOKS, locations=['mmpointrend.engine']
)
OPTIM_WRAPPERS = Registry(
    'optim_wrapper',
    parent=MMENGINE_OPTIM_WRAPPERS,
    locations=['mmpointrend.engine'],
)

DATASETS = Registry(
    'dataset', parent=MMENGINE_DATASETS, locations=['mmpointrend.datasets']
)
TRANSFORMS = Registry(
    'transform',
    parent=MMENGINE_TRANSFORMS,
    locations=['mmpointrend.datasets'],
)

__all__ = [
    'DATASETS',
    'HOOKS',
    'METRICS',
    'MODELS',
    'OPTIM_WRAPPERS',
    'TASK_UTILS',
    'TRANSFORMS',
]
