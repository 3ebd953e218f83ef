"""The ``sglang-native`` command: run the SGLang emulator, build offline tokenizers, run the demo, export and
verify trajectories."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

# transformers warns at import that PyTorch is missing; this package only needs its tokenizers.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def _without_extra(command: str, extra: str, missing: ModuleNotFoundError) -> int:
    """A command whose extra is not installed says which extra to install (exit 2)."""
    print(
        f"sglang-native {command} needs the '{extra}' extra ({missing.name} is not installed): "
        f"pip install 'sglang-native-provider[{extra}]'",
        file=sys.stderr,
    )
    return 2


def _missing_dependency(exc: ModuleNotFoundError) -> bool:
    """A third-party package is missing (not a module of this package)."""
    return bool(exc.name) and not exc.name.startswith(__package__ or "sglang_native_provider")


def _emulate(args: argparse.Namespace) -> int:
    try:
        from .emulator import Emulator, FakeMoe, Faults
    except ModuleNotFoundError as exc:
        if not _missing_dependency(exc):
            raise
        return _without_extra("emulate", "emulator", exc)

    try:
        faults = Faults.parse(args.fault, slow_seconds=args.slow_seconds, seed=args.fault_seed)
        moe = FakeMoe(*(int(part) for part in args.moe.split(",")))
    except (ValueError, TypeError) as exc:
        print(f"sglang-native emulate: {exc}", file=sys.stderr)
        return 2
    emulator = Emulator(
        args.tokenizer,
        host=args.host,
        port=args.port,
        api_key=args.api_key or os.environ.get("SGLANG_API_KEY"),
        served_model_name=args.served_model_name,
        context_length=args.context_length,
        model_config=args.model_config,
        token_delay=args.token_delay,
        incremental_streaming_output=args.incremental_streaming_output,
        stream_interval=args.stream_interval,
        enable_return_routed_experts=args.enable_return_routed_experts,
        moe=moe,
        faults=faults,
    )
    print(f"SGLang emulator serving {emulator.info.served_model_name!r} on {emulator.url}", flush=True)
    emulator.serve_forever()
    return 0


def _build_tokenizer(args: argparse.Namespace) -> int:
    from .offline_tokenizers import OfflineTokenizerError, build_tokenizer

    try:
        directory = build_tokenizer(args.name)
    except OfflineTokenizerError as exc:  # a missing package (MissingPackage) says what to install
        print(f"sglang-native build-tokenizer: {exc}", file=sys.stderr)
        return 2
    print(directory)
    return 0


def _reporting_errors(run) -> int:
    """Run a conversation; a LiteLLM error (they all derive from ``openai.APIError``) is printed, exit 1."""
    import openai

    try:
        return run()
    except openai.APIError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    api_key = args.api_key or os.environ.get("SGLANG_API_KEY")
    try:
        return _reporting_errors(lambda: run_demo(api_base=args.api_base, api_key=api_key, config=args.config))
    except ModuleNotFoundError as exc:
        if not _missing_dependency(exc):
            raise
        return _without_extra("demo", "emulator", exc)


def _chat(args: argparse.Namespace) -> int:
    from .demo import run_chat

    api_key = args.api_key or os.environ.get("SGLANG_API_KEY")
    return _reporting_errors(
        lambda: run_chat(api_base=args.api_base, api_key=api_key, model=args.model, tokenizer=args.tokenizer)
    )


def _store(args: argparse.Namespace):
    from .sessions import open_store

    return open_store(args.store or os.environ.get("SGLANG_NATIVE_SESSION_STORE") or "memory")


def _sessions_list(args: argparse.Namespace) -> int:
    for session_id in _store(args).sessions():
        print(session_id)
    return 0


def _sessions_export(args: argparse.Namespace) -> int:
    from .sessions import StoreError, UnknownSessionError
    from .trajectory import Trajectory

    try:
        trajectories = Trajectory.from_session(args.session, store=_store(args))
    except (UnknownSessionError, StoreError, ValueError) as exc:
        print(f"sglang-native sessions export: {exc}", file=sys.stderr)
        return 2
    args.out.write_text("", encoding="utf-8")
    try:
        for trajectory in trajectories:
            trajectory.write(args.out)  # with routed experts, an .npz beside the file, named in the line
    except ValueError as exc:  # TrajectoryError: a turn's routing is missing
        print(f"sglang-native sessions export: {exc}", file=sys.stderr)
        return 2
    print(f"{len(trajectories)} trajectories of session {args.session!r} written to {args.out}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    try:
        from .verify import verify_trajectories
    except ModuleNotFoundError as exc:
        if not _missing_dependency(exc):
            raise
        return _without_extra("verify", "verify", exc)
    from .mismatch import RetokenizeRule
    from .recompute import read_trajectories

    low, high = args.clip
    try:
        trajectories = [record for path in args.trajectories for record in read_trajectories(path)]
        report = verify_trajectories(
            trajectories,
            args.model,
            device=args.device,
            dtype=args.dtype,
            trust_remote_code=args.trust_remote_code,
            clip=(low, high),
            chunk_size=args.chunk_size,
            rule=RetokenizeRule(floor=args.retokenize_floor, ratio=args.retokenize_ratio),
        )
    except (OSError, ValueError) as exc:  # no such model, a line whose turns do not fit its tokens
        print(f"sglang-native verify: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict(), indent=1) if args.json else report.table())
    return 0 if report.ok(args.max_abs, allow_clipped=True) else 1


def _add_verify(commands) -> None:
    verify = commands.add_parser(
        "verify", help="recompute each sampled token's logprob with the model and report the mismatch"
    )
    verify.add_argument("trajectories", nargs="+", type=Path, help="trajectory JSONL files (one line per trajectory)")
    verify.add_argument("--model", required=True, help="the model's directory or hub id (loaded with transformers)")
    verify.add_argument("--device", default="cpu")
    verify.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float16", "float32"])
    verify.add_argument("--trust-remote-code", action="store_true", help="run the model repository's own code")
    verify.add_argument(
        "--clip", nargs=2, type=float, default=[0.5, 2.0], metavar=("LOW", "HIGH"), help="importance weight range"
    )
    verify.add_argument("--chunk-size", type=int, default=1024, help="tokens per forward pass (bounds memory)")
    verify.add_argument(
        "--max-abs", type=float, default=0.01, help="exit 1 when a token's |d| exceeds it or a turn looks re-tokenized"
    )
    verify.add_argument(
        "--retokenize-floor", type=float, default=0.002, help="a turn's first tokens' mean |d| x T above it may flag"
    )
    verify.add_argument(
        "--retokenize-ratio", type=float, default=4.0, help="...when that many times the turn's and trajectory's"
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    verify.set_defaults(handler=_verify)


def _add_sessions(commands) -> None:
    sessions = commands.add_parser("sessions", help="list the session ledger's sessions, export their trajectories")
    store_help = "memory, sqlite:///PATH or redis://HOST:PORT/DB (default: $SGLANG_NATIVE_SESSION_STORE)"
    actions = sessions.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="print the ids of the sessions in the store")
    listing.add_argument("--store", help=store_help)
    listing.set_defaults(handler=_sessions_list)
    export = actions.add_parser(
        "export", help="write a session's trajectories as JSONL (one line per branch; routed experts in .npz files)"
    )
    export.add_argument("session")
    export.add_argument("--out", required=True, type=Path, help="the JSONL file to write")
    export.add_argument("--store", help=store_help)
    export.set_defaults(handler=_sessions_export)


def _add_emulate(commands) -> None:
    """The ``emulate`` command's arguments (SGLang's flags the emulator has)."""
    emulate = commands.add_parser("emulate", help="serve SGLang's native API with a real tokenizer and a fake model")
    emulate.add_argument(
        "--tokenizer", default="qwen3", help="offline recipe (qwen3, qwen3.6, deepseek-v4, …) or a tokenizer directory"
    )
    emulate.add_argument("--host", default="127.0.0.1")
    emulate.add_argument("--port", type=int, default=30000)
    emulate.add_argument("--api-key", help="require 'Authorization: Bearer KEY' (default: $SGLANG_API_KEY)")
    emulate.add_argument("--served-model-name")
    emulate.add_argument("--context-length", type=int)
    emulate.add_argument(
        "--model-config", help="a model directory or config.json: context length, model type (as real SGLang reads)"
    )
    emulate.add_argument("--stream-interval", type=int, default=1, help="as SGLang's --stream-interval")
    emulate.add_argument("--token-delay", type=float, default=0.0, help="seconds between generated tokens")
    emulate.add_argument(
        "--incremental-streaming-output",
        action="store_true",
        help="stream deltas instead of cumulative text and ids, as SGLang's flag does",
    )
    emulate.add_argument(
        "--enable-return-routed-experts",
        action="store_true",
        help="as SGLang's flag: /generate may ask for each token's routed experts (return_routed_experts)",
    )
    emulate.add_argument(
        "--moe", default="4,16,2", metavar="LAYERS,EXPERTS,TOP_K", help="the fake model's mixture of experts"
    )
    emulate.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND=RATE",
        help="fail this share of /generate calls (unavailable, server_error, slow, reset, stream_drop, malformed, "
        "abort); repeatable",
    )
    emulate.add_argument("--slow-seconds", type=float, default=1.0, help="delay of a 'slow' fault")
    emulate.add_argument("--fault-seed", type=int, default=0)
    emulate.set_defaults(handler=_emulate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sglang-native", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    _add_emulate(commands)

    build = commands.add_parser("build-tokenizer", help="build an offline tokenizer and print its directory")
    build.add_argument(
        "name", choices=["qwen3", "qwen2.5", "qwen3.5", "qwen3.6", "llama3.1", "deepseek-v4", "mistral-nemo"]
    )
    build.set_defaults(handler=_build_tokenizer)

    demo = commands.add_parser("demo", help="a two-turn tool conversation through the example LiteLLM Router")
    demo.add_argument("--api-base", help="a real SGLang server (default: start the embedded emulator)")
    demo.add_argument("--api-key", help="the server's API key (default: $SGLANG_API_KEY)")
    demo.add_argument("--config", type=Path, default=None, help="Router YAML (default: examples/router_config.yaml)")
    demo.set_defaults(handler=_demo)

    chat = commands.add_parser("chat", help="the demo conversation against a real SGLang server")
    chat.add_argument("--api-base", required=True)
    chat.add_argument("--model", required=True, help="the served model name, e.g. Qwen/Qwen3-8B")
    chat.add_argument(
        "--tokenizer",
        help="tokenizer directory, hub id, or an offline recipe built without the hub: offline:qwen3, "
        "offline:qwen2.5, offline:llama3.1 (default: the model name)",
    )
    chat.add_argument("--api-key", help="the server's API key (default: $SGLANG_API_KEY)")
    chat.set_defaults(handler=_chat)
    _add_sessions(commands)
    _add_verify(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
