# The small CPU Mask R-CNN + PointRend recipe of configs/synthetic on the
# DSB2018 nuclei image as COCO instances
# (tools/dataset_converters/dsb2018_from_stardist.py: 102 nuclei in the
# 512x384 training crop, 30 in the 512x128 test crop): one class, up to 100
# detections per image, 300 iterations of 2 processes x 1 image.
_base_ = '../synthetic/pointrend_mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py'
num_classes = 1
model = dict(
    roi_head=dict(
        bbox_head=dict(num_classes=num_classes),
        mask_head=dict(num_classes=num_classes),
        point_head=dict(num_classes=num_classes)),
    test_cfg=dict(rcnn=dict(max_per_img=100)))
data_root = 'data/dsb2018'
metainfo = dict(classes=('nucleus', ), palette=[(255, 64, 64)])
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    # 1-1.5x the native scale: nuclei of 14-37 px become 14-55 px, matched
    # by the 32 px anchors of P2 and the 64 px anchors of P3
    dict(
        type='RandomResize',
        scale=(512, 512),
        ratio_range=(1.0, 1.5),
        keep_ratio=True),
    dict(
        type='RandomFlip',
        prob=[0.25, 0.25],
        direction=['horizontal', 'vertical']),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(640, 640), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]
train_dataloader = dict(
    batch_size=1,
    dataset=dict(
        data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + '/annotations/instances_val.json')
test_evaluator = val_evaluator
max_iters = 300
param_scheduler = [
    dict(_base_.param_scheduler[0], end=30),
    dict(_base_.param_scheduler[1], end=max_iters, milestones=[225]),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    checkpoint=dict(interval=max_iters), visualization=dict(interval=1))
