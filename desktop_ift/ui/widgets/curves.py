"""The run's curves moved to :mod:`desktop_ift.core.run_curves` (they need no Qt); kept for old imports."""

from desktop_ift.core.run_curves import (  # noqa: F401 - re-exported
    TRAIN_FIELDS, VAL_FIELDS, VALIDATION_KEYS, X_AXES, Columns, RunCurves, smooth,
)
