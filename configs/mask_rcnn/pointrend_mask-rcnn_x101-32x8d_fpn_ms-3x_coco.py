# detectron2's PointRend X101-32x8d-FPN 3x, on mmdet's X101-32x8d MS-3x
# Mask R-CNN recipe (pytorch-style ResNeXt; BGR input with the Caffe2
# mean and std of those ImageNet weights, as in detectron2).
_base_ = 'mmdet::mask_rcnn/mask-rcnn_x101-32x8d_fpn_ms-poly-3x_coco.py'
num_classes = 80
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
