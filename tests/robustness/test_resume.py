"""Runner layer: exact resume after a kill, launcher kills, loud misfits.

A deterministic run is killed with SIGKILL after its first checkpoint and
resumed with ``--resume``; its final weights must equal an uninterrupted
run's bit for bit (random states of Python, NumPy and torch restored by
``RandomStateHook`` after MMEngine replays the data loader).
"""

from __future__ import annotations

import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch
from payloads import INS_CONFIG, ROOT, SEM_CONFIG, data_options, run_tool

from mmpointrend.checkpoint import load_checkpoint_file

pytestmark = pytest.mark.slow

MAX_ITERS = 8


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    from mmpointrend.dataset_makers import generate_synthetic_dataset

    root = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_dataset(root, num_train=4, num_val=1, size=128, seed=4)
    return root


def _train_args(data_root: str, work: str) -> list[str]:
    return [
        'tools/train.py',
        SEM_CONFIG,
        '--work-dir',
        work,
        '--cfg-options',
        *data_options(data_root),
        f'train_cfg.max_iters={MAX_ITERS}',
        'train_cfg.val_interval=3',
        'default_hooks.checkpoint.interval=3',
        'default_hooks.checkpoint.max_keep_ckpts=5',
        'default_hooks.visualization.draw=False',
        'train_dataloader.batch_size=2',
        'param_scheduler.0.end=1',
        'param_scheduler.1.begin=1',
        f'param_scheduler.1.end={MAX_ITERS}',
        'randomness.deterministic=True',
    ]


def _weights(path: str) -> dict:
    # Trust stays off: the tools' own checkpoints load weights-only.
    return load_checkpoint_file(path)['state_dict']


