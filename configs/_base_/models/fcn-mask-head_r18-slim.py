# Mask R-CNN's standard mask branch (4 convs, 28x28 per class, RoIAlign 14x14
# from the FPN level of each box) at the 64-channel width of the slim R18
# recipes: the baseline that the synthetic and DSB2018 studies compare
# PointRend with. A variable, so that it can sit beside another base:
#   model = dict(roi_head=dict(_base_.fcn_mask_roi_head, ...))
fcn_mask_roi_head = dict(
    _delete_=True,
    type='StandardRoIHead',
    mask_roi_extractor=dict(
        type='SingleRoIExtractor',
        roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0),
        out_channels=64,
        featmap_strides=[4, 8, 16, 32]),
    mask_head=dict(
        type='FCNMaskHead',
        num_convs=4,
        in_channels=64,
        conv_out_channels=64,
        loss_mask=dict(
            type='CrossEntropyLoss', use_mask=True, loss_weight=1.0)))
