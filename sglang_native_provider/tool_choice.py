"""OpenAI ``tool_choice`` -> the constraint SGLang decodes under.

``"required"`` and a named function become a structural tag forcing at least one call, written in the model
family's own call markup, as SGLang's OpenAI server constrains these parsers: the model-native xgrammar tag
where SGLang's detector names one (:mod:`.structural_tags`), else its legacy frame (begin, JSON arguments,
end); each parser class declares which (``structural_tag_name``, ``call_frame``). The sampled tokens stay in
the model's format and parse with its parser. The prompt still renders every tool, so it is the same whatever
a turn's choice, and a conversation continues on exact tokens.

``parallel_tool_calls=False`` is passed on as SGLang does: a native tag then admits one call only; SGLang's
legacy frames ignore it (their structural tag has no call count), and so do ours. As in SGLang, nothing else
changes: an unconstrained turn (``auto``) is not held to one call, and parsed calls are never dropped.
"""

from __future__ import annotations

import json
import logging
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .contract import GRAMMAR_FIELDS
from .errors import bad_request
from .parsers import TOOL_CALL_PARSERS, CallFrame
from .structural_tags import NATIVE_TAGS, native_structural_tag

__all__ = ["CALL_FRAMES", "CallFrame", "ToolChoice", "resolve_tool_choice", "supported_parsers"]

logger = logging.getLogger(__name__)


CALL_FRAMES: dict[str, CallFrame] = {
    name: parser.call_frame for name, parser in TOOL_CALL_PARSERS.items() if parser.call_frame is not None
}
"""Parser names -> SGLang's legacy frame (``structure_info``), for the detectors without a model-native tag: each
parser's ``call_frame``."""


@dataclass(frozen=True)
class ToolChoice:
    """What a request's ``tool_choice`` asks: whether the output is parsed for calls, and the structural tag
    (a JSON string for ``sampling_params``) when a call is forced."""

    parse_calls: bool = True
    structural_tag: str | None = None

    def constrain(self, sampling_params: dict[str, Any], model: str) -> None:
        """Put a forced call's structural tag into ``sampling_params``; a grammar already there (from
        ``response_format`` or SGLang's own keys) is a ``BadRequestError``, as SGLang admits only one."""
        if self.structural_tag is None:
            return
        grammars = [key for key in GRAMMAR_FIELDS if sampling_params.get(key)]
        if grammars:
            raise bad_request(
                f"a forced tool call (tool_choice) cannot be combined with {grammars[0]} (response_format or "
                "extra_body)",
                model,
            )
        sampling_params["structural_tag"] = self.structural_tag


def supported_parsers() -> list[str]:
    """The tool-call parser names a forced call can be constrained for."""
    return sorted({*CALL_FRAMES, *NATIVE_TAGS})


def _forced_tools(choice: Any, tools: Sequence[Mapping[str, Any]], model: str) -> list[Mapping[str, Any]]:
    if choice == "required":
        if not tools:
            raise bad_request("tool_choice 'required' needs tools", model)
        return list(tools)
    name = (choice.get("function") or {}).get("name") if isinstance(choice, Mapping) else None
    if not isinstance(name, str) or choice.get("type", "function") != "function":
        raise bad_request(
            f"tool_choice must be 'auto', 'none', 'required' or {{'type': 'function', 'function': {{'name': ...}}}}, "
            f"not {choice!r}",
            model,
        )
    named = [tool for tool in tools if tool["function"]["name"] == name]
    if not named:
        raise bad_request(f"tool_choice names {name!r}, which is not among the tools", model)
    return named


def resolve_tool_choice(
    choice: Any,
    tools: Sequence[Mapping[str, Any]] | None,
    parser_name: str | None,
    *,
    drop_params: bool,
    model: str,
    parallel_tool_calls: Any = True,
) -> ToolChoice:
    """The constraint for ``choice``, with at most one call in a native tag when ``parallel_tool_calls`` is
    False (None, as when not given, is True); a forced call the model family cannot be constrained to is a
    ``BadRequestError`` (with ``drop_params``, a warning and no constraint), and so is a ``parallel_tool_calls``
    that is not a boolean."""
    if parallel_tool_calls is None:
        parallel_tool_calls = True
    if not isinstance(parallel_tool_calls, bool):
        raise bad_request(f"parallel_tool_calls must be true or false, got {reprlib.repr(parallel_tool_calls)}", model)
    if choice in (None, "auto"):
        return ToolChoice()
    if choice == "none":
        return ToolChoice(parse_calls=False)
    forced = _forced_tools(choice, tools or [], model)
    functions = [tool["function"] for tool in forced]
    native = native_structural_tag(
        parser_name or "", functions, named=choice != "required", parallel_tool_calls=parallel_tool_calls
    )
    if native is not None:
        return ToolChoice(structural_tag=json.dumps(native, ensure_ascii=False))
    parser = TOOL_CALL_PARSERS.get(parser_name or "")
    frame = parser.call_frame if parser is not None else None
    if frame is None:
        reason = (
            f"tool_choice {choice!r} needs a tool-call format SGLang can constrain to; the "
            f"{parser_name or 'undetected'} tool-call parser has none (supported: {', '.join(supported_parsers())})"
        )
        if not drop_params:
            raise bad_request(reason, model)
        logger.warning("sglang_native: ignoring %s (drop_params=True)", reason)
        return ToolChoice()
    tag = {
        "type": "structural_tag",
        "structures": [frame.structure(tool) for tool in forced],
        "triggers": list(dict.fromkeys(frame.trigger_for(tool) for tool in forced)),
        "at_least_one": True,
    }
    return ToolChoice(structural_tag=json.dumps(tag, ensure_ascii=False))
