# detectron2's PointRend R50-FPN 1x Cityscapes model: the Cityscapes recipe
# with detectron2's caffe-style R50 (MSRA weights: stride in the 1x1 conv,
# frozen BN, BGR input with caffe mean and unit std), so its published
# weights compute what they computed in detectron2. Like detectron2, the mask
# branch trains on the box head's refined boxes.
_base_ = './pointrend_mask-rcnn_r50_fpn_1x_cityscapes.py'
model = dict(
    data_preprocessor=dict(
        mean=[103.530, 116.280, 123.675], std=[1.0, 1.0, 1.0],
        bgr_to_rgb=False),
    backbone=dict(
        norm_cfg=dict(requires_grad=False),
        style='caffe',
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint='open-mmlab://detectron2/resnet50_caffe')),
    roi_head=dict(train_on_pred_boxes=True))
