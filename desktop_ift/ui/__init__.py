"""PySide6 + pyqtgraph GUI. Never imports torch/transformers: it talks to workers through events."""
