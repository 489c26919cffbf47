"""Predictions for every image of a folder, sharded and resumable.

Each process of a job takes every ``world_size``-th image of the sorted
list, writes one prediction file per image through a temporary file and a
rename (so a file that exists is complete), and skips images whose file
exists already: a job that was killed is restarted with the same command
and does only what is left. Semantic models write a label PNG per image,
detectors a JSON file with COCO RLE masks.
"""

from __future__ import annotations

import json
import os
import os.path as osp
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mmpointrend.checkpoint.io import write_atomically

#: File endings read as images (lower case).
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def check_out_dir(out_dir: str) -> None:
    """Refuse an output folder that cannot hold the predictions.

    Args:
        out_dir (str): The ``--out-dir`` value.

    Raises:
        NotADirectoryError: It (or a parent) is an existing regular file.
    """
    path = osp.abspath(out_dir)
    while path and not osp.exists(path):
        parent = osp.dirname(path)
        if parent == path:
            break
        path = parent
    if osp.exists(path) and not osp.isdir(path):
        raise NotADirectoryError(
            f'--out-dir {out_dir}: {path} is a file, not a folder; give a '
            'folder for the predictions (it is created if missing)'
        )


def list_images(
    source: str, exclude: str | None = None
) -> tuple[str, list[str]]:
    """The images of a folder (recursively) or of a file list.

    Symbolic links to sub-folders are followed (each real folder once, so
    a link cycle ends).

    Args:
        source (str): A folder, or a text file with one image path per line
            (relative paths are relative to the list's folder; the outputs
            mirror the paths below the images' deepest common folder).
        exclude (str, optional): A folder whose files are never listed:
            the output folder, when it lies inside ``source``, so that a
            rerun does not predict its own label PNGs.

    Returns:
        tuple[str, list[str]]: The root the outputs mirror, and the sorted
        image paths relative to it.
    """
    skip = osp.realpath(exclude) if exclude else None
    if osp.isdir(source):
        root = osp.abspath(source)
        found, visited = [], set()
        for folder, dirs, files in os.walk(root, followlinks=True):
            real = osp.realpath(folder)
            if real in visited or real == skip:
                dirs[:] = []
                continue
            visited.add(real)
            for name in files:
                if name.lower().endswith(IMAGE_SUFFIXES):
                    found.append(osp.relpath(osp.join(folder, name), root))
        return root, sorted(found)
    if osp.isfile(source):
        base = osp.dirname(osp.abspath(source))
        with open(source) as f:
            lines = [line.strip() for line in f if line.strip()]
        paths = sorted({osp.normpath(osp.join(base, line)) for line in lines})
        if skip:
            paths = [
                p
                for p in paths
                if not osp.realpath(p).startswith(skip + os.sep)
            ]
        if not paths:
            return base, []
        # Outputs mirror the paths below their deepest common folder, so
        # they never leave the output folder (no '..' in a relative path).
        root = osp.commonpath([osp.dirname(p) for p in paths])
        return root, [osp.relpath(p, root) for p in paths]
    raise FileNotFoundError(
        f'{source!r} is neither a folder of images nor a file list; pass a '
        'folder or a .txt file with one image path per line'
    )


def output_path(out_dir: str, rel: str, semantic: bool) -> str:
    """Where the prediction of image ``rel`` goes.

    The image's relative path with ``.png`` (semantic label map) or
    ``.json`` (instances) appended, so ``a.jpg`` and ``a.png`` in one
    folder do not collide.
    """
    return osp.join(out_dir, rel + ('.png' if semantic else '.json'))


def encode_semantic(result: Any) -> bytes:
    """A label PNG (8-bit, or 16-bit above 255 classes) of a prediction.

    Args:
        result (SegDataSample): mmseg prediction.

    Returns:
        bytes: The PNG file.
    """
    import cv2

    labels = result.pred_sem_seg.data[0].cpu().numpy()
    dtype = np.uint8 if labels.max(initial=0) < 256 else np.uint16
    ok, png = cv2.imencode('.png', labels.astype(dtype))
    if not ok:
        raise RuntimeError('OpenCV could not encode the label map as PNG')
    return png.tobytes()


