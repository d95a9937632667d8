"""The training plan: what a run will train, decided once, shown before launch and kept with the run.

A :class:`TrainPlan` holds the exact template set (every template's text), the split with its counts, the
data format, the maximum length and what happens to longer examples (with how many are affected), the
model, the method and every setting. It is built by :func:`desktop_ift.core.training.prepare.build_plan`,
shown the same way by the Train page and ``prepare-train`` (:meth:`TrainPlan.describe`), written into ``job.json``
(the ``plan`` key) and the run record, and the worker checks its own counts against it
(:func:`check_counts`): a difference is an error, never a log line.

This module is plain data: it imports nothing of the project but the training settings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from desktop_ift.core.data.splits import SplitSpec
from desktop_ift.core.training.config import TrainConfig

PLAN_VERSION = 1
DATA_FORMATS = ("instruction", "chat", "pretrain")
#: The worker's name for each plan format's data lines (``text`` is the older name of ``pretrain``).
WORKER_FORMATS = {"instruction": "instruction", "chat": "chat", "pretrain": "text"}
OVERFLOW_POLICIES = ("truncate", "drop")
TRUNCATE_SIDES = ("middle", "start")
SPLIT_PARTS = ("train", "validation", "test")


class PlanError(ValueError):
    """A plan that cannot be right (a count below zero, an unknown format ...); the message says which."""


def _check_counts(where: str, counts: dict) -> None:
    for key, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PlanError(f"{where}: the count for {key!r} must be a whole number ≥ 0, not {value!r}.")


@dataclass
class PlanTemplate:
    """One template of the set, with the text that is rendered."""

    name: str
    """The template's name as the project shows it."""
    prompt: str
    """The prompt text (Jinja placeholders such as ``{{ message }}``)."""
    response: str
    """The response text: what the model learns to answer."""
    system: str = ""
    """The system message, or empty."""
    template_id: int | None = None
    """The project template it came from (None for a template that is not saved in the project)."""
    weight: float | None = None
    """Random mode with unequal weights: how often this template is drawn relative to the others."""

    def __post_init__(self) -> None:
        if not str(self.name).strip():
            raise PlanError("Every template of a plan needs a name.")
        if not self.prompt.strip() or not self.response.strip():
            raise PlanError(f"The template {self.name!r} needs a prompt and a response.")


@dataclass
class PlanSplit:
    """How the rows are divided, and how many rows and examples each part gets."""

    method: str
    """``ratios`` (shares with a seed, optionally stratified) or ``column`` (the data's own split column)."""
    train: float = 0.8
    """Share of the rows for training (ratios only)."""
    validation: float = 0.1
    """Share of the rows for validation (ratios only)."""
    test: float = 0.1
    """Share of the rows for the test (ratios only)."""
    seed: int = 42
    """The random seed of the split (ratios only): the same seed always gives the same split."""
    stratify_column: str | None = None
    """Each part keeps this column's class proportions (ratios only), or None."""
    split_column: str | None = None
    """The column naming each row's part (``column`` method), or None."""
    rows: dict[str, int] = field(default_factory=dict)
    """Source rows (conversations for chat) in each part, before a template set expands them."""
    examples: dict[str, int] = field(default_factory=dict)
    """Data lines written for each part (after expansion; rows with an empty response left out)."""

    def __post_init__(self) -> None:
        if self.method not in ("ratios", "column"):
            raise PlanError(f"The split method must be 'ratios' or 'column', not {self.method!r}.")
        if self.method == "column" and not self.split_column:
            raise PlanError("A split taken from a column must name the column.")
        _check_counts("split rows", self.rows)
        _check_counts("split examples", self.examples)

    def spec(self):
        """The :class:`~desktop_ift.core.data.splits.SplitSpec` that makes this split."""
        return SplitSpec(train=self.train, validation=self.validation, test=self.test, seed=self.seed,
                         stratify_column=self.stratify_column,
                         split_column=self.split_column if self.method == "column" else None)

    def text(self) -> str:
        """``320 train · 40 validation · 40 test (80/10/10, seed 42)``, saying where the split comes from."""
        counts = " · ".join(f"{self.examples.get(p, 0):,} {p}" for p in SPLIT_PARTS)
        if self.method == "column":
            how = f"from the data's column {self.split_column!r}"
        else:
            how = (f"{self.train * 100:g}/{self.validation * 100:g}/{self.test * 100:g}, seed {self.seed}"
                   + (f", stratified by {self.stratify_column!r}" if self.stratify_column else ""))
        return f"{counts} ({how})"


