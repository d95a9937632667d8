"""A settings form generated from a config dataclass (TrainConfig, GenerationConfig).

The widget for each field comes from its default's type and its metadata (``choices`` -> combo box,
``minimum``/``maximum`` -> spin box range) and its ``help`` becomes the tooltip, so a setting is explained
in one place only (the dataclass).
"""

from __future__ import annotations

import math
from dataclasses import MISSING, fields
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QGridLayout, QLabel, QSpinBox, QWidget,
)

LABELS = {
    "method": "Method",
    "epochs": "Epochs",
    "max_steps": "Max steps",
    "learning_rate": "Learning rate",
    "batch_size": "Batch size",
    "gradient_accumulation": "Gradient accumulation",
    "max_seq_length": "Max sequence length",
    "warmup_ratio": "Warm-up ratio",
    "weight_decay": "Weight decay",
    "lora_r": "LoRA rank",
    "lora_alpha": "LoRA alpha",
    "lora_dropout": "LoRA dropout",
    "train_on_completion_only": "Loss on response only",
    "logging_steps": "Log every N steps",
    "eval_steps": "Validate every N steps",
    "save_steps": "Checkpoint every N steps",
    "seed": "Seed",
    "lr_scheduler": "Learning-rate schedule",
    "lora_target_modules": "LoRA layers",
    "quantization_bits": "QLoRA bits",
    "precision": "Precision",
    "gradient_checkpointing": "Gradient checkpointing",
    "packing": "Pack short examples",
    "save_total_limit": "Keep last K checkpoints",
    "distributed": "Multi-GPU strategy",
    "num_processes": "GPUs to use",
    "max_new_tokens": "Max new tokens",
    "temperature": "Temperature",
    "top_p": "Top-p",
    "repetition_penalty": "Repetition penalty",
    "max_examples": "Max test examples",
}
# Text shown instead of a number that means "not set".
SPECIAL_VALUES = {
    "max_steps": "off (use epochs)",
    "eval_steps": "once per epoch",
    "save_steps": "only at the end",
    "max_examples": "all",
    "num_processes": "all found",
    "temperature": "0 (greedy)",
}
INT_MAX = 10_000_000


def label_for(name: str) -> str:
    return LABELS.get(name) or name.replace("_", " ").capitalize()


