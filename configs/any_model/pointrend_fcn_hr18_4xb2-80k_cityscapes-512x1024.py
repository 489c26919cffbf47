# PointRend on top of the config below, written by
# tools/misc/pointrendify.py (mmpointrend.pointrendify).
# probe: semantic model built once on a 256x256 input
# feature levels: [0] stride 4 (18 ch), [1] stride 8 (36 ch), [2] stride 16 (72 ch), [3] stride 32 (144 ch)
# classes: 19
# decode head output stride: 4
# point head reads level(s) [0] (stride 4)
# 2 subdivision steps: stride 4 -> 1 (the input resolution)
# 2048 training points per image = cells of a stride-16 map of the crop
_base_ = 'mmseg::hrnet/fcn_hr18_4xb2-80k_cityscapes-512x1024.py'
model = dict(
    type='mmpointrend.PointRendEncoderDecoder',
    decode_head=[
        _base_.model.decode_head,
        dict(
            type='mmpointrend.PointRendSemSegHead',
            in_channels=[18],
            in_index=[0],
            channels=256,
            num_fcs=3,
            coarse_pred_each_layer=True,
            num_classes=19,
            align_corners=False,
            point_sampler=dict(
                type='mmpointrend.UncertaintyPointSampler',
                num_points=2048,
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