@dataclass
class PlanLengths:
    """The maximum length, what happens to longer examples, and how many that concerns."""

    max_seq_length: int
    """Tokens per example at most."""
    overflow: str = "truncate"
    """``truncate`` (keep the whole response where possible, cut the prompt) or ``drop`` (leave them out)."""
    truncate_side: str = "middle"
    """Where a prompt is cut: ``middle`` (keep its start and end) or ``start`` (keep its end)."""
    measured: bool = False
    """True when the lengths below were counted with the tokenizer the worker uses."""
    tokenizer: str = ""
    """Whose tokenizer counted (``demo model``, a folder name), or why nothing was counted."""
    longer: dict[str, int] = field(default_factory=dict)
    """Examples longer than ``max_seq_length`` in each part (conversations/documents for chat/pre-training)."""
    trained: dict[str, int] = field(default_factory=dict)
    """Examples the worker must make from each part after the overflow policy: its counts must equal these."""
    histogram: list[int] = field(default_factory=list)
    """Training examples per token-length bin (bins in ``edges``)."""
    edges: list[float] = field(default_factory=list)
    """The bin edges of ``histogram`` (one more than bins)."""
    cover95: int = 0
    """The smallest maximum length that holds 95% of the training examples whole."""
    longest: int = 0
    """The longest training example in tokens."""

    def __post_init__(self) -> None:
        if isinstance(self.max_seq_length, bool) or not isinstance(self.max_seq_length, int) \
                or self.max_seq_length < 8:
            raise PlanError(f"The maximum length must be a whole number of tokens ≥ 8, not {self.max_seq_length!r}.")
        if self.overflow not in OVERFLOW_POLICIES:
            raise PlanError(f"Longer examples are truncated or dropped, not {self.overflow!r}.")
        if self.truncate_side not in TRUNCATE_SIDES:
            raise PlanError(f"A prompt is cut in the middle or at the start, not {self.truncate_side!r}.")
        _check_counts("longer examples", self.longer)
        _check_counts("trained examples", self.trained)
        if self.histogram and len(self.edges) != len(self.histogram) + 1:
            raise PlanError("The length histogram needs one more edge than bins.")


