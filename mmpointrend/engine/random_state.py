"""Save and restore every random number generator, so resume is exact.

MMEngine 0.10 resumes weights, optimizer, schedulers and the iteration
count, and replays the data loader up to the checkpoint, but it re-seeds the
generators instead of restoring them: the point sampler's random points,
dropout and the data augmentation then differ from the uninterrupted run.
:class:`RandomStateHook` stores the Python, NumPy, torch (and CUDA) states of
every rank in each checkpoint and restores them where the uninterrupted run
would be: after the data loader has been replayed, right before the first
new batch is read. Validation runs on a fork of the generators, so whether
and when it runs never changes training.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import CheckpointHook, Hook
from mmengine.runner import IterBasedTrainLoop

from mmpointrend.registry import HOOKS

#: Key of the per-rank states in a checkpoint.
CHECKPOINT_KEY = 'rng_states'


def capture_random_state() -> dict[str, Any]:
    """This process's generator states, in weights-only loadable types.

    Returns:
        dict: ``python`` (tuple of ints), ``numpy`` (dict with a tensor key),
        ``torch`` and optionally ``cuda`` (byte tensors).
    """
    np_state = np.random.get_state(legacy=False)
    np_state['state']['key'] = torch.from_numpy(
        np_state['state']['key'].astype(np.int64)
    )
    state = dict(
        python=random.getstate(),
        numpy=np_state,
        torch=torch.get_rng_state(),
    )
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_random_state(state: dict[str, Any]) -> None:
    """Set this process's generators to a :func:`capture_random_state`.

    Args:
        state (dict): A captured state.
    """
    py = state['python']
    random.setstate((py[0], tuple(py[1]), py[2]))
    np_state = dict(state['numpy'])
    inner = dict(np_state['state'])
    inner['key'] = np.asarray(inner['key'], dtype=np.int64).astype(np.uint32)
    np_state['state'] = inner
    np.random.set_state(np_state)
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


class _RestoreAfter:
    """Iterator proxy: restore the generators after ``skip`` items.

    MMEngine's iteration loop replays ``skip`` batches after resuming; the
    states must be restored after that replay (which consumes the data
    pipeline's randomness again) and before the next batch is read.
    """

    def __init__(self, inner: Iterator, skip: int, state: dict) -> None:
        self.inner, self.skip, self.state = inner, skip, state

    def __iter__(self) -> _RestoreAfter:
        return self

    def __next__(self) -> Any:
        if self.skip == 0 and self.state is not None:
            restore_random_state(self.state)
            self.state = None
        self.skip -= 1
        return next(self.inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Store per-rank generator states in checkpoints; restore on resume.

    States are captured on every rank (and gathered to rank 0, which writes
    the checkpoint) only in iterations or epochs whose end saves a
    checkpoint, so the hook costs nothing in the others.
    """

    # Before CheckpointHook (VERY_LOW), so the states are captured at the end
    # of the step that the checkpoint records.
    priority = 'NORMAL'

    def __init__(self) -> None:
        self._captured: list | None = None
        self._loaded: list | None = None
        self._val_fork: dict | None = None
        self._restore_epoch: dict | None = None

    # -- saving ---------------------------------------------------------------
    def _will_save(self, runner, by_epoch: bool) -> bool:
        for hook in runner.hooks:
            if (
                not isinstance(hook, CheckpointHook)
                or hook.by_epoch != by_epoch
            ):
                continue
            if by_epoch:
                due = hook.every_n_epochs(
                    runner, hook.interval, hook.save_begin
                ) or (hook.save_last and hook.is_last_train_epoch(runner))
            else:
                due = hook.every_n_train_iters(
                    runner, hook.interval, hook.save_begin
                ) or (hook.save_last and hook.is_last_train_iter(runner))
            if due:
                return True
        return False

    def _capture(self) -> None:
        state = capture_random_state()
        _, world_size = get_dist_info()
        self._captured = (
            all_gather_object(state) if world_size > 1 else [state]
        )

    def after_train_iter(
        self, runner, batch_idx: int, data_batch=None, outputs=None
    ) -> None:
        """Capture the states when this iteration ends with a checkpoint.

        Args:
            runner (Runner): The runner.
            batch_idx (int): Index of the batch.
            data_batch (Any): Unused.
            outputs (Any): Unused.
        """
        if self._will_save(runner, by_epoch=False):
            self._capture()

    def after_train_epoch(self, runner) -> None:
        """Capture the states when this epoch ends with a checkpoint.

        Args:
            runner (Runner): The runner.
        """
        if self._will_save(runner, by_epoch=True):
            self._capture()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Write the captured states into the checkpoint.

        Args:
            runner (Runner): The runner.
            checkpoint (dict): The checkpoint being saved.
        """
        if self._captured is not None:
            checkpoint[CHECKPOINT_KEY] = self._captured

    # -- validation on a fork ------------------------------------------------
    def before_val(self, runner) -> None:
        """Fork the generators: validation must not change training.

        Args:
            runner (Runner): The runner.
        """
        self._val_fork = capture_random_state()

    def after_val(self, runner) -> None:
        """Return to the training generators.

        Args:
            runner (Runner): The runner.
        """
        if self._val_fork is not None:
            restore_random_state(self._val_fork)
            self._val_fork = None

    # -- resuming -------------------------------------------------------------
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep this rank's saved states for :meth:`before_train`.

        Args:
            runner (Runner): The runner.
            checkpoint (dict): The loaded checkpoint.
        """
        self._loaded = checkpoint.get(CHECKPOINT_KEY)

    def before_train(self, runner) -> None:
        """Schedule the restore when this run resumes a checkpoint.

        Args:
            runner (Runner): The runner.
        """
        states, self._loaded = self._loaded, None
        if not states or (runner.iter == 0 and runner.epoch == 0):
            return  # a fresh run, or load_from (weights only)
        rank, world_size = get_dist_info()
        if len(states) != world_size:
            runner.logger.warning(
                f'the checkpoint holds random states of {len(states)} '
                f'processes but {world_size} are running: generators are '
                'reseeded, so this run will not replay the interrupted one'
            )
            return
        loop = runner.train_loop
        if isinstance(loop, IterBasedTrainLoop):
            loop.dataloader_iterator = _RestoreAfter(
                loop.dataloader_iterator, runner.iter, states[rank]
            )
        else:  # epoch loop: the next epoch starts from the saved state
            self._restore_epoch = states[rank]

    def before_train_epoch(self, runner) -> None:
        """Restore the states at the first epoch after an epoch resume.

        Args:
            runner (Runner): The runner.
        """
        if self._restore_epoch is not None:
            restore_random_state(self._restore_epoch)
            self._restore_epoch = None