def encode_instances(result: Any, rel: str, score_thr: float) -> bytes:
    """JSON with boxes, scores, labels and COCO RLE masks of a prediction.

    Args:
        result (DetDataSample): mmdet prediction with masks.
        rel (str): The image's relative path (recorded in the file).
        score_thr (float): Instances below this score are left out.

    Returns:
        bytes: UTF-8 JSON.
    """
    from pycocotools import mask as mask_utils

    pred = result.pred_instances
    keep = pred.scores >= score_thr
    height, width = result.ori_shape[:2]
    instances = []
    masks = pred.masks[keep].cpu().numpy().astype(np.uint8)
    boxes = pred.bboxes[keep].cpu().tolist()
    scores = pred.scores[keep].cpu().tolist()
    labels = pred.labels[keep].cpu().tolist()
    for mask, box, score, label in zip(masks, boxes, scores, labels):
        rle = mask_utils.encode(np.asfortranarray(mask))
        instances.append(
            dict(
                bbox=[round(v, 2) for v in box],
                score=round(score, 5),
                label=int(label),
                segmentation=dict(
                    size=[int(s) for s in rle['size']],
                    counts=rle['counts'].decode('ascii'),
                ),
            )
        )
    doc = dict(image=rel, height=height, width=width, instances=instances)
    return json.dumps(doc).encode()


#: Suffix of a prediction file being written.
PARTIAL = '.part'


def _write_complete(dst: str, data: bytes) -> None:
    """Write ``dst`` as ``dst + PARTIAL`` and rename it when complete.

    A fixed temporary name (one image, one process) lets a restarted job
    delete what a killed one left half-written.
    """
    write_atomically(dst, lambda f: f.write(data), dst + PARTIAL, fsync=True)


@dataclass
class ShardReport:
    """What one process did."""

    rank: int
    assigned: int = 0
    written: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        """Images written per second of this process's loop."""
        return self.written / self.seconds if self.seconds > 0 else 0.0


def process_shard(
    items: Sequence[str],
    destination: Callable[[str], str],
    work: Callable[[str], bytes],
    rank: int = 0,
    world_size: int = 1,
    progress: bool = True,
) -> ShardReport:
    """Write ``work(item)`` to ``destination(item)`` for this process's share.

    Items whose output exists are skipped (a killed job is finished by
    running it again); a partial file of a killed run is removed first; an
    item whose ``work`` raises is recorded in the report and the job goes
    on.

    Args:
        items (Sequence[str]): All items of the job, sorted (every process
            must get the same list).
        destination (Callable): Item -> output path.
        work (Callable): Item -> the output file's bytes.
        rank (int): This process's index. Defaults to 0.
        world_size (int): Number of processes. Defaults to 1.
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        ShardReport: Counts, failures and time of this process.
    """
    from mmengine.utils import ProgressBar

    mine = list(items[rank::world_size])
    report = ShardReport(rank=rank, assigned=len(mine))
    todo = []
    for item in mine:
        dst = destination(item)
        if osp.exists(dst):
            report.skipped += 1
        else:
            # A partial file of a killed run; only this process writes it.
            if osp.exists(dst + PARTIAL):
                os.remove(dst + PARTIAL)
            todo.append(item)
    bar = ProgressBar(len(todo)) if progress and todo else None
    start = time.perf_counter()
    for item in todo:
        try:
            data = work(item)
        except Exception as exc:  # one bad item must not stop the job
            report.failed[item] = f'{type(exc).__name__}: {exc}'
        else:
            _write_complete(destination(item), data)
            report.written += 1
        if bar is not None:
            bar.update()
    report.seconds = time.perf_counter() - start
    return report


def infer_shard(
    model: Any,
    root: str,
    images: Sequence[str],
    out_dir: str,
    rank: int = 0,
    world_size: int = 1,
    score_thr: float = 0.0,
    progress: bool = True,
) -> ShardReport:
    """Predict this process's share of ``images``, skipping finished ones.

    Args:
        model (nn.Module): A model from :func:`mmpointrend.apis.init_model`.
        root (str): Folder the image paths are relative to.
        images (Sequence[str]): All images of the job, sorted (every process
            must get the same list).
        out_dir (str): Output folder; mirrors the input tree.
        rank (int): This process's index. Defaults to 0.
        world_size (int): Number of processes. Defaults to 1.
        score_thr (float): Detectors: instances below it are not written.
            Defaults to 0 (all the model returns).
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        ShardReport: Counts, failures and time of this process.
    """
    from .inference import inference_model, is_detector_config

    semantic = not is_detector_config(model.cfg)

    def work(rel: str) -> bytes:
        result = inference_model(model, osp.join(root, rel))
        if semantic:
            return encode_semantic(result)
        return encode_instances(result, rel, score_thr)

    return process_shard(
        images,
        lambda rel: output_path(out_dir, rel, semantic),
        work,
        rank,
        world_size,
        progress,
    )


