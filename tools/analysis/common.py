"""Helpers shared by the scripts in tools/analysis."""

from __future__ import annotations

import os
import os.path as osp
import platform
import re


def machine() -> str:
    """One line naming the CPU, core count, torch and GPU, if any."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            names = re.findall(r'model name\s*:\s*(.*)', f.read())
        cpu = names[0] if names else cpu
    except OSError:
        pass
    desc = f'{cpu}, {os.cpu_count()} cores, torch {torch.__version__}'
    if torch.cuda.is_available():
        desc += f', {torch.cuda.get_device_name(0)}'
    return desc


def replace_block(path: str, name: str, body: str) -> None:
    """Replace (or append) the text between ``BENCHMARK name`` markers.

    Args:
        path (str): Markdown file; created if missing.
        name (str): Marker name.
        body (str): New text between the markers.
    """
    marker, end = (
        f'<!-- BENCHMARK {name} -->',
        f'<!-- END BENCHMARK {name} -->',
    )
    text = open(path).read() if osp.exists(path) else ''
    block = f'{marker}\n{body}{end}'
    if marker in text:
        text = re.sub(
            re.escape(marker) + r'.*?' + re.escape(end),
            lambda _: block,
            text,
            flags=re.S,
        )
    else:
        text += f'\n{block}\n'
    with open(path, 'w') as f:
        f.write(text)
