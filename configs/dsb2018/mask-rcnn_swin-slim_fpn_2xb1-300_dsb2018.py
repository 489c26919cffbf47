# Mask R-CNN with a small Swin Transformer trained from scratch on the
# DSB2018 nuclei image: the base model of the any-model study
# (docs/pointrend_any_model.md). Everything but the backbone is the
# ResNet-18 baseline beside it (4-conv 28x28 mask head, 64-channel FPN);
# its PointRend version, pointrend_mask-rcnn_swin-slim_fpn_2xb1-300_dsb2018.py,
# is written by tools/misc/pointrendify.py from this file.
_base_ = './mask-rcnn_r18-slim_fpn_2xb1-300_dsb2018.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='SwinTransformer',
        embed_dims=32,
        depths=[1, 1, 2, 1],
        num_heads=[1, 2, 4, 8],
        window_size=7,
        mlp_ratio=4,
        qkv_bias=True,
        drop_path_rate=0.1,
        patch_norm=True,
        out_indices=(0, 1, 2, 3),
        convert_weights=False,
        init_cfg=None),
    neck=dict(in_channels=[32, 64, 128, 256]))
