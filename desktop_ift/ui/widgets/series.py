"""Curve data that grows point by point: contiguous float arrays (``array('d')``, amortised O(1) appends)
handed to the plot as numpy arrays (one memcpy; the plot may keep them, so they are not views that would
pin the growing buffer). numpy is imported only when a curve is drawn."""

from __future__ import annotations

from array import array


class GrowingSeries:
    def __init__(self) -> None:
        self._x = array("d")
        self._y = array("d")

    @property
    def n(self) -> int:
        return len(self._x)

    def append(self, x: float, y: float) -> None:
        self._x.append(float(x))
        self._y.append(float(y))

    def extend(self, points: list[tuple[float, float]]) -> None:
        for x, y in points:
            self.append(x, y)

    def clear(self) -> None:
        self._x = array("d")
        self._y = array("d")

    @property
    def xs(self):
        import numpy as np

        return np.array(self._x, dtype=np.float64)

    @property
    def ys(self):
        import numpy as np

        return np.array(self._y, dtype=np.float64)

    def last_y(self) -> float | None:
        return self._y[-1] if self._y else None


class Smoother:
    """Debiased exponential moving average (how TensorBoard draws a smoothed curve)."""

    def __init__(self, weight: float = 0.85):
        self.weight = weight
        self.reset()

    def reset(self) -> None:
        self.ema = 0.0
        self.count = 0

    def add(self, value: float) -> float:
        self.count += 1
        self.ema = self.weight * self.ema + (1 - self.weight) * value
        return self.ema / (1 - self.weight ** self.count)
