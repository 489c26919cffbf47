# PointSup with Mask R-CNN + PointRend: boxes + 10 labelled points per
# object, 5 drawn per iteration; the coarse 7x7 logits and the point head
# are both supervised at the annotated points (points outside the proposal
# ignored). Annotations: see
# implicit-pointrend_mask-rcnn_r50-caffe_fpn_ms-3x_coco-points-n10.py.
_base_ = '../mask_rcnn/pointrend_mask-rcnn_r50-caffe_fpn_ms-3x_coco.py'
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
