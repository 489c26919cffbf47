"""Mixed precision where MMEngine's ``AmpOptimWrapper`` does not run: CPUs.

MMEngine 0.10's ``AmpOptimWrapper`` asserts a GPU/NPU/MLU. On a CPU,
bfloat16 autocast needs no loss scaling (bf16 has float32's exponent range),
so a plain optimizer step inside ``torch.autocast('cpu', torch.bfloat16)``
is all mixed precision takes. ``tools/train.py --amp`` picks this wrapper
on machines without CUDA.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from mmpointrend.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAutocastOptimWrapper(OptimWrapper):
    """Optimizer wrapper that runs forward passes under CPU bf16 autocast.

    Args:
        dtype (str): Autocast dtype; only ``'bfloat16'`` (fp16 on CPU would
            need loss scaling). Defaults to ``'bfloat16'``.
        **kwargs: Passed to :class:`mmengine.optim.OptimWrapper`.
    """

    def __init__(self, dtype: str = 'bfloat16', **kwargs) -> None:
        if dtype != 'bfloat16':
            raise ValueError(
                f"CPUAutocastOptimWrapper supports dtype='bfloat16' only, "
                f'got {dtype!r}: float16 needs loss scaling, which '
                "MMEngine's AmpOptimWrapper provides on GPUs"
            )
        super().__init__(**kwargs)
        self.cast_dtype = torch.bfloat16

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """Gradient-accumulation context of the parent, plus autocast.

        Args:
            model (nn.Module): The trained model.

        Yields:
            None.
        """
        with (
            super().optim_context(model),
            torch.autocast(device_type='cpu', dtype=self.cast_dtype),
        ):
            yield
