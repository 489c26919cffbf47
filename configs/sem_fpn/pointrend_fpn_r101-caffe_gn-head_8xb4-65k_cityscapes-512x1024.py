# detectron2's SemanticFPN + PointRend R101 Cityscapes model (78.9 mIoU,
# model_final_cf6ac1.pkl): its network and recipe in mmseg's terms, so its
# published weights load and compute what they computed in detectron2.
# Differences from mmseg's R101 recipe, each needed by those weights:
# - caffe-style ResNet-101 (MSRA weights: stride in the 1x1 conv, plain 7x7
#   stem, frozen BN) on BGR input with the caffe mean and unit std;
# - GroupNorm(32) in the FPN head's scale heads (detectron2's SemSegFPNHead);
# - the coarse logits enter the point MLP only at its input
#   (COARSE_PRED_EACH_LAYER: False, the model released 2020-07-07);
# - losses averaged over non-ignored pixels/points, as in detectron2;
# - batch 32, 65k iterations, LR 0.01 stepped at 40k/55k, short side chosen
#   from 512..2048, 512x1024 crops.
_base_ = './pointrend_fpn_r50_4xb2-80k_cityscapes-512x1024.py'

gn = dict(type='GN', num_groups=32, requires_grad=True)
loss = dict(
    type='mmseg.CrossEntropyLoss',
    use_sigmoid=False,
    loss_weight=1.0,
    avg_non_ignore=True)

_base_.model.decode_head[0].norm_cfg = gn
_base_.model.decode_head[0].loss_decode = loss
_base_.model.decode_head[1].coarse_pred_each_layer = False
_base_.model.decode_head[1].loss_decode = loss
model = dict(
    pretrained=None,
    data_preprocessor=dict(
        mean=[103.530, 116.280, 123.675], std=[1.0, 1.0, 1.0],
        bgr_to_rgb=False),
    backbone=dict(
        type='mmseg.ResNet',
        depth=101,
        style='caffe',
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='open-mmlab://detectron2/resnet101_caffe')))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomChoiceResize',
        scales=list(range(512, 2049, 32)),
        resize_type='ResizeShortestEdge',
        max_size=4096),
    dict(type='RandomCrop', crop_size=(512, 1024), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
    clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=1000),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=65000,
         milestones=[40000, 55000], gamma=0.1),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=65000,
                 val_interval=8000)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=8000))
auto_scale_lr = dict(enable=False, base_batch_size=32)
