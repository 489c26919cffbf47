"""mmpointrend: PointRend components for mmsegmentation and mmdetection."""

from .utils.compat import register_checkpoint_loader
from .version import __version__

# torch >= 2.6 loads weights-only by default, which MMEngine 0.10.7 does not
# expect; route MMEngine's local checkpoint loading through our loader.
register_checkpoint_loader()

__all__ = ['__version__']
