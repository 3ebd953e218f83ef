"""DeepSeek V4 and V4.1, written from the format of their reference encoders (``encoding/encoding_dsv4.py``
and V4.1's).

    <｜begin▁of▁sentence｜>{system}\n\n## Tools …<｜User｜>{user}<｜Assistant｜></think>{answer}<｜end▁of▁sentence｜>

V4 has no tool role: tool results join the user turn after the call (``<tool_result>…</tool_result>``,
in the order of the calls, parts separated by a blank line), and consecutive user turns join likewise. A
user turn followed by an answer (or ending the prompt) ends with ``<｜Assistant｜>`` and ``<think>`` or
``</think>``. In thinking mode answers carry their reasoning and ``</think>``; with ``drop_thinking`` (the
default) only those after the last user turn do, unless tools are declared (then all keep it).

Template kwargs: ``thinking`` (or ``enable_thinking``, default false), ``drop_thinking`` (default true),
``reasoning_effort``. V4: ``"max"`` puts the encoder's maximum-effort instruction first in thinking mode.
V4.1: an effort of 1-100 or ``low``/``high``/``xhigh``/``max`` (default ``high``, 50) is stated first in
thinking mode; V4.1 also opens the prompt with ``<｜System｜>`` before a system message or an effort line,
writes ``<｜System｜>`` before a system message later in the conversation (which then counts as a user
turn), and puts a space before each DSML tag name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .dsml import ASSISTANT, BOS, DSML, EOS, THINK_END, THINK_START, USER, dsml_calls, thinking_enabled, tool_schemas

__all__ = ["render_v4", "render_v41"]

SYSTEM = "<｜System｜>"

_TOOLS = """## Tools

You have access to a set of tools to help answer the user's question. You can invoke tools by writing a "<{d}{block}>" block like the following:

<{d}{block}>
<{d}{invoke} name="$TOOL_NAME">
<{d}{parameter} name="$PARAMETER_NAME" string="true|false">$PARAMETER_VALUE</{d}{parameter}>
...
</{d}{invoke}>
<{d}{invoke} name="$TOOL_NAME2">
...
</{d}{invoke}>
</{d}{block}>

String parameters should be specified as is and set `string="true"`. For all other types (numbers, booleans, arrays, objects), pass the value in JSON format and set `string="false"`.

If thinking_mode is enabled (triggered by <think>), you MUST output your complete reasoning inside <think>...</think> BEFORE any tool calls or final response.

Otherwise, output directly after </think> with tool calls or final response.

### Available Tool Schemas

{schemas}

You MUST strictly follow the above defined tool name and parameter schemas to invoke tool calls.
"""  # noqa: E501 (the encoder's text, line for line)

_V4_MAX_EFFORT = (
    "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"
    "You MUST be very thorough in your thinking and comprehensively decompose the problem to resolve the root "
    "cause, rigorously stress-testing your logic against all potential paths, edge cases, and adversarial "
    "scenarios.\n"
    "Explicitly write out your entire deliberation process, documenting every intermediate step, considered "
    "alternative, and rejected hypothesis to ensure absolutely no assumption is left unchecked.\n\n"
)
_V41_EFFORTS = {"low": 25, "high": 50, "xhigh": 75, "max": 100}


@dataclass(frozen=True)
class _Dialect:
    block: str
    invoke: str
    parameter: str
    system_token: bool
    """V4.1: ``<｜System｜>`` opens system text, and a later system message counts as a user turn."""

    def tags(self) -> dict[str, str]:
        return {"block": self.block, "invoke": self.invoke, "parameter": self.parameter}


_V4 = _Dialect("tool_calls", "invoke", "parameter", system_token=False)
_V41 = _Dialect(" calls", " invoke", " parameter", system_token=True)


def _effort_v4(effort: Any) -> str:
    return _V4_MAX_EFFORT if effort == "max" else ""


def _effort_v41(effort: Any) -> str:
    effort = "high" if effort is None else effort
    budget = _V41_EFFORTS.get(effort) if isinstance(effort, str) else effort
    if isinstance(budget, bool) or not isinstance(budget, int) or not 1 <= budget <= 100:
        raise ValueError(f"reasoning_effort must be 1-100 or one of {', '.join(_V41_EFFORTS)}, got {effort!r}")
    return f"Reasoning Effort: {budget} (range 1-100, the higher the value, the more thorough the reasoning)\n\n"


def _tools_text(dialect: _Dialect, tools: Sequence[Mapping[str, Any]]) -> str:
    return _TOOLS.format(d=DSML, schemas=tool_schemas(tools), **dialect.tags())


def _merged(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Tool results and user messages joined into user turns holding ``parts``, results in call order."""
    merged: list[dict[str, Any]] = []
    order: dict[str, int] = {}
    for message in messages:
        role = message["role"]
        if role == "assistant" and message.get("tool_calls"):
            order = {call["id"]: i for i, call in enumerate(message["tool_calls"]) if call.get("id")}
        if role not in ("user", "tool"):
            merged.append(dict(message))
            continue
        if role == "tool":
            result = f"<tool_result>{message.get('content') or ''}</tool_result>"
            part = (order.get(message.get("tool_call_id") or "", 0), result)
        else:
            part = (None, message.get("content") or "")
        if not merged or merged[-1]["role"] != "user":
            merged.append({"role": "user", "parts": []})
        merged[-1]["parts"].append(part)
    for message in merged:
        if message["role"] == "user":
            message["content"] = "\n\n".join(_in_call_order(message.pop("parts")))
    return merged


