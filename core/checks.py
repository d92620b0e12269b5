"""Checks of user-given values, shared by the settings dataclasses (`JobParams`,
`SequenceOptions`): a bool is never a number, NaN and infinities are never real."""
from __future__ import annotations

import math

import numpy as np

from .errors import Dust3rError


def whole(value: object, minimum: int) -> bool:
    """Whether `value` is an integer (not a bool) of at least `minimum`."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) \
        and value >= minimum


def real(value: object, minimum: float, positive: bool = False) -> bool:
    """Whether `value` is a finite number (not a bool) of at least (`positive`: above)
    `minimum`."""
    return isinstance(value, (int, float, np.integer, np.floating)) \
        and not isinstance(value, bool) and math.isfinite(value) \
        and (value > minimum if positive else value >= minimum)


def check(checks: list[tuple[bool, str]]) -> None:
    """`Dust3rError` with the message of the first check that fails."""
    for ok, message in checks:
        if not ok:
            raise Dust3rError(message)
