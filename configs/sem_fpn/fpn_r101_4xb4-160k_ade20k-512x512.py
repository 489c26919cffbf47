# Baseline: SemanticFPN R101 without PointRend, mmseg's recipe. mmseg 1.2.2's
# own fpn_r101_4xb4-160k_ade20k-512x512.py assigns `model` twice in one file,
# so its second assignment (the data preprocessor) replaces the first and
# the model stays ResNet-50; the R101 backbone is set again here.
_base_ = 'mmseg::sem_fpn/fpn_r101_4xb4-160k_ade20k-512x512.py'
model = dict(
    pretrained='open-mmlab://resnet101_v1c', backbone=dict(depth=101))
