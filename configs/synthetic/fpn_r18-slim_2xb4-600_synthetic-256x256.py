# Baseline for the synthetic study: the same backbone, neck, coarse head,
# data and schedule as the PointRend config, without the point head (the
# coarse stride-4 logits are upsampled bilinearly to the input).
_base_ = './pointrend_fpn_r18-slim_2xb4-600_synthetic-256x256.py'
model = dict(
    _delete_=True,
    type='EncoderDecoder',
    data_preprocessor=_base_.model.data_preprocessor,
    backbone=_base_.model.backbone,
    neck=_base_.model.neck,
    decode_head=_base_.model.decode_head[0],
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