def test_killed_run_resumes_to_the_uninterrupted_weights(data_root, tmp_path):
    work_a, work_b = str(tmp_path / 'a'), str(tmp_path / 'b')
    proc = run_tool(*_train_args(data_root, work_a))
    assert proc.returncode == 0, proc.stderr[-4000:]
    final_a = _weights(osp.join(work_a, f'iter_{MAX_ITERS}.pth'))
    saved = load_checkpoint_file(osp.join(work_a, 'iter_3.pth'))
    assert {'message_hub', 'optimizer', 'rng_states'} <= set(saved)

    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    first = osp.join(work_b, 'iter_3.pth')
    victim = subprocess.Popen(
        [sys.executable, *_train_args(data_root, work_b)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not osp.exists(osp.join(work_b, 'last_checkpoint')):
        assert victim.poll() is None, 'training ended before its checkpoint'
        assert time.monotonic() < deadline
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    assert not osp.exists(osp.join(work_b, f'iter_{MAX_ITERS}.pth'))

    proc = run_tool(*_train_args(data_root, work_b), '--resume', first)
    assert proc.returncode == 0, proc.stderr[-4000:]
    final_b = _weights(osp.join(work_b, f'iter_{MAX_ITERS}.pth'))
    assert final_a.keys() == final_b.keys()
    for key in final_a:
        assert torch.equal(final_a[key], final_b[key]), key


def _python_processes_with(text: str) -> list[int]:
    found = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmdline = f.read().decode(errors='replace')
        except OSError:
            continue
        if text in cmdline and 'train.py' in cmdline:
            found.append(int(pid))
    return found


def _dist_train(args: list[str], work: str) -> subprocess.Popen:
    """``bash tools/dist_train.sh CONFIG 2 ...`` (gloo), its own group."""
    import socket

    with socket.socket() as sock:  # a port nothing listens on now
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    env = dict(
        os.environ,
        PYTHONPATH=ROOT,
        PYTHON=sys.executable,
        PORT=str(port),
        OMP_NUM_THREADS='1',
    )
    return subprocess.Popen(
        ['bash', 'tools/dist_train.sh', args[0], '2', *args[1:]],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _dist_run_ok(args: list[str], work: str) -> None:
    proc = _dist_train(args, work)
    try:
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, out[-6000:]
    assert 'Distributed training: True' in out, out[-3000:]


@pytest.mark.skipif(
    not sys.platform.startswith('linux'), reason='uses /proc and prctl'
)
def test_dist_train_killed_by_kill_9_resumes_bit_exact(data_root, tmp_path):
    """2 gloo processes, ``kill -9`` mid-run, ``--resume``: same weights.

    The kill stops every worker (none outlives torchrun); the resumed
    2-process run restores each rank's random states (gathered into the
    checkpoint by ``RandomStateHook``) and ends bit-identical to an
    uninterrupted 2-process run.
    """
    work_a, work_b = str(tmp_path / 'a'), str(tmp_path / 'b')
    # each rank seeded differently, so that restoring one rank's generators
    # on another would change training (with one seed they draw alike)
    args = [
        *_train_args(data_root, work_a)[1:],
        'randomness.diff_rank_seed=True',
    ]
    _dist_run_ok(args, work_a)
    final_a = _weights(osp.join(work_a, f'iter_{MAX_ITERS}.pth'))
    ranks = load_checkpoint_file(osp.join(work_a, 'iter_3.pth'))['rng_states']
    assert len(ranks) == 2  # one state per rank, and they differ
    assert not torch.equal(ranks[0]['torch'], ranks[1]['torch'])
    args[args.index('--work-dir') + 1] = work_b

    launcher = _dist_train(args, work_b)
    try:
        deadline = time.monotonic() + 300
        while not osp.exists(osp.join(work_b, 'last_checkpoint')):
            assert launcher.poll() is None, 'the launcher exited early'
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert len(_python_processes_with(work_b)) >= 2
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait(timeout=30)
        deadline = time.monotonic() + 30
        while _python_processes_with(work_b) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _python_processes_with(work_b) == [], 'workers outlived kill -9'
    finally:
        for pid in _python_processes_with(work_b):
            os.kill(pid, signal.SIGKILL)
    assert not osp.exists(osp.join(work_b, f'iter_{MAX_ITERS}.pth'))

    resume = osp.join(work_b, 'iter_3.pth')
    _dist_run_ok([*args, '--resume', resume], work_b)
    final_b = _weights(osp.join(work_b, f'iter_{MAX_ITERS}.pth'))
    assert final_a.keys() == final_b.keys()
    for key in final_a:
        assert torch.equal(final_a[key], final_b[key]), key
    # it trained: the resumed run moved the weights past its checkpoint
    middle = _weights(resume)
    assert not torch.equal(
        middle['decode_head.1.mlp.predictor.weight'],
        final_b['decode_head.1.mlp.predictor.weight'],
    )


def test_checkpoint_of_the_wrong_task_is_an_error(data_root, tmp_path):
    """Semantic weights into the instance config: named, not mAP 0."""
    work = str(tmp_path / 'sem')
    args = _train_args(data_root, work)
    args[args.index(f'train_cfg.max_iters={MAX_ITERS}')] = (
        'train_cfg.max_iters=1'
    )
    proc = run_tool(*args, 'default_hooks.checkpoint.interval=1')
    assert proc.returncode == 0, proc.stderr[-3000:]
    semantic = osp.join(work, 'iter_1.pth')
    ann = osp.join(data_root, 'annotations', 'instances_val.json')
    proc = run_tool(
        'tools/test.py',
        INS_CONFIG,
        semantic,
        '--work-dir',
        str(tmp_path / 'ins'),
        '--cfg-options',
        f'test_dataloader.dataset.data_root={data_root}',
        f'test_evaluator.ann_file={ann}',
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert 'fits only' in proc.stderr and 'roi_head' in proc.stderr
    assert 'decode_head' in proc.stderr  # the unexpected prefixes
    # load_from= of a checkpoint that fits nothing (keys of another layout)
    # refuses instead of training from scratch.
    ckpt = load_checkpoint_file(semantic)
    ckpt['state_dict'] = {
        f'model.{k}': v for k, v in ckpt['state_dict'].items()
    }
    semantic = str(tmp_path / 'renamed.pth')
    torch.save(ckpt, semantic)
    proc = run_tool(
        'tools/train.py',
        INS_CONFIG,
        '--work-dir',
        str(tmp_path / 'ins_train'),
        '--cfg-options',
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'val_evaluator.ann_file={ann}',
        f'load_from={semantic}',
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert 'fits only 0.0%' in proc.stderr and 'model.backbone' in proc.stderr


def test_resume_with_another_models_checkpoint_is_named(data_root, tmp_path):
    """Another model's checkpoint (another point head) is named.

    It fits the misfit threshold, so without the check it reached MMEngine's
    optimizer-group error, which names no file.
    """
    work = str(tmp_path / 'other')
    args = _train_args(data_root, work)
    args[args.index(f'train_cfg.max_iters={MAX_ITERS}')] = (
        'train_cfg.max_iters=1'
    )
    proc = run_tool(
        *args,
        'default_hooks.checkpoint.interval=1',
        'model.decode_head.1.num_fcs=2',
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    other = osp.join(work, 'iter_1.pth')
    proc = run_tool(
        *_train_args(data_root, str(tmp_path / 'mine')), '--resume', other
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert f'--resume {other}' in proc.stderr
    assert 'not a checkpoint of this model' in proc.stderr
    assert 'decode_head.1' in proc.stderr and 'load_from' in proc.stderr
    assert "doesn't match the size of optimizer" not in proc.stderr
