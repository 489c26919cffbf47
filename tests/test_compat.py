"""torch >= 2.6 compatibility handled by the project, and the converter."""

import pickle

import numpy as np
import pytest
import torch
from conftest import run_tool
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

import mmpointrend  # noqa: F401  (registers the loader)
from mmpointrend.converters import convert_mmseg_pointrend
from mmpointrend.utils.compat import STRICT_ENV, load_local_checkpoint


def _mmengine_like_checkpoint(path):
    hub = {
        'log_scalars': {'loss': HistoryBuffer()},
        'runtime_info': {'iter': np.int64(3)},
    }
    hub['log_scalars']['loss'].update(0.5)
    torch.save(
        {
            'state_dict': {'w': torch.ones(2)},
            'message_hub': hub,
            'meta': {'seed': 0},
        },
        path,
    )


def test_plain_torch_load_fails_but_mmengine_loads_through_ours(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    _mmengine_like_checkpoint(path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)  # the torch >= 2.6 default
    assert (
        CheckpointLoader._get_checkpoint_loader(path) is load_local_checkpoint
    )
    ckpt = _load_checkpoint(path, map_location='cpu')
    assert ckpt['message_hub']['log_scalars']['loss'].current() == 0.5
    assert torch.equal(ckpt['state_dict']['w'], torch.ones(2))


class _Custom:
    pass


def test_untrusted_objects_need_full_unpickle(tmp_path, monkeypatch):
    path = str(tmp_path / 'odd.pth')
    torch.save({'x': _Custom()}, path)
    with pytest.warns(UserWarning, match='full unpickle'):
        assert isinstance(load_local_checkpoint(path)['x'], _Custom)
    monkeypatch.setenv(STRICT_ENV, '1')
    with pytest.raises(RuntimeError, match=STRICT_ENV):
        load_local_checkpoint(path)


def test_missing_checkpoint_message(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_local_checkpoint(str(tmp_path / 'nope.pth'))


def test_cpu_launcher_refuses_slurm_without_cuda():
    from mmengine.config import Config

    from mmpointrend.apis import prepare_launcher

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
