"""`xsus serve`'s parts without a server: the flags each browser session gets, loopback hosts, and canaries for
the private parts of Textual's WebDriver and textual-serve's AppService that `xsus serve` relies on."""

from __future__ import annotations

import inspect
import shlex
import sys

import pytest

from xsus_tui.cli import _chat_flags, build_parser
from xsus_tui.serving import ChatServer, _without_resume, chat_command, is_loopback


def test_flags_before_serve_are_given_again_to_each_session():
    args, extra = build_parser().parse_known_args(
        ["--model", "demo", "--agent", "app.py:support", "--idle-timeout", "5", "--retries", "0", "-c", "serve"]
    )
    assert extra == []
    flags = _chat_flags(args)
    assert flags == [
        "--model",
        "demo",
        "--agent",
        "app.py:support",
        "--idle-timeout",
        "5.0",
        "--retries",
        "0",
        "--continue",
    ]
    assert build_parser().parse_args(flags).agent == "app.py:support"  # they parse back


def test_flags_after_serve_are_passed_through():
    args, extra = build_parser().parse_known_args(["serve", "--port", "0", "-m", "demo", "-r", "0197"])
    assert (args.command, args.port, extra) == ("serve", 0, ["-m", "demo", "-r", "0197"])


def test_the_command_is_this_python_and_quoted():
    server = ChatServer(["--agent", "my agents/app.py:support; rm -rf /"], host="127.0.0.1", port=0)
    assert shlex.split(server.command) == [
        sys.executable,
        "-m",
        "xsus_tui",
        "--agent",
        "my agents/app.py:support; rm -rf /",
    ]
    assert chat_command([])[0] == sys.executable


def test_a_reopened_session_drops_the_given_resume_flags():
    assert _without_resume(["-m", "demo", "-c", "-r", "abc", "--resume=def", "--continue", "--retries", "2"]) == [
        "-m",
        "demo",
        "--retries",
        "2",
    ]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("127.8.9.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.4", False),
        ("example.org", False),
    ],
)
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


def test_the_token_compare_is_constant_time_and_takes_odd_text():
    server = ChatServer([], host="127.0.0.1", port=0)
    assert server.token_matches(server.token)
    for wrong in ("", server.token[:-1], server.token + "x", "\ud800", "é" * 40):
        assert not server.token_matches(wrong)


def test_canary_textual_web_driver_private_parts():
    """ui/web_driver.py overrides these WebDriver methods and uses Driver's `_loop` and `_app`."""
    from textual.driver import Driver
    from textual.drivers.web_driver import WebDriver

    for name in ("on_meta", "run_input_thread", "start_application_mode", "stop_application_mode", "write_meta"):
        assert callable(getattr(WebDriver, name, None)), name
    assert '"quit"' in inspect.getsource(WebDriver.on_meta)  # how textual-serve asks the app to end
    init = inspect.getsource(Driver.__init__)
    assert "self._loop" in init and "self._app" in init


def test_canary_textual_serve_private_parts():
    """serving.py overrides AppService._build_environment and uses its _task, _process and _download_manager."""
    from textual_serve.app_service import AppService
    from textual_serve.server import Server

    assert callable(AppService._build_environment)
    init = inspect.getsource(AppService.__init__)
    for name in ("self._task", "self._process", "self._download_manager"):
        assert name in init, name
    assert "on_data" in inspect.getsource(AppService.run) and "on_meta" in inspect.getsource(AppService.run)
    assert "websocket.send_bytes" in inspect.getsource(Server.handle_websocket)
    for name in ("_make_app", "_process_messages", "handle_index", "on_startup", "on_shutdown"):
        assert callable(getattr(Server, name, None)), name
