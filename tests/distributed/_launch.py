"""Launching the real tools as a user would, bounded in time, on free ports."""

from __future__ import annotations

import os
import os.path as osp
import signal
import socket
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEM_CONFIG = osp.join(
    ROOT,
    'configs/synthetic/pointrend_fpn_r18-slim_2xb4-600_synthetic-256x256.py',
)
INS_CONFIG = osp.join(
    ROOT,
    'configs/synthetic/pointrend_mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py',
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def tool_env(**extra: str) -> dict:
    """Environment of a launched tool: this checkout, this interpreter."""
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHON=sys.executable)
    env.setdefault('OMP_NUM_THREADS', '1')
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start(cmd: list[str], **env: str) -> subprocess.Popen:
    """Start ``cmd`` in its own process group (so it can be killed whole)."""
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=tool_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 600) -> str:
    """Wait for ``proc``; kill its whole group if it overruns. Output."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, _ = proc.communicate()
        raise AssertionError(
            f'timed out after {timeout} s:\n{out[-4000:]}'
        ) from None
    return out


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group of ``proc`` (torchrun and its workers)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_ok(cmd: list[str], timeout: float = 600, **env: str) -> str:
    """Run ``cmd`` to the end; fail with its output unless it exits 0."""
    proc = start(cmd, **env)
    out = finish(proc, timeout)
    assert proc.returncode == 0, out[-6000:]
    return out
