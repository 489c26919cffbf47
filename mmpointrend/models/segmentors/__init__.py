"""Segmentors."""

from .pointrend_encoder_decoder import PointRendEncoderDecoder

__all__ = ['PointRendEncoderDecoder']
