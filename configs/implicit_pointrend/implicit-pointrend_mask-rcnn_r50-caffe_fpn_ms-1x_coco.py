# Mask R-CNN + Implicit PointRend, R50-caffe-FPN, multi-scale 1x on COCO:
# detectron2's implicit_pointrend_R_50_FPN_1x_coco recipe in epochs (12
# epochs at batch 16 = its 90k iterations, steps at 8 and 11 = 60k/80k),
# through mmdet's caffe-R50 Mask R-CNN recipe, with the Implicit PointRend
# mask branch. detectron2 publishes no weights for it.
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50-caffe_fpn_ms-1x_coco.py',
    '../_base_/models/implicit-pointrend_mask-rcnn_fpn.py',
]
model = dict(roi_head=_base_.implicit_pointrend_roi_head)
