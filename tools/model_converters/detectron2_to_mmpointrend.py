"""Convert a detectron2 PointRend R-CNN model-zoo pickle to mmpointrend.

The pickle is read by a restricted unpickler (numpy arrays and builtin
containers only), so a malicious file cannot run code. The result loads
into ``configs/mask_rcnn/pointrend_mask-rcnn_r50-caffe_*`` (R50) or
``pointrend_mask-rcnn_r101-caffe_*`` (R101).

Example:
    python tools/model_converters/detectron2_to_mmpointrend.py \
        model_final_edd263.pkl pointrend_r50_fpn_3x_coco_d2.pth
"""

from mmpointrend.checkpoint.cli import convert_checkpoint_cli
from mmpointrend.checkpoint.foreign import convert_detectron2_pointrend

if __name__ == '__main__':
    convert_checkpoint_cli(
        __doc__.splitlines()[0], convert_detectron2_pointrend, detectron2=True
    )
