"""CrewAI, in a venv of its own (its pins conflict with constraints.txt: mcp<2, openai<3, pydantic<2.13), over
LiteLLM with native tool calls. It sends an assistant turn back as its tool calls only: the text the model
wrote before a call is dropped. A call written without text continues on the exact tokens; a call after text
is re-rendered, each call its own exact sample. The ledger is a SQLite file, read back by this process; naming no
session, each crew has a ledger of its own (the two crews open alike: one conversation to the ledger)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from _frameworks import after_blank_line, assert_exact_session, assert_per_call_samples, recorded_session
from _venvs import framework_venv, run_task

from sglang_native_provider.sessions import open_store

HERE = Path(__file__).parent
CREWAI = "crewai[litellm]==1.15.30"
TEXT_THEN_CALL = [after_blank_line("I will look it up.", "get_weather", city="Paris"), "Sunny in Paris."]
BARE_CALL = [after_blank_line("", "get_weather", city="Paris"), "Sunny in Paris."]


def run_crews(emulator, tmp_path: Path, sessions: list[str | None]) -> dict:
    """One crew per session; crews that name one share a ledger, each crew that names none has its own."""
    python = framework_venv("crewai", HERE / "crewai-constraints.txt", CREWAI)
    stores = [
        f"sqlite:///{tmp_path / ('ledger.db' if session is not None else f'ledger-{number}.db')}"
        for number, session in enumerate(sessions)
    ]
    spec = {"api_base": emulator.url, "session_stores": stores, "sessions": sessions}
    return {**run_task(python, HERE / "crewai_task.py", spec, tmp_path), "stores": [open_store(s) for s in stores]}


def test_crew_with_native_tool_calls(emulator, tmp_path, session):
    text_session, bare_session = (None, None) if session is None else (f"{session}-text", f"{session}-bare")
    emulator.script(*TEXT_THEN_CALL, *BARE_CALL)

    report = run_crews(emulator, tmp_path, [text_session, bare_session])

    assert report["crewai_version"] == "1.15.30"
    assert report["function_calling"] is True
    assert report["results"] == ["Sunny in Paris."] * 2
    calls = report["calls"]
    assert [call["named"] for call in calls] == [text_session] * 2 + [bare_session] * 2
    text_store, bare_store = report["stores"]
    text_session = recorded_session(text_session, calls[:2], text_store)
    bare_session = recorded_session(bare_session, calls[2:], bare_store)
    assert all(call["tools"] == ["get_weather"] for call in calls)
    for second in (calls[1], calls[3]):
        (sent_back,) = second["assistant_messages"]
        assert sent_back["content"] is None and sent_back["tool_calls"][0]["function"]["name"] == "get_weather"

    # text before the call: CrewAI drops it, the turn is re-rendered and says so
    text_emulator = SimpleNamespace(requests=emulator.requests[:2], tokenizer=emulator.tokenizer)
    assert_per_call_samples(text_emulator, text_session, TEXT_THEN_CALL, store=text_store)
    assert calls[1]["continuation"] == "rerendered"
    assert calls[1]["continuation_warning"]

    # a bare call comes back as the model wrote it: the ledger continues on the exact tokens
    bare_emulator = SimpleNamespace(requests=emulator.requests[2:], tokenizer=emulator.tokenizer)
    assert_exact_session(bare_emulator, bare_session, BARE_CALL, store=bare_store)
    assert calls[3]["continuation"] == "ledger"
    assert calls[3]["continuation_warning"] is None
    assert calls[3]["template_drift"]["detected"] is True
