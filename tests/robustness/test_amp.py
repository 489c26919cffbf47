"""Mixed precision: the point MLP and both models under fp16/bf16 autocast.

The default (GEMM) point MLP and both models run under fp16 and bf16
autocast, and the small semantic config trains under ``--amp``.

CPU autocast stands in for the GPU's here: the failure it guards against
(an in-place ``addmm_`` mixing autocast's low-precision output with fp32
operands) is dtype logic, identical on both devices.
"""

from __future__ import annotations

import re

import pytest
import torch
from mmdet.testing import demo_mm_inputs, demo_mm_proposals
from payloads import INS_CONFIG, SEM_CONFIG, data_options, run_tool

from mmpointrend.apis import build_model as build_model_from_config
from mmpointrend.models.utils import PointMLP
from mmpointrend.testing import demo_seg_batch

DTYPES = [torch.bfloat16, torch.float16]
#: Relative error of a 3-layer MLP in low precision (8 and 11 bit
#: mantissas), with margin.
RTOL = {torch.bfloat16: 5e-2, torch.float16: 1e-2}


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('with_index', [False, True])
def test_point_mlp_under_autocast(dtype, with_index):
    torch.manual_seed(0)
    mlp = PointMLP(48, 5, 5, fc_channels=64)
    for p in mlp.parameters():
        torch.nn.init.normal_(p, std=0.2)
    fine, coarse = torch.randn(3, 48, 100), torch.randn(3, 5, 100)
    index = torch.tensor([0, 4, 2]) if with_index else None
    ref = mlp(fine, coarse, index)
    with torch.autocast('cpu', dtype=dtype):
        out = mlp(fine, coarse, index)
    assert out.shape == ref.shape and torch.isfinite(out).all()
    scale = ref.abs().max()
    assert (out.float() - ref).abs().max() <= RTOL[dtype] * scale
    with torch.autocast('cpu', dtype=dtype):
        loss = mlp(fine, coarse, index).float().square().mean()
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in mlp.parameters())


#: Every rendered cell of a whole model under autocast is within
#: ``RTOL[dtype]`` of the fp32 logits' largest magnitude (measured on AMD
#: EPYC: 1.5% for bf16, 0.13% for fp16 semantic; 0.7% and 0.1% instance);
#: losses within a fifth of it. Renders are dense (every cell predicted),
#: so rounding cannot move which cells a top-k refines.
DENSE_SEMANTIC = {'model.test_cfg.subdivision_num_points': 64 * 64}


@pytest.mark.parametrize('dtype', DTYPES)
def test_semantic_model_loss_and_predict_under_autocast(dtype):
    model, _ = build_model_from_config(SEM_CONFIG, DENSE_SEMANTIC)
    model.init_weights()
    inputs, samples = demo_seg_batch(2, (64, 64), 5, seed=1)
    torch.manual_seed(3)  # the same random training points in both runs
    ref_losses = model.loss(inputs, samples)
    torch.manual_seed(3)
    with torch.autocast('cpu', dtype=dtype):
        losses = model.loss(inputs, samples)
    for key in ('decode_0.loss_ce', 'decode_1.loss_ce_point'):
        assert torch.isfinite(losses[key]), key
        error = (losses[key].float() - ref_losses[key]).abs()
        assert error <= RTOL[dtype] / 5 * ref_losses[key], key
    losses['decode_1.loss_ce_point'].backward()
    grad = model.decode_head[1].mlp.predictor.weight.grad
    assert grad is not None and torch.isfinite(grad).all()

    model.eval()
    with torch.no_grad():
        # predict() writes into the samples: keep copies of the logits
        ref = [
            p.seg_logits.data.clone() for p in model.predict(inputs, samples)
        ]
        with torch.autocast('cpu', dtype=dtype):
            out = [
                p.seg_logits.data.clone()
                for p in model.predict(inputs, samples)
            ]
    ref, out = torch.stack(ref), torch.stack(out).float()
    assert out.shape == ref.shape == (2, 5, 64, 64)
    assert (out - ref).abs().max() <= RTOL[dtype] * ref.abs().max()


