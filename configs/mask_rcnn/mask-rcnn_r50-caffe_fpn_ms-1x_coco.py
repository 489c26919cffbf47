# Baseline (paper Table 1): Mask R-CNN with the standard 4x conv mask head
# at 28x28 (mmdet's config, unchanged).
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50-caffe_fpn_ms-1x_coco.py'
