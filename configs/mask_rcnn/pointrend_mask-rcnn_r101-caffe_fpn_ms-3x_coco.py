# detectron2's PointRend R101-FPN 3x: caffe R101 (MSRA weights), MS 3x; like
# detectron2, the mask branch trains on the box head's refined boxes.
_base_ = './pointrend_mask-rcnn_r50-caffe_fpn_ms-3x_coco.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='open-mmlab://detectron2/resnet101_caffe')),
    roi_head=dict(train_on_pred_boxes=True))
