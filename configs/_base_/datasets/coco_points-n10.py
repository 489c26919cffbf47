# PointSup training data for COCO: boxes + 10 labelled points per object
# (tools/dataset_converters/coco_to_points.py), 5 drawn per object and
# iteration, mmdet's multi-scale resize and flip. Variables, not a
# `train_dataloader` delta, so that this file can sit beside a full recipe:
#   _base_ = ['<recipe>.py', '../_base_/datasets/coco_points-n10.py']
#   train_dataloader = dict(dataset=_base_.points_train_dataset)
points_train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=False),
    dict(type='mmpointrend.LoadPointAnnotations', num_points=5),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736),
                (1333, 768), (1333, 800)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='mmpointrend.PackPointSupInputs'),
]
points_train_dataset = dict(
    type='mmpointrend.PointSupCocoDataset',
    ann_file='annotations/instances_train2017_n10_v1_without_masks.json',
    pipeline=points_train_pipeline)
