"""The chat's loader checks the history beside the imports, and opens it without checking it again."""

from __future__ import annotations

import threading

from xsus_tui import cli, loading, paths
from xsus_tui.config import Settings
from xsus_tui.core import db as core_db
from xsus_tui.core.store import SQLiteConversationStore

from .core.test_store_checked import scribbled
from .core.test_store_faults import make_db


def spy_on_open(monkeypatch) -> tuple[list[dict], list[str]]:
    opened: list[dict] = []
    checked_in: list[str] = []
    open_store = SQLiteConversationStore.open.__func__
    check = core_db.passes_quick_check

    def recording_open(cls, path, **options):
        opened.append(options)
        return open_store(cls, path, **options)

    def recording_check(path):
        checked_in.append(threading.current_thread().name)
        return check(path)

    monkeypatch.setattr(SQLiteConversationStore, "open", classmethod(recording_open))
    monkeypatch.setattr(core_db, "passes_quick_check", recording_check)
    return opened, checked_in


async def build(args: list[str]):
    loader = loading.ChatLoader(cli.build_parser().parse_args(args), Settings())
    try:
        return await loader.build()
    finally:
        loader.close()


async def test_a_sound_history_is_checked_in_the_background_and_opened_checked(xsus_home, monkeypatch):
    paths.history_db().parent.mkdir(parents=True, exist_ok=True)
    make_db(paths.history_db())
    opened, checked_in = spy_on_open(monkeypatch)
    setup = await build(["-c"])
    assert checked_in == ["xsus-store-check"]
    assert [options.get("checked") for options in opened] == [True]
    assert setup.notices == ["There is no saved conversation to continue yet, so this is a new one."]


async def test_a_damaged_history_is_still_moved_aside_with_its_notice(xsus_home, monkeypatch):
    paths.history_db().parent.mkdir(parents=True, exist_ok=True)
    scribbled(paths.history_db())
    opened, _ = spy_on_open(monkeypatch)
    setup = await build([])
    assert [options.get("checked") for options in opened] == [False]
    assert any("was unreadable; it was moved to" in notice for notice in setup.notices), setup.notices


async def test_no_history_yet_is_created_as_before(xsus_home, monkeypatch):
    opened, _ = spy_on_open(monkeypatch)
    await build([])
    assert [options.get("checked") for options in opened] == [False] and paths.history_db().is_file()
