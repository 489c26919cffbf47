"""Layer 4: the accuracy study script, 2 iterations per run, end to end.

The full study (``tools/analysis/accuracy_study.py`` with its defaults)
trains for hours on 2 cores; this runs the same code path on a tiny
synthetic dataset and the real DSB2018 crops with 2 iterations and one seed,
through the real tools and MMEngine runners.
"""

import json

import pytest
from conftest import run_tool

from mmpointrend.data import generate_synthetic_dataset
from mmpointrend.data.dsb2018 import convert_dsb2018

pytestmark = pytest.mark.slow


def test_two_iteration_study(tmp_path):
    synthetic = tmp_path / 'synthetic'
    generate_synthetic_dataset(
        str(synthetic), num_train=2, num_val=1, size=256, seed=5
    )
    dsb = tmp_path / 'dsb2018'
    convert_dsb2018(str(dsb))
    work, out = tmp_path / 'work', tmp_path / 'docs' / 'accuracy.md'
    out.parent.mkdir()
    out.write_text('# Accuracy\n\nHand-written text kept.\n')
    png = tmp_path / 'docs' / 'images' / 'study.png'
    args = [
        '--iters', '2', '--seeds', '0', '--nproc', '1',
        '--synthetic-root', str(synthetic), '--dsb-root', str(dsb),
        '--work-dir', str(work), '--out', str(out), '--plot', str(png),
    ]  # fmt: skip
    proc = run_tool('tools/analysis/accuracy_study.py', *args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    results = json.loads((work / 'results.json').read_text())
    assert len(results) == 8  # 4 experiments x (baseline, PointRend)
    by_run = {(r['experiment'], r['model']): r['metrics'] for r in results}
    for name in ('synthetic', 'dsb2018'):
        for model in ('baseline', 'pointrend'):
            sem = by_run[(f'{name}-semantic', model)]
            assert 0 <= sem['mIoU'] <= 100 and 0 <= sem['mBIoU'] <= 100
            ins = by_run[(f'{name}-instance', model)]
            assert {'coco/segm_mAP', 'coco/boundary_mAP'} <= set(ins)
    # DSB2018 is scored a second time with a narrow band (small nuclei)
    for model in ('baseline', 'pointrend'):
        assert 0 <= by_run[('dsb2018-semantic', model)]['mBIoU@narrow'] <= 100
        assert (
            'coco/boundary_mAP@narrow' in by_run[('dsb2018-instance', model)]
        )
        assert 'mBIoU@narrow' not in by_run[('synthetic-semantic', model)]
    assert all(r['iters'] == 2 for r in results)

    report = out.read_text()
    assert report.startswith('# Accuracy\n\nHand-written text kept.')
    for name in (
        'synthetic-semantic',
        'synthetic-instance',
        'dsb2018-semantic',
        'dsb2018-instance',
    ):
        assert f'### {name}' in report
    assert report.count('| difference of medians |') == 4
    assert 'Machine:' in report and 'Seeds: 0' in report
    # a narrow-band column in both DSB2018 tables, in no other table
    assert '| mBIoU (d = 0.5% diag.) |' in report
    assert '| Boundary AP (d = 0.5% diag.) |' in report
    assert report.count('diag.) |') == 2
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

    # a second start reuses every finished run instead of training again
    again = run_tool('tools/analysis/accuracy_study.py', *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count(': done') == 8
    assert ', 2 iters' not in again.stdout

    # the report re-renders from results.json alone, without training
    out2, png2 = tmp_path / 'report.md', tmp_path / 'report.png'
    rendered = run_tool(
        'tools/analysis/accuracy_report.py', work / 'results.json',
        '--iters', '2', '--seeds', '0', '--nproc', '1',
        '--out', out2, '--plot', png2,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr[-3000:]
    assert out2.read_text().count('| difference of medians |') == 4
    assert png2.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
