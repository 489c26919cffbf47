"""One-repeat smoke runs of the benchmark scripts.

They are never timed tests; this only keeps them runnable.
"""

from __future__ import annotations

import re

import pytest
from conftest import run_tool

pytestmark = pytest.mark.slow

SYNTH_SEM = (
    'configs/synthetic/pointrend_fpn_r18-slim_2xb4-600_synthetic-256x256.py'
)
SYNTH_INS = (
    'configs/synthetic/pointrend_mask-rcnn_r18-slim_fpn_2xb2-400_synthetic.py'
)


@pytest.fixture(autouse=True)
def same_process_workers(monkeypatch):
    """Run benchmark workers in the script's own process.

    No interpreter start and imports per worker: these runs check that the
    scripts work, they do not measure.
    """
    monkeypatch.setenv('MMPOINTREND_BENCH_SAME_PROCESS', '1')


def test_onnx_benchmark_runs(tmp_path):
    out = tmp_path / 'bench.md'
    proc = run_tool(
        'tools/analysis/benchmark_onnx.py', '--repeats', '1',
        '--semantic-shape', '128', '256', '--instance-shape', '256', '320',
        # the small synthetic models: the R50 exports are tested in
        # tests/deploy, here only the script's path matters
        '--config', SYNTH_SEM, '--instance-config', SYNTH_INS,
        '--output', out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert '<!-- BENCHMARK onnx cpu -->' in text
    assert 'Instance: same detections and labels: True' in text


def test_floors_profile_runs(tmp_path):
    out = tmp_path / 'bench.md'
    proc = run_tool(
        'tools/analysis/profile_floors.py', '--repeats', '1', '--small',
        '--output', out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert text.count('| total |') == 3
    assert '| backward |' in text and '| point MLP |' in text


def test_instance_benchmark_runs(tmp_path, monkeypatch):
    # this one keeps the fresh-process workers of real measurements
    monkeypatch.delenv('MMPOINTREND_BENCH_SAME_PROCESS')
    out = tmp_path / 'bench.md'
    proc = run_tool(
        'tools/analysis/benchmark_instance.py', '--small', '--repeats', '1',
        '--runs', '1', '--output', out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    for block in (
        'instance-refine cpu',
        'instance-sweep cpu',
        'instance-flops',
    ):
        assert f'<!-- BENCHMARK {block} -->' in text
    # The two implementations agree on the pasted pixels up to near-ties
    # of the point selection.
    agree = re.search(r'\| ([\d.]+)% \|\n', text)
    assert agree is not None and float(agree.group(1)) > 99.9
    assert (tmp_path / 'images' / 'mask_cost_vs_resolution.png').exists()


def test_semantic_benchmark_runs(tmp_path):
    # cases b and c as shipped; case a with its bf16 option, which runs the
    # same three workers (reference, ours, shared work) plus the effect
    out = tmp_path / 'bench.md'
    proc = run_tool(
        'tools/analysis/benchmark_semantic.py', '--small', '--repeats', '1',
        '--runs', '1', '--cases', 'bc', '--output', out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_tool(
        'tools/analysis/benchmark_semantic.py', '--small', '--repeats', '1',
        '--runs', '1', '--cases', 'a', '--autocast', 'bf16', '--output', out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    for block in ('semantic-a cpu bf16', 'semantic-b cpu', 'semantic-c cpu'):
        assert f'<!-- BENCHMARK {block} -->' in text
    assert '<!-- BENCHMARK semantic-a cpu -->' not in text
    # One verdict per case ("**met** (all 1 runs)" or "**met in 0 of 1
    # runs**": timings are reported, never asserted).
    assert text.count('in every run: **met') == 3
    # case (a) also times the work both heads share, for its ceiling
    case_a = text.split('<!-- BENCHMARK semantic-a cpu bf16 -->')[1]
    case_a = case_a.split('<!-- END BENCHMARK')[0]
    assert '| ceiling (reference / shared) |' in case_a
    row = next(line for line in case_a.splitlines() if line.startswith('| 1 '))
    assert row.count('|') == 10 and row.rstrip(' |').endswith('x')
    assert '--autocast bf16`' in case_a
    assert 'under torch.autocast(bf16), the reference in float32' in case_a
    assert 'Effect of bf16 on ours' in case_a and '% of the labels' in case_a


def test_end_to_end_benchmark_runs(tmp_path):
    out = tmp_path / 'bench.md'
    proc = run_tool(
        'tools/analysis/benchmark_end_to_end.py', '--small', '--repeats', '1',
        '--output', out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert text.count('| mmpointrend PointRend |') == 2
    assert '| mmdet Mask R-CNN (baseline) |' in text
    assert '| mmseg SemanticFPN (baseline) |' in text


def test_refiner_benchmark_runs(tmp_path):
    out = tmp_path / 'bench.md'
    proc = run_tool(
        'tools/analysis/benchmark_refiner.py', '--small', '--repeats', '1',
        '--objects', '1', '2', '--output', out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert '<!-- BENCHMARK refiner cpu -->' in text
    assert '| CPU refiner (ResNet-18 half width) | 2 |' in text
    assert 'image 256x512' in text


def test_other_analysis_scripts_run(tmp_path):
    out = tmp_path / 'bench.md'
    proc = run_tool(
        'tools/analysis/benchmark_boundary_metrics.py', '--repeats', '1',
        '--num-masks', '5', '--output', out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '<!-- BENCHMARK boundary-metrics -->' in out.read_text()
    proc = run_tool(
        'tools/analysis/profile_semantic_render.py', '--repeats', '1'
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'grid_sampler' in proc.stdout or 'grid_sampler' in proc.stderr


def test_scaling_estimate_runs(tmp_path):
    out = tmp_path / 'scaling.md'
    proc = run_tool(
        'tools/analysis/scaling_estimate.py', '--small', '--output', out
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert '<!-- BENCHMARK scaling-estimate -->' in text
    assert '| COCO Mask R-CNN+PointRend R50 | 60.2 M |' in text


def test_implicit_cost_runs(tmp_path):
    out = tmp_path / 'implicit.md'
    proc = run_tool(
        'tools/analysis/implicit_cost.py', '--small', '--repeats', '1',
        '--output', out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert '| Implicit PointRend | 304.7 M | 1162 MiB | 283,472 |' in text
    assert '| Implicit PointRend, class-agnostic | 283.9 M |' in text


def _recording_call(name: str, log: str):
    """A measured call that appends ``name`` to ``log`` (order check)."""

    def run():
        with open(log, 'a') as f:
            f.write(name)

    return run


@pytest.mark.parametrize('same_process', [True, False])
def test_interleaved_calls_alternate(tmp_path, monkeypatch, same_process):
    """Warm-ups one by one, then A B, B A, A B: slow periods hit both."""
    from mmpointrend.analysis.measure import measure_interleaved

    if not same_process:  # the real path: one spawned process per variant
        monkeypatch.delenv('MMPOINTREND_BENCH_SAME_PROCESS')
    log = tmp_path / 'calls.txt'
    found = measure_interleaved(
        _recording_call,
        {'ref': ('R', str(log)), 'ours': ('O', str(log))},
        repeats=3,
        device='cpu',
    )
    assert log.read_text() == 'RO' + 'RO' + 'OR' + 'RO'
    for name in ('ref', 'ours'):
        assert len(found[name]['times']) == 3
        assert found[name]['median'] == sorted(found[name]['times'])[1]
        assert found[name]['peak_mib'] >= 0


def _failing_setup(name: str):
    raise RuntimeError(f'cannot build {name}')


def test_dead_worker_is_an_error_not_a_hang(monkeypatch):
    """A worker whose build raises ends the measurement with an error."""
    import signal

    from mmpointrend.analysis.measure import measure_interleaved

    def hung(*_):
        raise TimeoutError('measure_interleaved waited on a dead worker')

    monkeypatch.delenv('MMPOINTREND_BENCH_SAME_PROCESS')
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(120)
    try:
        with pytest.raises(RuntimeError, match='benchmark worker'):
            measure_interleaved(
                _failing_setup, {'ref': ('R',)}, repeats=1, device='cpu'
            )
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
