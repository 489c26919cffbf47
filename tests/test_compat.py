"""torch >= 2.6 launcher compatibility, and the mmseg converter.

Checkpoint loading is covered by tests/robustness/test_safe_loading.py.
"""

import pytest
import torch
from conftest import run_tool

from mmpointrend.checkpoint.foreign import convert_mmseg_pointrend


def test_cpu_launcher_refuses_slurm_without_cuda():
    from mmengine.config import Config

    from mmpointrend.engine.runner_setup import prepare_launcher

    if torch.cuda.is_available():
        pytest.skip('only meaningful without CUDA')
    with pytest.raises(RuntimeError, match='dist_train.sh'):
        prepare_launcher(Config(dict(model=dict())), 'slurm')


def test_converter_renames_point_head_only(tmp_path):
    state = {
        'backbone.conv1.weight': torch.zeros(1),
        'decode_head.0.conv_seg.weight': torch.zeros(1),
        'decode_head.1.fcs.0.conv.weight': torch.ones(1),
        'decode_head.1.fcs.2.conv.bias': torch.ones(1),
        'decode_head.1.fc_seg.weight': torch.ones(1),
    }
    out, renamed = convert_mmseg_pointrend(state)
    assert list(out) == [
        'backbone.conv1.weight',
        'decode_head.0.conv_seg.weight',
        'decode_head.1.mlp.fcs.0.weight',
        'decode_head.1.mlp.fcs.2.bias',
        'decode_head.1.mlp.predictor.weight',
    ]
    assert len(renamed) == 3
    with pytest.raises(ValueError, match='not an mmseg PointRend'):
        convert_mmseg_pointrend({'backbone.conv1.weight': torch.zeros(1)})

    src, dst = tmp_path / 'in.pth', tmp_path / 'out.pth'
    torch.save({'state_dict': state, 'meta': {}}, src)
    tool = 'tools/model_converters/mmseg2mmpointrend.py'
    proc = run_tool(tool, src, dst)
    assert proc.returncode == 0, proc.stderr
    assert (
        'decode_head.1.mlp.predictor.weight' in torch.load(dst)['state_dict']
    )
    # A second run refuses to overwrite and leaves the first output intact.
    proc = run_tool(tool, src, dst)
    assert proc.returncode != 0 and '--force' in proc.stderr
    assert (
        'decode_head.1.mlp.predictor.weight' in torch.load(dst)['state_dict']
    )
