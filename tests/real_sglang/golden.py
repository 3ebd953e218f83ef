"""A fixed set of requests whose answers from real SGLang are kept as fixtures, and the shape comparison.

``record.py`` (or the real-SGLang tier) sends :data:`EXCHANGES` to real SGLang 0.5.23 serving the tiny Qwen3 and
writes the answers to ``tests/fixtures/real_sglang/<server>.json``; ``tests/test_emulator_golden.py`` sends the
same requests to the emulator and checks :func:`differences` is empty. Shapes, not values: key names and order,
JSON types, status codes, header names, stream event sequences, and error texts where they are deterministic.
Every prompt is made of in-vocabulary ids (real SGLang's scheduler dies on an out-of-vocabulary one).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "real_sglang"
API_KEY = "golden-test-key"
SERVERS = {
    # name -> (incremental_streaming_output, api_key)
    "cumulative": (False, None),
    "incremental_api_key": (True, API_KEY),
}
_HEADER_VALUES = ("content-type", "vary")
"""Headers whose values are compared (the others by name only)."""


def _prompt(seed: int, length: int = 6) -> list[int]:
    """Distinct in-vocabulary prompts, so that only the requests meant to hit the prefix cache do."""
    return [1000 + (seed * 7919 + position * 104729) % 140000 for position in range(length)]


@dataclass(frozen=True)
class Exchange:
    """One request of the golden set."""

    name: str
    server: str
    method: str
    path: str
    json_body: Any = None
    raw_body: bytes | None = None
    authorized: bool = True
    wrong_key: bool = False
    server_info: bool = False
    """/server_info: real SGLang dumps every server arg; only the emulator's keys are checked."""
    stream: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stream", isinstance(self.json_body, dict) and self.json_body.get("stream") is True)


def _generate(name: str, body: dict[str, Any], server: str = "cumulative", **kwargs) -> Exchange:
    return Exchange(name, server, "POST", "/generate", json_body=body, **kwargs)


_SAMPLING = {"max_new_tokens": 8, "ignore_eos": True}
_KEYED = "incremental_api_key"
_LONG = [1000 + i % 5000 for i in range(4100)]
_MOST = [1000 + i % 5000 for i in range(4000)]

