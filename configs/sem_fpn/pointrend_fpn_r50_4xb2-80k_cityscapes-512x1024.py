# SemanticFPN + PointRend, R50, Cityscapes: mmseg's point_rend model-zoo
# recipe (dataset, schedule, runtime, heads) with mmpointrend's segmentor and
# point head swapped in.
_base_ = 'mmseg::point_rend/pointrend_r50_4xb2-80k_cityscapes-512x1024.py'

_base_.model.decode_head[1].type = 'mmpointrend.PointRendSemSegHead'
# Training points: as many as cells of a stride-16 map of the 512x1024 crop.
_base_.model.decode_head[1].point_sampler = dict(
    type='mmpointrend.UncertaintyPointSampler',
    num_points=(512 // 16) * (1024 // 16),
    oversample_ratio=3,  # k in the paper
    importance_sample_ratio=0.75)  # beta in the paper
model = dict(
    type='mmpointrend.PointRendEncoderDecoder',
    # NHWC weights and activations: faster CPU convolutions and point
    # sampling, same results up to float rounding (docs/benchmarks.md).
    channels_last=True,
    train_cfg=dict(_delete_=True),  # the sampler lives on the point head
    # 64 x 128 = cells of a stride-16 map of 1024x2048 (mmseg has 8196).
    test_cfg=dict(subdivision_num_points=64 * 128))
