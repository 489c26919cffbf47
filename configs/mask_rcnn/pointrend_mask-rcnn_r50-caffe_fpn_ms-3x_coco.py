# 3x schedule (36 epochs, steps at 28 and 34), as mmdet's PointRend 3x.
_base_ = './pointrend_mask-rcnn_r50-caffe_fpn_ms-1x_coco.py'
max_epochs = 36
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[28, 34],
        gamma=0.1)
]
train_cfg = dict(max_epochs=max_epochs)