EXCHANGES: tuple[Exchange, ...] = (
    Exchange("health", "cumulative", "GET", "/health"),
    Exchange("model_info", "cumulative", "GET", "/model_info"),
    Exchange("server_info", "cumulative", "GET", "/server_info", server_info=True),
    Exchange("models", "cumulative", "GET", "/v1/models"),
    Exchange("not_found", "cumulative", "GET", "/no_such_route"),
    _generate("plain", {"input_ids": _prompt(1), "sampling_params": _SAMPLING}),
    _generate("text_input", {"text": "Hello there", "sampling_params": _SAMPLING}),
    _generate(
        "logprobs",
        {
            "input_ids": _prompt(2),
            "sampling_params": _SAMPLING,
            "return_logprob": True,
            "top_logprobs_num": 2,
            "logprob_start_len": 0,
        },
    ),
    _generate("cached_first", {"input_ids": _prompt(3, 12), "sampling_params": _SAMPLING}),
    _generate("cached_second", {"input_ids": _prompt(3, 12), "sampling_params": _SAMPLING}),
    _generate("zero_tokens", {"input_ids": _prompt(4), "sampling_params": {"max_new_tokens": 0}}),
    _generate("n2", {"input_ids": _prompt(5), "sampling_params": {**_SAMPLING, "n": 2}}),
    _generate("batch", {"input_ids": [_prompt(6), _prompt(7)], "sampling_params": _SAMPLING}),
    _generate(
        "stream",
        {
            "input_ids": _prompt(8),
            "sampling_params": _SAMPLING,
            "stream": True,
            "return_logprob": True,
            "top_logprobs_num": 1,
        },
    ),
    _generate("stream_batch", {"input_ids": [_prompt(9), _prompt(10)], "sampling_params": _SAMPLING, "stream": True}),
    _generate("bad_temperature", {"input_ids": _prompt(11), "sampling_params": {"temperature": -1}}),
    _generate("bad_top_p", {"input_ids": _prompt(12), "sampling_params": {"top_p": 0}}),
    _generate("bad_temperature_float", {"input_ids": _prompt(13), "sampling_params": {"temperature": -0.5}}),
    _generate(
        "bad_temperature_stream", {"input_ids": _prompt(14), "sampling_params": {"temperature": -1}, "stream": True}
    ),
    _generate("unknown_sampling_param", {"input_ids": _prompt(15), "sampling_params": {"max_tokens": 4}}),
    _generate("wrong_type", {"input_ids": _prompt(16), "sampling_params": {"max_new_tokens": "8"}}),
    _generate("text_wrong_type", {"text": 5}),  # FastAPI's validation, before the contract
    _generate("input_ids_wrong_type", {"input_ids": "abc"}),
    _generate("input_ids_wrong_item", {"input_ids": [[1000], [1001, None]]}),
    _generate("no_input", {"sampling_params": _SAMPLING}),
    _generate("empty_input_ids", {"input_ids": [], "sampling_params": _SAMPLING}),
    _generate("too_long", {"input_ids": _LONG, "sampling_params": _SAMPLING}),
    _generate("too_many_tokens", {"input_ids": _MOST, "sampling_params": {"max_new_tokens": 200}}),
    _generate(
        "logprob_start_too_high",
        {"input_ids": _prompt(17), "sampling_params": _SAMPLING, "return_logprob": True, "logprob_start_len": 50},
    ),
    _generate("duplicate_rids", {"input_ids": [_prompt(18), _prompt(19)], "rid": ["a", "a"]}),
    Exchange("malformed_json", "cumulative", "POST", "/generate", raw_body=b'{"input_ids": [1, 2'),
    Exchange("trailing_data", "cumulative", "POST", "/generate", raw_body=b'{"input_ids": [1]}x'),
    Exchange("not_an_object", "cumulative", "POST", "/generate", raw_body=b"[1, 2]"),
    Exchange("empty_body", "cumulative", "POST", "/generate", raw_body=b""),
    Exchange("abort_not_an_object", "cumulative", "POST", "/abort_request", raw_body=b"[1]"),
    Exchange("abort_malformed_json", "cumulative", "POST", "/abort_request", raw_body=b'{"rid": '),
    Exchange("abort_unknown_rid", "cumulative", "POST", "/abort_request", json_body={"rid": "no-such-request"}),
    Exchange("flush_cache", "cumulative", "POST", "/flush_cache"),
    # --incremental-streaming-output --api-key
    Exchange("health_without_key", "incremental_api_key", "GET", "/health", authorized=False),
    _generate("no_key", {"input_ids": _prompt(20), "sampling_params": _SAMPLING}, _KEYED, authorized=False),
    _generate("wrong_key", {"input_ids": _prompt(21), "sampling_params": _SAMPLING}, _KEYED, wrong_key=True),
    _generate("with_key", {"input_ids": _prompt(22), "sampling_params": _SAMPLING}, _KEYED),
    Exchange("model_info_without_key", _KEYED, "GET", "/model_info", authorized=False),
    _generate(
        "incremental_stream",
        {
            "input_ids": _prompt(23),
            "sampling_params": _SAMPLING,
            "stream": True,
            "return_logprob": True,
            "top_logprobs_num": 1,
        },
        "incremental_api_key",
    ),
    _generate(
        "incremental_stream_n2",
        {"input_ids": _prompt(24), "sampling_params": {**_SAMPLING, "n": 2}, "stream": True},
        "incremental_api_key",
    ),
)


def send(client: httpx.Client, exchange: Exchange) -> dict[str, Any]:
    """Send one exchange; its answer as a JSON-able record (status, headers, body or stream events)."""
    headers = {}
    if exchange.wrong_key:
        headers["Authorization"] = "Bearer not-the-key"
    elif exchange.authorized and SERVERS[exchange.server][1]:
        headers["Authorization"] = f"Bearer {SERVERS[exchange.server][1]}"
    if exchange.raw_body is not None:
        headers["Content-Type"] = "application/json"
        request = client.build_request(exchange.method, exchange.path, content=exchange.raw_body, headers=headers)
    else:
        request = client.build_request(exchange.method, exchange.path, json=exchange.json_body, headers=headers)
    response = client.send(request)
    record: dict[str, Any] = {
        "status": response.status_code,
        "headers": {name.lower(): value for name, value in response.headers.items()},
    }
    content_type = response.headers.get("content-type", "")
    if content_type.startswith("text/event-stream"):
        record["events"] = [
            chunk[len("data: ") :] if chunk[len("data: ") :] == "[DONE]" else json.loads(chunk[len("data: ") :])
            for chunk in response.text.split("\n\n")
            if chunk.startswith("data: ")
        ]
    elif content_type.startswith("application/json"):
        record["body"] = response.json()
    else:
        record["text"] = response.text
    return record


