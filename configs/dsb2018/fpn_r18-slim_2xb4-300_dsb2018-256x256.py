# Baseline of the DSB2018 study: the PointRend config without its point head
# (stride-4 coarse logits upsampled bilinearly), same data and schedule.
_base_ = './pointrend_fpn_r18-slim_2xb4-300_dsb2018-256x256.py'
model = dict(
    _delete_=True,
    type='EncoderDecoder',
    data_preprocessor=_base_.model.data_preprocessor,
    backbone=_base_.model.backbone,
    neck=_base_.model.neck,
    decode_head=_base_.model.decode_head[0],
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
