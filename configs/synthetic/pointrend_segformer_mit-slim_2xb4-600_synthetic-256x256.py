# PointRend on top of the config below, written by
# tools/misc/pointrendify.py (mmpointrend.pointrendify).
# probe: semantic model built once on a 256x256 input
# feature levels: [0] stride 4 (32 ch), [1] stride 8 (64 ch), [2] stride 16 (160 ch), [3] stride 32 (256 ch)
# classes: 5
# decode head output stride: 4
# point head reads level(s) [0] (stride 4)
# 2 subdivision steps: stride 4 -> 1 (the input resolution)
# 256 training points per image = cells of a stride-16 map of the crop
_base_ = 'segformer_mit-slim_2xb4-600_synthetic-256x256.py'
model = dict(
    type='mmpointrend.PointRendEncoderDecoder',
    decode_head=[
        _base_.model.decode_head,
        dict(
            type='mmpointrend.PointRendSemSegHead',
            in_channels=[32],
            in_index=[0],
            channels=256,
            num_fcs=3,
            coarse_pred_each_layer=True,
            num_classes=5,
            align_corners=False,
            point_sampler=dict(
                type='mmpointrend.UncertaintyPointSampler',
                num_points=256,
                oversample_ratio=3,
                importance_sample_ratio=0.75),
            loss_decode=dict(
                type='CrossEntropyLoss',
                use_sigmoid=False,
                loss_weight=1.0)),
    ],
    test_cfg=dict(
        subdivision_steps=2,
        subdivision_num_points=8192,
        scale_factor=2))