class ScientificSpinBox(QDoubleSpinBox):
    """A spin box for values like 2e-4: shows ``%g`` and steps by a factor instead of a fixed amount."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setDecimals(12)
        self.setRange(0.0, 10.0)

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt API
        return f"{value:g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):  # noqa: D401
        stripped = text.strip()
        if not stripped:
            return QValidator.State.Intermediate, text, pos
        try:
            value = float(stripped)
        except ValueError:
            ok_prefix = all(c in "0123456789.eE-+" for c in stripped)
            return (QValidator.State.Intermediate if ok_prefix else QValidator.State.Invalid), text, pos
        if self.minimum() <= value <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        return QValidator.State.Intermediate, text, pos

    def stepBy(self, steps: int) -> None:  # noqa: N802
        value = self.value() or 1e-5
        self.setValue(min(self.maximum(), max(self.minimum(), value * (2.0 ** steps))))


class ConfigForm(QWidget):
    """Widgets for ``names`` (fields of ``config_cls``) in a grid of ``columns`` label/widget pairs."""

    changed = Signal()

    def __init__(self, config_cls: type, names: list[str], values: Any = None, columns: int = 2,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.config_cls = config_cls
        self._fields = {f.name: f for f in fields(config_cls)}
        self.widgets: dict[str, QWidget] = {}
        self.labels: dict[str, QLabel] = {}
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(10)
        for i, name in enumerate(names):
            f = self._fields[name]
            widget = self._make_widget(f)
            help_text = f.metadata.get("help", "")
            label = QLabel(label_for(name))
            label.setWordWrap(True)  # long labels take two lines rather than widening the form
            label.setToolTip(help_text)
            widget.setToolTip(help_text)
            widget.setMinimumWidth(96)  # below the widgets' own hints, so a narrow page does not clip them
            label.setBuddy(widget)
            row, col = divmod(i, columns)
            grid.addWidget(label, row, col * 2)
            grid.addWidget(widget, row, col * 2 + 1)
            self.widgets[name] = widget
            self.labels[name] = label
        for col in range(columns):
            grid.setColumnStretch(col * 2 + 1, 1)
            grid.setColumnMinimumWidth(col * 2 + 1, 96)
        if values is not None:
            self.set_values(values)

    def _default(self, f) -> Any:
        if f.default is not MISSING:
            return f.default
        if f.default_factory is not MISSING:  # type: ignore[misc]
            return f.default_factory()  # type: ignore[misc]
        return None

    def _make_widget(self, f) -> QWidget:
        default = self._default(f)
        meta = f.metadata
        choices = meta.get("choices")
        if choices:
            combo = QComboBox()
            # Size to a few characters, not to the longest choice, so a two-column form never overflows.
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(6)
            for choice in choices:
                combo.addItem(str(choice), choice)
            combo.currentIndexChanged.connect(self.changed)
            return combo
        if isinstance(default, bool):
            box = QCheckBox()
            box.toggled.connect(self.changed)
            return box
        lo, hi = meta.get("minimum"), meta.get("maximum")
        if isinstance(default, int):
            spin = QSpinBox()
            spin.setRange(int(lo) if lo is not None else -1 if default < 0 or f.name == "max_steps" else 0,
                          int(hi) if hi is not None else INT_MAX)
            if f.name == "seed":
                spin.setRange(0, 2**31 - 1)
            if f.name in SPECIAL_VALUES:
                spin.setSpecialValueText(SPECIAL_VALUES[f.name])
            spin.valueChanged.connect(self.changed)
            return spin
        if isinstance(default, float):
            if f.name == "learning_rate" or (0 < abs(default) < 1e-2):
                spin: QDoubleSpinBox = ScientificSpinBox()
            else:
                spin = QDoubleSpinBox()
                spin.setDecimals(2 if (hi is None or hi > 1) else 3)
                spin.setSingleStep(0.05 if (hi is not None and hi <= 1) else 0.5 if f.name == "epochs" else 0.1)
            spin.setRange(float(lo) if lo is not None else 0.0, float(hi) if hi is not None else 1e6)
            if f.name in SPECIAL_VALUES:
                spin.setSpecialValueText(SPECIAL_VALUES[f.name])
            spin.valueChanged.connect(self.changed)
            return spin
        from PySide6.QtWidgets import QLineEdit

        line = QLineEdit()
        line.textChanged.connect(self.changed)
        return line

    def set_values(self, values: Any) -> None:
        """Fill the widgets from a config object or a dict (missing keys keep their value)."""
        data = values if isinstance(values, dict) else {n: getattr(values, n) for n in self._fields}
        for name, widget in self.widgets.items():
            if name not in data:
                continue
            value = data[name]
            widget.blockSignals(True)
            if isinstance(widget, QComboBox):
                idx = widget.findData(value)
                widget.setCurrentIndex(max(idx, 0))
            elif isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))
            elif isinstance(widget, QSpinBox):
                widget.setValue(int(value))
            elif isinstance(widget, QDoubleSpinBox):
                widget.setValue(float(value) if value is not None and math.isfinite(float(value)) else 0.0)
            else:
                widget.setText(str(value))  # type: ignore[attr-defined]
            widget.blockSignals(False)
        self.changed.emit()

    def values(self) -> dict:
        out: dict[str, Any] = {}
        for name, widget in self.widgets.items():
            if isinstance(widget, QComboBox):
                out[name] = widget.currentData()
            elif isinstance(widget, QCheckBox):
                out[name] = widget.isChecked()
            elif isinstance(widget, QSpinBox):
                out[name] = widget.value()
            elif isinstance(widget, QDoubleSpinBox):
                out[name] = float(widget.value())
            else:
                out[name] = widget.text()  # type: ignore[attr-defined]
        return out

    def set_fields_enabled(self, names: list[str], enabled: bool, reason: str = "") -> None:
        for name in names:
            if name in self.widgets:
                help_text = self._fields[name].metadata.get("help", "")
                tip = help_text if enabled or not reason else f"{reason}\n\n{help_text}"
                for w in (self.widgets[name], self.labels[name]):
                    w.setEnabled(enabled)
                    w.setToolTip(tip)
