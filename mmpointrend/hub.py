"""``mmpointrend.hub``: the model zoo under its documented name.

The code is :mod:`mmpointrend.checkpoint.zoo`; this module keeps
``python -m mmpointrend.hub {list,download}`` and ``mmpointrend.hub.*``
working as documented.
"""

import sys

from mmpointrend.checkpoint.zoo import *  # noqa: F401,F403
from mmpointrend.checkpoint.zoo import __all__, main  # noqa: F401

if __name__ == '__main__':
    sys.exit(main())
