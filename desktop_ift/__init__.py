"""desktop_ift: fine-tune language models on your own data, on your own workstation, without code."""

__version__ = "0.1.0"
