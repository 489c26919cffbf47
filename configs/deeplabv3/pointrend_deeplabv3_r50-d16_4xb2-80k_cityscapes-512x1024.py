# DeepLabV3 (OS16) + PointRend, the paper's Table 6 model: the OS16 DeepLabV3
# head is the coarse stage; the point head reads res2 (backbone level 0,
# 256 channels), trains on as many points as a stride-16 map of the crop has
# cells, and renders 4 x2 steps (stride 16 -> 1) with N = 8192 points.
_base_ = './deeplabv3_r50-d16_4xb2-80k_cityscapes-512x1024.py'
crop_size = (512, 1024)
model = dict(
    type='mmpointrend.PointRendEncoderDecoder',
    # NHWC weights and activations: faster CPU convolutions and point
    # sampling, same results up to float rounding (docs/benchmarks.md).
    channels_last=True,
    decode_head=[
        _base_.model.decode_head,
        dict(
            type='mmpointrend.PointRendSemSegHead',
            in_channels=[256],
            in_index=[0],  # res2
            channels=256,
            num_fcs=3,
            coarse_pred_each_layer=True,
            num_classes=19,
            align_corners=False,
            point_sampler=dict(
                type='mmpointrend.UncertaintyPointSampler',
                num_points=(crop_size[0] // 16) * (crop_size[1] // 16),
                oversample_ratio=3,
                importance_sample_ratio=0.75),
            loss_decode=dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    ],
    test_cfg=dict(
        mode='whole',
        subdivision_steps=4,  # stride 16 -> 8 -> 4 -> 2 -> 1
        subdivision_num_points=64 * 128,
        scale_factor=2))
