"""Regenerate the SVG screenshots in screenshots/ from the app itself, on the embedded demo model.

    .venv/bin/python scripts/screenshots.py [--out screenshots]

Each screenshot is a real run of the app (headless, 100x30) with a fresh, temporary XSUS_HOME.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

SIZE = (100, 30)


async def shoot(name: str, prompt: str, out: Path, *, until, escape: bool = False, delay: str = "0.012") -> Path:
    os.environ["XSUS_DEMO_DELAY"] = delay
    from xsus_tui.core.agents import build_chat_agent
    from xsus_tui.core.session import ChatSession
    from xsus_tui.core.store import SQLiteConversationStore
    from xsus_tui.ui.app import XsusApp
    from xsus_tui.ui.widgets.prompt import PromptInput

    PromptInput.BLINK = False  # a screenshot shows the cursor, whatever the blink's phase

    with tempfile.TemporaryDirectory() as home:
        store = SQLiteConversationStore.open(Path(home) / "history.db")
        app = XsusApp(ChatSession(build_chat_agent("demo"), store))
        async with app.run_test(size=SIZE) as pilot:
            prompt_input = app.chat_screen.prompt
            prompt_input.insert(prompt)
            await pilot.press("enter")
            deadline = time.monotonic() + 30
            while not until(app) and time.monotonic() < deadline:
                await pilot.pause(0.02)
            if escape:
                await pilot.press("escape")
                while app.chat_screen.session.busy:
                    await pilot.pause(0.02)
            await pilot.pause(0.3)
            path = out / f"{name}.svg"
            path.write_text(app.export_screenshot(title=f"xsus · {name.replace('-', ' ')}"), encoding="utf-8")
            await app.chat_screen.stop_turn()
        store.close()
    return path


async def shoot_history(out: Path) -> list[Path]:
    """Three demo conversations: a regenerated reply selected (‹2/2›), then the browser (Ctrl+O)."""
    os.environ["XSUS_DEMO_DELAY"] = "0"
    from xsus_tui.core.agents import build_chat_agent
    from xsus_tui.core.session import ChatSession
    from xsus_tui.core.store import SQLiteConversationStore
    from xsus_tui.ui.app import XsusApp
    from xsus_tui.ui.screens.browser import BrowserScreen
    from xsus_tui.ui.widgets.prompt import PromptInput

    PromptInput.BLINK = False

    async def until(pilot, condition) -> None:
        deadline = time.monotonic() + 30
        while not condition() and time.monotonic() < deadline:
            await pilot.pause(0.02)

    written = []
    with tempfile.TemporaryDirectory() as home:
        store = SQLiteConversationStore.open(Path(home) / "history.db")
        app = XsusApp(ChatSession(build_chat_agent("demo"), store))
        async with app.run_test(size=SIZE) as pilot:
            chat = app.chat_screen
            for number, prompt in enumerate(("structured", "tools", "hello")):
                if number:
                    await pilot.press("ctrl+n")
                chat.prompt.insert(prompt)
                await pilot.press("enter")
                await until(pilot, lambda: chat.turn_worker is not None and chat.turn_worker.is_finished)
            await pilot.press("ctrl+g")
            await until(pilot, lambda: chat.turn_worker is not None and chat.turn_worker.is_finished)
            await pilot.press("ctrl+up")
            await until(pilot, lambda: chat.selected_turn() is not None and chat.selected_turn().user.versions)
            await pilot.pause(0.3)
            path = out / "turn-versions.svg"
            path.write_text(app.export_screenshot(title="xsus · a regenerated reply, version 2 of 2"), "utf-8")
            written.append(path)
            await pilot.press("escape", "ctrl+o")
            await until(pilot, lambda: isinstance(app.screen, BrowserScreen) and len(app.screen.rows) == 3)
            await pilot.pause(0.3)
            path = out / "conversations.svg"
            path.write_text(app.export_screenshot(title="xsus · Ctrl+O: the conversations"), "utf-8")
            written.append(path)
        store.close()
    return written


def idle(app) -> bool:
    return not app.chat_screen.session.busy


async def main(out: Path) -> list[Path]:
    return [
        await shoot("streaming-reply", "hello", out, until=lambda app: len(app.chat_screen.replies[-1].text) > 700),
        await shoot("tool-calls", "tools", out, until=idle, delay="0.002"),
        await shoot("structured-output", "structured", out, until=idle, delay="0.002"),
        await shoot(
            "interrupted-reply",
            "long",
            out,
            until=lambda app: len(app.chat_screen.replies[-1].text) > 900,
            escape=True,
        ),
        *await shoot_history(out),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYDANTIC_AI_NO_BANNER", "1")
    for written in asyncio.run(main(args.out)):
        print(written, file=sys.stderr)
