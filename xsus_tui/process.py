"""The process around the chat: the terminal it needs, an event loop whose end is bounded, threads that
may never return, and an exit they cannot hold up.

Standard library only: the CLI uses this before the first frame (and before it refuses to start
without a terminal), so it must not import Textual or pydantic-ai.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

LOOP_GRACE = 0.5
"""Seconds the tasks still running after the app has ended get to finish once cancelled (an MCP
server's shutdown, a turn stuck in a tool), before the loop is closed without them."""
THREAD_GRACE = 0.2
"""Seconds stray threads get to end after everything is saved, before the process exits without them."""
DAEMON_PREFIX = "xsus-"
"""Names of our own daemon threads, which may be busy in the user's code (an import that never ends)."""


_gc_paused = False


@contextlib.contextmanager
def enter_typed_ahead_kept(fd: int | None = None) -> Iterator[None]:
    """While the TUI starts, an Enter typed ahead stays an Enter.

    Until Textual puts the terminal in raw mode, the terminal turns each Enter typed (CR) into a newline (LF,
    `ICRNL`), and Textual reads a newline as Ctrl+J: `hello` and Enter typed as xsus started became a second line
    in the prompt, never sent. With ICRNL cleared here, before Textual is imported (about 60 ms after the process
    starts), what is typed from then on reaches the app as typed. The terminal's settings are put back as they
    were when this ends (Textual puts back the ones it found, ours, when it stops). `fd`: stdin's by default."""
    try:
        import termios
    except ImportError:  # no termios (Windows): nothing to keep
        yield
        return
    try:
        fd = sys.stdin.fileno() if fd is None else fd
        found = termios.tcgetattr(fd)
    except (termios.error, AttributeError, ValueError, OSError):  # stdin is no terminal (`xsus serve`'s sessions)
        yield
        return
    changed = list(found)
    changed[0] = found[0] & ~termios.ICRNL
    try:
        termios.tcsetattr(fd, termios.TCSANOW, changed)  # (TCSANOW: what is typed already stays queued)
    except termios.error:
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSANOW, found)


def pause_gc() -> None:
    """Stop the cyclic garbage collector while the chat starts (`resume_gc` starts it again).

    Start-up creates some hundred thousand objects (Textual, pydantic-ai and its schemas) and almost no
    garbage, yet the collector runs a few hundred times over them: about a tenth of the import time.
    """
    global _gc_paused
    if gc.isenabled():
        gc.disable()
        _gc_paused = True


def resume_gc() -> None:
    """Start the collector again after `pause_gc` (once the chat is ready, before the user's --agent
    module runs, or when start-up fails); any later call does nothing.

    What start-up built stays for the whole session: `gc.freeze()` moves it out of the collector's
    generations, so a full collection during a reply doesn't walk it all again.
    """
    global _gc_paused
    if _gc_paused:
        _gc_paused = False
        gc.freeze()
        gc.enable()


def missing_terminal() -> str | None:
    """Why the chat can't run here (stdin or the output Textual draws to is not a terminal), or None.

    Run by `xsus serve` for a browser (Textual's web driver, packets on stdin and stdout), it needs none."""
    from .served import in_browser

    if in_browser():
        return None
    stdin, stderr = sys.__stdin__, sys.__stderr__
    if stdin is None or not _isatty(stdin):
        return "stdin is not a terminal"
    if stderr is None or not _isatty(stderr):
        return "stderr (where it draws) is not a terminal"
    return None


def _isatty(stream: Any) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False


async def in_daemon_thread(function: Callable[..., T], *args: Any, name: str = "work") -> T:
    """`function(*args)` in a daemon thread of its own, awaited from the event loop.

    Unlike `asyncio.to_thread`, whose executor thread is joined when the loop and then the interpreter
    shut down, a thread that never returns (the user's module looping at import) holds nothing up: if
    the awaiting task is cancelled (the user quit), the thread is abandoned and the process exits anyway.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():  # the awaiting task was cancelled: nobody wants it any more
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result = function(*args)
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting task, whatever it is
            _call_soon(loop, settle, None, error)
        else:
            _call_soon(loop, settle, result, None)

    threading.Thread(target=run, name=f"{DAEMON_PREFIX}{name}", daemon=True).start()
    return await future


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: the app has gone
        loop.call_soon_threadsafe(callback, *args)


def run_bounded(main: Coroutine[Any, Any, T], *, grace: float = LOOP_GRACE) -> T:
    """Like `asyncio.run(main)`, but its end is bounded.

    `asyncio.run` cancels the tasks left over when `main` returns and then waits for all of them and
    for the default executor's threads, without a limit: a task that cannot finish (a subprocess that
    won't die, a turn stuck in a sync tool) kept the process alive after the app had ended. Here they
    get `grace` seconds, and are then left behind with the loop.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            _finish_tasks(loop, grace)
        finally:
            asyncio.set_event_loop(None)
            loop.close()  # shuts the default executor down without waiting for it


def _finish_tasks(loop: asyncio.AbstractEventLoop, grace: float) -> None:
    left = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in left:
        task.cancel()
    if left:
        loop.run_until_complete(asyncio.wait(left, timeout=grace))
    for task in left:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved, so that nothing is printed about it
    # What is still running is abandoned: nothing may be printed about it on the restored terminal.
    loop.set_exception_handler(lambda loop, context: None)
    closing = loop.create_task(loop.shutdown_asyncgens())
    loop.run_until_complete(asyncio.wait({closing}, timeout=grace))


def exit_despite_threads(code: int) -> None:
    """Return if the interpreter can end normally; otherwise exit now with `code`.

    Called once the chat has ended and everything is saved. A thread that is not a daemon and never
    returns (a sync tool blocked forever, an executor thread running one) would make the interpreter
    wait for it at exit, and so would our own daemon threads still busy in the user's module (an
    import that never ends, holding locks the interpreter's shutdown may need). They get
    `THREAD_GRACE` seconds; after that the output is flushed and the process exits without them.
    """
    deadline = time.monotonic() + THREAD_GRACE
    for thread in _stray_threads():
        thread.join(max(0.0, deadline - time.monotonic()))
    if not _stray_threads():
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _stray_threads() -> list[threading.Thread]:
    current = threading.current_thread()
    return [
        thread
        for thread in threading.enumerate()
        if thread is not current and thread.is_alive() and (not thread.daemon or thread.name.startswith(DAEMON_PREFIX))
    ]
