"""Token-in, token-out multi-turn rollouts: exact continuation, drift reports, fallbacks, trajectories."""

from __future__ import annotations

import io
import itertools
import json

import litellm
import pytest

import sglang_native_provider
from sglang_native_provider import Trajectory, TrajectoryError
from sglang_native_provider.demo import WEATHER_TOOL
from sglang_native_provider.emulator import Emulator

TIME_TOOL = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}},
}
TOOLS = [WEATHER_TOOL, TIME_TOOL]


def call(name: str, **arguments) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


def think(text: str) -> str:
    return f"<think>\n{text}\n</think>\n\n"


@pytest.fixture(autouse=True)
def registered():
    sglang_native_provider.register()


async def rollout(emulator, script, *, tokenizer="offline:qwen3", model="sglang_native/qwen3", user_turns=(), **kw):
    """Play ``script`` (one model output per turn); tool calls get results, then ``user_turns`` follow."""
    emulator.script(*script)
    trajectory = Trajectory([{"role": "user", "content": "Plan my trip to Paris and Tokyo."}])
    followups = list(user_turns)
    responses = []
    for _ in script:
        response = await litellm.acompletion(
            model=model, api_base=emulator.url, tokenizer=tokenizer, messages=trajectory.messages, tools=TOOLS, **kw
        )
        responses.append(response)
        message = trajectory.add_response(response)
        if message.tool_calls:
            trajectory.add_messages(
                *(
                    {"role": "tool", "tool_call_id": c.id, "content": json.dumps({"ok": c.function.name})}
                    for c in message.tool_calls
                )
            )
        elif followups:
            trajectory.add_messages({"role": "user", "content": followups.pop(0)})
    return trajectory, responses


QWEN_TOOL_LOOP = [
    think("Weather first.") + call("get_weather", city="Paris"),
    think("Both at once.") + call("get_time", zone="CET") + "\n" + call("get_weather", city="Tokyo"),
    call("get_time", zone="JST"),
    think("Summarize.") + "Paris is sunny; Tokyo is rainy.",
    "Anything else?",
    think("Wrap up.") + "Done.",
]


async def test_every_prompt_continues_the_exact_previous_tokens(emulator):
    trajectory, responses = await rollout(emulator, QWEN_TOOL_LOOP, user_turns=["And tomorrow?", "Thanks!"])
    assert len(trajectory.turns) == 6
    sent = [body["input_ids"] for body in emulator.requests]
    for number in range(1, 6):
        previous = trajectory.turns[number - 1]
        assert sent[number][: len(previous.prompt_ids) + len(previous.completion_ids)] == (
            previous.prompt_ids + previous.completion_ids
        )
        fields = responses[number].choices[0].message.provider_specific_fields
        assert "continuation_warning" not in fields
        # the emulator's prefix cache shows the exact shared prefix (all but the last sampled token)
        assert fields["cached_tokens"] == len(previous.prompt_ids) + len(previous.completion_ids) - 1
    ids = trajectory.token_ids
    assert ids == sent[-1] + trajectory.turns[-1].completion_ids


async def test_loss_mask_and_logprobs_cover_exactly_the_sampled_tokens(emulator):
    trajectory, _ = await rollout(emulator, [*QWEN_TOOL_LOOP[:3], QWEN_TOOL_LOOP[3]])
    ids, mask, logprobs = trajectory.token_ids, trajectory.loss_mask, trajectory.logprobs
    assert len(ids) == len(mask) == len(logprobs)
    sampled = [token for token, bit in zip(ids, mask, strict=True) if bit]
    assert sampled == [token for turn in trajectory.turns for token in turn.completion_ids]
    assert [lp for lp, bit in zip(logprobs, mask, strict=True) if bit] == [
        lp for turn in trajectory.turns for lp in turn.completion_logprobs
    ]
    assert all(lp is None for lp, bit in zip(logprobs, mask, strict=True) if not bit)
    fields = trajectory.rl_fields()
    assert fields["prompt_ids"] + fields["response_ids"] == ids
    assert fields["response_mask"] == mask[len(fields["prompt_ids"]) :]
    assert len(fields["rollout_logprobs"]) == len(fields["response_ids"])


async def test_qwen3_reasoning_in_history_is_reported_as_drift(emulator):
    _, responses = await rollout(emulator, [think("Let me think.") + "Paris.", "Tokyo."], user_turns=["And Tokyo?"])
    drift = responses[1].choices[0].message.provider_specific_fields["template_drift"]
    assert drift["detected"] is True  # Qwen3's template drops the first answer's <think> block on re-render
    assert drift["first_difference"] is not None


