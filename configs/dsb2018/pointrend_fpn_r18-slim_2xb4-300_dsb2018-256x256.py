# The small CPU recipe of configs/synthetic on the DSB2018 nuclei image
# (tools/dataset_converters/dsb2018_from_stardist.py: one 512x384 training
# crop, one 512x128 test crop): background / nucleus, 300 iterations of
# 2 processes x 4 random crops.
_base_ = '../synthetic/pointrend_fpn_r18-slim_2xb4-600_synthetic-256x256.py'
num_classes = 2
model = dict(decode_head=[
    dict(_base_.model.decode_head[0], num_classes=num_classes),
    dict(_base_.model.decode_head[1], num_classes=num_classes),
])
data_root = 'data/dsb2018'
metainfo = dict(
    classes=('background', 'nucleus'), palette=[[0, 0, 0], [255, 64, 64]])
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmpointrend.LoadSegAnnotations'),
    # around the native scale: nuclei are 14-37 px wide
    dict(
        type='RandomResize',
        scale=(512, 512),
        ratio_range=(0.75, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=(256, 256)),
    dict(
        type='RandomFlip',
        prob=[0.25, 0.25],
        direction=['horizontal', 'vertical']),
    dict(type='PackSegInputs'),
]
# One training image: the infinite sampler draws it for every batch slot,
# each time with a new random scale, crop and flip.
train_dataloader = dict(
    dataset=dict(
        data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, metainfo=metainfo))
test_dataloader = val_dataloader
max_iters = 300
param_scheduler = [
    dict(_base_.param_scheduler[0], end=30),
    dict(_base_.param_scheduler[1], begin=30, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    checkpoint=dict(interval=max_iters), visualization=dict(interval=1))
