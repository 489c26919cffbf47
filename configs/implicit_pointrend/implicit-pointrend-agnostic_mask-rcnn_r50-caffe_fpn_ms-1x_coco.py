# Class-agnostic Implicit PointRend: one output per point instead of 80, so
# the predicted MLP has 263,169 parameters per RoI instead of 283,472 (the
# parameter head's last layer shrinks by 1024 x 20,303 weights).
_base_ = './implicit-pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco.py'
model = dict(roi_head=dict(point_head=dict(class_agnostic=True)))
