# Small CPU recipe on the synthetic dataset's COCO instances: Mask R-CNN with
# a half-width ResNet-18 + FPN from scratch and the PointRend mask branch.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    '../_base_/datasets/synthetic_ins.py',
    'mmdet::_base_/default_runtime.py',
]
num_classes = 4
width = 64
model = dict(
    backbone=dict(
        depth=18,
        base_channels=32,
        stem_channels=32,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=width),
    rpn_head=dict(in_channels=width, feat_channels=width),
    roi_head=dict(
        type='mmpointrend.PointRendMaskRoIHead',
        bbox_roi_extractor=dict(out_channels=width),
        bbox_head=dict(
            in_channels=width, fc_out_channels=256, num_classes=num_classes),
        mask_roi_extractor=dict(
            _delete_=True,
            type='mmpointrend.GridRoIExtractor',
            featmap_strides=[4],
            output_size=14,
            out_channels=width),
        mask_head=dict(
            _delete_=True,
            type='mmpointrend.PointRendCoarseMaskHead',
            num_classes=num_classes,
            in_channels=width,
            conv_out_channels=width,
            fc_out_channels=256),
        point_head=dict(
            type='mmpointrend.PointRendMaskPointHead',
            num_classes=num_classes,
            in_channels=width,
            fc_channels=128)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=500),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(
        rpn=dict(nms_pre=500, max_per_img=300),
        # rendering: the RoI head's defaults (5 steps, N = 28 x 28)
        rcnn=dict(max_per_img=50)))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10.0))
max_iters = 400
param_scheduler = [
    dict(type='LinearLR', by_epoch=False, start_factor=0.01, begin=0, end=50),
    dict(
        type='MultiStepLR',
        by_epoch=False,
        begin=0,
        end=max_iters,
        milestones=[300],
        gamma=0.1),
]
train_cfg = dict(
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=max_iters,
        max_keep_ckpts=1),
    # draw what a user would keep (the metrics use every detection)
    visualization=dict(
        type='DetVisualizationHook', draw=True, interval=4, score_thr=0.5))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
