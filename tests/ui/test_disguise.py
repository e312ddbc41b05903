"""Text cannot disguise itself: bidi controls, zero-width characters and line separators are shown,
in replies, tool panels, the prompt as shown, and the markdown export."""

from __future__ import annotations

from pydantic_ai.messages import ModelResponse
from pydantic_ai.models.function import DeltaToolCall

from xsus_tui.core.export import to_markdown
from xsus_tui.core.sanitize import inert

from ..core.helpers import chat_agent
from .helpers import SIZE, make_app, rendered_text, send, wait_idle

HIDDEN = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u2060\ufeff\u2028\u2029"
INVISIBLE = set(HIDDEN) | {"\u200c", "\u200d"}


def test_inert_shows_every_disguising_character() -> None:
    shown = inert(f"a{HIDDEN}b pay\u200dpal \u200cx")
    assert not INVISIBLE & set(shown)
    assert "‹U+202E›" in shown and "pay‹U+200D›pal" in shown and "‹U+200C›x" in shown


def test_joiners_that_shape_scripts_and_emoji_stay() -> None:
    assert inert("👨\u200d👩\u200d👧") == "👨\u200d👩\u200d👧"
    assert inert("می\u200cخواهم") == "می\u200cخواهم"


async def test_replies_and_tool_panels_show_them(xsus_home):
    def lookup(query: str) -> str:
        return "invoice\u202eexe.pdf from pay\u200bpal"

    async def stream(messages, info):
        if not any(isinstance(m, ModelResponse) for m in messages):
            yield "Open \u202efdp.exe please"
            yield {1: DeltaToolCall(name="lookup", json_args='{"query": "x"}', tool_call_id="t")}
        else:
            yield "Done\u2028hidden line."

    app = make_app(xsus_home, chat_agent(stream, tools=[lookup]))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "go")
        await wait_idle(pilot)
        shown = rendered_text(app)
    assert not INVISIBLE & set(shown)
    assert "Open ‹U+202E›fdp.exe please" in shown
    assert "invoice‹U+202E›exe.pdf from pay‹U+200B›pal" in shown
    assert "Done‹U+2028›hidden line." in shown
    conversation = await app.session.store.load(app.session.conversation.conversation_id)
    exported = to_markdown(conversation.messages, title="t", conversation_id="c")
    assert not INVISIBLE & set(exported)
    assert "‹U+202E›fdp.exe" in exported


async def test_typed_format_characters_are_kept_in_the_prompt(xsus_home):
    app = make_app(xsus_home)
    async with app.run_test(size=SIZE) as pilot:
        for character in "می\u200cخواهم 👩\u200d👧 \u202eabc":
            await pilot.press(character)
        assert app.chat_screen.prompt.text == "می\u200cخواهم 👩\u200d👧 \u202eabc"


async def test_a_link_that_names_another_address_shows_its_target(xsus_home):
    async def stream(messages, info):
        yield "Log in at [https://bank.example](https://evil.example/steal) or read [the docs](https://docs.example).\n"

    app = make_app(xsus_home, chat_agent(stream))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "go")
        await wait_idle(pilot)
        shown = " ".join(rendered_text(app).split())
    assert "https://bank.example (https://evil.example/steal)" in shown
    assert "the docs (https://docs.example)" in shown  # in that paragraph every target is written out
