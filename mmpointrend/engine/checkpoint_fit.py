"""The runner hook that refuses checkpoints which do not fit the model.

The measurement itself is :mod:`mmpointrend.checkpoint.fit`; this hook runs
it on every checkpoint MMEngine loads (``load_from``, ``--resume``,
``tools/test.py``) before a weight is copied.
"""

from __future__ import annotations

from mmengine.hooks import Hook

from mmpointrend.checkpoint.fit import (
    DEFAULT_MIN_FIT,
    checkpoint_fit,
    key_prefixes,
    refuse_foreign_resume,
    refuse_misfit,
    warn_normalisation_mismatch,
)
from mmpointrend.registry import HOOKS


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
            refuse_foreign_resume(fit, str(source))
        refuse_misfit(fit, self.min_fit, str(source))
        warn_normalisation_mismatch(model, checkpoint, str(source))
        share, missing, wrong_shape, _ = fit
        if share < 1.0:
            # e.g. fine-tuning on another class count: the class-specific
            # layers have another shape and keep their initialisation.
            runner.logger.warning(
                f'checkpoint covers {share:.1%} of the model weights; not '
                f'loaded (another shape): {key_prefixes(wrong_shape, None)}; '
                f'not loaded (missing): {key_prefixes(missing, None)}'
            )
