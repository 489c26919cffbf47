# The embedded synthetic dataset (tools/dataset_converters/make_synthetic.py),
# read by mmseg's standard BaseSegDataset from the mmseg folder layout.
dataset_type = 'BaseSegDataset'
data_root = 'data/synthetic'
metainfo = dict(
    classes=('background', 'star', 'polygon', 'bar', 'ring'),
    palette=[[0, 0, 0], [220, 20, 60], [0, 130, 200], [60, 180, 75],
             [255, 225, 25]])
crop_size = (256, 256)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmpointrend.LoadSegAnnotations'),
    dict(
        type='RandomResize',
        scale=(512, 512),
        ratio_range=(0.5, 1.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmpointrend.LoadSegAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        img_suffix='.png',
        seg_map_suffix='.png',
        data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        img_suffix='.png',
        seg_map_suffix='.png',
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# mmseg's mIoU plus mean Boundary IoU (band = 2% of the image diagonal).
val_evaluator = dict(type='mmpointrend.BoundaryIoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
# Multi-scale + flip test-time augmentation (tools/test.py --tta), the
# setting of the published "ms+flip" mIoU; mmseg's SegTTAModel (tta_model of
# mmseg's default runtime) averages the logits of the views.
img_ratios = [0.75, 1.0, 1.25]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale_factor=r, keep_ratio=True)
             for r in img_ratios],
            [dict(type='RandomFlip', prob=0., direction='horizontal'),
             dict(type='RandomFlip', prob=1., direction='horizontal')],
            [dict(type='mmpointrend.LoadSegAnnotations')],
            [dict(type='PackSegInputs')],
        ])
]
