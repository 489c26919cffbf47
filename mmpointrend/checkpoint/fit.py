"""Refuse checkpoints that do not fit the model instead of loading nothing.

MMEngine loads a checkpoint non-strictly and only logs the keys it could not
use, so a semantic checkpoint given to an instance config "loads" with every
key missing, ``tools/test.py`` reports mAP 0 and ``load_from=`` trains from
scratch. :func:`check_checkpoint_fit` measures how much of the model a state
dict covers and raises, naming the key prefixes that differ, when the share is
below a threshold (fine-tuning with new class-specific layers still passes:
they are a small share of the weights).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

import torch
from mmengine.model import is_model_wrapper
from torch import nn

#: Default least share of the model's weights (by element count) that a
#: checkpoint must provide with matching names and shapes.
DEFAULT_MIN_FIT = 0.5


class CheckpointMismatchError(ValueError):
    """A checkpoint covers too little of the model it is loaded into."""


def key_prefixes(
    keys: Iterable[str], depth: int | None = 2, most: int = 6
) -> str:
    """``prefix.* (count)`` list of keys; ``depth=None``: their modules."""
    counts = Counter(
        k.rsplit('.', 1)[0]
        if depth is None
        else '.'.join(k.split('.')[:depth])
        for k in keys
    )
    listed = ', '.join(f'{p}.* ({n})' for p, n in counts.most_common(most))
    if len(counts) > most:
        listed += f', ... ({len(counts) - most} more prefixes)'
    return listed or 'none'


def check_checkpoint_fit(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    min_fit: float = DEFAULT_MIN_FIT,
    source: str = 'the checkpoint',
    revise_keys: Iterable[tuple[str, str]] = ((r'^module\.', ''),),
) -> float:
    """Share of the model's weights that ``state_dict`` provides.

    Args:
        model (nn.Module): Model to load into (unwrapped or wrapped).
        state_dict (Mapping[str, Tensor]): Weights to load.
        min_fit (float): Least acceptable share in ``[0, 1]``; 0 disables
            the check. Defaults to 0.5.
        source (str): Name of the checkpoint, for the message.
        revise_keys (Iterable[tuple[str, str]]): Regex renames applied to
            the keys first, as MMEngine does. Defaults to stripping
            ``module.``.

    Returns:
        float: Share of model elements (parameters and buffers) with a key of
        the same name and shape in ``state_dict``.

    Raises:
        CheckpointMismatchError: The share is below ``min_fit``.
    """
    fit = checkpoint_fit(model, state_dict, revise_keys)
    refuse_misfit(fit, min_fit, source)
    return fit[0]


def refuse_misfit(
    fit: tuple[float, list[str], list[str], list[str]],
    min_fit: float,
    source: str,
) -> None:
    """Raise when a :func:`checkpoint_fit` result is below ``min_fit``."""
    if not 0.0 <= min_fit <= 1.0:
        raise ValueError(f'min_fit must be in [0, 1], got {min_fit}')
    share, missing, wrong_shape, unexpected = fit
    if share < min_fit:
        raise CheckpointMismatchError(
            f'{source} fits only {share:.1%} of the model (by weight count; '
            f'at least {min_fit:.0%} required): {len(missing)} model keys '
            f'are missing, e.g. {key_prefixes(missing)}; {len(unexpected)} '
            f'checkpoint keys are unexpected, e.g. {key_prefixes(unexpected)}'
            + (
                f'; {len(wrong_shape)} have another shape, e.g. '
                f'{key_prefixes(wrong_shape)}'
                if wrong_shape
                else ''
            )
            + '. Is it a checkpoint of this config '
            '(semantic vs instance, backbone, class count)? Foreign '
            'PointRend checkpoints need tools/model_converters first. To '
            'load a small part on purpose (e.g. a backbone only), lower '
            'CheckpointFitHook min_fit with --cfg-options.'
        )


def refuse_foreign_resume(
    fit: tuple[float, list[str], list[str], list[str]], source: str
) -> None:
    """``--resume`` continues the same model: every key must match.

    Without this, a checkpoint of another model gets as far as the
    optimizer, whose error ("loaded state dict contains a parameter group
    that doesn't match the size of optimizer's group") names neither file.
    """
    share, missing, wrong_shape, unexpected = fit
    # BN's batch counters are bookkeeping, not weights (see checkpoint_fit).
    unexpected = [
        k for k in unexpected if not k.endswith('num_batches_tracked')
    ]
    if share == 1.0 and not unexpected:
        return
    raise CheckpointMismatchError(
        f'--resume {source}: it is not a checkpoint of this model '
        f'({share:.1%} of the weights match; {len(missing)} keys missing, '
        f'e.g. {key_prefixes(missing)}; {len(wrong_shape)} of another shape, '
        f'e.g. {key_prefixes(wrong_shape)}; {len(unexpected)} unexpected, '
        f'e.g. {key_prefixes(unexpected)}). Resume with a checkpoint this '
        'config wrote (its work_dir), or start from those weights with '
        '--cfg-options load_from=... instead of --resume.'
    )


def checkpoint_fit(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    revise_keys: Iterable[tuple[str, str]] = ((r'^module\.', ''),),
) -> tuple[float, list[str], list[str], list[str]]:
    """How a state dict covers a model, key by key.

    Args:
        model (nn.Module): Model to load into (unwrapped or wrapped).
        state_dict (Mapping[str, Tensor]): Weights to load.
        revise_keys (Iterable[tuple[str, str]]): See
            :func:`check_checkpoint_fit`.

    Returns:
        tuple: The share of model elements provided with matching name and
        shape, then the model keys that are missing, those with another
        shape, and the checkpoint keys the model does not have.
    """
    if is_model_wrapper(model):
        model = model.module
    revised = {}
    for key, value in state_dict.items():
        for pattern, repl in revise_keys:
            key = re.sub(pattern, repl, key)
        revised[key] = value
    # BN's num_batches_tracked counters are bookkeeping, not weights.
    expected = {
        k: v
        for k, v in model.state_dict().items()
        if not k.endswith('num_batches_tracked')
    }
    total = sum(v.numel() for v in expected.values()) or 1
    fitting = 0
    missing, wrong_shape = [], []
    for key, value in expected.items():
        theirs = revised.get(key)
        if theirs is None or not hasattr(theirs, 'shape'):
            missing.append(key)
        elif tuple(theirs.shape) != tuple(value.shape):
            wrong_shape.append(key)
        else:
            fitting += value.numel()
    share = fitting / total
    unexpected = [k for k in revised if k not in expected]
    return share, missing, wrong_shape, unexpected


def load_checked_checkpoint(
    model: nn.Module,
    filename: str,
    min_fit: float = DEFAULT_MIN_FIT,
    map_location: str = 'cpu',
) -> dict:
    """Load a checkpoint into a model after :func:`check_checkpoint_fit`.

    Reads through MMEngine's loaders (so safely, see
    :mod:`mmpointrend.checkpoint.loading`) and refuses a misfit before any
    weight is copied.

    Args:
        model (nn.Module): Target model.
        filename (str): Checkpoint path or URL.
        min_fit (float): See :func:`check_checkpoint_fit`. Defaults to 0.5.
        map_location (str): Device of the loaded tensors. Defaults to
            ``'cpu'``.

    Returns:
        dict: The loaded checkpoint.
    """
    from mmengine.runner.checkpoint import (
        _load_checkpoint,
        _load_checkpoint_to_model,
    )

    checkpoint = _load_checkpoint(filename, map_location=map_location)
    if not isinstance(checkpoint, dict):
        raise CheckpointMismatchError(
            f'{filename} holds a {type(checkpoint).__name__}, not a '
            'checkpoint dict'
        )
    check_checkpoint_fit(
        model,
        checkpoint.get('state_dict', checkpoint),
        min_fit,
        source=filename,
    )
    warn_normalisation_mismatch(model, checkpoint, filename)
    _load_checkpoint_to_model(model, checkpoint)
    return checkpoint


def warn_normalisation_mismatch(
    model: nn.Module, checkpoint: dict, source: str
) -> None:
    """Warn when a converted checkpoint expects another input normalisation.

    Args:
        model (nn.Module): Target model (unwrapped or wrapped).
        checkpoint (dict): The loaded checkpoint.
        source (str): Its name, for the message.
    """
    import warnings

    from mmpointrend.checkpoint.foreign import normalisation_mismatch

    if is_model_wrapper(model):
        model = model.module
    problem = normalisation_mismatch(checkpoint.get('meta') or {}, model)
    if problem:
        warnings.warn(f'{source}: {problem}', UserWarning, stacklevel=2)
