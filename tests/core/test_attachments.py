"""Attachments in the engine: reading a file (text, image, PDF, too large, missing, odd files), the content a prompt
with files becomes, what the store keeps and gives back, mentions, pasted paths and path completion."""

from __future__ import annotations

import os
import threading

import pytest
from pydantic_ai.messages import BinaryContent, ModelRequest, TextContent, UserPromptPart

from xsus_tui.core import attachments as att
from xsus_tui.core.attachments import AttachmentError, Prompt, read_file, take_mentions
from xsus_tui.core.export import to_json, to_markdown
from xsus_tui.core.replay import past_turns, user_prompts
from xsus_tui.core.session import ChatSession
from xsus_tui.core.store import SQLiteConversationStore

from .helpers import chat_agent

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x01" * 20


@pytest.fixture
def files(tmp_path):
    (tmp_path / "notes.md").write_text("hello\n```py\nx = 1\n```\n")
    (tmp_path / "cat.png").write_bytes(PNG)
    (tmp_path / "doc.pdf").write_bytes(b"%PDF-1.7\n...")
    (tmp_path / "tool.bin").write_bytes(b"\x7fELF\x00\x01")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "sub").mkdir()
    return tmp_path


def test_a_text_file_is_a_fenced_block_headed_by_its_name(files):
    attachment = read_file(files / "notes.md", cwd=files)
    assert (attachment.name, attachment.kind, attachment.size) == ("notes.md", "text", 22)
    (item,) = attachment.items
    assert isinstance(item, TextContent)
    # The file holds a ``` fence: the block's own fence is longer, so it can't be closed early.
    assert item.content == "File notes.md:\n````\nhello\n```py\nx = 1\n```\n````"


def test_an_image_and_a_pdf_are_binary_content_named_by_a_label(files):
    image = read_file(files / "cat.png", cwd=files)
    label, binary = image.items
    assert isinstance(binary, BinaryContent) and binary.media_type == "image/png" and binary.data == PNG
    assert binary.identifier == "cat.png" and label.content == f"File cat.png (image/png, {len(PNG)} bytes):"
    assert read_file(files / "doc.pdf", cwd=files).media_type == "application/pdf"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("missing.txt", "missing.txt: no such file"),
        ("sub", "sub is a directory: attach the files in it one by one"),
        ("tool.bin", "tool.bin is a binary file (not text, an image or a PDF): not attached"),
        ("latin1.txt", "latin1.txt is not UTF-8 text, an image or a PDF: not attached"),
    ],
)
def test_a_file_that_cannot_be_attached_says_why_in_one_line(files, name, error):
    with pytest.raises(AttachmentError) as raised:
        read_file(files / name, cwd=files)
    assert str(raised.value) == error


def test_too_large_is_refused_from_its_size_and_names_the_limit(files):
    (files / "big.txt").write_text("x" * 2049)
    with pytest.raises(AttachmentError, match=r"^big.txt is too large to attach \(2.0 KB; the limit is 2.0 KB"):
        read_file(files / "big.txt", limit=2048, cwd=files)
    assert read_file(files / "big.txt", limit=2049, cwd=files).size == 2049


def test_an_unreadable_file_says_permission_denied(files):
    secret = files / "secret.txt"
    secret.write_text("no")
    secret.chmod(0)
    if os.access(secret, os.R_OK):
        pytest.skip("running as root: every file is readable")
    with pytest.raises(AttachmentError, match="permission denied"):
        read_file(secret, cwd=files)


def test_a_fifo_and_a_device_never_hang_and_are_refused(files):
    os.mkfifo(files / "pipe")
    done: list[str] = []

    def attempt():  # a blocking open of a FIFO with no writer would hang here forever
        for path in (files / "pipe", "/dev/zero"):
            try:
                read_file(path, cwd=files)
            except AttachmentError as error:
                done.append(str(error))

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(5)
    assert done == [
        "pipe is a FIFO, not a regular file: not attached",
        "/dev/zero is a device, not a regular file: not attached",
    ]


def test_a_symlink_attaches_its_target_under_the_name_given(files):
    (files / "link.md").symlink_to(files / "notes.md")
    assert read_file(files / "link.md", cwd=files).name == "link.md"
    (files / "dangling").symlink_to(files / "gone")
    with pytest.raises(AttachmentError, match="no such file"):
        read_file(files / "dangling", cwd=files)


