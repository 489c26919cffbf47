"""ONNX export of semantic PointRend, run in onnxruntime.

Oracles: the PyTorch model itself (same weights, same image). Rendering
ranks cells by uncertainty, and onnxruntime's kernels round differently
from PyTorch's, so a cell whose uncertainty ties the N-th within rounding
may be selected by one and not the other: the rendered maps must agree
everywhere else (``assert_only_tie_flips``), and exactly when no cell is
that close to the N-th.
"""

from __future__ import annotations

import os.path as osp
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch
from _oracles import assert_only_tie_flips, upsample

from mmpointrend.apis import build_model
from mmpointrend.deploy import TENSORRT_MAX_TOPK, export_segmentor
from mmpointrend.models.utils import semantic_uncertainty
from mmpointrend.testing import random_bn_statistics

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTHETIC = osp.join(
    ROOT,
    'configs/synthetic/pointrend_fpn_r18-slim_2xb4-600_synthetic-256x256.py',
)
CITYSCAPES = osp.join(
    ROOT, 'configs/sem_fpn/pointrend_fpn_r50_4xb2-80k_cityscapes-512x1024.py'
)
DEEPLAB = osp.join(
    ROOT,
    'configs/deeplabv3/'
    'pointrend_deeplabv3_r50-d16_4xb2-80k_cityscapes-512x1024.py',
)
pytestmark = pytest.mark.slow


def _model(config, seed=0, **test_cfg):
    torch.manual_seed(seed)
    model = random_bn_statistics(build_model(config)[0].eval(), seed)
    model.test_cfg.update(test_cfg)
    return model


def _run(path, image):
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    return session.run(None, {'image': image.numpy()})


def _steps(model, image):
    """PyTorch's rendered logits after every step, and the coarse logits."""
    feats = model.extract_feat(image)
    coarse = model.decode_head[0].forward(feats)
    steps = []
    model.decode_head[1].forward(
        feats, coarse, model.test_cfg, on_step=lambda m, i: steps.append(m)
    )
    return coarse, steps


def _check(model, path, image):
    """ORT == PyTorch up to rounding, except at top-N ties of the last step.

    Every configuration checked here renders its last step with a top-N
    selection and all earlier steps densely or with a top-N that the test
    shows to be tie-free.
    """
    with torch.no_grad():
        ref = model(image, mode='tensor')
        coarse, steps = _steps(model, image)
    logits, labels = _run(path, image)
    got = torch.from_numpy(logits)
    assert (
        got.shape == ref.shape
        and labels.shape == ref.shape[:1] + ref.shape[2:]
    )
    num_points = model.test_cfg['subdivision_num_points']
    before_last = steps[-2] if len(steps) > 1 else coarse
    scores = semantic_uncertainty(upsample(before_last))
    flipped = assert_only_tie_flips(got, ref, scores, num_points)
    if not flipped.any():
        assert (got - ref).abs().max().item() <= 1e-4
        assert np.array_equal(labels, ref.argmax(1).numpy())
    else:
        # labels agree wherever the logits do
        same = (got - ref).abs().amax(1) <= 1e-4
        assert np.array_equal(labels[same], ref.argmax(1)[same].numpy())
    assert ref.std() > 0  # non-trivial outputs
    return ref


def test_synthetic_model_matches_onnxruntime(tmp_path):
    # N = every cell of the stride-2 map: step 1 is dense, step 2 ranks
    model = _model(SYNTHETIC, subdivision_num_points=128 * 128)
    path = export_segmentor(model, str(tmp_path / 'm.onnx'), (256, 256))
    _check(model, path, torch.randn(1, 3, 256, 256))


def test_dynamic_batch(tmp_path):
    model = _model(SYNTHETIC, seed=1, subdivision_num_points=128 * 128)
    path = export_segmentor(
        model, str(tmp_path / 'm.onnx'), (256, 256), dynamic_batch=True
    )
    for batch in (1, 3):
        image = torch.randn(batch, 3, 256, 256)
        logits, labels = _run(path, image)
        assert logits.shape == (batch, 5, 256, 256)
        assert labels.shape == (batch, 256, 256)
        # by value, image by image of the batch, as the fixed-batch export
        _check(model, path, image)


