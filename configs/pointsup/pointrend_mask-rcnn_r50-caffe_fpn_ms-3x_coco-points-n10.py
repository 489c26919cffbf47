# PointSup with Mask R-CNN + PointRend: boxes + 10 labelled points per
# object, 5 drawn per iteration; the coarse 7x7 logits and the point head
# are both supervised at the annotated points (points outside the proposal
# ignored). Annotations: see
# implicit-pointrend_mask-rcnn_r50-caffe_fpn_ms-3x_coco-points-n10.py.
_base_ = [
    '../mask_rcnn/pointrend_mask-rcnn_r50-caffe_fpn_ms-3x_coco.py',
    '../_base_/datasets/coco_points-n10.py',
]
train_dataloader = dict(dataset=_base_.points_train_dataset)
model = dict(
    roi_head=dict(
        point_head=dict(
            point_targets=dict(type='mmpointrend.AnnotatedPointTargets'))))
