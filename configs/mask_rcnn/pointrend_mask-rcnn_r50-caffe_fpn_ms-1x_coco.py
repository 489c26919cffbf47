# Mask R-CNN + PointRend, R50-caffe-FPN, multi-scale 1x on COCO: mmdet's
# point_rend recipe (data, schedule, runtime) with mmpointrend's mask branch.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50-caffe_fpn_ms-1x_coco.py'
num_classes = 80
model = dict(
    roi_head=dict(
        type='mmpointrend.PointRendMaskRoIHead',
        # 14x14 bilinear grid inside each box, from P2 only (paper sec. 4).
        mask_roi_extractor=dict(
            _delete_=True,
            type='mmpointrend.GridRoIExtractor',
            featmap_strides=[4],
            output_size=14,
            out_channels=256),
        mask_head=dict(
            _delete_=True,
            type='mmpointrend.PointRendCoarseMaskHead',
            num_classes=num_classes,
            in_channels=256,
            conv_out_channels=256,
            num_fcs=2,
            fc_out_channels=1024),
        point_head=dict(
            type='mmpointrend.PointRendMaskPointHead',
            num_classes=num_classes,
            in_channels=256,
            fc_channels=256,
            num_fcs=3,
            coarse_pred_each_layer=True,
            point_sampler=dict(
                type='mmpointrend.UncertaintyPointSampler',
                num_points=14 * 14,
                oversample_ratio=3,  # k
                importance_sample_ratio=0.75))),  # beta
    # Coarse-mask targets are 7x7, the coarse head's output.
    train_cfg=dict(rcnn=dict(mask_size=7)),
    test_cfg=dict(
        rcnn=dict(
            subdivision_steps=5,  # 7 -> 224
            subdivision_num_points=28 * 28,
            scale_factor=2,
            render_init_grid=True)))