async def test_no_drift_without_reasoning_in_history(emulator):
    _, responses = await rollout(emulator, ["Paris.", call("get_time", zone="CET"), "Noon."], user_turns=["Time?"])
    for response in responses[1:]:
        assert response.choices[0].message.provider_specific_fields["template_drift"] == {
            "detected": False,
            "first_difference": None,
        }


DRIFT_CASES = {
    "reasoning answered by a user": ([think("Let me think.") + "Paris.", "Tokyo.", "Bye."], ["And Tokyo?", "Ok."]),
    "reasoning before tool calls": (QWEN_TOOL_LOOP, ["And tomorrow?", "Thanks!"]),
    "no reasoning": (["Paris.", call("get_time", zone="CET"), "Noon.", "Bye."], ["Time?", "Ok."]),
}


@pytest.mark.parametrize("case", DRIFT_CASES)
async def test_incremental_drift_check_agrees_with_the_full_re_render(emulator, case):
    script, user_turns = DRIFT_CASES[case]
    _, incremental = await rollout(emulator, script, user_turns=user_turns)
    _, full = await rollout(emulator, script, user_turns=user_turns, drift_check="full")
    reports = [r.choices[0].message.provider_specific_fields.get("template_drift") for r in incremental]
    full_reports = [r.choices[0].message.provider_specific_fields.get("template_drift") for r in full]
    assert reports[0] is None is full_reports[0]
    assert [report["detected"] for report in reports[1:]] == [report["detected"] for report in full_reports[1:]]
    assert any(report["detected"] for report in reports[1:]) == (case != "no reasoning")
    for report, full_report in zip(reports[1:], full_reports[1:], strict=True):
        # the window sees the last assistant turn's rewrite; the full re-render may find an earlier one
        assert report["first_difference"] is None or report["first_difference"] >= full_report["first_difference"]


async def test_full_drift_check_sees_rewrites_of_turns_before_the_last(emulator):
    """Qwen3 drops the reasoning of every answer before a new user query; the incremental check sees only the
    last assistant turn, the full check sees the first one too."""
    script = [think("Weather first.") + call("get_weather", city="Paris"), "Sunny.", "Bye."]
    _, incremental = await rollout(emulator, script, user_turns=["Thanks."])
    _, full = await rollout(emulator, script, user_turns=["Thanks."], drift_check="full")
    first_prompt = incremental[0].choices[0].message.provider_specific_fields["prompt_token_ids"]
    reports = [r.choices[0].message.provider_specific_fields["template_drift"] for r in (incremental[2], full[2])]
    assert reports[0] == {"detected": False, "first_difference": None}
    assert reports[1]["detected"] is True
    assert len(first_prompt) <= reports[1]["first_difference"] < len(first_prompt) + 8  # the first turn's <think>


async def test_rerender_mode_sends_the_fresh_rendering(emulator, qwen3_tokenizer):
    trajectory, responses = await rollout(
        emulator, [think("Hmm.") + "Paris.", "Tokyo."], user_turns=["And Tokyo?"], continuation="rerender"
    )
    assert responses[1].choices[0].message.provider_specific_fields["template_drift"]["detected"] is True
    with pytest.raises(TrajectoryError, match="turn 1 does not continue turn 0"):
        _ = trajectory.token_ids


async def test_llama_rollout():
    # Llama 3.1's template refuses more than one call per message, so its calls come one at a time.
    async with Emulator("llama3.1") as emulator:
        script = [
            '{"name": "get_weather", "parameters": {"city": "Paris"}}',
            "Paris is sunny.",
            '{"name": "get_time", "parameters": {"zone": "JST"}}',
            "It is noon in Tokyo.",
            "Goodbye.",
        ]
        trajectory, _responses = await rollout(
            emulator,
            script,
            tokenizer="offline:llama3.1",
            model="sglang_native/llama3.1",
            user_turns=["Now Tokyo.", "Thanks."],
        )
    assert [len(turn.tool_calls) for turn in trajectory.turns] == [1, 0, 1, 0, 0]
    for number in range(1, len(trajectory.turns)):
        previous, turn = trajectory.turns[number - 1], trajectory.turns[number]
        assert turn.prompt_ids[: len(previous.prompt_ids) + len(previous.completion_ids)] == (
            previous.prompt_ids + previous.completion_ids
        )
    assert sum(trajectory.loss_mask) == sum(len(turn.completion_ids) for turn in trajectory.turns)


