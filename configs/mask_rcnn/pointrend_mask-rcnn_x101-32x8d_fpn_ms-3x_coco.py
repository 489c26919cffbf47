# detectron2's PointRend X101-32x8d-FPN 3x, on mmdet's X101-32x8d MS-3x
# Mask R-CNN recipe (pytorch-style ResNeXt; BGR input with the Caffe2
# mean and std of those ImageNet weights, as in detectron2). Like
# detectron2, the mask branch trains on the box head's refined boxes.
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_x101-32x8d_fpn_ms-poly-3x_coco.py',
    '../_base_/models/pointrend_mask-rcnn_fpn.py',
]
model = dict(
    roi_head=dict(_base_.pointrend_roi_head, train_on_pred_boxes=True))
