"""Build-time argument checks shared by the heads."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping


def check_positive_ints(owner: str, **values: object) -> None:
    """Raise a ValueError naming every argument that is not an int >= 1.

    Args:
        owner (str): Component name for the message (e.g. ``'PointMLP'``).
        **values (object): ``name=value`` pairs to check.
    """
    _check_ints(owner, 1, 'positive integers', values)


def check_counts(owner: str, **values: object) -> None:
    """Raise a ValueError naming every argument that is not an int >= 0.

    Args:
        owner (str): Component name for the message.
        **values (object): ``name=value`` pairs to check (layer counts).
    """
    _check_ints(owner, 0, 'integers >= 0', values)


def _check_ints(owner: str, least: int, what: str, values: dict) -> None:
    bad = {
        name: value
        for name, value in values.items()
        if not isinstance(value, int)
        or isinstance(value, bool)
        or value < least
    }
    if bad:
        listed = ', '.join(f'{k}={v!r}' for k, v in bad.items())
        raise ValueError(
            f'{owner}: {listed}: these counts must be {what}; check these '
            'config values'
        )


def check_non_negative(owner: str, **values: object) -> None:
    """Raise a ValueError naming every argument that is not a number >= 0.

    Args:
        owner (str): Component name for the message.
        **values (object): ``name=value`` pairs (weights, ratios).
    """
    bad = {
        name: value
        for name, value in values.items()
        if not isinstance(value, int | float)
        or isinstance(value, bool)
        or not value >= 0  # also refuses NaN
    }
    if bad:
        listed = ', '.join(f'{k}={v!r}' for k, v in bad.items())
        raise ValueError(
            f'{owner}: {listed}: must be a number >= 0 (a negative weight '
            'would reward what it is meant to penalise)'
        )


def check_cfg_keys(
    cfg: Mapping | None, known: Iterable[str], where: str
) -> None:
    """Raise a ValueError for keys a component would silently ignore.

    A misspelt ``test_cfg``/``train_cfg`` key (``subdivison_steps``) would
    otherwise leave the default in force without a word.

    Args:
        cfg (Mapping, optional): The config dict to check.
        known (Iterable[str]): Every key the component (and the host
            library's code that reads the same dict) understands.
        where (str): How the user spells the dict (``model.test_cfg``),
            for the message.

    Raises:
        ValueError: Unknown keys, each with the closest known key.
    """
    known = sorted(set(known))
    unknown = sorted(set(cfg or {}) - set(known))
    if not unknown:
        return
    lines = []
    for key in unknown:
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        lines.append(
            f'{key!r} (did you mean {close[0]!r}?)' if close else repr(key)
        )
    raise ValueError(
        f'{where} has unknown key(s) {", ".join(lines)}; nothing reads them, '
        f'so they would be ignored. Known keys: {", ".join(known) or "none"}'
    )