async def test_metadata_travels_through_the_router(emulator, monkeypatch):
    model_list = [
        {
            "model_name": "qwen",
            "litellm_params": {"model": "sglang_native/qwen3", "api_base": emulator.url, "tokenizer": "offline:qwen3"},
        }
    ]
    router = litellm.Router(model_list=model_list)
    emulator.script("Paris.", "Tokyo.")
    messages = [{"role": "user", "content": "Where?"}]
    first = await router.acompletion(model="qwen", messages=messages)
    messages += [first.choices[0].message, {"role": "user", "content": "And then?"}]
    second = await router.acompletion(model="qwen", messages=messages)
    fields = first.choices[0].message.provider_specific_fields
    assert emulator.requests[-1]["input_ids"][
        : len(fields["prompt_token_ids"]) + len(fields["completion_token_ids"])
    ] == (fields["prompt_token_ids"] + fields["completion_token_ids"])
    assert second.choices[0].message.provider_specific_fields["template_drift"]["detected"] is False


# ---- bad input: detected, re-rendered, with a warning ----


async def _second_turn(emulator, edit, **kw):
    emulator.script("Paris is sunny.", "ok")
    messages = [{"role": "user", "content": "Weather?"}]
    first = await litellm.acompletion(
        model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3", messages=messages, **kw
    )
    assistant = first.choices[0].message.model_dump()
    messages = edit([*messages, assistant, {"role": "user", "content": "Sure?"}])
    second = await litellm.acompletion(
        model="sglang_native/qwen3", api_base=emulator.url, tokenizer="offline:qwen3", messages=messages, **kw
    )
    return second.choices[0].message.provider_specific_fields


def _set(index, key, value):
    def edit(messages):
        messages[index] = {**messages[index], key: value}
        return messages

    return edit


