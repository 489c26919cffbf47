"""Writing files safely: never over an input, never half a file.

Every tool that writes a file goes through :func:`check_output_path` (no
overwrite without ``--force``, never its own input) and :func:`replacing`
/ :func:`write_atomically` (a temporary file beside the output, renamed
when complete).
"""

from __future__ import annotations

import contextlib
import os
import os.path as osp
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

import torch

#: ``meta`` keys of a source checkpoint that describe the classes; carried
#: over so that mmseg's ``init_model`` / mmdet's ``init_detector`` know them.
_META_KEYS = ('dataset_meta', 'CLASSES', 'PALETTE', 'classes', 'palette')


def check_output_path(
    dst: str, src: str | Sequence[str], force: bool, option: str = 'dst'
) -> None:
    """Refuse an output path before any work is done.

    Args:
        dst (str): Output path.
        src (str | Sequence[str]): The input path(s): never overwritten,
            even with ``force``.
        force (bool): Overwrite an existing file.
        option (str): How the user named the output (``dst``, ``--out``),
            for messages.

    Raises:
        ValueError: ``dst`` is an input or a directory.
        FileExistsError: ``dst`` exists and ``force`` is False.
    """
    inputs = [src] if isinstance(src, str) else list(src)
    for path in inputs:
        if path and (
            osp.abspath(path) == osp.abspath(dst)
            or (
                osp.exists(dst)
                and osp.exists(path)
                and osp.samefile(path, dst)
            )
        ):
            raise ValueError(
                f'{option} {dst} is the input {path}; choose another output '
                'file (an input is never overwritten)'
            )
    if osp.isdir(dst):
        raise ValueError(
            f'{option} {dst} is a directory; give the name of a file to '
            f'write, e.g. {osp.join(dst, "output" + osp.splitext(dst)[1])}'
        )
    if osp.exists(dst) and not force:
        raise FileExistsError(
            f'{option} {dst} exists; pass --force to overwrite it'
        )


@contextlib.contextmanager
def replacing(
    dst: str, suffix: str = '', temp: str | None = None
) -> Iterator[str]:
    """A temporary path beside ``dst`` that becomes ``dst`` on success.

    For writers that take a path (``torch.onnx.export``, image encoders):
    an interrupted or failed write never leaves a partial ``dst`` (nor a
    stray temporary file), and an existing ``dst`` stays as it was.

    Args:
        dst (str): Output path.
        suffix (str): Suffix of the temporary name (some writers choose
            the format by it, e.g. ``.onnx``).
        temp (str, optional): A fixed temporary path instead of a unique
            one: a restarted job can then find and delete what a killed
            one left (folder inference).

    Yields:
        str: The temporary path to write.
    """
    folder = osp.dirname(osp.abspath(dst))
    os.makedirs(folder, exist_ok=True)
    if temp is None:
        fd, temp = tempfile.mkstemp(
            prefix='.writing-', suffix=suffix, dir=folder
        )
        os.close(fd)
    try:
        yield temp
        os.replace(temp, dst)
    except BaseException:
        if osp.exists(temp):
            os.remove(temp)
        raise


def write_atomically(
    dst: str,
    write: Callable[[IO[bytes]], object],
    temp: str | None = None,
    fsync: bool = False,
) -> None:
    """Write ``dst`` through a temporary file in its folder and a rename.

    Args:
        dst (str): Output path.
        write (Callable): Writes the content to the open binary file.
        temp (str, optional): Fixed temporary path (see :func:`replacing`).
        fsync (bool): Flush the data to disk before the rename, so that a
            file that exists after a crash is complete. Defaults to False.
    """
    with replacing(dst, temp=temp) as tmp, open(tmp, 'wb') as f:
        write(f)
        if fsync:
            f.flush()
            os.fsync(f.fileno())


def write_text(dst: str, text: str) -> None:
    """Write UTF-8 text through :func:`write_atomically`.

    Args:
        dst (str): Output path.
        text (str): The content.
    """
    data = text.encode('utf-8')
    write_atomically(dst, lambda f: f.write(data))


def write_image(dst: str, image: Any) -> None:
    """Encode an image with OpenCV (format by extension) and write it whole.

    Args:
        dst (str): Output path (``.png``, ``.jpg``, ...).
        image (np.ndarray): (H, W) or (H, W, 3) BGR image.

    Raises:
        ValueError: OpenCV cannot encode it in that format.
    """
    import cv2

    ok, encoded = cv2.imencode(osp.splitext(dst)[1] or '.png', image)
    if not ok:
        raise ValueError(f'OpenCV could not encode {dst}')
    write_atomically(dst, lambda f: f.write(encoded.tobytes()))


def save_figure(figure: Any, dst: str, **kwargs: Any) -> None:
    """``figure.savefig`` through a temporary file and a rename.

    Args:
        figure (matplotlib.figure.Figure): The figure.
        dst (str): Output path; its extension picks the format.
        **kwargs: Passed to ``savefig`` (``dpi``, ``bbox_inches``).
    """
    with replacing(dst, suffix=osp.splitext(dst)[1]) as tmp:
        figure.savefig(tmp, **kwargs)


def save_converted(
    state_dict: dict,
    dst: str,
    src: str,
    force: bool,
    meta: dict | None = None,
) -> None:
    """Write ``{'state_dict', 'meta'}`` to ``dst`` atomically.

    Args:
        state_dict (dict): Converted weights.
        dst (str): Output path.
        src (str): The input path, recorded in ``meta``.
        force (bool): Overwrite an existing ``dst``.
        meta (dict, optional): Class metadata to keep (see ``_META_KEYS``).
    """
    check_output_path(dst, src, force)
    out_meta = {k: v for k, v in (meta or {}).items() if k in _META_KEYS}
    out_meta['converted_from'] = osp.basename(src)
    write_atomically(
        dst,
        lambda f: torch.save(dict(state_dict=state_dict, meta=out_meta), f),
    )
