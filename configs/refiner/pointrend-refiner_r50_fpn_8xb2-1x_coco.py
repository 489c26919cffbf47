# PointRend mask refiner with an ImageNet ResNet-50 + FPN on COCO instances
# (mmdet's COCO pipeline and 1x schedule, 8 GPUs x 2 images): learns to
# refine masks of any source, class-agnostically, from ground-truth masks
# degraded into coarse inputs. The small CPU recipe beside it is the same
# model at half width on the synthetic dataset. Not trained here (no GPU).
_base_ = [
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
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
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(
        type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256,
        num_outs=4),
    point_head=dict(
        type='mmpointrend.PointRendMaskPointHead',
        num_classes=1,
        class_agnostic=True,
        coarse_channels=1,
        in_channels=256,
        fc_channels=256,
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
# COCO's images carry up to ~90 objects: every one is a training sample.
train_dataloader = dict(batch_size=2)
