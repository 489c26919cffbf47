"""Build-time argument checks shared by the heads."""

from __future__ import annotations


def check_positive_ints(owner: str, **values: object) -> None:
    """Raise a ValueError naming every argument that is not an int >= 1.

    Args:
        owner (str): Component name for the message (e.g. ``'PointMLP'``).
        **values (object): ``name=value`` pairs to check.
    """
    bad = {
        name: value
        for name, value in values.items()
        if not isinstance(value, int) or isinstance(value, bool) or value < 1
    }
    if bad:
        listed = ', '.join(f'{k}={v!r}' for k, v in bad.items())
        raise ValueError(
            f'{owner}: {listed}: channel and class counts must be positive '
            'integers; check these config values'
        )
