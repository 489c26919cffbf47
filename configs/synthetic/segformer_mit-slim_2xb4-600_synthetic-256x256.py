# SegFormer (a small MiT trained from scratch) on the synthetic dataset: the
# base model of the any-model study (docs/pointrend_any_model.md). Data,
# schedule and optimiser are those of the ResNet-18 baseline beside it; its
# PointRend version, pointrend_segformer_mit-slim_2xb4-600_synthetic-256x256.py,
# is written by tools/misc/pointrendify.py from this file.
_base_ = './fpn_r18-slim_2xb4-600_synthetic-256x256.py'
crop_size = (256, 256)
num_classes = 5
model = dict(
    backbone=dict(
        _delete_=True,
        type='MixVisionTransformer',
        in_channels=3,
        embed_dims=32,
        num_stages=4,
        num_layers=[2, 2, 2, 2],
        num_heads=[1, 2, 5, 8],
        patch_sizes=[7, 3, 3, 3],
        sr_ratios=[8, 4, 2, 1],
        out_indices=(0, 1, 2, 3),
        mlp_ratio=4,
        qkv_bias=True,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.1),
    neck=None,
    decode_head=dict(
        _delete_=True,
        type='SegformerHead',
        in_channels=[32, 64, 160, 256],
        in_index=[0, 1, 2, 3],
        channels=128,
        dropout_ratio=0.1,
        num_classes=num_classes,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
