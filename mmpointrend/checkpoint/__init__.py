"""Everything about checkpoint files, in one package.

* :mod:`.loading`: reading a file without running code from it (the
  weights-only allow-list, the restricted unpickler, the trust opt-in);
* :mod:`.schemes`: MMEngine's checkpoint schemes routed through
  :mod:`.loading` (:func:`register_checkpoint_loaders`, called once by
  ``import mmpointrend``);
* :mod:`.foreign`: mmseg's, mmdet's and detectron2's PointRend key layouts;
* :mod:`.zoo`: the model zoo and verified downloads;
* :mod:`.fit`: how much of a model a state dict covers;
* :mod:`.io`: the one way tools write files (no overwrite without
  ``--force``, never the input, temporary file and rename);
* :mod:`.cli`: command-line pieces of the tools that read checkpoints.

Nothing here imports the models, the engine or the APIs.
"""

from .fit import CheckpointMismatchError, check_checkpoint_fit
from .io import check_output_path, replacing, write_atomically
from .loading import (
    TRUST_ENV,
    CorruptCheckpointError,
    UnsafeCheckpointError,
    load_checkpoint_file,
    load_weights_pickle,
    trust_requested,
    trusted_checkpoints,
)
from .schemes import SAFE_SCHEMES, register_checkpoint_loaders

__all__ = [
    'SAFE_SCHEMES',
    'TRUST_ENV',
    'CheckpointMismatchError',
    'CorruptCheckpointError',
    'UnsafeCheckpointError',
    'check_checkpoint_fit',
    'check_output_path',
    'load_checkpoint_file',
    'load_weights_pickle',
    'register_checkpoint_loaders',
    'replacing',
    'trust_requested',
    'trusted_checkpoints',
    'write_atomically',
]
