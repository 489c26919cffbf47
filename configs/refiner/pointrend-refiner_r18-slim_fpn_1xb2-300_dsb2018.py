# The small CPU refiner on the DSB2018 nuclei image
# (tools/dataset_converters/dsb2018_from_stardist.py), one class, 300
# iterations of one process x 2 images, scales as the DSB2018 Mask R-CNN
# recipe. Nuclei are 14-37 px across, so the resolution loss of the coarse
# inputs is 2-8x (a 16x round trip, as on the synthetic shapes, leaves one
# or two pixels of a nucleus) and dilation/erosion at most 2 px; 16 of the
# ~100 nuclei of an image are drawn per step (all of them cost 7 s a step).
_base_ = './pointrend-refiner_r18-slim_fpn_2xb2-400_synthetic.py'
model = dict(
    train_cfg=dict(
        degrade=dict(
            min_factor=2, max_factor=8, max_morph=2, max_shift=0.05,
            noise=0.5),
        max_objects=16))
data_root = 'data/dsb2018'
metainfo = dict(classes=('nucleus', ), palette=[(255, 64, 64)])
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
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
    dict(
        type='LinearLR', by_epoch=False, start_factor=0.01, begin=0, end=30),
    dict(
        type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
        milestones=[225], gamma=0.1),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
