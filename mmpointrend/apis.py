"""Runner set-up shared by tools/train.py and tools/test.py."""

from __future__ import annotations

import os.path as osp

import torch
from mmengine.config import Config, DictAction

from mmpointrend.utils.compat import init_cpu_distributed


def load_config(
    config: str,
    work_dir: str | None,
    cfg_options: dict | None,
    launcher: str,
) -> Config:
    """Read a config and apply the standard command-line overrides.

    Args:
        config (str): Path of the config file.
        work_dir (str, optional): ``--work-dir``; defaults to
            ``work_dirs/<config name>``.
        cfg_options (dict, optional): ``--cfg-options`` overrides.
        launcher (str): ``none``, ``pytorch``, ``slurm`` or ``mpi``.

    Returns:
        Config: The config, ready for ``Runner.from_cfg``.
    """
    if not osp.isfile(config):
        raise FileNotFoundError(
            f'config {config} does not exist; configs live under configs/'
        )
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join(
            'work_dirs', osp.splitext(osp.basename(config))[0]
        )
    prepare_launcher(cfg, launcher)
    return cfg


def prepare_launcher(cfg: Config, launcher: str) -> None:
    """Make ``--launcher pytorch`` work on machines without CUDA.

    MMEngine 0.10.7 always calls ``torch.cuda.set_device`` in its launcher.
    Without CUDA we start a gloo group ourselves (MMEngine then skips its
    own initialisation) and build DDP without ``device_ids``; SyncBN layers
    become BN because torch's SyncBatchNorm needs CUDA.

    Args:
        cfg (Config): The runner config, modified in place.
        launcher (str): The launcher name.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise RuntimeError(
            f'--launcher {launcher} needs CUDA; on CPU machines use '
            'tools/dist_train.sh (torchrun, --launcher pytorch) instead'
        )
    init_cpu_distributed()
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel'
    )
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    _sync_bn_to_bn(cfg.model)


def _sync_bn_to_bn(node: object) -> None:
    """Replace ``SyncBN`` norm layers by ``BN`` in a config tree.

    Args:
        node (object): A config dict/list, modified in place.
    """
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
        for value in node.values():
            _sync_bn_to_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _sync_bn_to_bn(value)


def add_common_args(parser) -> None:
    """The options both tools share.

    Args:
        parser (argparse.ArgumentParser): Parser to extend.
    """
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. train_cfg.max_iters=100',
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher (tools/dist_*.sh pass pytorch)',
    )
    # torchrun sets LOCAL_RANK in the environment; accept both spellings
    # that older launchers pass on the command line.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
