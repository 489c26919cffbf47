"""One-repeat smoke runs of the benchmark scripts.

They are never timed tests; this only keeps them runnable.
"""

from __future__ import annotations

import pytest
from conftest import run_tool

pytestmark = pytest.mark.slow


def test_onnx_benchmark_runs(tmp_path):
    out = tmp_path / 'bench.md'
    proc = run_tool(
        'tools/analysis/benchmark_onnx.py', '--repeats', '1',
        '--semantic-shape', '128', '256', '--instance-shape', '256', '320',
        '--output', out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert '<!-- BENCHMARK onnx cpu -->' in text
    assert 'Instance: same detections and labels: True' in text


def test_floors_profile_runs(tmp_path):
    out = tmp_path / 'bench.md'
    proc = run_tool(
        'tools/analysis/profile_floors.py', '--repeats', '1', '--output', out
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert text.count('| total |') == 2
