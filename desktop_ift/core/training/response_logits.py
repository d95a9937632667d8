"""The language-model head only where the loss is computed.

A causal LM computes a vocabulary-sized row of logits for every position, then the loss ignores the
positions whose next token is masked (the prompt, with loss on the response only; padding). Those logits
(and their float32 copy and gradient) are the largest activations of a small or medium model on long
prompts. transformers 5 lets a model keep only chosen positions (``logits_to_keep`` as a boolean
``(batch, sequence)`` mask, made for packed training): :func:`response_loss` passes the positions whose
next token is trained, and computes the same cross-entropy as the model's own loss (float32, summed and
divided by the number of trained tokens in the accumulated batch, or their mean). The gradients are the
same; the skipped positions contribute nothing to the loss in either case.

:class:`ResponseLogitsTrainer` is ``transformers.Trainer`` with that loss. The recipe uses it only after
:func:`response_loss_is_exact` confirmed, on the actual model and a real batch, that it gives the model's
own loss.
"""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from transformers import Trainer

from desktop_ift.core.modeling import checking

IGNORE_INDEX = -100


def trained_positions(labels: torch.Tensor) -> torch.Tensor:
    """``(batch, sequence)`` booleans: True where the next token's label is trained (the logits to keep)."""
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != IGNORE_INDEX
    return keep


def response_loss(model, inputs: dict, num_items_in_batch=None):
    """``(loss, outputs)``: the causal-LM loss of ``inputs`` (which hold ``labels``) with logits computed only
    at trained positions. Equal to the model's own loss for the same ``num_items_in_batch``."""
    labels = inputs["labels"]
    keep = trained_positions(labels)
    outputs = model(**{k: v for k, v in inputs.items() if k != "labels"}, logits_to_keep=keep)
    targets = labels[:, 1:][keep[:, :-1]]
    logits = outputs.logits.reshape(-1, outputs.logits.shape[-1]).float()
    if num_items_in_batch is None:
        loss = F.cross_entropy(logits, targets, reduction="mean")
    else:
        loss = F.cross_entropy(logits, targets, reduction="sum")
        if torch.is_tensor(num_items_in_batch):
            num_items_in_batch = num_items_in_batch.to(loss.device)
        loss = loss / num_items_in_batch
    outputs.loss = loss
    return loss, outputs


def _unwrapped(model):
    model = getattr(model, "module", model)  # DDP
    return model.get_base_model() if hasattr(model, "get_base_model") else model  # peft


def supports_response_logits(model) -> bool:
    """True when the model's forward accepts ``logits_to_keep`` (transformers 5 causal LMs do)."""
    try:
        return "logits_to_keep" in inspect.signature(_unwrapped(model).forward).parameters
    except (TypeError, ValueError):
        return False


def response_loss_is_exact(model, batch: dict) -> bool:
    """Check on this model and one collated ``batch`` that :func:`response_loss` equals the model's loss."""
    if not supports_response_logits(model) or not bool((batch["labels"] != IGNORE_INDEX).any()):
        return False

    try:
        with checking(model) as device:
            batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
            n_items = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
            ours, _ = response_loss(model, batch, num_items_in_batch=n_items)
            theirs = model(**batch, num_items_in_batch=n_items).loss
        return bool(torch.isfinite(ours)) and abs(float(ours) - float(theirs)) <= 1e-4 * max(1.0, abs(float(theirs)))
    except Exception:  # a model whose forward rejects a boolean logits_to_keep
        return False


class ResponseLogitsTrainer(Trainer):
    """``Trainer`` whose loss computes the LM head at trained positions only (see the module docstring)."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if "labels" not in inputs or self.label_smoother is not None or self.compute_loss_func is not None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        # the model's own loss only receives num_items_in_batch when it accepts loss kwargs; mirror that
        loss, outputs = response_loss(model, inputs, num_items_in_batch if self.model_accepts_loss_kwargs else None)
        if (self.args.average_tokens_across_devices and self.model_accepts_loss_kwargs
                and num_items_in_batch is not None):
            loss_scale = self.accelerator.num_processes // self.get_tp_size()
            loss *= loss_scale if self.args.n_gpu <= 1 else self.args.n_gpu
        return (loss, outputs) if return_outputs else loss
