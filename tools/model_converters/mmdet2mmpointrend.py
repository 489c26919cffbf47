"""Convert an mmdet 3.x PointRend checkpoint to mmpointrend's keys.

Example:
    python tools/model_converters/mmdet2mmpointrend.py \
        point_rend_r50_caffe_fpn_mstrain_1x_coco-1bcb5fb4.pth \
        pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco_mmpointrend.pth
"""

from mmpointrend.checkpoint.cli import convert_checkpoint_cli
from mmpointrend.checkpoint.foreign import convert_mmdet_pointrend

if __name__ == '__main__':
    convert_checkpoint_cli(__doc__.splitlines()[0], convert_mmdet_pointrend)
