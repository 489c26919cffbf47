"""Model zoo: from a model name to its config and a verified checkpoint.

The zoo is the OpenMMLab ``model-index.yml`` shipped in ``mmpointrend/.mim``
(one ``metafile.yaml`` per config folder). A name resolves to its config
and the publisher's weight URL; :func:`download_checkpoint` fetches the file
into torch hub's checkpoint cache (where MMEngine looks too), tries mirrors
first, writes to a temporary file and renames it only after the file passed
every check its publisher's naming allows:

* mmdet names files ``...-<first 8 hex of sha256>.pth``: checked;
* detectron2 names them ``model_final_<first 6 hex of md5>.pkl``: checked;
* mmseg's suffix is the sha256 prefix of the file *before* publishing
  (their ``publish_model.py`` hashes the input), so it is not a hash of the
  served file: nothing to check, and the download says so.

The full sha256 of every accepted file is recorded next to the cache
(``mmpointrend-sha256.json``); a cached file that no longer matches its
record is refused. Nothing is ever unpickled here: loading goes through
:mod:`mmpointrend.checkpoint.loading`.

Environment:
    ``MMPOINTREND_MIRRORS``: base URLs (separated by spaces or commas)
    tried in order before the publisher's URL; each serves files by their
    base name (``<mirror>/<file name>``).
    ``MMPOINTREND_CHECKPOINT_DIR``: a folder of pre-downloaded files, used
    before any download (offline machines).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import os.path as osp
import re
import shutil
import sys
import tempfile
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import yaml

from .io import write_atomically

__all__ = [
    'CHECKPOINT_DIR_ENV',
    'HASH_CONVENTIONS',
    'MIRRORS_ENV',
    'ChecksumError',
    'DownloadError',
    'ModelInfo',
    'cache_dir',
    'download_checkpoint',
    'download_to',
    'expected_prefix',
    'get_model_info',
    'list_models',
    'load_model_index',
    'main',
    'mirrors',
    'resolve',
    'verify_file',
    'zoo_root',
]

MIRRORS_ENV = 'MMPOINTREND_MIRRORS'
CHECKPOINT_DIR_ENV = 'MMPOINTREND_CHECKPOINT_DIR'
_RECORD = 'mmpointrend-sha256.json'
#: Download time-out per connection attempt, in seconds.
TIMEOUT = 60

#: How each publisher's file name encodes a hash: (regex, algorithm).
HASH_CONVENTIONS: dict[str, tuple[str, str] | None] = {
    'sha256-prefix': (r'-([0-9a-f]{8,64})\.\w+$', 'sha256'),
    'md5-prefix': (r'_([0-9a-f]{6,32})\.\w+$', 'md5'),
    'mmseg-sha256-prefix': None,
    'none': None,
}


class DownloadError(RuntimeError):
    """No source gave a file that passed verification."""


class ChecksumError(RuntimeError):
    """A file's content does not match what its name or record promises."""


@dataclass(frozen=True)
class ModelInfo:
    """One model-zoo entry.

    Args:
        name (str): The model name (its config stem, plus ``_detectron2``
            where two publishers share a config).
        config (str): Absolute path of the config file.
        weights (str): The publisher's URL.
        publisher (str): ``mmsegmentation``, ``mmdetection`` or
            ``detectron2``.
        weight_format (str): Key layout of the file: ``mmseg``, ``mmdet``,
            ``detectron2`` or ``mmpointrend``.
        hash_convention (str): A key of :data:`HASH_CONVENTIONS`.
        results (list): The published results (metafile ``Results``).
        metadata (dict): The metafile ``Metadata``.
    """

    name: str
    config: str
    weights: str
    publisher: str
    weight_format: str
    hash_convention: str
    results: list = field(default_factory=list)
    metadata: dict = field(default_factory=dict)

    @property
    def filename(self) -> str:
        """Base name of the weight file."""
        return self.weights.rstrip('/').rsplit('/', 1)[-1]


def zoo_root() -> str:
    """The folder holding ``model-index.yml`` and ``configs/``.

    Returns:
        str: ``mmpointrend/.mim`` of the installed (or checked-out) package.
    """
    package = osp.dirname(osp.dirname(osp.abspath(__file__)))
    return osp.join(package, '.mim')


