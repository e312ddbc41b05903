"""Terminal input that is not valid UTF-8 (a paste from a Latin-1 file, a lone surrogate's bytes) becomes U+FFFD;
it used to end the app from Textual's input thread, with what was typed lost."""

from __future__ import annotations

from .terminal_helpers import PLACEHOLDER, after_the_screen, spawn, wait_exit


def test_a_paste_with_invalid_utf8_is_kept_and_the_app_goes_on(xsus_home):
    with spawn(xsus_home) as term:
        assert term.wait_for(PLACEHOLDER, timeout=60) is not None, term.last_words()
        start = len(term.output)
        term.send(b"\x1b[200~caf\xe9 and \xed\xa0\x80 pasted\x1b[201~")  # bracketed paste, invalid bytes
        term.send(b" by hand")
        assert term.wait_for(b"by hand", start=start, timeout=30) is not None, term.last_words()
        term.send(b"\x11")  # Ctrl+Q: the app is still there to quit
        status, _ = wait_exit(term, timeout=30)
        lines = after_the_screen(term)
    assert status == 0, lines
    # What was typed is printed as the app leaves, the invalid bytes as U+FFFD.
    assert "xsus: not sent, still in the input when you quit:" in lines, lines
    assert "caf\ufffd and \ufffd\ufffd\ufffd pasted by hand" in lines, lines
