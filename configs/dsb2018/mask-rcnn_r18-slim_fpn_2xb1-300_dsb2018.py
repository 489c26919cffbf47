# Baseline of the DSB2018 study: Mask R-CNN with the standard 4x conv mask
# head at 28x28 (RoIAlign 14x14 from the FPN level of each box), otherwise
# identical to the PointRend config.
_base_ = './pointrend_mask-rcnn_r18-slim_fpn_2xb1-300_dsb2018.py'
model = dict(
    roi_head=dict(
        _delete_=True,
        type='StandardRoIHead',
        bbox_roi_extractor=_base_.model.roi_head.bbox_roi_extractor,
        bbox_head=_base_.model.roi_head.bbox_head,
        mask_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0),
            out_channels=_base_.width,
            featmap_strides=[4, 8, 16, 32]),
        mask_head=dict(
            type='FCNMaskHead',
            num_convs=4,
            in_channels=_base_.width,
            conv_out_channels=_base_.width,
            num_classes=_base_.num_classes,
            loss_mask=dict(
                type='CrossEntropyLoss', use_mask=True, loss_weight=1.0))),
    train_cfg=dict(rcnn=dict(mask_size=28)))
