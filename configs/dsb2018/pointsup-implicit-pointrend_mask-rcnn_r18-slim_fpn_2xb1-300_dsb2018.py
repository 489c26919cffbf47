# PointSup on the DSB2018 nuclei image: Implicit PointRend trained from boxes
# + 10 labelled points per nucleus. Make the point file first:
#   python tools/dataset_converters/coco_to_points.py \
#     data/dsb2018/annotations/instances_train.json \
#     data/dsb2018/annotations/instances_train_points_n10.json
_base_ = './implicit-pointrend_mask-rcnn_r18-slim_fpn_2xb1-300_dsb2018.py'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=False),
    dict(type='mmpointrend.LoadPointAnnotations'),
    # the geometric augmentation of the fully supervised recipe; the points
    # move with the image
    dict(
        type='RandomResize',
        scale=(512, 512),
        ratio_range=(1.0, 1.5),
        keep_ratio=True),
    dict(
        type='RandomFlip',
        prob=[0.25, 0.25],
        direction=['horizontal', 'vertical']),
    dict(type='mmpointrend.PackPointSupInputs'),
]
train_dataloader = dict(
    dataset=dict(
        type='mmpointrend.PointSupCocoDataset',
        ann_file='annotations/instances_train_points_n10.json',
        pipeline=train_pipeline))
model = dict(roi_head=dict(point_supervision=True))
