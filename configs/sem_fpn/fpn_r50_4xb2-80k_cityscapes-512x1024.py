# Baseline: SemanticFPN without PointRend (mmseg's config, unchanged).
_base_ = 'mmseg::sem_fpn/fpn_r50_4xb2-80k_cityscapes-512x1024.py'
