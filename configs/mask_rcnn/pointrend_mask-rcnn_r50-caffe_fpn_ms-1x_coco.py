# Mask R-CNN + PointRend, R50-caffe-FPN, multi-scale 1x on COCO: mmdet's
# point_rend recipe (data, schedule, runtime) with mmpointrend's mask branch.
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50-caffe_fpn_ms-1x_coco.py',
    '../_base_/models/pointrend_mask-rcnn_fpn.py',
]
model = dict(roi_head=_base_.pointrend_roi_head)
