"""Layer 2: point MLP, semantic head and segmentor built from kwargs."""

import copy

import pytest
import torch
import torch.nn.functional as F

from mmpointrend.models import PointMLP, PointRendSemSegHead
from mmpointrend.models.utils import point_labels, regular_grid_points
from mmpointrend.registry import MODELS
from mmpointrend.testing import demo_seg_batch, tiny_segmentor_cfg


def head_cfg(**kw):
    cfg = dict(
        _scope_='mmseg',
        type='mmpointrend.PointRendSemSegHead',
        in_channels=[8, 6],
        in_index=[0, 1],
        channels=16,
        num_classes=3,
        point_sampler=dict(
            type='mmpointrend.UncertaintyPointSampler', num_points=32
        ),
    )
    cfg.update(kw)
    return cfg


@pytest.mark.parametrize('each_layer', [True, False])
def test_point_mlp_channel_bookkeeping(each_layer):
    mlp = PointMLP(
        10, 4, 4, fc_channels=16, num_fcs=3, coarse_pred_each_layer=each_layer
    )
    assert mlp.fcs[0].in_channels == 14
    assert mlp.fcs[1].in_channels == (20 if each_layer else 16)
    assert mlp.predictor.in_channels == (20 if each_layer else 16)
    out = mlp(torch.randn(2, 10, 7), torch.randn(2, 4, 7))
    assert out.shape == (2, 4, 7)
    with pytest.raises(ValueError, match='fine-grained'):
        mlp(torch.randn(2, 9, 7), torch.randn(2, 4, 7))


def test_point_mlp_selected_channel_equals_full_prediction():
    mlp = PointMLP(6, 5, 5, fc_channels=8)
    mlp.init_weights()
    fine, coarse = torch.randn(4, 6, 9), torch.randn(4, 5, 9)
    index = torch.tensor([3, 0, 4, 3])
    full = mlp(fine, coarse)
    picked = mlp(fine, coarse, out_index=index)
    assert picked.shape == (4, 1, 9)
    assert torch.allclose(
        picked[:, 0], full[torch.arange(4), index], atol=1e-6
    )


@pytest.mark.parametrize('each_layer', [True, False])
def test_point_mlp_gemm_equals_reference_conv_arithmetic(each_layer):
    fast = PointMLP(
        12, 5, 5, fc_channels=16, coarse_pred_each_layer=each_layer
    )
    fast.init_weights()
    exact = PointMLP(
        12,
        5,
        5,
        fc_channels=16,
        coarse_pred_each_layer=each_layer,
        use_gemm=False,
    )
    exact.load_state_dict(fast.state_dict())
    fine, coarse = torch.randn(3, 12, 40), torch.randn(3, 5, 40)
    index = torch.tensor([4, 0, 2])
    assert torch.allclose(fast(fine, coarse), exact(fine, coarse), atol=1e-6)
    assert torch.allclose(
        fast(fine, coarse, index), exact(fine, coarse, index), atol=1e-6
    )


def test_point_mlp_matches_hand_written_mlp():
    torch.manual_seed(0)
    mlp = PointMLP(3, 2, 2, fc_channels=5, num_fcs=2)
    mlp.init_weights()
    fine, coarse = torch.randn(1, 3, 4), torch.randn(1, 2, 4)
    x = torch.cat([fine, coarse], 1)
    for fc in mlp.fcs:
        x = torch.cat([F.relu(F.conv1d(x, fc.weight, fc.bias)), coarse], 1)
    ref = F.conv1d(x, mlp.predictor.weight, mlp.predictor.bias)
    assert torch.allclose(mlp(fine, coarse), ref, atol=1e-6)


