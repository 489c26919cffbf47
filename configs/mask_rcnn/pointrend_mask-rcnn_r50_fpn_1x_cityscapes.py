# PointRend R50-FPN 1x on Cityscapes instances (8 classes), on mmdet's
# Cityscapes Mask R-CNN recipe.
_base_ = 'mmdet::cityscapes/mask-rcnn_r50_fpn_1x_cityscapes.py'
num_classes = 8
model = dict(
    roi_head=dict(
        type='mmpointrend.PointRendMaskRoIHead',
        mask_roi_extractor=dict(
            _delete_=True,
            type='mmpointrend.GridRoIExtractor',
            featmap_strides=[4],
            output_size=14,
            out_channels=256),
        mask_head=dict(
            _delete_=True,
            type='mmpointrend.PointRendCoarseMaskHead',
            num_classes=num_classes),
        point_head=dict(
            type='mmpointrend.PointRendMaskPointHead',
            num_classes=num_classes,
            in_channels=256)),
    test_cfg=dict(
        rcnn=dict(
            subdivision_steps=5,
            subdivision_num_points=28 * 28,
            scale_factor=2,
            render_init_grid=True)))
