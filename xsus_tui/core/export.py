"""Exporting a conversation: pydantic-ai's JSON message list, or readable markdown."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
from pydantic_ai.conversation_store import ConversationEntry
from pydantic_ai.messages import (
    CompactionPart,
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)

from .attachments import human_size
from .events import ERROR_METADATA_KEY, STEERED_METADATA_KEY
from .index import ConversationTree, TreeLine, Version
from .replay import pair_tool_results, prompt_files, prompt_text
from .sanitize import inert
from .translate import result_or_error


def to_json(messages: list[ModelMessage]) -> str:
    """The messages as pydantic-ai writes them: load back with `ModelMessagesTypeAdapter`."""
    return ModelMessagesTypeAdapter.dump_json(messages, indent=2).decode()


class NotWritten(Exception):
    """`write_private` wrote nothing: the message says why, in one line."""

    def __init__(self, message: str, *, exists: bool = False) -> None:
        super().__init__(message)
        self.exists = exists
        """The path exists and replacing it was not asked for."""


def write_private(path: Path, text: str, *, replace: bool = False) -> None:
    """Write `text` to `path` as a new file readable by its owner only (0600). An existing file is replaced only
    with `replace`, and then whole or not at all: the text goes to a new file beside it first, which then takes its
    name (so a full disk leaves the old file as it was, and a symlink is replaced, not written through)."""
    if path.exists() or path.is_symlink():
        if not replace:
            raise NotWritten(f"{path} exists", exists=True)
    elif not path.parent.is_dir():
        raise NotWritten(f"cannot write {path}: no such file or directory")
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp makes it 0600
    except OSError as error:
        raise NotWritten(f"cannot write {path}: {(error.strerror or str(error)).lower()}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        if not replace and (path.exists() or path.is_symlink()):
            raise NotWritten(f"{path} exists", exists=True)
        os.replace(temporary, path)
    except OSError as error:
        raise NotWritten(f"cannot write {path}: {(error.strerror or str(error)).lower()}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _fence(text: str, lang: str = "") -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{lang}\n{text}\n{ticks}"


def to_markdown(messages: list[ModelMessage], *, title: str, conversation_id: str) -> str:
    """A readable transcript: prompts, replies, thinking, tool calls with their results.

    Turns are separated by rules and labelled in bold, so the headings inside replies keep their levels.
    """
    out = [f"# {title}", "", f"Conversation `{conversation_id}`", "", *_transcript(messages)]
    # A transcript is read in a terminal: model and tool text must not carry live control sequences.
    return inert("\n".join(out).rstrip()) + "\n"


def _files(part: UserPromptPart) -> list[str]:
    """The files attached to a prompt: a line each; a text file's content follows it as the model read it."""
    out: list[str] = []
    for attachment in prompt_files(part):
        out += [f"📎 *Attached* `{attachment.name}` ({attachment.kind}, {human_size(attachment.size)})", ""]
        if attachment.kind == "text":
            body = attachment.items[0].content.split("\n", 1)[-1]  # (its first line names the file: said above)
            out += [body, ""]
    return out


def transcript(messages: Sequence[ModelMessage], *, tool_result_chars: int | None = None) -> str:
    """`messages` as markdown (what compaction asks a summary of); tool results cut at `tool_result_chars`."""
    return "\n".join(_transcript(messages, tool_result_chars=tool_result_chars)).strip()


