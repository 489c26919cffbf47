# PointSup: Implicit PointRend trained from boxes + 10 labelled points per
# object (detectron2's implicit_pointrend_R_50_FPN_3x_point_sup_point_aug_coco:
# 5 of the 10 points drawn per object and iteration). Make the annotation
# file first:
#   python tools/dataset_converters/coco_to_points.py \
#     data/coco/annotations/instances_train2017.json \
#     data/coco/annotations/instances_train2017_n10_v1_without_masks.json \
#     --num-points 10 --seed 12345
# Validation stays on the full masks (mask AP).
_base_ = [
    '../implicit_pointrend/implicit-pointrend_mask-rcnn_r50-caffe_fpn_ms-3x_coco.py',
    '../_base_/datasets/coco_points-n10.py',
]
train_dataloader = dict(dataset=_base_.points_train_dataset)
model = dict(
    roi_head=dict(
        point_head=dict(
            point_targets=dict(type='mmpointrend.AnnotatedPointTargets'))))
