"""Runner set-up shared by the tools: config loading, launchers, CLI errors."""

from __future__ import annotations

import os
import os.path as osp
from collections.abc import Callable

import torch
from mmengine.config import Config, DictAction

from mmpointrend.checkpoint.cli import add_trust_argument
from mmpointrend.utils.compat import init_cpu_distributed


def load_config(
    config: str,
    work_dir: str | None,
    cfg_options: dict | None,
    launcher: str,
    min_fit: float | None = None,
) -> Config:
    """Read a config and apply the standard command-line overrides.

    Args:
        config (str): Path of the config file.
        work_dir (str, optional): ``--work-dir``; defaults to
            ``work_dirs/<config name>``.
        cfg_options (dict, optional): ``--cfg-options`` overrides.
        launcher (str): ``none``, ``pytorch``, ``slurm`` or ``mpi``.
        min_fit (float, optional): Least share of the model a loaded
            checkpoint must cover (see ``mmpointrend.CheckpointFitHook``).

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
    add_default_hooks(cfg, min_fit)
    return cfg


#: Hooks every run of the tools gets (unless the config lists its own).
DEFAULT_CUSTOM_HOOKS = (
    dict(type='mmpointrend.CheckpointFitHook'),
    dict(type='mmpointrend.RandomStateHook'),
)


def add_default_hooks(cfg: Config, min_fit: float | None = None) -> None:
    """Add the checkpoint-fit check and exact-resume hooks to a config.

    A hook the config already lists (with its own settings) is kept as is.

    Args:
        cfg (Config): The runner config, modified in place.
        min_fit (float, optional): ``min_fit`` of an added
            ``CheckpointFitHook`` (``tools/test.py`` passes 1.0); defaults to
            the hook's own.
    """
    hooks = list(cfg.get('custom_hooks') or [])
    names = {str(h.get('type', '')).split('.')[-1] for h in hooks}
    for hook in DEFAULT_CUSTOM_HOOKS:
        if hook['type'].split('.')[-1] not in names:
            hook = dict(hook)
            if hook['type'].endswith('CheckpointFitHook') and min_fit:
                hook['min_fit'] = min_fit
            hooks.append(hook)
    cfg.custom_hooks = hooks


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
    add_trust_argument(parser)
    # torchrun sets LOCAL_RANK in the environment; accept both spellings
    # that older launchers pass on the command line.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def finish_distributed() -> None:
    """Destroy the default process group, if any, before the process exits.

    Left to interpreter shutdown, a gloo group on torch 2.13 can abort the
    process ("terminate called without an active exception", exit -6)
    after a run that finished, which torchrun reports as a failure.
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # no rank tears down while another still talks to it
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def die_with_parent() -> None:
    """Make this worker exit when its launcher (torchrun) dies.

    torchrun starts workers in their own sessions, so ``kill -9`` of the
    launcher's process group would leave them training. On Linux the kernel
    sends the worker SIGKILL when its parent exits (``PR_SET_PDEATHSIG``).
    """
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith('linux'):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


class UsageError(ValueError):
    """A command-line request the config cannot serve (exit status 2)."""


def run_cli(main: Callable[[], None]) -> None:
    """Run a tool's ``main``, turning known user errors into one-line exits.

    Unsafe, corrupt or misfitting checkpoints, a malformed trust variable
    and unregistered type names end the tool with ``error: ...`` and exit
    status 2 instead of a traceback.

    Args:
        main (Callable[[], None]): The tool's entry point.
    """
    import sys

    from mmpointrend.checkpoint.loading import (
        CorruptCheckpointError,
        UnsafeCheckpointError,
        trust_requested,
    )
    from mmpointrend.checkpoint.zoo import ChecksumError, DownloadError
    from mmpointrend.engine import CheckpointMismatchError

    def fail(message: str) -> None:
        print(f'error: {message}', file=sys.stderr)
        sys.exit(2)

    try:
        trust_requested()  # a malformed MMPOINTREND_TRUST_CHECKPOINTS
        main()
    except (
        UnsafeCheckpointError,
        CorruptCheckpointError,
        CheckpointMismatchError,
        FileNotFoundError,
        IsADirectoryError,
        NotADirectoryError,
        ChecksumError,
        DownloadError,
        UsageError,
    ) as exc:
        fail(str(exc))
    except ValueError as exc:
        if 'MMPOINTREND_TRUST_CHECKPOINTS' in str(exc):
            fail(str(exc))
        raise
    except KeyError as exc:
        known = (
            'no mmpointrend counterpart',
            'in the mmpointrend model zoo',
            'index has no model',
        )
        if any(text in str(exc) for text in known):  # checkpoint, zoo name
            fail(str(exc.args[0]))
        hint = scope_hint(exc)
        if hint is None:
            raise
        fail(f'{exc.args[0]}\n{hint}')


def scope_hint(exc: KeyError) -> str | None:
    """Suggest ``mmpointrend.Name`` when a registry lookup failed.

    Args:
        exc (KeyError): MMEngine's "X is not in the ... registry" error.

    Returns:
        str | None: The hint, or None when the name is not one of ours.
    """
    import re

    import mmpointrend.engine  # noqa: F401  (fill the registries)
    import mmpointrend.evaluation  # noqa: F401
    import mmpointrend.models  # noqa: F401
    from mmpointrend.registry import (
        HOOKS,
        METRICS,
        MODELS,
        OPTIM_WRAPPERS,
        TASK_UTILS,
    )

    match = re.search(
        r'(\w+) is not in the', str(exc.args[0] if exc.args else '')
    )
    if match is None:
        return None
    name = match.group(1)
    for registry in (MODELS, TASK_UTILS, METRICS, HOOKS, OPTIM_WRAPPERS):
        if name in registry.module_dict:
            return (
                f'hint: {name} is an mmpointrend component; write '
                f"type='mmpointrend.{name}' in the config (inside mmseg or "
                'mmdet scoped dicts an unqualified name is looked up there)'
            )
    return None


def schedule_options(iters: int, poly: bool) -> list[str]:
    """``--cfg-options`` that shorten or lengthen a small CPU recipe.

    The recipes in ``configs/synthetic`` and ``configs/dsb2018`` warm up
    linearly (``param_scheduler[0]``), then either decay polynomially after
    the warm-up (semantic) or step down by 10x at 3/4 of the schedule
    (instance). This keeps that shape for ``iters`` iterations, validating
    and saving once at the end.

    Args:
        iters (int): New schedule length.
        poly (bool): True for the poly decay of the semantic recipes, False
            for the step decay of the instance recipes.

    Returns:
        list[str]: ``key=value`` strings for ``--cfg-options``.
    """
    if iters < 1:
        raise ValueError(f'iters must be >= 1, got {iters}')
    warmup = max(1, min(50, iters // 10))
    options = [
        f'train_cfg.max_iters={iters}',
        f'train_cfg.val_interval={iters}',
        f'default_hooks.checkpoint.interval={iters}',
        f'param_scheduler.0.end={warmup}',
        f'param_scheduler.1.end={iters}',
    ]
    if poly:
        options.append(f'param_scheduler.1.begin={warmup}')
    else:
        options.append(f'param_scheduler.1.milestones=[{iters * 3 // 4}]')
    return options