def test_head_with_two_fine_levels_trains_and_predicts():
    head = MODELS.build(head_cfg())
    feats = [torch.randn(2, 8, 16, 16), torch.randn(2, 6, 8, 8)]
    coarse = torch.randn(2, 3, 16, 16, requires_grad=True)
    _, samples = demo_seg_batch(2, (64, 64), 3)
    losses = head.loss(feats, coarse, samples)
    assert set(losses) == {'loss_ce_point', 'acc_point'}
    losses['loss_ce_point'].backward()
    assert coarse.grad is not None and coarse.grad.abs().sum() > 0  # no detach
    metas = [s.metainfo for s in samples]
    out = head.predict(
        feats,
        coarse.detach(),
        metas,
        dict(subdivision_steps=2, subdivision_num_points=100),
    )
    assert out.shape == (2, 3, 64, 64)


@pytest.mark.parametrize('steps', [0, 1, 2, 3])
def test_head_output_is_input_resolution_for_any_steps(steps):
    head = MODELS.build(head_cfg(in_channels=[8], in_index=[0]))
    feats = [torch.randn(1, 8, 16, 16)]
    metas = [dict(img_shape=(64, 64), pad_shape=(64, 64))]
    cfg = dict(subdivision_steps=steps, subdivision_num_points=50)
    out = head.predict(feats, torch.randn(1, 3, 16, 16), metas, cfg)
    assert out.shape == (1, 3, 64, 64)


def test_head_dense_rendering_equals_point_head_on_every_pixel():
    head = MODELS.build(head_cfg(in_channels=[8], in_index=[0]))
    head.init_weights()
    feats = [torch.randn(1, 8, 16, 16)]
    coarse = torch.randn(1, 3, 8, 8)
    out = head.forward(
        feats,
        coarse,
        dict(subdivision_steps=2, subdivision_num_points=32 * 32),
    )
    dense = head._predict_points(feats, coarse, regular_grid_points(1, 32, 32))
    assert torch.allclose(out, dense.view(1, 3, 32, 32), atol=1e-6)


def test_point_labels_are_pixels_under_points():
    labels = torch.arange(12).view(1, 3, 4)
    pts = torch.tensor([[[0.01, 0.01], [0.99, 0.99], [0.5, 0.5], [0.3, 0.7]]])
    assert point_labels(labels, pts).tolist() == [[0, 11, 6, 9]]


def test_loss_averages_over_valid_points_only():
    head = MODELS.build(
        head_cfg(
            in_channels=[8],
            in_index=[0],
            loss_decode=dict(
                type='mmseg.CrossEntropyLoss', avg_non_ignore=True
            ),
        )
    )
    logits = torch.randn(1, 3, 6)
    points = torch.tensor(
        [
            [
                [0.1, 0.1],
                [0.9, 0.1],
                [0.1, 0.9],
                [0.9, 0.9],
                [0.5, 0.5],
                [0.6, 0.6],
            ]
        ]
    )
    _, samples = demo_seg_batch(1, (32, 32), 3)
    gt = samples[0].gt_sem_seg.data
    gt[:, :16, :] = 255  # top half ignored: the first two points
    labels = point_labels(gt, points)[0]
    valid = labels != 255
    ref = F.cross_entropy(logits[0].T[valid], labels[valid])
    losses = head.loss_by_feat(logits, points, samples)
    assert losses['loss_ce_point'].item() == pytest.approx(
        ref.item(), rel=1e-5
    )
    # Every point ignored: a zero loss, not NaN.
    gt[:] = 255
    losses = head.loss_by_feat(logits, points, samples)
    assert losses['loss_ce_point'].item() == 0.0


def test_binary_sigmoid_mode():
    cfg = head_cfg(
        in_channels=[8],
        in_index=[0],
        num_classes=2,
        out_channels=1,
        threshold=0.5,
        loss_decode=dict(type='mmseg.CrossEntropyLoss', use_sigmoid=True),
    )
    head = MODELS.build(cfg)
    feats = [torch.randn(2, 8, 16, 16)]
    coarse = torch.randn(2, 1, 16, 16)
    _, samples = demo_seg_batch(2, (64, 64), 2)
    losses = head.loss(feats, coarse, samples)
    assert torch.isfinite(losses['loss_ce_point'])
    out = head.predict(
        feats,
        coarse,
        [s.metainfo for s in samples],
        dict(subdivision_steps=1, subdivision_num_points=64),
    )
    assert out.shape == (2, 1, 64, 64)


