"""mmpointrend: PointRend components for mmsegmentation and mmdetection."""

from .any_model import pointrendify
from .checkpoint import register_checkpoint_loaders
from .version import __version__

# MMEngine 0.10.7 loads local files with torch.load's default (weights-only
# since torch 2.6, which rejects MMEngine's own checkpoints) and URLs and
# named schemes (open-mmlab://, mmcls://, ...) with a full unpickle. Route
# every scheme through the safe loader: MMEngine checkpoints load, and no
# file runs code without the user's explicit opt-in.
register_checkpoint_loaders()


def _register_scope() -> None:
    # MMEngine's inferencers and hub functions look packages up by scope.
    from mmengine.config.utils import MODULE2PACKAGE

    MODULE2PACKAGE.setdefault('mmpointrend', 'mmpointrend')


_register_scope()

__all__ = ['__version__', 'pointrendify']
