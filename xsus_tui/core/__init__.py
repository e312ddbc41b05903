"""The chat engine without any UI: turns, events, the demo model, the store.

Nothing under `xsus_tui.core` may import Textual (tests/core/test_no_textual.py enforces it).
"""
