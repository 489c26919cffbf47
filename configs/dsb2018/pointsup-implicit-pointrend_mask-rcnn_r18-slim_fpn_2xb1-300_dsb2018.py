# PointSup on the DSB2018 nuclei image: Implicit PointRend trained from boxes
# + 10 labelled points per nucleus. Make the point file first:
#   python tools/dataset_converters/coco_to_points.py \
#     data/dsb2018/annotations/instances_train.json \
#     data/dsb2018/annotations/instances_train_points_n10.json
_base_ = './implicit-pointrend_mask-rcnn_r18-slim_fpn_2xb1-300_dsb2018.py'
# the fully supervised recipe's pipeline (its augmentation moves the points
# with the image) with points instead of masks
train_pipeline = [
    _base_.train_pipeline[0],
    dict(type='LoadAnnotations', with_bbox=True, with_mask=False),
    dict(type='mmpointrend.LoadPointAnnotations'),
    *_base_.train_pipeline[2:-1],
    dict(type='mmpointrend.PackPointSupInputs'),
]
train_dataloader = dict(
    dataset=dict(
        type='mmpointrend.PointSupCocoDataset',
        ann_file='annotations/instances_train_points_n10.json',
        pipeline=train_pipeline))
model = dict(
    roi_head=dict(
        point_head=dict(
            point_targets=dict(type='mmpointrend.AnnotatedPointTargets'))))
