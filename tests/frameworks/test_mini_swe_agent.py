"""mini-swe-agent's DefaultAgent over its LitellmModel (bash as a native tool): it keeps each answer as
``message.model_dump()``, our metadata included, so every turn continues exactly from the metadata itself."""

from __future__ import annotations

import pytest
import yaml
from _frameworks import (
    MODEL,
    TOKENIZER,
    after_blank_line,
    assert_exact_session,
    assert_rerender_differs,
    session_metadata,
)

minisweagent = pytest.importorskip("minisweagent", reason="pip install -c constraints.txt -e '.[agents]'")
from minisweagent.agents.default import DefaultAgent  # noqa: E402
from minisweagent.config import get_config_path  # noqa: E402
from minisweagent.environments.local import LocalEnvironment  # noqa: E402
from minisweagent.models.litellm_model import LitellmModel  # noqa: E402

SCRIPT = [
    after_blank_line("Let me list the files.", "bash", command="ls"),
    after_blank_line("The file is there; submit.", "bash", command="echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"),
]


def test_default_agent_continues_on_its_own_metadata(emulator, spy, session, tmp_path):
    (tmp_path / "notes.txt").write_text("hello\n")
    config = yaml.safe_load(get_config_path("mini").read_text())  # the tool-calling config `mini` runs with
    config["agent"].pop("mode", None)  # the interactive agent's setting
    config["model"]["model_kwargs"] |= {  # mini.yaml sets drop_params
        "api_base": emulator.url,
        "tokenizer": TOKENIZER,
        **session_metadata(session),
    }
    # its cost check raises for a model LiteLLM has no price for, and for a cost of 0.0 too
    model = LitellmModel(model_name=MODEL, cost_tracking="ignore_errors", **config["model"])
    env = LocalEnvironment(**config["environment"], cwd=str(tmp_path))
    emulator.script(*SCRIPT)

    result = DefaultAgent(model, env, **{**config["agent"], "step_limit": 4}).run("Is notes.txt there?")

    assert result["exit_status"] == "Submitted"
    assert spy.named() == [session] * 2
    sent_back = [m for m in spy.calls[1].kwargs["messages"] if m["role"] == "assistant"]
    sampled = spy.calls[0].fields["completion_token_ids"]
    assert sent_back[0]["provider_specific_fields"]["completion_token_ids"] == sampled  # our metadata came back
    tool_results = [m for m in spy.calls[1].kwargs["messages"] if m["role"] == "tool"]
    assert '"returncode": 0' in tool_results[0]["content"] and "notes.txt" in tool_results[0]["content"]
    assert_exact_session(emulator, spy.recorded_session(session), SCRIPT)
    assert_rerender_differs(spy.calls[1])
    assert spy.continuations()[1] == "exact"
    assert spy.warnings() == [None, None]
