"""Small numbers in reports that leave the school: any count below 5 is shown as "fewer than 5"
(0 included), so a governor cannot work out which child a row is about."""

from __future__ import annotations

SMALL = 5
FEWER_THAN_5 = "fewer than 5"


def shown(count: int) -> str:
    return FEWER_THAN_5 if count < SMALL else str(count)