def test_binary_segmentor_end_to_end():
    cfg = tiny_segmentor_cfg()
    for head in cfg['decode_head']:
        head.update(num_classes=2, out_channels=1, threshold=0.5)
        head['loss_decode'] = dict(
            type='mmseg.CrossEntropyLoss', use_sigmoid=True
        )
    model = MODELS.build(cfg)
    inputs, samples = demo_seg_batch(2, (64, 64), 2)
    losses = model.loss(inputs, samples)
    assert all(torch.isfinite(v) for k, v in losses.items() if 'loss' in k)
    model.eval()
    with torch.no_grad():
        pred = model.predict(inputs, samples)
    assert pred[0].pred_sem_seg.data.shape == (1, 64, 64)
    assert set(pred[0].pred_sem_seg.data.unique().tolist()) <= {0, 1}


def test_head_rejects_align_corners_true():
    with pytest.raises(ValueError, match='align_corners=False'):
        MODELS.build(head_cfg(align_corners=True))


def test_head_rejects_nonpositive_num_points():
    bad = head_cfg(
        point_sampler=dict(
            type='mmpointrend.UncertaintyPointSampler', num_points=0
        )
    )
    with pytest.raises(ValueError, match='num_points must be a positive'):
        MODELS.build(bad)


def test_head_alone_in_plain_encoder_decoder_explains_itself():
    head = MODELS.build(head_cfg(in_channels=[8], in_index=[0]))
    _, samples = demo_seg_batch(1, (32, 32), 3)
    # mmseg's EncoderDecoder calls loss(inputs, data_samples, train_cfg).
    with pytest.raises(TypeError, match='PointRendEncoderDecoder'):
        head.loss([torch.randn(1, 8, 8, 8)], samples, {})


def test_segmentor_runs_coarse_head_once_per_training_step():
    from mmseg.models.segmentors import CascadeEncoderDecoder

    def count_coarse_forwards(model):
        coarse = model.decode_head[0]
        calls = []
        original = coarse.forward
        coarse.forward = lambda *a, **k: calls.append(1) or original(*a, **k)
        return calls

    model = MODELS.build(tiny_segmentor_cfg())
    calls = count_coarse_forwards(model)
    inputs, samples = demo_seg_batch(2, (64, 64), 4)
    losses = model.loss(inputs, samples)
    assert len(calls) == 1
    # The same weights in mmseg's segmentor run the coarse head twice.
    CascadeEncoderDecoder._decode_head_forward_train(
        model, model.extract_feat(inputs), samples
    )
    assert len(calls) == 3
    assert {
        'decode_0.loss_ce',
        'decode_0.acc_seg',
        'decode_1.loss_ce_point',
        'decode_1.acc_point',
    } <= set(losses)


def test_segmentor_tensor_mode_and_predict_agree():
    model = MODELS.build(tiny_segmentor_cfg()).eval()
    inputs, samples = demo_seg_batch(1, (64, 96), 4)
    with torch.no_grad():
        logits = model(inputs, mode='tensor')
        pred = model.predict(inputs, samples)
    assert logits.shape == (1, 4, 64, 96)
    assert torch.allclose(pred[0].seg_logits.data, logits[0], atol=1e-5)


def test_segmentor_slide_inference():
    cfg = tiny_segmentor_cfg(
        test_cfg=dict(
            mode='slide',
            crop_size=(64, 64),
            stride=(32, 32),
            subdivision_num_points=256,
        )
    )
    model = MODELS.build(cfg).eval()
    inputs, samples = demo_seg_batch(1, (96, 128), 4)
    with torch.no_grad():
        pred = model.predict(inputs, samples)
    assert pred[0].seg_logits.data.shape == (4, 96, 128)


