# SemanticFPN + PointRend, R50, ADE20K (150 classes): mmseg's recipe with
# mmpointrend's segmentor and point head.
_base_ = 'mmseg::point_rend/pointrend_r50_4xb4-160k_ade20k-512x512.py'

_base_.model.decode_head[1].type = 'mmpointrend.PointRendSemSegHead'
_base_.model.decode_head[1].point_sampler = dict(
    type='mmpointrend.UncertaintyPointSampler',
    num_points=2048,  # mmseg's value for both datasets
    oversample_ratio=3,
    importance_sample_ratio=0.75)
model = dict(
    type='mmpointrend.PointRendEncoderDecoder',
    # NHWC weights and activations: faster CPU convolutions and point
    # sampling, same results up to float rounding (docs/benchmarks.md).
    channels_last=True,
    train_cfg=dict(_delete_=True),
    test_cfg=dict(subdivision_num_points=64 * 128))
