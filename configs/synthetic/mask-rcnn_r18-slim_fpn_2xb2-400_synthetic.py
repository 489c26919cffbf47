# Baseline of the synthetic study: Mask R-CNN's standard mask head (4 convs, 28x28),
# otherwise identical to the PointRend config.
_base_ = [
    './pointrend_mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py',
    '../_base_/models/fcn-mask-head_r18-slim.py',
]
model = dict(
    roi_head=dict(
        _base_.fcn_mask_roi_head,
        bbox_roi_extractor=_base_.model.roi_head.bbox_roi_extractor,
        bbox_head=_base_.model.roi_head.bbox_head,
        mask_head=dict(
            _base_.fcn_mask_roi_head.mask_head,
            num_classes=_base_.num_classes)),
    train_cfg=dict(rcnn=dict(mask_size=28)))
