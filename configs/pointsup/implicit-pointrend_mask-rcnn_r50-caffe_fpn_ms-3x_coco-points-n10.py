# PointSup: Implicit PointRend trained from boxes + 10 labelled points per
# object (detectron2's implicit_pointrend_R_50_FPN_3x_point_sup_point_aug_coco:
# 5 of the 10 points drawn per object and iteration). Make the annotation
# file first:
#   python tools/dataset_converters/coco_to_points.py \
#     data/coco/annotations/instances_train2017.json \
#     data/coco/annotations/instances_train2017_n10_v1_without_masks.json \
#     --num-points 10 --seed 12345
# Validation stays on the full masks (mask AP).
_base_ = '../implicit_pointrend/implicit-pointrend_mask-rcnn_r50-caffe_fpn_ms-3x_coco.py'
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=False),
    dict(type='mmpointrend.LoadPointAnnotations', num_points=5),
    dict(
        type='RandomChoiceResize',
        scales=[
            (1333, 640),
            (1333, 672),
            (1333, 704),
            (1333, 736),
            (1333, 768),
            (1333, 800),
        ],
        keep_ratio=True,
    ),
    dict(type='RandomFlip', prob=0.5),
    dict(type='mmpointrend.PackPointSupInputs'),
]
train_dataloader = dict(
    dataset=dict(
        type='mmpointrend.PointSupCocoDataset',
        ann_file='annotations/instances_train2017_n10_v1_without_masks.json',
        pipeline=train_pipeline,
    )
)
model = dict(roi_head=dict(point_supervision=True))
