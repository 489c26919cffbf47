"""Named profiling regions: where a render or a training step spends time.

The library marks its parts with :func:`region` (``torch.profiler``'s
``record_function`` under the name ``mmpointrend::<part>``), so a profile
reads the time of each part by name instead of wrapping functions from the
outside. Outside a profiler a region costs a few microseconds; inside a
traced, compiled or exported graph it is nothing at all (no profiler op
enters the graph).

Regions: ``coarse head``, ``feature sampling``, ``point MLP``,
``uncertainty``, ``top-k``, ``pasting`` (inference); ``backbone + neck``,
``coarse head + loss``, ``point sampler``, ``point loss`` (training, with
``feature sampling`` and ``point MLP`` again).
"""

from __future__ import annotations

import contextlib

import torch

#: Prefix of every region's profiler event name.
PREFIX = 'mmpointrend::'


def region(name: str) -> contextlib.AbstractContextManager:
    """A profiler region named ``mmpointrend::<name>``.

    Args:
        name (str): The part (see the module docstring).

    Returns:
        contextlib.AbstractContextManager: ``record_function``, or a no-op
        while tracing, compiling or exporting.
    """
    if (
        torch.jit.is_tracing()
        or torch.jit.is_scripting()
        or torch.compiler.is_compiling()
    ):
        return contextlib.nullcontext()
    return torch.profiler.record_function(PREFIX + name)
