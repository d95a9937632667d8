"""Share a table's width between its columns by their content (plain Python: testable without Qt)."""

from __future__ import annotations


def share_widths(natural: list[int], floor: list[int], available: int) -> list[int]:
    """Widths for columns that want ``natural`` pixels (their whole content) and must keep ``floor``.

    When the floors alone do not fit in ``available``, every column gets its floor (the table scrolls
    sideways). Otherwise the width is shared max-min fairly: a column whose content is narrower than an
    equal share gets just its content, the long-text columns share what is left equally (capped at their
    content); width left over when everything fits goes to the columns in proportion to their content, so no
    single (last) column takes all of it.
    """
    n = len(natural)
    if n == 0:
        return []
    if sum(floor) >= available:
        return list(floor)
    widths = [0] * n
    remaining = available
    order = sorted(range(n), key=lambda c: natural[c])
    for k, c in enumerate(order):
        share = remaining // (n - k)
        widths[c] = max(floor[c], min(natural[c], share))
        remaining -= widths[c]
    if remaining > 0:
        total = sum(natural) or 1
        extra = [remaining * natural[c] // total for c in range(n)]
        extra[order[-1]] += remaining - sum(extra)
        widths = [w + e for w, e in zip(widths, extra)]
    return widths