def shape(value: Any) -> Any:
    """Keys in order and JSON types; a list's shape is the distinct shapes of its items, in first-seen order."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        shapes: list[Any] = []
        for item in value:
            item_shape = shape(item)
            if item_shape not in shapes:
                shapes.append(item_shape)
        return ["list", shapes]
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "str"


_INSTALL_PATH = re.compile(r'File \\?"[^"\\]*?(sglang/srt/)')


def error_text(body: Any) -> str:
    """An error body as text with the server's install path cut from FastAPI's traceback fragment."""
    return _INSTALL_PATH.sub(r'File "\1', json.dumps(body, sort_keys=True))


def _compare_shapes(real: Any, emulated: Any, where: str, problems: list[str]) -> None:
    real_shape, emulated_shape = shape(real), shape(emulated)
    if real_shape == emulated_shape:
        return
    if isinstance(real, dict) and isinstance(emulated, dict):
        if list(real) != list(emulated):
            problems.append(f"{where}: keys {list(emulated)} != real {list(real)}")
            return
        for key in real:
            _compare_shapes(real[key], emulated[key], f"{where}.{key}", problems)
        return
    problems.append(f"{where}: {json.dumps(emulated_shape)} != real {json.dumps(real_shape)}")


def _event_groups(events: list[Any]) -> dict[str, Any]:
    """A stream as first event, last event, the distinct shapes of all its events, and the terminator (how
    many events there are depends on timing: SGLang merges the outputs queued while a client reads)."""
    body = [event for event in events if event != "[DONE]"]
    return {
        "done": events[-1:] == ["[DONE]"] and events.count("[DONE]") == 1,
        "first": body[0] if body else None,
        "last": body[-1] if len(body) > 1 else None,
        "all": sorted({json.dumps(shape(event)) for event in body}),
    }


def _compare_events(real: list[Any], emulated: list[Any], where: str, problems: list[str]) -> None:
    real_groups, emulated_groups = _event_groups(real), _event_groups(emulated)
    if real_groups["done"] != emulated_groups["done"]:
        problems.append(f"{where}: [DONE] terminator {emulated_groups['done']} != real {real_groups['done']}")
    for part in ("first", "last"):
        _compare_shapes(real_groups[part], emulated_groups[part], f"{where}[{part}]", problems)
    if real_groups["all"] != emulated_groups["all"]:
        problems.append(f"{where}: event shapes {emulated_groups['all']} != real {real_groups['all']}")


def _compare_subset(real: Any, emulated: Any, where: str, problems: list[str]) -> None:
    """Every key the emulator sends exists in real SGLang's answer, with the same shape (recursively)."""
    if isinstance(real, dict) and isinstance(emulated, dict):
        for key, value in emulated.items():
            if key not in real:
                problems.append(f"{where}: {key!r} is not in real SGLang's answer")
            else:
                _compare_subset(real[key], value, f"{where}.{key}", problems)
    elif isinstance(real, list) and isinstance(emulated, list) and real and emulated:
        for item in emulated:
            _compare_subset(real[0], item, f"{where}[]", problems)
    elif shape(real) != shape(emulated):
        problems.append(f"{where}: {json.dumps(shape(emulated))} != real {json.dumps(shape(real))}")


def differences(exchange: Exchange, real: dict[str, Any], emulated: dict[str, Any]) -> list[str]:
    """Where the emulator's answer differs in shape from real SGLang's (empty when none)."""
    where = exchange.name
    problems: list[str] = []
    if real["status"] != emulated["status"]:
        problems.append(f"{where}: status {emulated['status']} != real {real['status']}")
    real_headers, emulated_headers = set(real["headers"]) - {"date"}, set(emulated["headers"]) - {"date"}
    if real_headers != emulated_headers:
        problems.append(f"{where}: header names {sorted(emulated_headers)} != real {sorted(real_headers)}")
    for name in _HEADER_VALUES:
        if real["headers"].get(name) != emulated["headers"].get(name):
            problems.append(f"{where}: {name} {emulated['headers'].get(name)!r} != real {real['headers'].get(name)!r}")
    kinds = [kind for kind in ("body", "events", "text") if kind in real]
    if kinds != [kind for kind in ("body", "events", "text") if kind in emulated]:
        problems.append(f"{where}: answer kind differs from real ({kinds})")
        return problems
    if "events" in real:
        _compare_events(real["events"], emulated["events"], where, problems)
    elif "text" in real:
        if real["text"] != emulated["text"]:
            problems.append(f"{where}: text {emulated['text']!r} != real {real['text']!r}")
    elif exchange.server_info:
        _compare_subset(real["body"], emulated["body"], where, problems)
    else:
        _compare_shapes(real["body"], emulated["body"], where, problems)
        real_error, emulated_error = error_text(real["body"]), error_text(emulated["body"])
        if real["status"] >= 400 and real_error != emulated_error:
            problems.append(f"{where}: error {error_text(emulated['body'])} != real {error_text(real['body'])}")
    if exchange.stream and real["status"] == 200 and "events" in real:
        errors = [event for event in real["events"] if isinstance(event, dict) and "error" in event]
        emulated_errors = [event for event in emulated["events"] if isinstance(event, dict) and "error" in event]
        if errors != emulated_errors:
            problems.append(f"{where}: stream errors {emulated_errors} != real {errors}")
    return problems


def fixture_path(server: str) -> Path:
    return FIXTURES / f"{server}.json"


def load_fixture(server: str) -> dict[str, Any]:
    return json.loads(fixture_path(server).read_text())


def exchanges_for(server: str) -> list[Exchange]:
    return [exchange for exchange in EXCHANGES if exchange.server == server]
