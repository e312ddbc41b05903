"""Files attached to a prompt: `@path` mentions, pasted paths, reading a file safely, the user content it becomes.

A prompt with files is sent as a list of pydantic-ai `UserContent`: the typed text first (a `str`, so recall,
titles and search read it as before), then each file. A text file is one `TextContent` whose `content` is a fenced
block headed by its name (what the model reads); an image or a PDF is a `TextContent` label naming it, then a
`BinaryContent` carrying its bytes (stored base64 in the history). Each of our `TextContent`s carries
`metadata[METADATA_KEY]` (never sent to the model), so a stored prompt splits back into the typed text and its files
(`Prompt.from_content`) for the chat, a resumed conversation and the exports.

Reading never hangs and never reads more than the limit: a file is opened non-blocking, anything but a regular file
(a directory, a FIFO, `/dev/zero`) is refused from `fstat`, and at most `limit + 1` bytes are read. No Textual here.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .sanitize import storable

# pydantic-ai is imported inside the functions that build or read content: the prompt widget uses the path helpers
# here, and nothing on the way to the first frame may import pydantic-ai (tests/test_startup.py).

DEFAULT_LIMIT = 5 * 1024 * 1024
"""Bytes one attached file may have (config.toml `max_attachment_mb`): it is sent again with every later request."""
METADATA_KEY = "xsus_attachment"
"""The key of our TextContent's metadata (kept in the store, not sent to the model)."""
MAX_LISTED = 60
"""Entries the path completion lists at most."""

_IMAGES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class AttachmentError(Exception):
    """A file that can't be attached; the message is one line naming it and saying why."""


@dataclass(frozen=True)
class Attachment:
    """One attached file, as sent and as stored."""

    _: KW_ONLY
    name: str
    """How it is named to the model and on screen: the path as given, relative to the cwd or `~` when it can be."""
    size: int
    """Its size in bytes when it was read."""
    media_type: str
    """Its media type (`text/plain`, `image/png`, `application/pdf`, ...)."""
    items: tuple[Any, ...] = ()
    """The user content it becomes (a TextContent; or a label and a BinaryContent)."""
    source: Path | None = field(default=None, compare=False)
    """Where it was read from (None for one read back from the history): a prompt given back keeps its files."""

    @property
    def kind(self) -> str:
        """`text`, `image`, `PDF` or `file`: what the chip says it is."""
        if self.media_type.startswith("image/"):
            return "image"
        if self.media_type == "application/pdf":
            return "PDF"
        return "text" if self.media_type.startswith("text/") else "file"

    @property
    def label(self) -> str:
        """`notes.md · 1.2 KB`: the chip's words."""
        return f"{self.name} · {human_size(self.size)}"


@dataclass(frozen=True)
class Prompt:
    """What the user sends: the typed text and the files attached to it."""

    text: str
    """What the user typed (`@path`s typed whole stay in it; those completed into chips left it then)."""
    attachments: tuple[Attachment, ...] = ()
    """The files, in the order they were attached."""

    def content(self) -> str | list[Any]:
        """The UserPromptPart content: the text alone when nothing is attached."""
        if not self.attachments:
            return storable(self.text)
        items: list[Any] = [storable(self.text)] if self.text else []
        for attachment in self.attachments:
            items += attachment.items
        return items

    @classmethod
    def of(cls, prompt: str | Prompt) -> Prompt:
        return prompt if isinstance(prompt, Prompt) else cls(prompt)

    @classmethod
    def from_content(cls, content: str | Sequence[Any]) -> Prompt:
        """A stored prompt split back into its text and its files (a file another program put there, such as an
        ImageUrl, is shown by its URL)."""
        from pydantic_ai.messages import BinaryContent, TextContent

        if isinstance(content, str):
            return cls(content)
        texts: list[str] = []
        attachments: list[Attachment] = []
        label: Any = None
        for item in content:
            meta = _ours(item)
            if isinstance(item, str):
                texts.append(item)
            elif meta is not None and meta.get("label"):
                label = item
            elif meta is not None:
                size = int(meta.get("size") or 0)
                media = str(meta.get("media_type") or "text/plain")
                attachments.append(
                    Attachment(name=str(meta.get("name", "?")), size=size, media_type=media, items=(item,))
                )
            elif isinstance(item, BinaryContent):
                items = (label, item) if label is not None else (item,)
                name = item.identifier
                attachments.append(Attachment(name=name, size=len(item.data), media_type=item.media_type, items=items))
                label = None
            elif isinstance(item, TextContent):
                texts.append(item.content)
            elif url := getattr(item, "url", None):
                try:  # (its public media_type, given or inferred from the URL)
                    media = getattr(item, "media_type", None) or "file"
                except ValueError:  # a URL it can't tell the type of
                    media = "file"
                attachments.append(Attachment(name=str(url), size=0, media_type=str(media), items=(item,)))
        return cls(" ".join(texts), tuple(attachments))