@pytest.mark.parametrize('dtype', DTYPES)
def test_instance_mask_branch_under_autocast(dtype):
    """Backbone, neck and the PointRend mask branch (loss and rendering).

    mmcv 2.1's CPU kernels for NMS and RoIAlign have no bf16/fp16 path
    (``expected scalar type Float``, ``not implemented for 'BFloat16'``),
    so the RPN is replaced by given fp32 proposals and the box branch (mmcv
    RoIAlign) runs with autocast off. The mask branch is this project's:
    grid RoI extractor, coarse head and point head, all under autocast.
    """
    model, _ = build_model_from_config(INS_CONFIG)
    model.init_weights()
    model.roi_head.test_cfg.subdivision_num_points = 224 * 224  # dense
    packed = demo_mm_inputs(
        batch_size=2,
        image_shapes=[(3, 128, 128)] * 2,
        num_items=[3, 1],
        num_classes=4,
        with_mask=True,
    )
    data = model.data_preprocessor(packed, True)
    samples = data['data_samples']
    proposals = demo_mm_proposals([(3, 128, 128)] * 2, 32)
    box_loss = model.roi_head.bbox_loss

    def fp32_bbox_loss(x, sampling_results):
        with torch.autocast('cpu', enabled=False):
            return box_loss(tuple(f.float() for f in x), sampling_results)

    model.roi_head.bbox_loss = fp32_bbox_loss
    with torch.autocast('cpu', dtype=dtype):
        feats = model.extract_feat(data['inputs'])
        losses = model.roi_head.loss(feats, proposals, samples)
    for key in ('loss_mask', 'loss_point'):
        assert torch.isfinite(losses[key]), key
    (losses['loss_mask'] + losses['loss_point']).backward()
    point_grad = model.roi_head.point_head.mlp.predictor.weight.grad
    assert point_grad is not None and torch.isfinite(point_grad).all()

    model.eval()
    rois = torch.tensor([[0, 10.0, 12.0, 90.0, 70.0], [1, 0, 0, 128, 128]])
    labels = torch.tensor([1, 3])
    with torch.no_grad():
        ref_feats = model.extract_feat(data['inputs'])
        ref_coarse, ref_fine = model.roi_head.refine_masks(
            ref_feats, rois, labels
        )
        with torch.autocast('cpu', dtype=dtype):
            feats = model.extract_feat(data['inputs'])
            coarse, fine = model.roi_head.refine_masks(feats, rois, labels)
    assert fine.shape == ref_fine.shape == (2, 1, 224, 224)
    assert torch.isfinite(fine).all()
    scale = ref_coarse.abs().max()
    assert (coarse.float() - ref_coarse).abs().max() <= RTOL[dtype] * scale
    assert (fine.float() - ref_fine).abs().max() <= RTOL[dtype] * scale


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    from mmpointrend.dataset_makers import generate_synthetic_dataset

    root = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_dataset(root, num_train=2, num_val=1, size=128, seed=2)
    return root


@pytest.mark.slow
def test_train_amp_runs_the_small_semantic_config(data_root, tmp_path):
    """``tools/train.py --amp`` on a CPU: bf16 autocast, 3 iterations."""
    options = data_options(data_root)
    proc = run_tool(
        'tools/train.py',
        SEM_CONFIG,
        '--amp',
        '--work-dir',
        str(tmp_path / 'work'),
        '--cfg-options',
        *options,
        'train_cfg.max_iters=3',
        'train_cfg.val_interval=3',
        'default_hooks.checkpoint.interval=3',
        'default_hooks.logger.interval=1',
        'default_hooks.visualization.draw=False',
        'train_dataloader.batch_size=2',
        'param_scheduler.0.end=1',
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert 'CPUAutocastOptimWrapper' in out, out[-3000:]
    losses = re.findall(r'Iter\(train\) \[\d/3\].*? loss: ([\d.naif]+)', out)
    assert len(losses) == 3, out[-3000:]
    assert all(float(v) == float(v) and float(v) < 1e4 for v in losses)


def test_train_amp_refuses_instance_configs_on_cpu(tmp_path):
    proc = run_tool(
        'tools/train.py',
        INS_CONFIG,
        '--amp',
        '--work-dir',
        str(tmp_path / 'work'),
    )
    assert proc.returncode == 2
    assert 'NMS' in proc.stderr and 'GPU' in proc.stderr