@pytest.mark.parametrize(
    'mutate, error, match',
    [
        (
            lambda c: c.update(decode_head=c['decode_head'][1]),
            ValueError,
            'coarse_head, point_head',
        ),
        (
            lambda c: c.update(decode_head=[c['decode_head'][1]]),
            ValueError,
            'coarse_head, point_head',
        ),
        (
            lambda c: c['decode_head'][0].update(num_classes=5),
            ValueError,
            'disagree',
        ),
        (
            lambda c: c.update(test_cfg=dict(subdivision_num_points=0)),
            ValueError,
            'positive',
        ),
        (
            lambda c: c.update(test_cfg=dict(subdivision_steps=-1)),
            ValueError,
            'subdivision_steps',
        ),
        (
            lambda c: c.update(train_cfg=dict(num_points=2048)),
            ValueError,
            'point_sampler',
        ),
        (
            lambda c: c.update(
                decode_head=[c['decode_head'][1], c['decode_head'][1]]
            ),
            TypeError,
            'coarse head',
        ),
    ],
)
def test_segmentor_build_errors(mutate, error, match):
    cfg = copy.deepcopy(tiny_segmentor_cfg())
    mutate(cfg)
    with pytest.raises(error, match=match):
        MODELS.build(cfg)


@pytest.mark.parametrize(
    'mutate, match',
    [
        (
            lambda c: c['decode_head'][1].update(in_channels=[64]),
            r'set decode_head\[1\].in_channels=\[32\]',
        ),
        (
            lambda c: c['decode_head'][1].update(in_index=[7]),
            r'in_index=\[7\] but the backbone/neck gives \d levels',
        ),
    ],
)
def test_point_head_level_errors_name_the_fix(mutate, match):
    """Levels that do not match the backbone fail at the first forward."""
    cfg = copy.deepcopy(tiny_segmentor_cfg())
    mutate(cfg)
    model = MODELS.build(cfg)
    with pytest.raises(ValueError, match=match):
        model(torch.zeros(1, 3, 64, 64), mode='tensor')


def test_registered_names_do_not_clash_with_mmseg_or_mmdet():
    import mmdet.models  # noqa: F401
    import mmseg.models  # noqa: F401
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmseg.registry import MODELS as MMSEG_MODELS

    import mmpointrend.models  # noqa: F401

    ours = set(MODELS.module_dict)
    assert {'PointRendSemSegHead', 'PointRendEncoderDecoder'} <= ours
    assert not ours & set(MMSEG_MODELS.module_dict)
    assert not ours & set(MMDET_MODELS.module_dict)
    assert isinstance(MODELS.build(head_cfg()), PointRendSemSegHead)


def test_point_mlp_projected_maps_equal_projected_points():
    """First-layer maps sampled equal the first layer of sampled features.

    ``W @ sample(F) == sample(W @ F)`` with zero padding: points at and
    beyond the border included; two levels summed.
    """
    from mmpointrend.models.utils import point_sample

    torch.manual_seed(0)
    mlp = PointMLP(10, 3, 3, fc_channels=8)
    mlp.init_weights()
    feats = [torch.randn(2, 6, 9, 11), torch.randn(2, 4, 5, 6)]
    points = torch.rand(2, 50, 2) * 1.2 - 0.1
    coarse = torch.randn(2, 3, 50)
    fine = torch.cat([point_sample(f, points) for f in feats], 1)
    maps = mlp.project_fine(feats)
    assert [m.shape for m in maps] == [(2, 8, 9, 11), (2, 8, 5, 6)]
    assert all(
        m.is_contiguous(memory_format=torch.channels_last) for m in maps
    )
    projected = sum(point_sample(m, points) for m in maps)
    assert torch.allclose(
        mlp(projected, coarse, fine_projected=True),
        mlp(fine, coarse),
        atol=1e-5,
    )
    index = torch.tensor([2, 0])
    assert torch.allclose(
        mlp(projected, coarse, index, fine_projected=True),
        mlp(fine, coarse, index),
        atol=1e-5,
    )
    mlp.use_gemm = False
    assert mlp.project_fine(feats) is None
    with pytest.raises(ValueError, match='fine_projected'):
        mlp(projected, coarse, fine_projected=True)
    with pytest.raises(ValueError, match='fine-grained'):
        PointMLP(9, 3, 3).project_fine(feats)