def _set_field(key, value):
    def edit(messages):
        fields = {**messages[1]["provider_specific_fields"], key: value}
        messages[1] = {**messages[1], "provider_specific_fields": fields}
        return messages

    return edit


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (_set(1, "content", "Paris is rainy."), "was edited after it was generated"),
        (_set(0, "content", "Weather in Rome?"), "conversation before messages[1] changed"),
        (_set_field("tokenizer", "Qwen/Qwen2.5-7B-Instruct"), "produced with tokenizer 'Qwen/Qwen2.5-7B-Instruct'"),
        (_set_field("sglang_finish_reason", {"type": "abort", "message": "Aborted"}), "ended with a 'abort' finish"),
    ],
)
async def test_untrustworthy_metadata_falls_back_to_rerendering(emulator, qwen3_tokenizer, edit, reason):
    fields = await _second_turn(emulator, edit)
    assert reason in fields["continuation_warning"]
    assert "template_drift" not in fields
    sent = emulator.requests[-1]["input_ids"]
    assert qwen3_tokenizer.decode(sent).endswith("<|im_start|>user\nSure?<|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.parametrize("through", ["message", "ledger"])
async def test_turns_cut_off_by_max_tokens_continue_exactly(emulator, qwen3_tokenizer, through):
    """Each turn has a token budget (routine in agent RL): the sampled ids stay as sampled, the template's
    end-of-turn tokens follow as prompt tokens (loss mask 0), and the rollout is one trajectory."""
    budget = 4
    answers = ["Paris is sunny and warm today.", "Tokyo is rainy and cold tonight.", "Both are far away."]
    emulator.script(*answers)
    settings = {"model": "sglang_native/qwen3", "api_base": emulator.url, "tokenizer": "offline:qwen3"}
    session = {"metadata": {"session_id": f"cut-{through}"}} if through == "ledger" else {}
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    responses = []
    for follow_up in ("And Tokyo?", "Which is closer?", None):
        response = await litellm.acompletion(messages=messages, max_tokens=budget, **settings, **session)
        responses.append(response)
        message = response.choices[0].message
        sent_back = message if through == "message" else {"role": "assistant", "content": message.content}
        messages = [*messages, sent_back, *([{"role": "user", "content": follow_up}] if follow_up else [])]
    fields = [response.choices[0].message.provider_specific_fields for response in responses]
    assert [response.choices[0].finish_reason for response in responses] == ["length"] * 3
    assert all("continuation_warning" not in turn for turn in fields), fields
    end = qwen3_tokenizer.convert_tokens_to_ids("<|im_end|>")
    for before, after in itertools.pairwise(fields):
        sampled = [*before["prompt_token_ids"], *before["completion_token_ids"]]
        assert len(before["completion_token_ids"]) == budget and end not in before["completion_token_ids"]
        assert after["prompt_token_ids"][: len(sampled) + 1] == [*sampled, end]
    if through == "ledger":
        assert [turn["continuation"] for turn in fields] == ["new", "ledger", "ledger"]
        (trajectory,) = Trajectory.from_session("cut-ledger")
    else:
        trajectory = Trajectory.from_messages(messages)
    record = trajectory.to_dict()
    assert [turn["truncated"] for turn in record["turns"]] == [True, True, True]
    ids, mask = record["token_ids"], record["loss_mask"]
    closing = len(fields[0]["prompt_token_ids"]) + budget  # the first turn's end-of-turn token: a prompt token
    assert (ids[closing], mask[closing]) == (end, 0)
    assert sum(mask) == 3 * budget


async def test_trajectory_export(emulator, tmp_path):
    trajectory, _ = await rollout(emulator, [*QWEN_TOOL_LOOP[:2], "Done."])
    path = tmp_path / "rollouts.jsonl"
    trajectory.write_jsonl(path)
    trajectory.write_jsonl(path)
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    record = json.loads(lines[0])
    assert record["schema"] == "sglang-native-trajectory/3"
    assert record["token_ids"] == trajectory.token_ids and record["loss_mask"] == trajectory.loss_mask
    assert [turn["completion_length"] for turn in record["turns"]] == [len(t.completion_ids) for t in trajectory.turns]
    assert record["turns"][1]["weight_version"] == "default"
    assert all("provider_specific_fields" not in message for message in record["messages"])
    rebuilt = Trajectory.from_messages(trajectory.messages)
    assert rebuilt.token_ids == trajectory.token_ids
    buffer = io.StringIO()
    rebuilt.write_jsonl(buffer)
    assert json.loads(buffer.getvalue())["token_ids"] == record["token_ids"]


async def test_a_streamed_turn_continues_exactly(emulator):
    emulator.script(think("Hmm.") + call("get_weather", city="Paris"), "Sunny.")
    messages = [{"role": "user", "content": "Weather?"}]
    kwargs = {"model": "sglang_native/qwen3", "api_base": emulator.url, "tokenizer": "offline:qwen3", "tools": TOOLS}
    stream = await litellm.acompletion(messages=messages, stream=True, **kwargs)
    chunks = [chunk async for chunk in stream]
    message = litellm.stream_chunk_builder(chunks).choices[0].message
    messages += [message, {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "sunny"}]
    second = await litellm.acompletion(messages=messages, **kwargs)
    fields = second.choices[0].message.provider_specific_fields
    assert "continuation_warning" not in fields
    first_fields = message.provider_specific_fields
    turn = first_fields["prompt_token_ids"] + first_fields["completion_token_ids"]
    assert emulator.requests[-1]["input_ids"][: len(turn)] == turn


@pytest.mark.parametrize("llama", [False, True], ids=["qwen3", "llama3.1"])
async def test_bounded_rendering_of_new_messages_equals_the_full_rendering(llama, qwen3_tokenizer, llama_tokenizer):
    """The new messages rendered in the bounded context (opening + assistant turn + new messages) give the
    same ids as in the whole conversation, at every assistant turn of a multi-turn rollout."""
    from sglang_native_provider.continuation import _bounded, _new_message_ids
    from sglang_native_provider.messages import normalize_messages

    name = "llama3.1" if llama else "qwen3"
    script = ['{"name": "get_weather", "parameters": {"city": "Paris"}}', "Sunny.", "Bye."] if llama else QWEN_TOOL_LOOP
    async with Emulator(name) as emulator:
        trajectory, _ = await rollout(
            emulator,
            script,
            tokenizer=f"offline:{name}",
            model=f"sglang_native/{name}",
            user_turns=["More?", "Thanks."],
            drift_check=False,
        )
    tokenizer = llama_tokenizer if llama else qwen3_tokenizer
    messages = normalize_messages(trajectory.messages, "m")
    render = {"tools": TOOLS, "chat_template": None, "chat_template_kwargs": {}}
    checked = 0
    for index, message in enumerate(messages[:-1]):
        if message["role"] == "assistant":
            window = _bounded(messages, index)
            bounded = _new_message_ids(tokenizer, window.messages, window.opening, render)
            whole = _new_message_ids(tokenizer, messages, index, render)
            assert (bounded.ids, bounded.end_id) == (whole.ids, whole.end_id)
            checked += 1
    assert checked >= 2


async def test_without_drift_check_the_continuation_is_the_same(emulator):
    with_check, _ = await rollout(emulator, QWEN_TOOL_LOOP[:4])
    without_check, responses = await rollout(emulator, QWEN_TOOL_LOOP[:4], drift_check=False)
    assert without_check.token_ids == with_check.token_ids
    assert all("template_drift" not in r.choices[0].message.provider_specific_fields for r in responses)


def test_the_rl_rollout_example_writes_a_trajectory(tmp_path, monkeypatch):
    import runpy
    from pathlib import Path

    monkeypatch.delenv("SGLANG_API_BASE", raising=False)
    example = runpy.run_path(str(Path(__file__).parent.parent / "examples" / "rl_rollout.py"))
    output = tmp_path / "rollouts.jsonl"
    example["main"](str(output))
    (record,) = [json.loads(line) for line in output.read_text().splitlines()]
    assert record["schema"] == "sglang-native-trajectory/3"
    assert len(record["turns"]) == 2 and record["turns"][0]["tool_calls"][0]["name"] == "get_weather"
    assert sum(record["loss_mask"]) == sum(turn["completion_length"] for turn in record["turns"])


@pytest.mark.parametrize("drift_check", ["incremental", "full"])
async def test_continued_turns_render_a_bounded_window_unless_the_full_check_is_asked(
    emulator, monkeypatch, drift_check
):
    """What keeps per-turn cost flat: at turn 8 of a tool loop, the default check renders only the opening,
    the last assistant turn and the new messages; the full check renders the whole conversation."""
    from sglang_native_provider import continuation

    rendered: list[int] = []
    for name in ("render_text", "render_prompt"):
        original = getattr(continuation, name)

        def recording(tokenizer, messages, *args, _original=original, **kwargs):
            rendered.append(len(messages))
            return _original(tokenizer, messages, *args, **kwargs)

        monkeypatch.setattr(continuation, name, recording)
    script = [call("get_weather", city=f"City {i}") for i in range(7)] + ["Done."]
    trajectory, _ = await rollout(emulator, script[:-1], drift_check=drift_check)
    rendered.clear()
    emulator.script(script[-1])
    await litellm.acompletion(
        model="sglang_native/qwen3",
        api_base=emulator.url,
        tokenizer="offline:qwen3",
        messages=trajectory.messages,
        tools=TOOLS,
        drift_check=drift_check,
    )
    assert len(trajectory.messages) == 15
    if drift_check == "incremental":
        assert max(rendered) <= 3  # opening user message, last assistant turn, its tool result
    else:
        assert max(rendered) == len(trajectory.messages)


async def test_each_turn_records_how_it_was_sampled_in_the_trajectory(emulator):
    """Temperature and logit bias change the logprob SGLang returns: the trainer must apply them too."""
    bias = {"151645": -2.5}
    trajectory, responses = await rollout(
        emulator, [QWEN_TOOL_LOOP[0], "Done."], temperature=0.5, logit_bias=bias, top_p=0.9
    )
    sent = emulator.requests[-1]["sampling_params"]
    assert (sent["temperature"], sent["logit_bias"]) == (0.5, bias)
    expected = {"temperature": 0.5, "top_p": 0.9, "logit_bias": bias}
    assert [r.choices[0].message.provider_specific_fields["sampling"] for r in responses] == [expected, expected]
    record = json.loads(json.dumps(trajectory.to_dict()))
    assert record["schema"] == "sglang-native-trajectory/3"
    assert [turn["sampling"] for turn in record["turns"]] == [expected, expected]
    assert [turn.sampling for turn in Trajectory.from_messages(trajectory.messages).turns] == [expected, expected]


async def test_a_forced_call_records_that_its_logits_were_constrained(emulator):
    _, (response,) = await rollout(emulator, [QWEN_TOOL_LOOP[0]], tool_choice="required")
    assert response.choices[0].message.provider_specific_fields["sampling"] == {"constrained": "structural_tag"}


def test_a_turn_recorded_before_sampling_was_kept_reads_as_unknown():
    fields = {"prompt_token_ids": [1, 2], "completion_token_ids": [3], "completion_logprobs": [-0.5]}
    trajectory = Trajectory.from_messages(
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "x", "provider_specific_fields": fields}]
    )
    assert trajectory.turns[0].sampling is None and trajectory.to_dict()["turns"][0]["sampling"] is None
