"""DeepSeek V3.2, written from the format of its reference encoder (``encoding/encoding_dsv32.py``).

    <｜begin▁of▁sentence｜>{system}\n\n## Tools …<｜User｜>{user}<｜Assistant｜></think>{answer}<｜end▁of▁sentence｜>

Each user turn ends with ``<｜Assistant｜>`` and ``<think>`` (thinking mode, last user turn) or ``</think>``;
an answer after the last user turn in thinking mode starts with its reasoning and ``</think>``, earlier
answers lose their reasoning. Tool results follow the calling turn as
``\n\n<function_results>\n<result>…</result>\n</function_results>\n\n<think>`` (or ``</think>``). Tools are
described after the first system message (an empty one is put first when there is none, as SGLang does).
Template kwargs: ``thinking`` (or ``enable_thinking``), default false.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .dsml import ASSISTANT, BOS, DSML, EOS, THINK_END, THINK_START, USER, dsml_calls, thinking_enabled, tool_schemas

__all__ = ["render"]

_TOOLS = f"""## Tools

You have access to a set of tools you can use to answer the user's question.
You can invoke functions by writing a "<{DSML}function_calls>" block like the following as part of your reply to the user:
<{DSML}function_calls>
<{DSML}invoke name="$FUNCTION_NAME">
<{DSML}parameter name="$PARAMETER_NAME" string="true|false">$PARAMETER_VALUE</{DSML}parameter>
...
</{DSML}invoke>
<{DSML}invoke name="$FUNCTION_NAME2">
...
</{DSML}invoke>
</{DSML}function_calls>

String and scalar parameters should be specified as is without any escaping or quotes, while lists and objects should use JSON format. The "string" attribute should be set to "true" for string type parameters and "false" for other types (numbers, booleans, arrays, objects).

If the thinking_mode is enabled, then after function results you should strongly consider outputting a thinking block. Here is an example:

<{DSML}function_calls>
...
</{DSML}function_calls>

<function_results>
...
</function_results>

{THINK_START}...thinking about results{THINK_END}

Here are the functions available in JSONSchema format:
<functions>
{{schemas}}
</functions>
"""  # noqa: E501 (the encoder's text, line for line)


_TAGS = {"block": "function_calls", "invoke": "invoke", "parameter": "parameter"}


def _calling_turn(messages: Sequence[Mapping[str, Any]], index: int) -> tuple[int, int]:
    """For tool message ``index``: its position among the results and how many calls the turn made."""
    start = index
    while start > 0 and messages[start - 1]["role"] == "tool":
        start -= 1
    caller = messages[start - 1] if start > 0 else {}
    calls = caller.get("tool_calls") if caller.get("role") == "assistant" else None
    position = index - start + 1
    if not calls or position > len(calls):
        raise ValueError(f"messages[{index}] is a tool result without a matching tool call")
    return position, len(calls)


def render(
    messages: Sequence[Mapping[str, Any]],
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
    add_generation_prompt: bool = True,
    continue_final_message: bool = False,
    **kwargs: Any,
) -> str:
    """The V3.2 prompt text for the conversation."""
    thinking = thinking_enabled(kwargs)
    messages = list(messages)
    if tools and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": ""})
    last_user = max((i for i, message in enumerate(messages) if message["role"] == "user"), default=-1)
    last = len(messages) - 1
    parts = [BOS]
    for index, message in enumerate(messages):
        role, content = message["role"], message.get("content") or ""
        prompted = index < last or add_generation_prompt
        if role == "system":
            parts.append(content)
            if tools and index == 0:
                parts.append("\n\n" + _TOOLS.format(schemas=tool_schemas(tools)))
        elif role == "user":
            parts.append(USER + content)
            if prompted:
                parts.append(ASSISTANT + (THINK_START if thinking and index == last_user else THINK_END))
        elif role == "tool":
            position, count = _calling_turn(messages, index)
            parts.append(("\n\n<function_results>" if position == 1 else "") + f"\n<result>{content}</result>")
            if position == count:
                parts.append("\n</function_results>")
                if prompted:
                    parts.append("\n\n" + (THINK_START if thinking and index >= last_user else THINK_END))
        elif role == "assistant":
            if thinking and index > last_user:
                parts.append((message.get("reasoning_content") or "") + THINK_END)
            parts.append(content)
            if message.get("tool_calls"):
                parts.append(dsml_calls(message["tool_calls"], **_TAGS))
            if not (continue_final_message and index == last):
                parts.append(EOS)
        else:
            raise ValueError(f"messages[{index}] has role {role!r}, which DeepSeek V3.2 does not render")
    return "".join(parts)
