# PointRend as a class-agnostic mask refiner, small CPU recipe: a half-width
# ResNet-18 + FPN from scratch gives the fine features, the coarse input of
# each object is its ground-truth mask degraded (resolution loss, dilation
# or erosion, outline jitter, boundary noise; degrade_masks), and the point
# head learns to re-predict the uncertain points, as PointRend trains.
# Evaluation refines the validation masks degraded with a fixed seed;
# model.test_cfg.render=False scores the same coarse masks unrefined.
_base_ = [
    '../_base_/datasets/synthetic_ins.py',
    'mmdet::_base_/default_runtime.py',
]
width = 64
model = dict(
    type='mmpointrend.PointRendRefiner',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_mask=True,
        pad_size_divisor=32),
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=32,
        stem_channels=32,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        init_cfg=None),
    neck=dict(
        type='FPN', in_channels=[32, 64, 128, 256], out_channels=width,
        num_outs=4),
    point_head=dict(
        type='mmpointrend.PointRendMaskPointHead',
        num_classes=1,
        class_agnostic=True,
        coarse_channels=1,
        in_channels=width,
        fc_channels=128,
        num_fcs=3,
        coarse_pred_each_layer=True,
        point_sampler=dict(
            type='mmpointrend.UncertaintyPointSampler',
            num_points=28 * 28,
            oversample_ratio=3,
            importance_sample_ratio=0.75)),
    fine_feat_index=[0],
    fine_feat_strides=[4],
    coarse_size=28,
    context=0.1,
    train_cfg=dict(
        degrade=dict(
            min_factor=4, max_factor=16, max_morph=3, max_shift=0.05,
            noise=0.5),
        context_jitter=0.1),
    test_cfg=dict(
        subdivision_steps=3,
        subdivision_num_points=28 * 28,
        mask_thr_binary=0.5,
        seed=0))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10.0))
max_iters = 400
param_scheduler = [
    dict(type='LinearLR', by_epoch=False, start_factor=0.01, begin=0, end=50),
    dict(
        type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
        milestones=[300], gamma=0.1),
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
    visualization=dict(type='DetVisualizationHook', draw=False))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
