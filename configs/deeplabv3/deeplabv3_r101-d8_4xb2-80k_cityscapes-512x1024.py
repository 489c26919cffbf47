# Baseline: DeepLabV3 at output stride 8 (mmseg's config, unchanged).
_base_ = 'mmseg::deeplabv3/deeplabv3_r101-d8_4xb2-80k_cityscapes-512x1024.py'