def _transcript(messages: Sequence[ModelMessage], *, tool_result_chars: int | None = None) -> list[str]:
    """The markdown lines of `messages`."""
    results = pair_tool_results(list(messages))
    out: list[str] = []
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, CompactionPart) and part.provider_name is None and part.content:
                    out += ["---", "", "**Summary of the earlier conversation**", "", part.content, ""]
                elif isinstance(part, UserPromptPart):
                    steered = (message.metadata or {}).get(STEERED_METADATA_KEY)  # typed while the reply ran
                    who = "**You** · *sent while the reply ran*" if steered else "**You**"
                    out += ["---", "", who, "", prompt_text(part), ""]
                    out += _files(part)
        elif isinstance(message, ModelResponse):
            if not message.parts and not (message.metadata or {}).get(ERROR_METADATA_KEY):
                continue  # an attempt that produced nothing
            out += [f"**Assistant** · {message.model_name or 'model'}", ""]
            for part in message.parts:
                if isinstance(part, TextPart):
                    out += [part.content, ""]
                elif isinstance(part, ThinkingPart) and part.content:
                    quoted = "\n".join(f"> {line}" for line in part.content.splitlines())
                    out += ["> *thinking*", ">", quoted, ""]
                elif isinstance(part, ToolCallPart):
                    args = json.dumps(part.args_as_dict(), indent=2) if part.args else "{}"
                    out += [f"*Tool call* `{part.tool_name}`", "", _fence(args, "json"), ""]
                    result = results.get(id(part))
                    if result is not None:
                        text, error = result_or_error(result)
                        denied = isinstance(result, ToolReturnPart) and result.outcome == "denied"
                        label = "Denied" if denied else "Result" if error is None else "Error"
                        shown = text if error is None else error
                        if tool_result_chars is not None and len(shown) > tool_result_chars:
                            shown = (
                                f"{shown[:tool_result_chars]}\n… ({len(shown) - tool_result_chars:,} more characters)"
                            )
                        out += [f"{label}:", "", _fence(shown), ""]
            error = (message.metadata or {}).get(ERROR_METADATA_KEY)
            if error:
                out += [f"*(reply failed: {error})*", ""]
            elif getattr(message, "state", None) == "interrupted":
                out += ["*(reply interrupted)*", ""]
    return out


# -- every branch: the tree document, and markdown with each other version ------------------------------

TREE_FORMAT = "xsus-conversation-tree"
TREE_VERSION = 1


