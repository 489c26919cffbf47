"""How the scripts in tools/analysis measure and report.

One timer (:func:`measure_calls`, :func:`median_seconds`), one worker
spawner (:func:`run_in_process`), alternating measurement of competitors
(:func:`measure_interleaved`), the machine description and the Markdown
block writer of docs/benchmarks.md.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import os.path as osp
import platform
import re
import resource
import statistics
import time
from collections.abc import Callable


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
    from mmpointrend.checkpoint.io import write_text

    write_text(path, text)


def _rss_mib() -> float:
    """Current resident set size of this process in MiB (Linux)."""
    with open('/proc/self/statm') as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE') / 2**20


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after a warm-up.

    Args:
        fn (Callable): The measured call.
        repeats (int): Timed calls.

    Returns:
        float: Seconds.
    """
    return measure_calls(fn, repeats, 'cpu')['median']


def measure_calls(run, repeats: int, device: str, on_first=None) -> dict:
    """Median time and peak memory growth of ``run()`` after one warm-up.

    Args:
        run (Callable): The measured call.
        repeats (int): Timed calls.
        device (str): ``cpu`` (peak RSS growth) or ``cuda``
            (``max_memory_allocated`` growth).
        on_first (Callable, optional): Extracts what the caller needs from
            the warm-up result, which is then released before timing (so
            it does not inflate the peak).

    Returns:
        dict: ``median`` and ``times`` in seconds, ``peak_mib`` and
        ``first`` (``on_first``'s value, or None).
    """
    timed = _Timed(run, device, on_first)
    times = [timed.call() for _ in range(repeats)]
    return dict(
        median=statistics.median(times),
        times=times,
        peak_mib=timed.peak_mib(),
        first=timed.first,
    )


def run_in_process(target, *args) -> dict:
    """Run ``target(*args, queue)`` in a fresh spawned process.

    Each measurement gets its own process so that peak-memory growth and
    allocator state are not shared between implementations. With
    ``MMPOINTREND_BENCH_SAME_PROCESS=1`` in the environment the worker runs
    in this process instead: no isolation, so no meaningful memory
    figures, but no interpreter start and imports per worker (the test
    suite's smoke runs use it to check that the scripts run).

    Args:
        target (Callable): Worker that puts one result dict on the queue.
        *args: Its arguments before the queue.

    Returns:
        dict: What the worker put on the queue.
    """
    if os.environ.get('MMPOINTREND_BENCH_SAME_PROCESS') == '1':
        import queue as queue_module

        local: queue_module.Queue = queue_module.Queue()
        target(*args, local)
        return local.get_nowait()
    ctx = mp.get_context('spawn')
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f'benchmark worker {target.__name__}{args} failed')
    return result


class _Timed:
    """One implementation's ``run`` with timing and memory bookkeeping."""

    def __init__(
        self, run: Callable[[], object], device: str, on_first=None
    ) -> None:
        import torch

        self.run, self.device, self.torch = run, device, torch
        self.base_rss = _rss_mib()
        if device == 'cuda':
            torch.cuda.reset_peak_memory_stats()
            self.base_cuda = torch.cuda.memory_allocated()
        out = run()  # warm-up, not timed
        self._sync()
        # what the caller needs of the warm-up result, which is then
        # released before timing (so it does not inflate the peak)
        self.first = on_first(out) if on_first is not None else None
        del out

    def _sync(self) -> None:
        if self.device == 'cuda':
            self.torch.cuda.synchronize()

    def call(self) -> float:
        start = time.perf_counter()
        out = self.run()
        self._sync()
        seconds = time.perf_counter() - start
        del out
        return seconds

    def peak_mib(self) -> float:
        if self.device == 'cuda':
            used = self.torch.cuda.max_memory_allocated() - self.base_cuda
            return used / 2**20
        return max(_peak_rss_mib() - self.base_rss, 0.0)


def _interleaved_worker(setup, args: tuple, device: str, conn) -> None:
    """Build ``setup(*args)``, warm up, then time one call per request."""
    timed = _Timed(setup(*args), device)
    conn.send('ready')
    while conn.recv() == 'call':
        conn.send(timed.call())
    conn.send(timed.peak_mib())
    conn.close()


def measure_interleaved(
    setup: Callable[..., Callable[[], object]],
    variants: dict[str, tuple],
    repeats: int,
    device: str,
) -> dict[str, dict]:
    """Time implementations call by call, alternating, each in its process.

    Every variant gets a fresh spawned process that builds its ``run``
    callable with ``setup(*args)`` and warms up once; then the variants are
    called in turn, one call each per round, the order reversed every round
    (A B, B A, A B, ...). A slow period of a shared machine then falls on
    all of them instead of on whichever ran at the time, so the ratio of
    medians measures the implementations, not the machine's mood. With
    ``MMPOINTREND_BENCH_SAME_PROCESS=1`` the variants are built in this
    process (as :func:`run_in_process`; memory figures meaningless).

    Args:
        setup (Callable): Module-level function (picklable) returning the
            measured call.
        variants (dict[str, tuple]): Name -> ``setup``'s arguments.
        repeats (int): Timed calls per variant.
        device (str): ``cpu`` or ``cuda`` (synchronised around each call).

    Returns:
        dict[str, dict]: Per variant, ``median`` and ``times`` in seconds
        and ``peak_mib`` as in :func:`measure_calls`.
    """
    names = list(variants)
    times: dict[str, list[float]] = {name: [] for name in names}
    if os.environ.get('MMPOINTREND_BENCH_SAME_PROCESS') == '1':
        local = {n: _Timed(setup(*variants[n]), device) for n in names}
        for r in range(repeats):
            for name in names if r % 2 == 0 else names[::-1]:
                times[name].append(local[name].call())
        peaks = {n: local[n].peak_mib() for n in names}
    else:
        ctx = mp.get_context('spawn')
        procs, conns = {}, {}
        try:
            for name in names:
                parent, child = ctx.Pipe()
                procs[name] = ctx.Process(
                    target=_interleaved_worker,
                    args=(setup, variants[name], device, child),
                )
                procs[name].start()
                # the worker holds its own copy now; with the parent's open,
                # a worker that dies would leave recv() waiting forever
                # instead of raising EOFError
                child.close()
                conns[name] = parent
                # one build at a time: builds do not slow each other
                if conns[name].recv() != 'ready':
                    raise RuntimeError(f'benchmark worker {name} failed')
            for r in range(repeats):
                for name in names if r % 2 == 0 else names[::-1]:
                    conns[name].send('call')
                    times[name].append(conns[name].recv())
            peaks = {}
            for name in names:
                conns[name].send('stop')
                peaks[name] = conns[name].recv()
        except EOFError as err:
            raise RuntimeError(
                f'a benchmark worker of {setup.__name__} died; its '
                'traceback is printed above'
            ) from err
        finally:
            for proc in procs.values():
                proc.join(timeout=60)
                if proc.is_alive():
                    proc.kill()
    return {
        name: dict(
            median=statistics.median(times[name]),
            times=times[name],
            peak_mib=peaks[name],
        )
        for name in names
    }


def spread(result: dict) -> str:
    """``min / median / max`` seconds of a :func:`measure_calls` result."""
    times = result['times']
    return f'{min(times):.3f} / {result["median"]:.3f} / {max(times):.3f}'


def verdict(met: list[bool]) -> str:
    """The verdict: met in every run, else in how many of the runs."""
    if all(met):
        return f'**met** (all {len(met)} runs)'
    return f'**met in {sum(met)} of {len(met)} runs**'
