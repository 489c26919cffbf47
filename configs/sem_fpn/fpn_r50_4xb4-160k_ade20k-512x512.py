# Baseline: SemanticFPN without PointRend (mmseg's config, unchanged).
_base_ = 'mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py'