def test_odd_names_are_quoted_in_the_header_and_messages(files):
    odd = files / "a b\n\u202ec.txt"
    odd.write_text("x")
    attachment = read_file(odd, cwd=files)
    assert attachment.items[0].content.startswith('File "a b\\n\u202ec.txt":\n')
    odd.unlink()
    with pytest.raises(AttachmentError, match=r'^"a b\\n\u202ec.txt": no such file$'):
        read_file(odd, cwd=files)


def test_mentions_attach_existing_files_and_leave_words_and_emails(files):
    text, found = take_mentions('see @notes.md, @"cat.png" and mail bob@example.com @alice @@notes.md', cwd=files)
    assert [a.name for a in found] == ["notes.md", "cat.png"]
    assert text == 'see @notes.md, @"cat.png" and mail bob@example.com @alice @notes.md'  # as typed: which is which
    with pytest.raises(AttachmentError, match=r"^docs/missing.md: no such file \(@@ writes a plain @\)$"):
        take_mentions("read @docs/missing.md", cwd=files)
    assert take_mentions("no mention", cwd=files) == ("no mention", [])


@pytest.mark.parametrize(
    "missing", ["@missing.md", "@report.PDF", '@"no such"', "@./x", "@~/nowhere.txt", "@a/b", "@.env"]
)
def test_a_missing_file_is_an_error_when_the_mention_reads_as_a_file(files, missing):
    with pytest.raises(AttachmentError, match="no such file"):
        take_mentions(f"read {missing} please", cwd=files)


def test_python_decorators_and_dotted_names_are_text(files):
    text = "use @property.setter, @functools.cache, @app.route or @pytest.mark.parametrize and @dataclass"
    assert take_mentions(text, cwd=files) == (text, [])


def test_a_pasted_path_is_recognised_quoted_as_a_url_or_escaped(files):
    (files / "my file.txt").write_text("x")
    target = files / "my file.txt"
    assert att.pasted_path(str(target)) == target
    assert att.pasted_path(f"'{target}'\n") == target
    assert att.pasted_path("file://" + str(target).replace(" ", "%20")) == target
    assert att.pasted_path(str(target).replace(" ", "\\ ")) == target
    assert att.pasted_path(str(files / "sub")) is None  # a directory: pasted as text
    assert att.pasted_path("notes.md", files) is None  # a word, even if a file has that name
    assert att.pasted_path(f"{target}\n{target}") is None
    assert att.pasted_path("file://otherhost/etc/hosts") is None


def test_completing_reads_the_mention_at_the_cursor(files):
    assert att.completing("see @no", 7) == att.Completing(4, "no", False)
    assert att.completing('@"my f', 6) == att.Completing(0, "my f", True)
    assert (
        att.completing("bob@ex", 6) is None and att.completing("@@x", 3) is None and att.completing("@a b", 4) is None
    )
    assert [e.path for e in att.path_entries("", files)] == [
        "sub/",
        "cat.png",
        "doc.pdf",
        "latin1.txt",
        "notes.md",
        "tool.bin",
    ]
    assert [e.path for e in att.path_entries("n", files)] == ["notes.md"]
    assert att.path_entries("nothing/", files) == []


def test_a_prompt_with_files_splits_back_from_its_stored_content(files):
    prompt = Prompt("look", (read_file(files / "notes.md", cwd=files), read_file(files / "cat.png", cwd=files)))
    back = Prompt.from_content(prompt.content())
    assert back.text == "look" and [(a.name, a.kind, a.size) for a in back.attachments] == [
        ("notes.md", "text", 22),
        ("cat.png", "image", len(PNG)),
    ]
    assert Prompt.from_content(back.content()).content() == prompt.content()  # sent again as it was
    assert Prompt("plain").content() == "plain"


