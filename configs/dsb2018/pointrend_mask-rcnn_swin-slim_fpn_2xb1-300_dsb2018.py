# PointRend on top of the config below, written by
# tools/misc/pointrendify.py (mmpointrend.pointrendify).
# probe: instance model built once on a 256x256 input
# feature levels: [0] stride 4 (64 ch), [1] stride 8 (64 ch), [2] stride 16 (64 ch), [3] stride 32 (64 ch), [4] stride 64 (64 ch)
# classes: 1
# RoI head: StandardRoIHead
# point head reads level(s) [0] (stride 4); coarse head on a 14x14 grid of level 0
_base_ = 'mask-rcnn_swin-slim_fpn_2xb1-300_dsb2018.py'
model = dict(
    roi_head=dict(
        type='mmpointrend.PointRendMaskRoIHead',
        mask_roi_extractor=dict(
            _delete_=True,
            type='mmpointrend.GridRoIExtractor',
            featmap_strides=[4],
            output_size=14,
            out_channels=64),
        mask_head=dict(
            _delete_=True,
            type='mmpointrend.PointRendCoarseMaskHead',
            num_classes=1,
            in_channels=64,
            conv_out_channels=256,
            num_fcs=2,
            fc_out_channels=1024),
        point_head=dict(
            type='mmpointrend.PointRendMaskPointHead',
            num_classes=1,
            in_channels=64,
            fc_channels=256,
            num_fcs=3,
            coarse_pred_each_layer=True,
            point_sampler=dict(
                type='mmpointrend.UncertaintyPointSampler',
                num_points=196,
                oversample_ratio=3,
                importance_sample_ratio=0.75)),
        fine_feat_index=[0],
        fine_feat_strides=[4]))
