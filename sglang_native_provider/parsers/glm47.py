"""GLM-4.7/GLM-5 tool calls (``glm47``): the name, then key/value tags, all on one line inside ``<tool_call>``.

Format (GLM-4.7-Flash chat template)::

    <tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value><arg_key>days</arg_key><arg_value>3</arg_value></tool_call>

Unlike GLM-4.5/4.6 there is no newline after the name or between the pairs; a call without arguments is
``<tool_call>name</tool_call>``. Values are text (non-strings as JSON) typed with the tool's JSON schema (a
structured value written JSON-escaped, ``[{\\"id\\": 1}]``, is read too). The GLM-4.5 reader already takes
both layouts (whitespace between the tags is optional), so this parser is that reader under GLM-4.7's name.
Reasoning is ``<think>`` (``glm45``), opened by the prompt.
"""

from __future__ import annotations

from .glm45 import Glm45ToolCallParser

__all__ = ["Glm47ToolCallParser"]


class Glm47ToolCallParser(Glm45ToolCallParser):
    structural_tag_name = "glm_4_7"
    # GLM-4.7's template writes the name and its first key on one line
    template_signs = (("glm47", "{function-name}<arg_key>"),)
