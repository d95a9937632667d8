"""Qt-free domain logic: data, templates, training, evaluation, the workspace store and the event contract.

Nothing under this package may import Qt (PySide6, shiboken6, pyqtgraph); tests/core/test_architecture.py
guards it.
"""
