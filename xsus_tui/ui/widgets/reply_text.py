"""A reply's markdown text, streamed so that its cost does not grow with the reply.

Textual's `Markdown.append` only re-parses the last block, but every block stays a widget that each
layout pass walks, so a stock `MarkdownStream` gets slower the longer the reply: at 100 KB every
frame walks thousands of block widgets. `ReplyText` keeps the growing part small instead:

- the text is written into a *live* `Markdown` chunk; once that chunk holds `CHUNK_BLOCKS` blocks it
  is *sealed*: its finished blocks stay where they are and the last, still growing block moves to a
  new live chunk. Only the live chunk is ever parsed or updated again;
- sealed chunks are plain `Markdown` widgets (selection, links and themes work as usual), and
  `folding.py` folds the ones far from the viewport to a fixed-height box with no child widgets in
  the layout, so a frame costs the same at 1 KB and at 1 MB;
- updates are applied at most `FRAME_RATE` times a second: deltas that arrive meanwhile are joined
  into one append (the first delta of a reply is shown at once).
"""

from __future__ import annotations

import asyncio
import time

from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Markdown

CHUNK_BLOCKS = 12
"""Blocks a live chunk may hold before its finished blocks are sealed."""
FRAME_RATE = 60
"""Most markdown updates per second."""


class ReplyChunk(Markdown):
    """Part of a reply's text; sealed chunks are never updated again and may be folded."""

    def __init__(self) -> None:
        super().__init__(classes="reply-chunk")
        self.sealed = False

    @property
    def foldable(self) -> bool:
        return self.sealed


class ReplyText(Vertical):
    """One run of reply text between panels, written delta by delta."""

    holds_foldables = True

    class Sealed(Message):
        """A chunk was sealed: the chat may fold what scrolled far away."""

    DEFAULT_CSS = """
    ReplyText {
        height: auto;
        & > ReplyChunk {
            margin: 0;
            padding: 0;
            background: transparent;
        }
    }
    """

    def __init__(self) -> None:
        super().__init__(classes="reply-text")
        self._live: ReplyChunk | None = None
        self._queued: list[str] = []
        self._wakeup = asyncio.Event()
        self._updater: asyncio.Task | None = None
        self._frame_time = 1 / FRAME_RATE
        self._update_lock = asyncio.Lock()
        self._trimmed: Widget | None = None
        """The live chunk's first block, once its top margin is trimmed."""

    @property
    def chunks(self) -> list[ReplyChunk]:
        return list(self.query_children(ReplyChunk))

    @property
    def source(self) -> str:
        """The markdown shown so far (pending text included)."""
        return "".join(chunk.source for chunk in self.chunks) + "".join(self._queued)

    async def write(self, text: str) -> None:
        """Queue text; it is shown with the next frame."""
        if not text:
            return
        self._queued.append(text)
        if self._updater is None:
            self._updater = asyncio.create_task(self._run(), name="reply-text")
        self._wakeup.set()
        await asyncio.sleep(0)

    async def finish(self) -> None:
        """Show whatever is still queued and stop updating."""
        if self._updater is not None:
            task, self._updater = self._updater, None
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        await self._flush()

    async def on_unmount(self) -> None:
        if self._updater is not None:
            self._updater.cancel()
            self._updater = None

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            started = time.perf_counter()
            await asyncio.shield(self._flush())
            # At most one update a frame: what arrives meanwhile is joined into the next one.
            await asyncio.sleep(max(0.0, self._frame_time - (time.perf_counter() - started)))

    async def _flush(self) -> None:
        async with self._update_lock:  # finish() waits for an update in flight
            self._wakeup.clear()
            if not self._queued or not self.is_mounted:
                return
            text = "".join(self._queued)
            self._queued.clear()
            if self._live is None:
                self._live = ReplyChunk()
                await self.mount(self._live)
            await self._live.append(text)
            self._collapse_margins()  # the first block may have been replaced
            if len(self._live.children) > CHUNK_BLOCKS:
                await self._seal()
                self._collapse_margins()

    async def _seal(self) -> None:
        """Leave the live chunk's finished blocks where they are; its last block starts a new chunk."""
        live = self._live
        assert live is not None
        start = getattr(live, "_last_parsed_line", None)  # where Textual's parser resumes: the last block
        if not isinstance(start, int) or start <= 0:
            return
        lines = live.source.splitlines(keepends=True)
        head, tail = "".join(lines[:start]), "".join(lines[start:])
        if not head.strip() or not tail:
            return
        follower = ReplyChunk()
        with self.app.batch_update():
            await live.children[-1].remove()
            live._markdown = head  # keep `source` true to what the sealed chunk shows
            live.sealed = True
            await self.mount(follower)
            await follower.append(tail)
        self._live = follower
        self.post_message(self.Sealed())

    def _collapse_margins(self) -> None:
        """Blocks in one chunk share the space between them (the larger margin wins); across chunks,
        trim the live chunk's first top margin so a reply looks the same however it was chunked."""
        live = self._live
        chunks = self.children
        if live is None or len(chunks) < 2 or not live.children or not chunks[-2].children:
            return
        above, first = chunks[-2].children[-1], live.children[0]
        if first is self._trimmed:
            return
        self._trimmed = first
        top, right, bottom, left = first.styles.margin
        first.styles.margin = (max(0, top - above.styles.margin.bottom), right, bottom, left)