@dataclass
class TrainPlan:
    """Everything a training run will do, fixed before launch."""

    project_id: int
    """The project the run belongs to."""
    dataset_id: int
    """The dataset snapshot trained on."""
    dataset_name: str
    """The dataset's name (for people)."""
    dataset_version: int
    """The snapshot's version."""
    data_format: str
    """``instruction`` (prompt/response), ``chat`` (conversations) or ``pretrain`` (raw text)."""
    model: str
    """``demo``, a model folder, or a hub id."""
    config: dict
    """Every training setting (:class:`TrainConfig` fields: method, epochs, learning rate, max length ...)."""
    split: PlanSplit
    """How the rows are divided, with the counts."""
    lengths: PlanLengths
    """The maximum length, the overflow policy and how many examples it touches."""
    templates: list[PlanTemplate] = field(default_factory=list)
    """Instruction format: every template that trains, in order (the exact set ticked)."""
    set_mode: str = "random"
    """How a set of templates shares the rows: random, round_robin or all."""
    set_seed: int = 0
    """The seed of a random template set."""
    set_name: str = ""
    """The template set's name, or empty."""
    format_spec: dict = field(default_factory=dict)
    """Chat or pre-training: the column settings (the ``to_dict()`` of a ConversationSpec/PretrainSpec)."""
    dropped_empty: int = 0
    """Examples left out because their response (or document) renders empty."""
    allow_download: bool = False
    """The worker may download a hub model that is not in the local cache."""
    name: str = ""
    """The run's name: every template of the set, the dataset and its version."""
    model_source: dict = field(default_factory=dict)
    """For a model converted from GGUF: where from (``gguf_file``, ``source``, ``name``, ``sha256``,
    ``file_type``, ``architecture``; see ``core.models.discovery.model_origin``); empty otherwise."""
    version: int = PLAN_VERSION
    """The plan format's version."""

    def __post_init__(self) -> None:
        if self.data_format not in DATA_FORMATS:
            raise PlanError(f"The data format must be one of {', '.join(DATA_FORMATS)}, not {self.data_format!r}.")
        if self.data_format == "instruction" and not self.templates:
            raise PlanError("An instruction plan needs at least one template.")
        if self.data_format != "instruction" and not self.format_spec:
            raise PlanError(f"A {self.data_format} plan needs its column settings.")
        TrainConfig.from_dict(self.config)  # raises ConfigError naming a setting that cannot work
        if self.config.get("max_seq_length") != self.lengths.max_seq_length:
            raise PlanError("The plan's maximum length differs from its settings' max_seq_length.")
        if not self.name:
            self.name = f"{self.source_label()} on {self.dataset_name} v{self.dataset_version}"

    # ------------------------------------------------------------------ reading it
    @property
    def method(self) -> str:
        """The training method (full, lora, dora, qlora)."""
        return str(self.config.get("method", "lora"))

    @property
    def worker_format(self) -> str:
        """The worker's name of the data lines: instruction, chat or text."""
        return WORKER_FORMATS[self.data_format]

    def template_names(self) -> list[str]:
        """The names of every template that trains (empty for chat/pre-training)."""
        return [t.name for t in self.templates]

    def source_label(self) -> str:
        """Every template of the set (``A + B``), or the chat/pre-training format."""
        if self.data_format == "chat":
            return "chat"
        if self.data_format == "pretrain":
            return "pre-training text"
        return " + ".join(self.template_names())

    def describe(self) -> list[tuple[str, str]]:
        """The plan as ``(label, text)`` lines: what the Train page's panel and ``prepare-train`` show."""
        lines = [("Dataset", f"{self.dataset_name} v{self.dataset_version}")]
        if self.data_format == "instruction":
            many = len(self.templates) > 1
            mode = {"random": "each row gets one, drawn at random", "round_robin": "they take turns",
                    "all": "every row through each"}.get(self.set_mode, self.set_mode)
            lines.append(("Templates" if many else "Template",
                          ", ".join(self.template_names()) + (f" ({mode})" if many else "")))
        lines.append(("Format", {"instruction": "instruction (prompt → response)", "chat": "chat conversations",
                                 "pretrain": "continued pre-training on raw text"}[self.data_format]))
        lines.append(("Split", self.split.text()))
        if self.dropped_empty:
            lines.append(("Left out", f"{self.dropped_empty:,} with an empty response"))
        lines.append(("Max length", self.length_text()))
        lines.append(("Training on", self.trained_text()))
        lines.append(("Model", "demo model (tiny, built locally)" if self.model == "demo" else self.model))
        if self.model_source.get("text"):
            lines.append(("Converted from", self.model_source["text"]))
        lines.append(("Method", self.method))
        return lines

    def length_text(self) -> str:
        """``192 tokens; 356 of 400 training examples are longer: truncated (prompt cut in the middle)``."""
        ln = self.lengths
        head = f"{ln.max_seq_length} tokens"
        if not ln.measured:
            return f"{head}; lengths not counted ({ln.tokenizer or 'no tokenizer'})"
        n_long, n = ln.longer.get("train", 0), self.split.examples.get("train", 0)
        unit = {"chat": "conversations", "pretrain": "documents"}.get(self.data_format, "training examples")
        if not n_long:
            return f"{head}; every one of the {n:,} {unit} fits (longest {ln.longest:,})"
        if self.data_format == "pretrain":
            what = "split into several examples (nothing is lost)"
        elif ln.overflow == "drop":
            what = "dropped"
        elif self.data_format == "chat":
            what = ("truncated (the final answer kept whole where possible; the earlier turns cut "
                    f"{'in the middle, their start kept' if ln.truncate_side == 'middle' else 'from the start'})")
        else:
            what = f"truncated (the whole response kept where possible; the prompt cut {'in the middle' if ln.truncate_side == 'middle' else 'at the start'})"
        return (f"{head}; {n_long:,} of {n:,} {unit} are longer: {what}. "
                f"A maximum of {ln.cover95:,} covers 95%")

    def trained_text(self) -> str:
        """``400 training examples, 40 validation`` (what the worker must report)."""
        t = self.lengths.trained if self.lengths.measured else self.split.examples
        return f"{t.get('train', 0):,} training examples, {t.get('validation', 0):,} validation"

    def text(self) -> str:
        """The plan as plain text, one ``label: value`` per line."""
        width = max(len(label) for label, _ in self.describe())
        return "\n".join(f"{label:<{width}}  {value}" for label, value in self.describe())

    # ------------------------------------------------------------------ storing it
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainPlan":
        """The plan from :meth:`to_dict` output; raises :class:`PlanError` for a plan that cannot be read."""
        if not isinstance(data, dict):
            raise PlanError("A training plan must be a JSON object.")
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        try:
            values["split"] = PlanSplit(**data["split"])
            values["lengths"] = PlanLengths(**data["lengths"])
            values["templates"] = [PlanTemplate(**t) for t in data.get("templates") or []]
            return cls(**values)
        except (KeyError, TypeError) as exc:
            raise PlanError(f"The training plan cannot be read ({exc}).") from exc


def check_counts(plan: dict | None, part: str, made: int) -> str:
    """An error message when the worker made ``made`` examples of ``part`` but the plan said otherwise
    (empty when they agree, or when the plan did not count with the worker's tokenizer)."""
    if not plan:
        return ""
    lengths = plan.get("lengths") or {}
    expected = (lengths.get("trained") or {}).get(part)
    if not lengths.get("measured") or expected is None or expected == made:
        return ""
    return (f"The plan said {expected:,} {part} examples, but the worker made {made:,} from the same data. "
            "The run stops rather than train on something else than what was shown.")
