"""The per-point MLP of PointRend, shared by semantic and instance heads."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmpointrend.registry import MODELS
from mmpointrend.utils.typing_utils import OptMultiConfig
from mmpointrend.utils.validation import check_positive_ints


@MODELS.register_module()
class PointMLP(BaseModule):
    """Shared multi-layer perceptron over point features (paper section 3.3).

    ``x = cat(fine, coarse)``; each hidden layer is a 1x1 ``Conv1d`` + ReLU,
    optionally followed by re-concatenating the K coarse logits
    (``coarse_pred_each_layer``); a final 1x1 ``Conv1d`` predicts the logits.

    Args:
        fine_channels (int): Channels of the fine-grained point features
            (the sum over all selected levels).
        coarse_channels (int): Channels of the coarse prediction, ``K``.
        out_channels (int): Output logits per point.
        fc_channels (int): Width of the hidden layers. Defaults to 256.
        num_fcs (int): Number of hidden layers. Defaults to 3.
        coarse_pred_each_layer (bool): Concatenate the coarse logits after
            every hidden layer, not only at the input. Defaults to True.
        dropout_ratio (float): Dropout before the predictor; ``<= 0`` turns it
            off. Defaults to 0.
        predictor_std (float): Std of the normal init of the predictor.
            Defaults to 0.001 (detectron2, mmdet; mmseg uses 0.01).
        use_gemm (bool): Evaluate every layer as one GEMM over all points
            (about 2x faster on CPU). False evaluates ``Conv1d`` on the
            concatenated input exactly as detectron2/mmseg/mmdet do, which
            reproduces their arithmetic bit for bit: use it when comparing
            against them, since rounding differences of ~1e-7 can flip a
            near-tie in the top-k point selection. Defaults to True.
        init_cfg (dict | list[dict], optional): MMEngine init config.
    """

    def __init__(
        self,
        fine_channels: int,
        coarse_channels: int,
        out_channels: int,
        fc_channels: int = 256,
        num_fcs: int = 3,
        coarse_pred_each_layer: bool = True,
        dropout_ratio: float = 0.0,
        predictor_std: float = 0.001,
        use_gemm: bool = True,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        check_positive_ints(
            'point head',
            in_channels=fine_channels,
            coarse_channels=coarse_channels,
            out_channels=out_channels,
            fc_channels=fc_channels,
        )
        if not isinstance(num_fcs, int) or num_fcs < 0:
            raise ValueError(
                f'point head: num_fcs must be >= 0, got {num_fcs}'
            )
        super().__init__(init_cfg)
        self.use_gemm = use_gemm
        self.coarse_pred_each_layer = coarse_pred_each_layer
        self.predictor_std = predictor_std
        self.fine_channels = fine_channels
        self.coarse_channels = coarse_channels
        self.out_channels = out_channels
        extra = coarse_channels if coarse_pred_each_layer else 0
        in_ch = fine_channels + coarse_channels
        self.fcs = nn.ModuleList()
        for _ in range(num_fcs):
            self.fcs.append(nn.Conv1d(in_ch, fc_channels, 1))
            in_ch = fc_channels + extra
        self.dropout = (
            nn.Dropout(dropout_ratio) if dropout_ratio > 0 else nn.Identity()
        )
        self.predictor = nn.Conv1d(in_ch, out_channels, 1)

    def init_weights(self) -> None:
        """Kaiming (fan-out) hidden layers, small normal predictor."""
        super().init_weights()
        if self.init_cfg is not None:
            return
        for fc in self.fcs:
            nn.init.kaiming_normal_(
                fc.weight, mode='fan_out', nonlinearity='relu'
            )
            nn.init.zeros_(fc.bias)
        nn.init.normal_(self.predictor.weight, std=self.predictor_std)
        nn.init.zeros_(self.predictor.bias)

    def project_fine(self, feats: Sequence[Tensor]) -> list[Tensor] | None:
        """The first hidden layer's fine-feature term, over whole maps.

        Bilinear sampling is linear and zero outside the map, so
        ``W @ sample(F, p) == sample(W @ F, p)`` for the first layer's fine
        block ``W`` (the bias is added after sampling). When a render reads
        many more points than the maps have pixels (instance refinement:
        about 3000 points per detection), multiplying the maps once is
        cheaper than multiplying every point, and the result comes out
        channels-last, which ``grid_sample`` reads several times faster than
        a channels-first map. Only float rounding changes.

        Args:
            feats (Sequence[Tensor]): Fine-grained levels, (B, C_l, H_l, W_l),
                whose channels sum to ``fine_channels``.

        Returns:
            list[Tensor] | None: One (B, fc_channels, H_l, W_l) channels-last
            map per level, to be sampled and summed and passed with
            ``fine_projected=True``; None when the MLP has no hidden layer
            or runs the ``Conv1d`` path.
        """
        if not self.fcs or not self.use_gemm:
            return None
        self._check_fine_channels(sum(f.shape[1] for f in feats))
        weight = self.fcs[0].weight[:, :, 0]
        maps, start = [], 0
        for feat in feats:
            batch, channels, height, width = feat.shape
            block = weight[:, start : start + channels].to(feat.dtype)
            start += channels
            # (B, HW, C) @ (C, C_out): rows are pixels, so the product is
            # laid out channels-last without a transposing copy.
            rows = torch.matmul(feat.flatten(2).transpose(1, 2), block.t())
            maps.append(
                rows.view(batch, height, width, -1).permute(0, 3, 1, 2)
            )
        return maps

    def _check_fine_channels(self, channels: int) -> None:
        if channels != self.fine_channels:
            raise ValueError(
                f'point head expects {self.fine_channels} fine-grained '
                f'channels but the selected levels give {channels}; '
                'make in_channels list the channels of the levels named in '
                'in_index'
            )

    def forward(
        self,
        fine: Tensor,
        coarse: Tensor,
        out_index: Tensor | None = None,
        fine_projected: bool = False,
    ) -> Tensor:
        """Predict logits at points.

        Args:
            fine (Tensor): (B, C_fine, P) fine-grained point features, or
                with ``fine_projected`` (B, fc_channels, P) samples of the
                maps of :meth:`project_fine`.
            coarse (Tensor): (B, K, P) coarse logits at the same points.
            out_index (Tensor, optional): (B,) one output channel per row
                (e.g. the predicted class of each detection). Only that
                channel's predictor row is evaluated.
            fine_projected (bool): ``fine`` holds the first layer's fine
                term. Defaults to False.

        Returns:
            Tensor: (B, out_channels, P) point logits, or (B, 1, P) when
            ``out_index`` is given.
        """
        if fine_projected:
            if not self.fcs or not self.use_gemm:
                raise ValueError(
                    'fine_projected needs the GEMM path and a hidden layer; '
                    'pass the raw features (project_fine returned None)'
                )
        else:
            self._check_fine_channels(fine.shape[1])
        if not self.use_gemm:
            return self._forward_conv(fine, coarse, out_index)
        batch, _, num_points = fine.shape
        # Work on a (B * P, C) matrix of points: one large GEMM per layer is
        # about 2x faster on CPU than a batched 1x1 Conv1d over (B, C, P)
        # for the same arithmetic.
        # Explicit widths (not -1): an empty batch must reshape too.
        x = fine.transpose(1, 2).reshape(batch * num_points, fine.shape[1])
        rows = (
            coarse.to(fine.dtype)
            .transpose(1, 2)
            .reshape(batch * num_points, coarse.shape[1])
        )
        coarse_rows: Tensor | None = rows
        for i, fc in enumerate(self.fcs):
            x = torch.relu_(
                self._affine(fc, x, coarse_rows, fine_projected and i == 0)
            )
            if not self.coarse_pred_each_layer:
                coarse_rows = None
        x = self.dropout(x)
        if out_index is None:
            out = self._affine(self.predictor, x, coarse_rows)
            return out.view(batch, num_points, out.shape[1]).transpose(1, 2)
        # Only the requested output channel of each row: its predictor row.
        weight = self.predictor.weight[out_index.long(), :, 0]  # (B, C_in)
        width = x.shape[1]
        out = torch.einsum(
            'bpc,bc->bp', x.view(batch, num_points, width), weight[:, :width]
        )
        if coarse_rows is not None:
            out = out + torch.einsum(
                'bpk,bk->bp',
                coarse_rows.view(batch, num_points, coarse_rows.shape[1]),
                weight[:, width:],
            )
        return (out + self.predictor.bias[out_index.long(), None])[:, None]

    def _forward_conv(
        self, fine: Tensor, coarse: Tensor, out_index: Tensor | None
    ) -> Tensor:
        """The reference implementations' arithmetic (``use_gemm=False``).

        Args:
            fine (Tensor): (B, C_fine, P) fine-grained point features.
            coarse (Tensor): (B, K, P) coarse logits.
            out_index (Tensor, optional): (B,) output channel per row.

        Returns:
            Tensor: (B, out_channels, P), or (B, 1, P) with ``out_index``.
        """
        coarse = coarse.to(fine.dtype)
        x = torch.cat((fine, coarse), dim=1)
        for fc in self.fcs:
            x = torch.relu(fc(x))
            if self.coarse_pred_each_layer:
                x = torch.cat((x, coarse), dim=1)
        out = self.predictor(self.dropout(x))
        if out_index is None:
            return out
        rows = torch.arange(out.shape[0], device=out.device)
        return out[rows, out_index.long()][:, None]

    @staticmethod
    def _affine(
        layer: nn.Conv1d,
        x: Tensor,
        coarse: Tensor | None,
        projected: bool = False,
    ) -> Tensor:
        """``layer(cat(x, coarse))`` on point rows, without the concatenation.

        ``W @ cat(x, c) = W[:, :C] @ x + W[:, C:] @ c``: applying the two
        column blocks of the weight separately avoids copying every point's
        features once per layer.

        Args:
            layer (nn.Conv1d): 1x1 layer whose input is ``cat(x, coarse)``.
            x (Tensor): (N, C) point features, one row per point; with
                ``projected``, (N, C_out) rows that already hold
                ``W[:, :C] @ x``.
            coarse (Tensor, optional): (N, K) coarse logits, or None when
                the layer reads ``x`` only.
            projected (bool): ``x`` is already multiplied by the layer's
                fine block. Defaults to False.

        Returns:
            Tensor: (N, C_out).
        """
        weight = layer.weight[:, :, 0]
        width = weight.shape[1] - (0 if coarse is None else coarse.shape[1])
        if projected:
            if coarse is None:
                out = x.clone(memory_format=torch.contiguous_format)
            else:
                out = torch.mm(coarse, weight[:, width:].t().to(coarse.dtype))
                out.add_(x)
            return out.add_(layer.bias.to(out.dtype))
        # mm then add_: ``addmm(bias, ...)`` first copies the broadcast bias
        # into the output, a strided copy as slow as a third of the GEMM.
        out = torch.mm(x, weight[:, :width].t())
        if coarse is not None:
            # In-place ops are outside autocast's casting rules: under
            # fp16/bf16 autocast ``out`` is already low precision, so the
            # operands must follow it (a no-op in fp32).
            out.addmm_(
                coarse.to(out.dtype), weight[:, width:].t().to(out.dtype)
            )
        return out.add_(layer.bias.to(out.dtype))


def build_point_mlp(
    cfg: dict,
    fine_channels: int,
    coarse_channels: int,
    out_channels: int,
) -> BaseModule:
    """Build a point head's MLP component with the channels it must use.

    Args:
        cfg (dict): The MLP config (``type`` and its own arguments).
        fine_channels (int): Fine-grained input channels.
        coarse_channels (int): Coarse-logit input channels.
        out_channels (int): Logits per point.

    Returns:
        BaseModule: The MLP, with ``out_channels`` set.
    """
    mlp = MODELS.build(
        dict(
            cfg,
            fine_channels=fine_channels,
            coarse_channels=coarse_channels,
            out_channels=out_channels,
        )
    )
    if getattr(mlp, 'out_channels', out_channels) != out_channels:
        raise ValueError(
            f'{type(mlp).__name__} has out_channels={mlp.out_channels}; a '
            f'point MLP built with out_channels={out_channels} must predict '
            'that many logits per point'
        )
    mlp.out_channels = out_channels
    return mlp