def _in_call_order(parts: list[tuple[int | None, str]]) -> list[str]:
    """The parts with the tool results (in place of one another) sorted by the order of their calls."""
    results = iter(sorted((part for part in parts if part[0] is not None), key=lambda part: part[0]))
    return [next(results)[1] if order is not None else text for order, text in parts]


def _render(
    dialect: _Dialect,
    effort_text: str,
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None,
    add_generation_prompt: bool,
    continue_final_message: bool,
    kwargs: Mapping[str, Any],
) -> str:
    thinking = thinking_enabled(kwargs)
    messages = _merged(messages)
    if tools and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": ""})
    drop = bool(kwargs.get("drop_thinking", True)) and not tools

    def asks(index: int) -> bool:  # a turn the model answers
        role = messages[index]["role"]
        return role == "user" or (dialect.system_token and role == "system" and index > 0)

    last_user = max((i for i in range(len(messages)) if asks(i)), default=-1)
    last = len(messages) - 1
    effort = effort_text if thinking else ""
    parts = [BOS]
    for index, message in enumerate(messages):
        role, content = message["role"], message.get("content") or ""
        if index == 0:
            parts.append(SYSTEM if dialect.system_token and (effort or role == "system") else "")
            parts.append(effort)
        if role == "system":
            parts.append((SYSTEM if dialect.system_token and index > 0 else "") + content)
            if tools and index == 0:
                parts.append("\n\n" + _tools_text(dialect, tools))
        elif role == "user":
            parts.append(USER + content)
        elif role == "assistant":
            if thinking and (not drop or index > last_user):
                parts.append((message.get("reasoning_content") or "") + THINK_END)
            parts.append(content)
            if message.get("tool_calls"):
                parts.append(dsml_calls(message["tool_calls"], **dialect.tags()))
            if not (continue_final_message and index == last):
                parts.append(EOS)
        else:
            raise ValueError(f"messages[{index}] has role {role!r}, which DeepSeek V4 does not render")
        answered = messages[index + 1]["role"] == "assistant" if index < last else add_generation_prompt
        if asks(index) and answered:
            parts.append(ASSISTANT + (THINK_START if thinking and (not drop or index >= last_user) else THINK_END))
    return "".join(parts)


def render_v4(
    messages: Sequence[Mapping[str, Any]],
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
    add_generation_prompt: bool = True,
    continue_final_message: bool = False,
    **kwargs: Any,
) -> str:
    """The V4 prompt text for the conversation."""
    effort = _effort_v4(kwargs.get("reasoning_effort"))
    return _render(_V4, effort, messages, tools, add_generation_prompt, continue_final_message, kwargs)


def render_v41(
    messages: Sequence[Mapping[str, Any]],
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
    add_generation_prompt: bool = True,
    continue_final_message: bool = False,
    **kwargs: Any,
) -> str:
    """The V4.1 prompt text for the conversation."""
    effort = _effort_v41(kwargs.get("reasoning_effort"))
    return _render(_V41, effort, messages, tools, add_generation_prompt, continue_final_message, kwargs)
