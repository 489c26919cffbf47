"""Type aliases shared across mmpointrend."""

from __future__ import annotations

from typing import Optional, Union

from mmengine.config import ConfigDict

ConfigType = Union[ConfigDict, dict]
OptConfigType = Optional[ConfigType]
MultiConfig = Union[ConfigType, list[ConfigType]]
OptMultiConfig = Optional[MultiConfig]

__all__ = ['ConfigType', 'OptConfigType', 'MultiConfig', 'OptMultiConfig']
