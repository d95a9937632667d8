"""#15.1 in the GUI: a hostile template in the Templates page never freezes the window (it froze >= 45 s)."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer

HOSTILE = "{% for i in 'x' * 1000000 %}{% for j in 'x' * 1000000 %}{{ message }}{% endfor %}{% endfor %}"
SLOW = "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}"


def test_hostile_template_preview_keeps_the_window_responsive(window, qtbot):
    page = window.templates_page
    window.show_page(page)
    qtbot.waitUntil(lambda: page.n_rows() > 0, timeout=10000)  # the demo table is loaded before the timing
    qtbot.wait(200)
    gaps, last = [], [time.monotonic()]

    def beat() -> None:
        now = time.monotonic()
        gaps.append(now - last[0])
        last[0] = now

    heart = QTimer()
    heart.setInterval(20)
    heart.timeout.connect(beat)
    heart.start()
    for source in (SLOW, HOSTILE, SLOW):  # the newest request wins; older ones are abandoned
        page.prompt_edit.setPlainText(source)
        started = time.monotonic()
        page.refresh_preview()
        assert time.monotonic() - started < 0.5  # the GUI thread is handed back at once
    gaps.clear()  # from here on the event loop must keep beating while the stuck renders run out
    last[0] = time.monotonic()
    qtbot.waitUntil(lambda: "was stopped because it ran longer than 1 s" in page.preview_banner.message,
                    timeout=10000)
    heart.stop()
    assert max(gaps) < 0.75, f"the event loop stalled for {max(gaps):.2f} s"

    page.prompt_edit.setPlainText("Say: {{ message }}")
    page.refresh_preview()
    first = window.data_page.model.row(0)
    qtbot.waitUntil(lambda: str(first["message"])[:20] in page.preview_text(), timeout=5000)