def load_model_index(root: str | None = None) -> dict[str, ModelInfo]:
    """Every model of the zoo, by name.

    Args:
        root (str, optional): Folder with ``model-index.yml``; defaults to
            :func:`zoo_root`.

    Returns:
        dict[str, ModelInfo]: Entries in metafile order.
    """
    root = root or zoo_root()
    with open(osp.join(root, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    models: dict[str, ModelInfo] = {}
    for metafile in index.get('Import', []):
        with open(osp.join(root, metafile)) as f:
            meta = yaml.safe_load(f)
        for entry in meta.get('Models', []):
            info = entry.get('Metadata', {})
            results = entry.get('Results', [])
            models[entry['Name']] = ModelInfo(
                name=entry['Name'],
                config=osp.join(root, entry['Config']),
                weights=entry['Weights'],
                publisher=info.get('Publisher', 'unknown'),
                weight_format=info.get('Weight Format', 'mmpointrend'),
                hash_convention=info.get('Hash Convention', 'none'),
                results=results if isinstance(results, list) else [results],
                metadata=info,
            )
    return models


def list_models(pattern: str | None = None) -> list[str]:
    """Names of the zoo's models, optionally filtered by a regex.

    Args:
        pattern (str, optional): ``re.search`` pattern.

    Returns:
        list[str]: Matching names.
    """
    names = list(load_model_index())
    if pattern is None:
        return names
    return [n for n in names if re.search(pattern, n)]


def get_model_info(name: str) -> ModelInfo:
    """Look a model up by name (exact, then case-insensitive).

    Args:
        name (str): Model name.

    Returns:
        ModelInfo: The entry.

    Raises:
        KeyError: Unknown name; the message suggests the closest names.
    """
    models = load_model_index()
    if name in models:
        return models[name]
    lowered = {k.lower(): v for k, v in models.items()}
    if name.lower() in lowered:
        return lowered[name.lower()]
    close = difflib.get_close_matches(name, list(models), n=3, cutoff=0.5)
    hint = f' Did you mean {", ".join(close)}?' if close else ''
    raise KeyError(
        f'no model named {name!r} in the mmpointrend model zoo.{hint} '
        'mmpointrend.hub.list_models() lists them all (docs/model_zoo.md).'
    )


def cache_dir() -> str:
    """Torch hub's checkpoint folder (``$TORCH_HOME/hub/checkpoints``).

    Returns:
        str: The folder, created if missing.
    """
    from torch.hub import get_dir

    path = osp.join(get_dir(), 'checkpoints')
    os.makedirs(path, exist_ok=True)
    return path


def _digest(path: str, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def expected_prefix(filename: str, convention: str) -> tuple[str, str] | None:
    """The hash a publisher's file name promises.

    Args:
        filename (str): Weight file name.
        convention (str): A key of :data:`HASH_CONVENTIONS`.

    Returns:
        tuple[str, str] | None: ``(algorithm, hex prefix)``, or None when the
        name promises nothing verifiable.
    """
    if convention not in HASH_CONVENTIONS:
        raise ValueError(
            f'unknown hash convention {convention!r}; use one of '
            f'{sorted(HASH_CONVENTIONS)}'
        )
    rule = HASH_CONVENTIONS[convention]
    if rule is None:
        return None
    pattern, algorithm = rule
    found = re.search(pattern, filename)
    return (algorithm, found.group(1)) if found else None


def _records(folder: str) -> dict[str, str]:
    """The sha256 record of a cache folder (empty when there is none).

    Args:
        folder (str): The cache folder.

    Returns:
        dict[str, str]: ``file name -> sha256``.

    Raises:
        ChecksumError: The record exists but is not a JSON object of
            strings; the message names it and the fix.
    """
    path = osp.join(folder, _RECORD)
    if not osp.isfile(path):
        return {}
    try:
        with open(path, encoding='utf-8') as f:
            records = json.load(f)
    except (OSError, ValueError) as exc:
        records = exc
    if not isinstance(records, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in records.items()
    ):
        got = (
            records
            if isinstance(records, Exception)
            else type(records).__name__
        )
        raise ChecksumError(
            f'{path} is not a valid sha256 record (expected a JSON object '
            f'of file name -> sha256; got {got}). Delete it: the files in '
            'that folder are then verified by '
            'their names where the publisher allows, and recorded again.'
        )
    return records


def _record(folder: str, filename: str, sha256: str) -> None:
    records = _records(folder)
    records[filename] = sha256
    text = json.dumps(records, indent=1, sort_keys=True).encode()
    write_atomically(osp.join(folder, _RECORD), lambda f: f.write(text))


def verify_file(
    path: str, filename: str, convention: str, recorded: str | None = None
) -> str:
    """Check a file against its name's hash and the recorded sha256.

    Args:
        path (str): The file.
        filename (str): Its published name (carries the hash prefix).
        convention (str): The publisher's hash convention.
        recorded (str, optional): A sha256 recorded earlier for it.

    Returns:
        str: The file's full sha256.

    Raises:
        ChecksumError: A mismatch.
    """
    sha256 = _digest(path, 'sha256')
    if recorded is not None and sha256 != recorded:
        raise ChecksumError(
            f'{path} has sha256 {sha256} but {recorded} was recorded when it '
            'was first accepted: the file changed. Delete it to download it '
            'again.'
        )
    promise = expected_prefix(filename, convention)
    if promise is not None:
        algorithm, prefix = promise
        actual = sha256 if algorithm == 'sha256' else _digest(path, algorithm)
        if not actual.startswith(prefix):
            raise ChecksumError(
                f'{filename}: its name promises {algorithm} {prefix}... but '
                f'the file has {actual}: corrupt or not the published file'
            )
    return sha256


def mirrors() -> list[str]:
    """Base URLs from ``MMPOINTREND_MIRRORS``, in order.

    Entries are not checked here: a malformed one fails as that source's
    attempt (named in the final error), and the next source is tried.

    Returns:
        list[str]: The mirrors (may be empty).
    """
    raw = os.environ.get(MIRRORS_ENV, '')
    return [m.rstrip('/') for m in re.split(r'[\s,]+', raw) if m]


def _fetch(url: str, dst: str, progress: bool) -> None:
    """Stream ``url`` into ``dst`` with a progress bar.

    Args:
        url (str): Source (http, https or file URL).
        dst (str): Destination file (created or truncated).
        progress (bool): Show a progress bar.

    Raises:
        DownloadError: Any failure: a malformed URL, a refused or cut
            connection, a bad HTTP status line, fewer bytes than announced.
    """
    if not url.startswith(('http://', 'https://', 'file://')):
        raise DownloadError(
            f'{url!r} is not an http(s) or file URL (check ${MIRRORS_ENV})'
        )
    request = urllib.request.Request(
        url, headers={'User-Agent': 'mmpointrend'}
    )
    bar = None
    written, total = 0, None
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            total = response.headers.get('Content-Length')
            total = int(total) if total and total.isdigit() else None
            if progress:
                from tqdm import tqdm

                bar = tqdm(
                    total=total,
                    unit='B',
                    unit_scale=True,
                    desc=osp.basename(dst).lstrip('.'),
                )
            with open(dst, 'wb') as f:
                while True:
                    chunk = response.read(1 << 16)
                    if not chunk:
                        break
                    f.write(chunk)
                    written += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
    except DownloadError:
        raise
    except Exception as exc:  # noqa: BLE001 - URLError, HTTPException, ...
        raise DownloadError(f'{type(exc).__name__}: {exc}') from None
    finally:
        if bar is not None:
            bar.close()
    if total is not None and written != total:
        raise DownloadError(
            f'the transfer stopped after {written} of {total} bytes'
        )


def download_to(
    url: str,
    dst: str,
    check: Callable[[str], object],
    progress: bool = True,
) -> object:
    """Download ``url`` to a temporary file, check it, rename it to ``dst``.

    Nothing partial or unchecked is ever left at ``dst`` or beside it.

    Args:
        url (str): Source.
        dst (str): Final path.
        check (Callable[[str], object]): Called with the temporary file;
            raises to reject it. Its return value is returned.
        progress (bool): Show a progress bar.

    Returns:
        object: What ``check`` returned.
    """
    folder = osp.dirname(osp.abspath(dst))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{osp.basename(dst)}.')
    os.close(fd)
    try:
        _fetch(url, tmp, progress)
        result = check(tmp)
        os.replace(tmp, dst)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    return result


def download_checkpoint(
    name: str, progress: bool = True, folder: str | None = None
) -> str:
    """A verified local copy of a zoo model's weights.

    Looks in the cache, then ``MMPOINTREND_CHECKPOINT_DIR``, then downloads
    from each mirror and finally the publisher. A file is renamed to its
    final name only after verification, so an interrupted or corrupt
    download never sits in the cache.

    Args:
        name (str): Model name (see :func:`list_models`).
        progress (bool): Show a progress bar. Defaults to True.
        folder (str, optional): Cache folder; defaults to :func:`cache_dir`.

    Returns:
        str: Path of the verified file.

    Raises:
        KeyError: Unknown model name.
        ChecksumError: A cached or pre-downloaded file fails verification.
        DownloadError: No source worked; the message names the file to
            fetch by hand and where to put it.
    """
    from mmengine.logging import print_log

    info = get_model_info(name)
    folder = folder or cache_dir()
    os.makedirs(folder, exist_ok=True)
    final = osp.join(folder, info.filename)
    records = _records(folder)
    if osp.isfile(final):
        verify_file(
            final,
            info.filename,
            info.hash_convention,
            records.get(info.filename),
        )
        return final
    local_dir = os.environ.get(CHECKPOINT_DIR_ENV)
    if local_dir:
        local = osp.join(local_dir, info.filename)
        if osp.isfile(local):
            sha256 = verify_file(local, info.filename, info.hash_convention)
            with open(local, 'rb') as src:
                write_atomically(final, lambda f: shutil.copyfileobj(src, f))
            _record(folder, info.filename, sha256)
            return final
    if expected_prefix(info.filename, info.hash_convention) is None:
        warnings.warn(
            f'{info.filename}: {info.publisher} publishes no hash of the '
            'served file, so this download cannot be verified; its sha256 '
            f'is recorded in {osp.join(folder, _RECORD)} and checked on '
            'every later use',
            stacklevel=2,
        )
    sources = [f'{m}/{info.filename}' for m in mirrors()] + [info.weights]
    errors = []
    for url in sources:
        try:
            sha256 = download_to(
                url,
                final,
                lambda tmp: verify_file(
                    tmp, info.filename, info.hash_convention
                ),
                progress,
            )
        except (OSError, DownloadError, ChecksumError) as exc:
            # the next source is tried; nothing partial is kept
            errors.append(f'{url}: {exc}')
            continue
        _record(folder, info.filename, sha256)
        print_log(f'{name}: {final} (sha256 {sha256})', logger='current')
        return final
    tried = '\n  '.join(errors)
    raise DownloadError(
        f'could not get {info.filename} for {name}; tried:\n  {tried}\n'
        f'Without network: download {info.weights} elsewhere and put it at '
        f'{final} (or into ${CHECKPOINT_DIR_ENV}); set ${MIRRORS_ENV} to use '
        'a mirror.'
    )


def resolve(model: str) -> tuple[str, str | None, ModelInfo | None]:
    """A config path, or a zoo name, to ``(config, weights, info)``.

    Args:
        model (str): Config file path or zoo model name.

    Returns:
        tuple: The config path, the zoo checkpoint URL (None for a config
        path) and the zoo entry (None for a config path).
    """
    if osp.isfile(model):
        return model, None, None
    info = get_model_info(model)
    return info.config, info.weights, info


def main(argv: list[str] | None = None) -> int:
    """``python -m mmpointrend.hub {list,download}``: the zoo from a shell.

    Works for every kind of install (``mim download`` needs a wheel
    install: openmim looks for the package beside its installed metadata,
    which an editable install does not have).

    Args:
        argv (list[str], optional): Arguments; defaults to ``sys.argv[1:]``.

    Returns:
        int: Exit status (0 ok, 1 download failed, 2 unknown name).
    """
    import argparse

    parser = argparse.ArgumentParser(
        prog='python -m mmpointrend.hub',
        description='List the model zoo or download verified weights.',
    )
    sub = parser.add_subparsers(dest='command', required=True)
    ls = sub.add_parser('list', help='model names (optionally filtered)')
    ls.add_argument('pattern', nargs='?', help='regex, e.g. cityscapes')
    dl = sub.add_parser('download', help='download and verify weights')
    dl.add_argument('names', nargs='+', help='model names')
    dl.add_argument(
        '--dest', help='folder for the files (default: the torch hub cache)'
    )
    args = parser.parse_args(argv)
    if args.command == 'list':
        for name in list_models(args.pattern):
            print(name)
        return 0
    for name in args.names:
        try:
            print(download_checkpoint(name, folder=args.dest))
        except KeyError as exc:
            print(f'error: {exc.args[0]}', file=sys.stderr)
            return 2
        except (DownloadError, ChecksumError) as exc:
            print(f'error: {exc}', file=sys.stderr)
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
