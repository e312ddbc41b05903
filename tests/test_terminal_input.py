"""Terminal input that is not valid UTF-8 (a paste from a Latin-1 file, a lone surrogate's bytes) becomes U+FFFD;
it used to end the app from Textual's input thread, with what was typed lost."""

from __future__ import annotations

import os
import signal

from .terminal_helpers import PLACEHOLDER, after_the_screen, latest_messages, spawn, wait_exit


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


def test_keys_typed_in_one_burst_edit_in_order_and_esc_interrupts_in_a_real_terminal(xsus_home):
    """Keys a terminal delivers together (typing while a reply keeps the loop busy) are acted on in order: Backspace
    and the arrows used to run from the app after the characters typed after them (`lnx`, Backspace, `g` gave
    `lnx` then `g` deleted). Arrows (ESC [ D) stay keys with our input thread (ui/driver.py), and Esc alone still
    stops a reply."""
    with spawn(xsus_home, XSUS_DEMO_DELAY="0.02") as term:
        assert term.wait_for(PLACEHOLDER, timeout=60) is not None, term.last_words()
        start = len(term.output)
        term.send(b"lnx\x7fg\x1b[D\x1b[Do\r")  # one write: l n x Backspace g Left Left o Enter -> "long"
        assert term.wait_for(b"A long reply", start=start, timeout=30) is not None, term.last_words()  # it began
        start = len(term.output)
        term.send(b"\x1b")  # Esc, alone
        assert term.wait_for(b"interrupted", start=start, timeout=30) is not None, term.last_words()
        term.send(b"\x11")
        status, _ = wait_exit(term, timeout=30)
    assert status == 0
    messages = latest_messages(xsus_home)
    assert messages and messages[0].parts[0].content == "long", messages[:1]


def test_quitting_with_a_draft_prints_its_attached_files_as_mentions_that_attach_again(xsus_home, tmp_path):
    """Ctrl+Q with a draft prints it (not sent, still in the input); its chips used to be dropped from that."""
    (tmp_path / "my notes.md").write_text("alpha\n")
    with spawn(xsus_home) as term:
        assert term.wait_for(PLACEHOLDER, timeout=60) is not None, term.last_words()
        start = len(term.output)
        term.send(f'compare @"{tmp_path}/my no'.encode())
        assert term.wait_for(b"my notes.md", start=start, timeout=30) is not None, term.last_words()  # listed
        start = len(term.output)
        term.send(b"\t")  # completed: a chip, and the mention leaves the text
        assert term.wait_for("my notes.md · 6 B".encode(), start=start, timeout=30) is not None, term.last_words()
        term.send(b"them\x11")
        status, _ = wait_exit(term, timeout=30)
        lines = after_the_screen(term)
    assert status == 0, lines
    assert "xsus: not sent, still in the input when you quit:" in lines, lines
    assert f"compare {tmp_path}/my notes.md them" in lines and f'@"{tmp_path}/my notes.md"' in lines, lines


def test_the_draft_printed_at_quit_keeps_its_indentation_and_never_writes_control_characters_raw(xsus_home):
    with spawn(xsus_home) as term:
        assert term.wait_for(PLACEHOLDER, timeout=60) is not None, term.last_words()
        start = len(term.output)
        term.send(b"\x1b[200~    def f():\x07\n        return 1\x1b[201~")  # a pasted snippet, a BEL in it
        assert term.wait_for(b"return", start=start, timeout=30) is not None, term.last_words()
        start = len(term.output)
        term.send(b"\x11")
        status, _ = wait_exit(term, timeout=30)
        tail = bytes(term.output[start:]).rsplit(b"\x1b[?1049l", 1)[-1]
    assert status == 0
    assert "    def f():␇\r\n        return 1".encode() in tail, tail  # indented, the BEL shown, not rung
    assert b"\x07" not in tail


def test_after_a_sigcont_without_a_stop_quitting_still_works(xsus_home):
    """`kill -CONT` (or one after a SIGSTOP): Textual resumed application mode again, a second input thread read
    the terminal, and Ctrl+Q then waited for one more key (1 start in 4 to 4 in 5)."""
    for run in range(3):
        with spawn(xsus_home / str(run)) as term:
            assert term.wait_for(PLACEHOLDER, timeout=60) is not None, term.last_words()
            assert term.wait_for(b"demo (offline)", timeout=60) is not None, term.last_words()
            os.kill(term.pid, signal.SIGCONT)
            term.sleep(0.3)
            for character in b"the quick brown fox":
                term.send(bytes([character]))
                term.pump(0.03)
            term.wait_quiet(0.3, timeout=5)
            term.send(b"\x11")
            status, _ = wait_exit(term, timeout=8)
            lines = after_the_screen(term)
        assert status == 0, f"run {run}: Ctrl+Q did not quit within 8 s"
        assert "the quick brown fox" in lines, lines


def test_enter_then_ctrl_q_in_one_burst_prints_the_prompt_nothing_came_back_for(xsus_home):
    """The turn starts, and Ctrl+Q stops it before the model says anything: the prompt goes back to the input, but
    the draft was read before that, and the app left printing neither the draft nor a conversation."""
    with spawn(xsus_home, XSUS_DEMO_DELAY="2") as term:  # (the demo's first words come after 2 s)
        assert term.wait_for(b"demo (offline)", timeout=60) is not None, term.last_words()
        term.wait_quiet(0.3, timeout=5)
        term.send(b"hello\r\x11")
        status, _ = wait_exit(term, timeout=10)
        lines = after_the_screen(term)
    assert status == 0
    assert lines[:2] == ["xsus: not sent, still in the input when you quit:", "hello"], lines
