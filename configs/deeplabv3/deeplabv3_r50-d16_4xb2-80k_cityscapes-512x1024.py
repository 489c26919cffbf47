# Baseline: DeepLabV3 at output stride 16 (the paper's coarse stage): res5
# dilated instead of res4+res5, ASPP rates halved to (6, 12, 18).
_base_ = 'mmseg::deeplabv3/deeplabv3_r50-d8_4xb2-80k_cityscapes-512x1024.py'
model = dict(
    backbone=dict(dilations=(1, 1, 1, 2), strides=(1, 2, 2, 1)),
    decode_head=dict(dilations=(1, 6, 12, 18)))
