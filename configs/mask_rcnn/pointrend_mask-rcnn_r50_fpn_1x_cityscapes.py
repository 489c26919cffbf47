# PointRend R50-FPN 1x on Cityscapes instances (8 classes), on mmdet's
# Cityscapes Mask R-CNN recipe.
_base_ = [
    'mmdet::cityscapes/mask-rcnn_r50_fpn_1x_cityscapes.py',
    '../_base_/models/pointrend_mask-rcnn_fpn.py',
]
num_classes = 8
model = dict(
    roi_head=dict(
        _base_.pointrend_roi_head,
        mask_head=dict(
            _base_.pointrend_roi_head.mask_head, num_classes=num_classes),
        point_head=dict(
            _base_.pointrend_roi_head.point_head, num_classes=num_classes)))