def to_tree_json(
    entries: Sequence[ConversationEntry], *, conversation_id: str, title: str | None, head_id: str | None
) -> str:
    """A conversation with every version of its turns: each entry (after its parent) with its pydantic-ai message.
    `xsus history import` (`read_import`) makes it a conversation again, with the same tree."""
    messages = json.loads(ModelMessagesTypeAdapter.dump_json([entry.message for entry in entries]))
    document = {
        "format": TREE_FORMAT,
        "version": TREE_VERSION,
        "conversation_id": conversation_id,
        "title": title,
        "head_id": head_id,
        "entries": [
            {"id": entry.id, "parent_id": entry.parent_id, "message": message}
            for entry, message in zip(entries, messages, strict=True)
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def to_markdown_all_branches(
    current: list[ModelMessage],
    tree: ConversationTree,
    messages: dict[str, ModelMessage],
    *,
    title: str,
    conversation_id: str,
) -> str:
    """`to_markdown` of the current branch, then each other version of a turn as its own section ("## Turn 2,
    version 1 of 3"), in the tree's order; a turn that only exists after another version says which.
    `messages` holds every entry's message by entry id."""
    out = [f"# {title}", "", f"Conversation `{conversation_id}`", "", *_transcript(current)]
    lines = [line for line in tree.lines() if not line.current]
    if lines:
        out += ["---", "", "# Other versions", ""]
    for line in lines:
        version = line.version
        heading = f"## Turn {version.turn}, version {line.position} of {line.of}"
        if (after := _version_before(tree, version)) is not None and not after.current:
            heading += f" (after turn {after.version.turn}, version {after.position} of {after.of})"
        section = _transcript([messages[entry_id] for entry_id in _turn_entries(tree, version)])
        out += [heading, "", *(section[2:] if section[:2] == ["---", ""] else section)]
    return inert("\n".join(out).rstrip()) + "\n"


def _turn_entries(tree: ConversationTree, version: Version) -> list[str]:
    """The entries of one version of a turn: its prompt, then its reply up to the next turn's prompt."""
    path = []
    entry_id: str | None = version.tip
    while entry_id is not None and entry_id != version.prompt_id:
        path.append(entry_id)
        entry_id = tree.nodes[entry_id].parent_id
    path.append(version.prompt_id)
    path.reverse()
    turn = [path[0]]
    for entry_id in path[1:]:
        if tree.is_prompt(tree.nodes[entry_id]):
            break
        turn.append(entry_id)
    return turn


def _version_before(tree: ConversationTree, version: Version) -> TreeLine | None:
    """The line of the version of the previous turn that `version` follows."""
    above = []
    entry_id = tree.nodes[version.prompt_id].parent_id
    while entry_id is not None and not tree.is_prompt(tree.nodes[entry_id]):
        above.append(entry_id)
        entry_id = tree.nodes[entry_id].parent_id
    if entry_id is None:
        return None
    for line in tree.lines():
        if line.version.prompt_id == entry_id and (line.version.reply_id is None or line.version.reply_id in above):
            return line
    return None


# -- reading back what was exported -------------------------------------------------------------------


class NotImportable(ValueError):
    """A file that is not something `xsus history import` takes; the message is one line."""


@dataclass
class Imported:
    """What an import file holds: a message list (`entries` empty) or a whole tree."""

    messages: list[ModelMessage] = field(default_factory=list)
    entries: list[ConversationEntry] = field(default_factory=list)
    head_id: str | None = None
    title: str | None = None


def read_import(text: str) -> Imported:
    """A pydantic-ai JSON message list (`export --format json`) or an xsus conversation tree (`--all-branches`);
    `NotImportable` for anything else."""
    if not text.strip():
        raise NotImportable("an empty file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotImportable(f"not JSON ({error.msg} at line {error.lineno}, column {error.colno})") from None
    except RecursionError:
        raise NotImportable("not JSON that can be read (nested too deeply)") from None
    if isinstance(data, list):
        if not data:
            raise NotImportable("an empty message list")
        return Imported(messages=_messages(text, "message list"))
    if isinstance(data, dict) and data.get("format") == TREE_FORMAT:
        return _tree(data)
    raise NotImportable(
        "neither a pydantic-ai message list (xsus history export --format json) nor an xsus conversation tree"
        " (--all-branches)"
    )


def _messages(text: str, what: str, unit: str = "message") -> list[ModelMessage]:
    try:
        return ModelMessagesTypeAdapter.validate_json(text)
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        loc = list(first["loc"])
        number = loc[0] if loc and isinstance(loc[0], int) else None
        where = f"{unit} {(number or 0) + 1}"
        detail = ".".join(str(part) for part in loc[2:]) if number is not None else ""
        more = f" (and {error.error_count() - 1} more problems)" if error.error_count() > 1 else ""
        problem = first["msg"] if len(first["msg"]) <= 100 else first["msg"][:99].rstrip() + "…"
        raise NotImportable(
            f"not a pydantic-ai {what}: {where}{f' at {detail}' if detail else ''}: {problem}{more}"
        ) from None


def _tree(data: dict[str, Any]) -> Imported:
    version = data.get("version")
    if version != TREE_VERSION:
        raise NotImportable(
            f"an xsus conversation tree of version {version!r} (from a newer xsus?);"
            f" this one reads version {TREE_VERSION}"
        )
    entries = data.get("entries")
    if not isinstance(entries, list) or not entries:
        raise NotImportable("an xsus conversation tree without entries")
    seen: set[str] = set()
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or "message" not in entry:
            raise NotImportable(f"an xsus conversation tree whose entry {number} has no id or no message")
        parent = entry.get("parent_id")
        if parent is not None and parent not in seen:
            raise NotImportable(f"an xsus conversation tree whose entry {number} comes before its parent")
        if entry["id"] in seen:
            raise NotImportable(f"an xsus conversation tree with entry id {entry['id']!r} twice")
        seen.add(entry["id"])
    head_id = data.get("head_id")
    if head_id is not None and head_id not in seen:
        raise NotImportable("an xsus conversation tree whose head_id is none of its entries")
    title = data.get("title")
    messages = _messages(json.dumps([entry["message"] for entry in entries]), "conversation tree", "entry")
    return Imported(
        entries=[
            ConversationEntry(id=entry["id"], parent_id=entry.get("parent_id"), message=message)
            for entry, message in zip(entries, messages, strict=True)
        ],
        head_id=head_id,
        title=title if isinstance(title, str) and title.strip() else None,
    )
