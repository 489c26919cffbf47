# Small CPU recipe on the synthetic dataset: a half-width ResNet-18 + FPN
# trained from scratch, SemanticFPN coarse head + PointRend point head.
# 2 processes x 4 images, 600 iterations: about 6 minutes on 2 CPU cores.
_base_ = [
    'mmseg::_base_/models/pointrend_r50.py',
    '../_base_/datasets/synthetic_seg.py',
    'mmseg::_base_/default_runtime.py',
]
num_classes = 5
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='mmpointrend.PointRendEncoderDecoder',
    pretrained=None,
    data_preprocessor=dict(size=(256, 256)),
    backbone=dict(
        type='ResNetV1c',
        depth=18,
        stem_channels=32,
        base_channels=32,
        norm_cfg=norm_cfg),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=64),
    decode_head=[
        dict(
            type='FPNHead',
            in_channels=[64, 64, 64, 64],
            in_index=[0, 1, 2, 3],
            feature_strides=[4, 8, 16, 32],
            channels=64,
            dropout_ratio=-1,
            num_classes=num_classes,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        dict(
            type='mmpointrend.PointRendSemSegHead',
            in_channels=[64],
            in_index=[0],
            channels=128,
            num_fcs=3,
            coarse_pred_each_layer=True,
            num_classes=num_classes,
            align_corners=False,
            # stride-16 cells of the 256x256 crop
            point_sampler=dict(
                type='mmpointrend.UncertaintyPointSampler',
                num_points=(256 // 16)**2,
                oversample_ratio=3,
                importance_sample_ratio=0.75),
            loss_decode=dict(
                type='CrossEntropyLoss', loss_weight=1.0,
                avg_non_ignore=True)),
    ],
    train_cfg=dict(_delete_=True),
    test_cfg=dict(
        mode='whole',
        subdivision_steps=2,
        subdivision_num_points=(512 // 16)**2,
        scale_factor=2))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10.0))
max_iters = 600
param_scheduler = [
    dict(type='LinearLR', by_epoch=False, start_factor=0.1, begin=0, end=50),
    dict(
        type='PolyLR',
        eta_min=1e-5,
        power=0.9,
        begin=50,
        end=max_iters,
        by_epoch=False),
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=max_iters,
        max_keep_ckpts=1),
    visualization=dict(type='SegVisualizationHook', draw=True, interval=4))
randomness = dict(seed=0)