async def test_a_turn_with_files_is_stored_sent_and_given_back(files, tmp_path):
    seen = []

    async def stream(messages, info):
        seen.append(messages[-1].parts[-1].content)
        yield "ok"

    store = SQLiteConversationStore.open(tmp_path / "history.db")
    try:
        session = ChatSession(chat_agent(stream), store)
        prompt = Prompt(
            "what is this", (read_file(files / "cat.png", cwd=files), read_file(files / "notes.md", cwd=files))
        )
        [event async for event in session.run_turn(prompt)]
        assert seen[0][0] == "what is this" and any(isinstance(i, BinaryContent) and i.data == PNG for i in seen[0])
        loaded = await store.load(session.conversation.conversation_id)
        part = loaded.messages[0].parts[0]
        assert Prompt.from_content(part.content).attachments[0].items[1].data == PNG  # the bytes survive the store
        (turn,) = past_turns(loaded.messages)
        assert turn.prompt == "what is this" and [a.name for a in turn.attachments] == ["cat.png", "notes.md"]
        assert user_prompts(loaded.messages) == ["what is this"]
        summary = await store.summary(session.conversation.conversation_id)
        assert summary.title == "what is this"
        again = await session.regenerate()  # /retry sends the files again
        assert isinstance(again, Prompt) and again.content() == prompt.content()
    finally:
        store.close()


def test_exports_keep_the_files():
    content = Prompt("hi", (att.attachment_of("a.txt", b"alpha\n"), att.attachment_of("p.png", PNG))).content()
    messages = [ModelRequest(parts=[UserPromptPart(content)])]
    markdown = to_markdown(messages, title="T", conversation_id="c")
    assert "**You**\n\nhi\n\n📎 *Attached* `a.txt` (text, 6 B)\n\n```\nalpha\n```" in markdown
    assert "📎 *Attached* `p.png` (image, 48 B)" in markdown
    assert '"data":"' in to_json(messages).replace(" ", "") and "p.png" in to_json(messages)


def test_a_model_whose_profile_takes_no_images_is_said_before_sending(files):
    prompt = Prompt("x", (read_file(files / "cat.png", cwd=files),))
    assert att.unsupported(prompt, {"supports_image_input": False}).startswith("This model takes no images: cat.png")
    assert att.unsupported(prompt, {}) is None and att.unsupported(prompt, None) is None


def test_the_limit_is_set_in_config_toml(tmp_path):
    from xsus_tui.config import ConfigError, load_settings

    config = tmp_path / "config.toml"
    config.write_text("max_attachment_mb = 0.5\n")
    assert load_settings(config).max_attachment_mb == 0.5
    config.write_text("max_attachment_mb = 0\n")
    with pytest.raises(ConfigError, match=r"config.toml:1: max_attachment_mb must be between 0.001 and 100, not 0"):
        load_settings(config)


def test_a_stored_url_item_is_shown_by_its_url_and_media_type():
    """A prompt another program stored with ImageUrl / DocumentUrl items: each is a file named by its URL."""
    from pydantic_ai.messages import DocumentUrl, ImageUrl

    from xsus_tui.core.attachments import Prompt

    prompt = Prompt.from_content(["look", ImageUrl("https://x.test/a.png"), DocumentUrl("https://x.test/noext")])
    assert prompt.text == "look"
    assert [(a.name, a.media_type) for a in prompt.attachments] == [
        ("https://x.test/a.png", "image/png"),
        ("https://x.test/noext", "file"),  # a type the URL doesn't tell
    ]


def test_code_after_an_at_is_text_and_a_file_with_a_line_or_an_apostrophe_is_attached(files):
    text = 'use @app.route("/x") or @router.get("/items/{id}")'
    assert take_mentions(text, cwd=files) == (text, [])
    for typed in ("see @notes.md:12 and", "see @notes.md:12:3", "@notes.md's second line"):
        assert [a.name for a in take_mentions(typed, cwd=files)[1]] == ["notes.md"], typed


def test_names_with_control_characters_never_reach_the_terminal_raw(files):
    from xsus_tui.core.attachments import mention_of, mentions

    hostile = "e\x1b]0;PWNED\x07\x1b[31mred.txt"
    with pytest.raises(AttachmentError) as raised:
        read_file(files / hostile, cwd=files)
    assert "\x1b" not in str(raised.value) and "\\x1b]0;PWNED\\x07" in str(raised.value)
    shown = mention_of(str(files / hostile))
    assert "\x1b" not in shown and "\x07" not in shown
    assert [m.path for m in mentions(mention_of(str(files / "my notes.md")))] == [str(files / "my notes.md")]
