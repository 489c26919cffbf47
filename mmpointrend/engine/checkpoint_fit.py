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
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn

from mmpointrend.registry import HOOKS

#: Default least share of the model's weights (by element count) that a
#: checkpoint must provide with matching names and shapes.
DEFAULT_MIN_FIT = 0.5


class CheckpointMismatchError(ValueError):
    """A checkpoint covers too little of the model it is loaded into."""


def _prefixes(
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
    _refuse_misfit(fit, min_fit, source)
    return fit[0]


def _refuse_misfit(
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
            f'are missing, e.g. {_prefixes(missing)}; {len(unexpected)} '
            f'checkpoint keys are unexpected, e.g. {_prefixes(unexpected)}'
            + (
                f'; {len(wrong_shape)} have another shape, e.g. '
                f'{_prefixes(wrong_shape)}'
                if wrong_shape
                else ''
            )
            + '. Is it a checkpoint of this config '
            '(semantic vs instance, backbone, class count)? Foreign '
            'PointRend checkpoints need tools/model_converters first. To '
            'load a small part on purpose (e.g. a backbone only), lower '
            'CheckpointFitHook min_fit with --cfg-options.'
        )


def _refuse_foreign_resume(
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
        f'e.g. {_prefixes(missing)}; {len(wrong_shape)} of another shape, '
        f'e.g. {_prefixes(wrong_shape)}; {len(unexpected)} unexpected, e.g. '
        f'{_prefixes(unexpected)}). Resume with a checkpoint this config '
        'wrote (its work_dir), or start from those weights with '
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


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Raise when ``load_from`` / ``--resume`` / a test checkpoint misfits.

    ``tools/test.py`` sets ``min_fit=1.0``: every weight of an evaluated
    model must come from the checkpoint. Training (``load_from``) accepts
    partial checkpoints down to ``min_fit`` and logs the share.

    Args:
        min_fit (float): See :func:`check_checkpoint_fit`. Defaults to 0.5.
    """

    priority = 'VERY_HIGH'

    def __init__(self, min_fit: float = DEFAULT_MIN_FIT) -> None:
        self.min_fit = min_fit

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Check the checkpoint against the runner's model before loading.

        Args:
            runner (Runner): The runner.
            checkpoint (dict): The loaded checkpoint.
        """
        from mmengine.model import BaseTTAModel

        state = checkpoint.get('state_dict', checkpoint)
        source = checkpoint.get('meta', {}).get('converted_from') or (
            runner._load_from or 'the checkpoint'
        )
        model = runner.model
        if isinstance(model, BaseTTAModel):
            # --tta: the runner loads the weights into the wrapped model.
            model = model.module
        fit = checkpoint_fit(model, state)
        if getattr(runner, '_resume', False):
            _refuse_foreign_resume(fit, str(source))
        _refuse_misfit(fit, self.min_fit, str(source))
        share, missing, wrong_shape, _ = fit
        if share < 1.0:
            # e.g. fine-tuning on another class count: the class-specific
            # layers have another shape and keep their initialisation.
            runner.logger.warning(
                f'checkpoint covers {share:.1%} of the model weights; not '
                f'loaded (another shape): {_prefixes(wrong_shape, None)}; '
                f'not loaded (missing): {_prefixes(missing, None)}'
            )


def load_checked_checkpoint(
    model: nn.Module,
    filename: str,
    min_fit: float = DEFAULT_MIN_FIT,
    map_location: str = 'cpu',
) -> dict:
    """Load a checkpoint into a model after :func:`check_checkpoint_fit`.

    Reads through MMEngine's loaders (so safely, see
    :mod:`mmpointrend.utils.checkpoint`) and refuses a misfit before any
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
    _load_checkpoint_to_model(model, checkpoint)
    return checkpoint