def write_summary(
    out_dir: str, reports: Sequence[ShardReport], total: int
) -> dict:
    """Merge the processes' reports into ``out_dir/summary.json``.

    Args:
        out_dir (str): Output folder.
        reports (Sequence[ShardReport]): One per process.
        total (int): Images in the job.

    Returns:
        dict: The summary written.
    """
    seconds = max((r.seconds for r in reports), default=0.0)
    written = sum(r.written for r in reports)
    summary = dict(
        images=total,
        written=written,
        skipped=sum(r.skipped for r in reports),
        failed={k: v for r in reports for k, v in r.failed.items()},
        processes=len(reports),
        seconds=round(seconds, 3),
        images_per_second=round(written / seconds, 3) if seconds else 0.0,
        per_process=[
            dict(asdict(r), images_per_second=round(r.images_per_second, 3))
            for r in reports
        ],
    )
    text = json.dumps(summary, indent=2).encode()
    write_atomically(
        osp.join(out_dir, 'summary.json'), lambda f: f.write(text)
    )
    return summary


def start_shard_process(
    launcher: str, device: str | None
) -> tuple[int, int, str]:
    """This process's rank, the job's size and its device.

    ``launcher='pytorch'`` (torchrun, ``tools/dist_launch.sh``): gloo on a
    CPU-only machine, else NCCL with one GPU per local rank; the process
    exits when its launcher dies.

    Args:
        launcher (str): ``'none'`` or ``'pytorch'``.
        device (str, optional): ``--device``; default ``cuda`` if any.

    Returns:
        tuple: ``(rank, world_size, device)``.
    """
    import torch

    from mmpointrend.engine.runner_setup import die_with_parent
    from mmpointrend.utils.compat import init_cpu_distributed

    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if launcher != 'pytorch':
        return 0, 1, device
    die_with_parent()
    if not init_cpu_distributed():
        local = int(os.environ.get('LOCAL_RANK', 0))
        torch.cuda.set_device(local)
        torch.distributed.init_process_group('nccl')
        device = f'cuda:{local}'
    return (
        torch.distributed.get_rank(),
        torch.distributed.get_world_size(),
        device,
    )


def finish_shard_job(
    out_dir: str, report: ShardReport, total: int, world_size: int
) -> tuple[dict | None, int]:
    """Print this process's counts, gather all, write the summary (rank 0).

    Args:
        out_dir (str): Output folder (``summary.json`` goes there).
        report (ShardReport): This process's report.
        total (int): Items in the job.
        world_size (int): Number of processes.

    Returns:
        tuple: The summary (rank 0; None elsewhere) and the number of items
        that failed in any process (every process gets it).
    """
    import torch

    print(
        f'[rank {report.rank}] {report.written} written, {report.skipped} '
        f'already done, {len(report.failed)} failed, '
        f'{report.images_per_second:.2f} images/s',
        flush=True,
    )
    reports: list[ShardReport | None] = [report]
    if world_size > 1:
        reports = [None] * world_size
        torch.distributed.all_gather_object(reports, report)
    failed = sum(len(r.failed) for r in reports)
    if report.rank != 0:
        return None, failed
    summary = write_summary(out_dir, reports, total)
    print(
        f'{summary["written"]} written, {summary["skipped"]} already done, '
        f'{len(summary["failed"])} failed of {total} images in '
        f'{summary["seconds"]:.1f} s ({summary["images_per_second"]} '
        f'images/s); summary: {osp.join(out_dir, "summary.json")}',
        flush=True,
    )
    for item, why in summary['failed'].items():
        print(f'failed: {item}: {why}', flush=True)
    return summary, failed