@pytest.mark.parametrize('config', [CITYSCAPES, DEEPLAB])
def test_cityscapes_r50_configs_match_onnxruntime(config, tmp_path):
    # 256x512 input: stride-4 coarse logits, dense stride-2 step (N = its
    # cell count), one ranked stride-1 step
    model = _model(config, subdivision_num_points=128 * 256)
    path = export_segmentor(model, str(tmp_path / 'm.onnx'), (256, 512))
    _check(model, path, torch.randn(1, 3, 256, 512))


def test_max_points_caps_n_for_tensorrt(tmp_path):
    model = _model(CITYSCAPES, subdivision_num_points=8192)
    path = export_segmentor(
        model,
        str(tmp_path / 'm.onnx'),
        (256, 512),
        max_points=TENSORRT_MAX_TOPK,
    )
    assert model.test_cfg['subdivision_num_points'] == TENSORRT_MAX_TOPK
    import onnx

    graph = onnx.load(path).graph
    ks = []
    for node in graph.node:
        if node.op_type == 'TopK':
            k = next(i for i in graph.initializer if i.name == node.input[1])
            ks.append(int(onnx.numpy_helper.to_array(k).reshape(-1)[0]))
    assert ks and max(ks) <= TENSORRT_MAX_TOPK, ks


def test_command_line_exports_and_verifies(tmp_path):
    out = tmp_path / 'cli.onnx'
    proc = subprocess.run(
        [
            sys.executable, 'tools/deployment/export_onnx.py', SYNTHETIC,
            '--out', str(out), '--shape', '128', '128', '--verify',
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.is_file()
    assert 'onnxruntime vs PyTorch' in proc.stdout
    assert 'within tolerance' in proc.stdout


def test_verify_fails_on_a_perturbed_export_and_passes_on_the_real_one(
    tmp_path, monkeypatch, capsys
):
    """``--verify`` is a verdict, not a printout.

    Exit status 1 with the numbers when the file does not reproduce PyTorch,
    0 when it does.
    """
    import copy

    from mmpointrend.deploy import verify
    from mmpointrend.deploy.verify import verify_segmentor

    model = _model(SYNTHETIC, subdivision_num_points=64 * 64)
    real = export_segmentor(model, str(tmp_path / 'real.onnx'), (128, 128))
    assert verify_segmentor(model, real, (128, 128)).ok

    # A file exported from a model whose point-head predictor was nudged:
    # the logits move by far more than the tolerance.
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.decode_head[1].mlp.predictor.bias.add_(0.5)
    wrong = export_segmentor(other, str(tmp_path / 'wrong.onnx'), (128, 128))
    verdict = verify_segmentor(model, wrong, (128, 128))
    assert not verdict.ok and 'OUTSIDE tolerance' in verdict.message
    # through the command line: the tool exports the perturbed model
    sys.path.insert(0, osp.join(ROOT, 'tools', 'deployment'))
    try:
        import export_onnx
    finally:
        sys.path.pop(0)
    import mmpointrend.deploy as deploy

    def perturbed_export(model, out, shape, **kwargs):
        return export_segmentor(other, out, shape, **kwargs)

    monkeypatch.setattr(deploy, 'export_segmentor', perturbed_export)
    status = export_onnx.main(
        [SYNTHETIC, '--out', str(tmp_path / 'cli.onnx'), '--shape', '128',
         '128', '--verify']
    )  # fmt: skip
    captured = capsys.readouterr()
    assert status == 1, captured.out
    assert 'OUTSIDE tolerance' in captured.out
    assert 'does not reproduce PyTorch' in captured.err
    assert verify.LOGIT_TOL == 1e-3  # the value docs/deployment.md states


def test_deployment_doc_example_runs(tmp_path, monkeypatch):
    """docs/deployment.md's onnxruntime example, on an exported model."""
    import re

    import cv2

    doc = open(osp.join(ROOT, 'docs', 'deployment.md')).read()
    (example,) = re.findall(r'```python\n(.*?)```', doc, re.S)
    config = osp.join(
        ROOT,
        'configs/synthetic/pointrend_fpn_r18-slim_2xb4-1500_synthetic-160x160.py',
    )
    model = _model(config)
    export_segmentor(model, str(tmp_path / 'pointrend.onnx'), (192, 192))
    image = np.random.default_rng(0).integers(0, 255, (240, 320, 3))
    cv2.imwrite(str(tmp_path / 'street.png'), image.astype(np.uint8))
    monkeypatch.chdir(tmp_path)
    exec(compile(example, 'docs/deployment.md', 'exec'), {})
    labels = cv2.imread(str(tmp_path / 'labels.png'), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (192, 192) and labels.max() < 5