def _ours(item: Any) -> dict[str, Any] | None:
    from pydantic_ai.messages import TextContent

    meta = getattr(item, "metadata", None) if isinstance(item, TextContent) else None
    found = meta.get(METADATA_KEY) if isinstance(meta, dict) else None
    return found if isinstance(found, dict) else None


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    for unit in ("KB", "MB", "GB"):
        size /= 1024  # type: ignore[assignment]
        if size < 1024 or unit == "GB":
            return f"{size:.1f} {unit}" if size < 10 else f"{size:.0f} {unit}"
    return f"{size} B"  # pragma: no cover


# -- reading a file --------------------------------------------------------------------------------------------


def display_name(path: Path, cwd: Path | None = None) -> str:
    """The path relative to the cwd when it is inside it, else with `~` for the home directory, else absolute."""
    cwd = cwd or Path.cwd()
    absolute = Path(os.path.abspath(path))
    for base, prefix in ((cwd, ""), (Path.home(), "~/")):
        try:
            return storable(prefix + str(absolute.relative_to(base)))
        except ValueError:
            continue
    return storable(str(absolute))


def read_file(
    path: Path, *, limit: int = DEFAULT_LIMIT, name: str | None = None, cwd: Path | None = None
) -> Attachment:
    """Read `path` into an Attachment, or raise AttachmentError saying why not in one line."""
    name = name or display_name(path, cwd)
    shown = _quoted(name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise AttachmentError(f"{shown}: no such file") from None
    except PermissionError:
        raise AttachmentError(f"{shown}: permission denied (not readable)") from None
    except IsADirectoryError:
        raise AttachmentError(f"{shown} is a directory: attach the files in it one by one") from None
    except OSError as error:
        raise AttachmentError(f"{shown}: {(error.strerror or str(error)).lower()}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise AttachmentError(f"{shown} is a directory: attach the files in it one by one")
        if not stat.S_ISREG(info.st_mode):
            what = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device" if _is_device(info.st_mode) else "a socket"
            raise AttachmentError(f"{shown} is {what}, not a regular file: not attached")
        if info.st_size > limit:
            raise AttachmentError(_too_large(shown, info.st_size, limit))
        chunks, total = [], 0
        while total <= limit:  # at most limit + 1 bytes, however the file grows meanwhile
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        data = b"".join(chunks)
    except OSError as error:
        raise AttachmentError(f"{shown}: {(error.strerror or str(error)).lower()}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise AttachmentError(_too_large(shown, len(data), limit))
    return replace(attachment_of(name, data), source=Path(path))


def _is_device(mode: int) -> bool:
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode)


def _too_large(shown: str, size: int, limit: int) -> str:
    return (
        f"{shown} is too large to attach ({human_size(size)}; the limit is {human_size(limit)}, "
        "max_attachment_mb in config.toml)"
    )


def _quoted(name: str) -> str:
    """A name as a message shows it: quoted when it has spaces, line breaks or other odd characters, and every
    control character escaped (`\\x1b`): a file named with an escape sequence wrote it raw to the terminal."""
    if name and all(char.isprintable() and not char.isspace() for char in name):
        return name
    escaped = name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    escaped = "".join(f"\\x{ord(char):02x}" if unicodedata.category(char) == "Cc" else char for char in escaped)
    return '"' + escaped + '"'


def attachment_of(name: str, data: bytes) -> Attachment:
    """The attachment `data` makes: an image or a PDF by its first bytes, else text if it is UTF-8 without NULs."""
    from pydantic_ai.messages import BinaryContent, TextContent

    media = _binary_type(data)
    if media is not None:
        label = TextContent(
            f"File {_quoted(name)} ({media}, {len(data):,} bytes):",
            metadata={METADATA_KEY: {"name": name, "label": True}},
        )
        binary = BinaryContent(data, media_type=media, identifier=name)
        return Attachment(name=name, size=len(data), media_type=media, items=(label, binary))
    if b"\x00" in data:
        raise AttachmentError(f"{_quoted(name)} is a binary file (not text, an image or a PDF): not attached")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AttachmentError(f"{_quoted(name)} is not UTF-8 text, an image or a PDF: not attached") from None
    ticks = "```"
    while ticks in text:
        ticks += "`"
    block = f"File {_quoted(name)}:\n{ticks}\n{text}{'' if text.endswith(chr(10)) or not text else chr(10)}{ticks}"
    meta = {METADATA_KEY: {"name": name, "size": len(data), "media_type": "text/plain"}}
    return Attachment(name=name, size=len(data), media_type="text/plain", items=(TextContent(block, metadata=meta),))


def _binary_type(data: bytes) -> str | None:
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((media for magic, media in _IMAGES if data.startswith(magic)), None)


def unsupported(prompt: Prompt, profile: Any) -> str | None:
    """One line when the model's profile says it takes no images (or no PDFs) and the prompt has one; None when
    nothing says so (profiles default to True: the provider's own error then comes back as the turn's error)."""
    if profile is None:
        return None
    for attachment in prompt.attachments:
        if attachment.kind == "image" and not profile.get("supports_image_input", True):
            return f"This model takes no images: {_quoted(attachment.name)} not sent (remove it with Backspace)"
        if attachment.kind == "PDF" and not profile.get("supports_document_input", True):
            return f"This model takes no PDFs: {_quoted(attachment.name)} not sent (remove it with Backspace)"
    return None


# -- @mentions and pasted paths ----------------------------------------------------------------------------------

_MENTION = re.compile(r'(?<!\S)@(?:"((?:[^"\\\n]|\\.)*)"|(\S+))')
"""`@path` or `@"path with spaces"` at the start of a word (so an email address is not one); `@@x` is not one."""


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    path: str
    """The path as written (quotes and their escapes taken off)."""


def mentions(text: str) -> list[Mention]:
    found = []
    for match in _MENTION.finditer(text):
        quoted, bare = match.group(1), match.group(2)
        if bare is not None and bare.startswith("@"):
            continue  # `@@name`: an @ meant as text
        path = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        found.append(Mention(match.start(), match.end(), path))
    return found


FILE_EXTENSIONS = frozenset(
    "md markdown rst txt text log csv tsv json jsonl ndjson yaml yml toml ini cfg conf env lock xml html htm css scss"
    " js mjs cjs jsx ts tsx py pyi ipynb rs go java kt swift c h cc cpp hpp cs rb php pl lua r jl scala sh bash zsh"
    " fish ps1 bat sql graphql proto tf vue svelte dart ex exs erl hs ml clj el vim diff patch png jpg jpeg gif"
    " webp svg bmp ico tif tiff heic pdf doc docx xls xlsx ppt pptx odt rtf epub zip tar gz tgz bz2 xz 7z mp3 wav"
    " ogg flac mp4 mov avi mkv webm".split()
)
"""What a missing `@name.ext` must end with to read as a file: `@notes.md` is a typo'd file, `@property.setter`
and `@functools.cache` are Python, sent as text."""


def _looks_like_path(path: str, *, quoted: bool = False) -> bool:
    """A mention of a file that isn't there is an error only when it reads as a path: quoted, with a `/`, from `~`
    or `.`, or a name with a file's extension (`@alice`, `@property.setter` are text)."""
    if quoted:
        return True
    if any(char in path for char in "()[]{}=\"'"):  # code (`@app.route("/x")`), not a path someone typed
        return False
    if "/" in path or path.startswith(("~", ".")):
        return True
    stem, dot, extension = path.rpartition(".")
    return bool(dot and stem) and extension.lower() in FILE_EXTENSIONS


def expand(path: str, cwd: Path | None = None) -> Path:
    expanded = Path(os.path.expanduser(path))
    return expanded if expanded.is_absolute() else (cwd or Path.cwd()) / expanded


def take_mentions(text: str, *, cwd: Path | None = None, limit: int = DEFAULT_LIMIT) -> tuple[str, list[Attachment]]:
    """The `@path` mentions of existing files (and of missing ones that read as paths) read as attachments, and the
    text to send: as typed, the mentions in place (`compare @a.md with @b.md` says which is which; taken out, it
    read `compare with`), `@@` as one `@`. Raises AttachmentError for the first that can't be attached."""
    found: list[Attachment] = []
    for mention in mentions(text):
        path = expand(mention.path, cwd)
        if not os.path.lexists(path):  # `see @a.txt, then`, `@a.txt:12`, `@a.txt's`: the file, the rest is text
            trimmed = re.sub(r"(?:'s|:\d+(?::\d+)?)$", "", mention.path.rstrip(",.;:!?)")).rstrip(",.;:!?)")
            if trimmed != mention.path and trimmed:
                mention = Mention(mention.start, mention.end - (len(mention.path) - len(trimmed)), trimmed)
                path = expand(trimmed, cwd)
        if not os.path.lexists(path):
            if not _looks_like_path(mention.path, quoted=text.startswith('@"', mention.start)):
                continue  # `@alice`, `@property.setter`: text
            raise AttachmentError(f"{_quoted(storable(mention.path))}: no such file (@@ writes a plain @)")
        found.append(read_file(path, limit=limit, name=storable(mention.path)))
    return re.sub(r"(?<!\S)@@", "@", text), found


def same_file(one: Attachment, other: Attachment) -> bool:
    """Whether two attachments are one file (`@a.txt` and `@./a.txt`, a link and its target), or, read back from
    the history (no path), have one name."""
    if one.source is not None and other.source is not None:
        try:
            return os.path.samefile(one.source, other.source)
        except OSError:
            return one.source == other.source
    return one.name == other.name


def mention_of(path: str) -> str:
    """The `@path` that attaches `path` when typed into the prompt (quoted when it has spaces or quotes). A path
    with a control character (an escape sequence, a line break) can't be typed back: it is shown inert instead
    (`␛`), never written raw to the terminal."""
    from .sanitize import inert

    if any(unicodedata.category(char) == "Cc" for char in path):
        return "@" + _quoted(inert(path))
    if path and not path.startswith("@") and not any(char.isspace() or char in '"\\' for char in path):
        return "@" + path
    return '@"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mentioned_sources(text: str, cwd: Path | None = None) -> set[Path]:
    """The files the `@path` mentions in `text` name (whether or not they exist)."""
    sources = set()
    for mention in mentions(text):
        sources.add(expand(mention.path, cwd))
        sources.add(expand(mention.path.rstrip(",.;:!?)"), cwd))
    return sources


def pasted_path(text: str, cwd: Path | None = None) -> Path | None:
    """The file a paste names when it is exactly one existing file's path (possibly quoted, `file://`, or with
    backslash-escaped spaces as terminals drop them); None for anything else."""
    text = text.strip()
    if not text or "\n" in text or len(text) > 4096:
        return None
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    if text.startswith("file://"):
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            return None
        text = unquote(parts.path)
    elif "\\" in text and not os.path.lexists(expand(text, cwd)):
        text = re.sub(r"\\(.)", r"\1", text)
    if not text.startswith(("/", "~", "./", "../")):
        return None  # a pasted word is text, even when a file of that name happens to be here
    try:
        path = expand(text, cwd)
        return path if path.is_file() else None
    except (OSError, ValueError):
        return None


# -- completing a path ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Completing:
    """The mention being typed at the cursor."""

    start: int
    """Where its `@` is in the text."""
    partial: str
    """The path typed so far."""
    quoted: bool


def completing(text: str, cursor: int) -> Completing | None:
    """The `@path` being typed that ends at `cursor` (an offset into `text`), or None."""
    before = text[:cursor]
    at = before.rfind("@")
    while at >= 0:
        if at == 0 or before[at - 1].isspace():
            break
        at = before.rfind("@", 0, at)
    if at < 0 or (at + 1 < len(before) and before[at + 1] == "@"):
        return None
    partial = before[at + 1 :]
    if partial.startswith('"'):
        if '"' in partial[1:] or "\n" in partial:
            return None
        return Completing(at, partial[1:], True)
    if any(char.isspace() for char in partial):
        return None
    return Completing(at, partial, False)


@dataclass(frozen=True)
class PathEntry:
    path: str
    """The path as it would be written after `@` (directories end with `/`)."""
    is_dir: bool
    size: int | None = None


def path_entries(partial: str, cwd: Path | None = None, *, limit: int = MAX_LISTED) -> list[PathEntry]:
    """The files and directories whose path starts with `partial` (relative to the cwd, `~` expanded): directories
    first, then files, each sorted; dot-files only when the partial's last part starts with a dot."""
    head, _, prefix = partial.rpartition("/")
    directory = expand(head + "/" if head or partial.startswith("/") else ".", cwd)
    shown_head = head + "/" if head or partial.startswith("/") else ""
    entries: list[PathEntry] = []
    try:
        with os.scandir(directory) as scan:
            for entry in scan:
                name = entry.name
                if not name.startswith(prefix) or (name.startswith(".") and not prefix.startswith(".")):
                    continue
                try:
                    is_dir = entry.is_dir()
                    size = None if is_dir else entry.stat().st_size
                except OSError:
                    is_dir, size = False, None
                entries.append(PathEntry(storable(shown_head + name + ("/" if is_dir else "")), is_dir, size))
                if len(entries) >= limit * 20:  # a huge directory: enough to choose from
                    break
    except OSError:
        return []
    entries.sort(key=lambda entry: (not entry.is_dir, entry.path.lower()))
    return entries[:limit]
