"""Convert an mmseg PointRend checkpoint to mmpointrend's keys.

Example:
    python tools/model_converters/mmseg2mmpointrend.py \
        pointrend_r50_512x1024_80k_cityscapes_20200711_015821-bb1ff523.pth \
        pointrend_fpn_r50_cityscapes_mmpointrend.pth
"""

from mmpointrend.checkpoint.cli import convert_checkpoint_cli
from mmpointrend.checkpoint.foreign import convert_mmseg_pointrend

if __name__ == '__main__':
    convert_checkpoint_cli(__doc__.splitlines()[0], convert_mmseg_pointrend)
