"""A cached venv with real SGLang 0.5.23 on CPU, and the tiny random-weights Qwen3 it serves.

Run by hand: ``python tests/real_sglang/environment.py`` (prints the venv's python and the model directory).
Everything lives under ``$SGLANG_NATIVE_CACHE_DIR/real-sglang`` (default ``~/.cache/sglang-native-provider``);
a complete venv or model is reused, anything else is built in a scratch directory and renamed into place, so an
interrupted build never leaves a half venv behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

SGLANG_VERSION = "0.5.23"
TORCH_VERSION = "2.13.0"  # a CPU build lies in /opt/wheels; PyPI's default torch is a multi-GB CUDA build
# SGLang's requirements that only serve CUDA (or video), dropped from the CPU venv.
CUDA_ONLY = frozenset(
    {
        "flash-attn-4",
        "flashinfer-python",
        "sglang-kernel",
        "sgl-deep-ep",
        "sgl-deep-gemm",
        "sgl-flash-mla",
        "tilelang",
        "cuda-python",
        "torch-memory-saver",
        "humming-kernels",
        "quack-kernels",
        "torchaudio",
        "torchcodec",
        "torchvision",
        "timm",
        "av",
        "decord2",
        "py-spy",
        "nvshmem4py-cu13",
    }
)
RECIPE_VERSION = 1
QWEN3_CONFIG = {
    "vocab_size": 151936,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 4096,
    "tie_word_embeddings": True,
}
EOS_TOKEN_IDS = [151645, 151643]
SHIMS = Path(__file__).resolve().parent / "shims"
_COMPLETE = ".complete"


class SetupError(RuntimeError):
    """Real SGLang could not be installed (registry unreachable, a wheel missing, an import failing)."""


def cache_dir() -> Path:
    """``$SGLANG_NATIVE_CACHE_DIR/real-sglang`` or ``~/.cache/sglang-native-provider/real-sglang``."""
    configured = os.environ.get("SGLANG_NATIVE_CACHE_DIR")
    root = Path(configured) if configured else Path.home() / ".cache" / "sglang-native-provider"
    return root / "real-sglang"


def _normalized(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _is_cuda_only(name: str) -> bool:
    normalized = _normalized(name)
    return normalized in CUDA_ONLY or normalized.startswith("nvidia-")


def cpu_requirements(metadata: str) -> list[str]:
    """The wheel's ``Requires-Dist`` for this platform, minus CUDA-only packages, torch pinned to the CPU build."""
    requirements = []
    for line in metadata.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        requirement = Requirement(line.split(":", 1)[1].strip())
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        if _is_cuda_only(requirement.name):
            continue
        if _normalized(requirement.name) == "torch":
            requirements.append(f"torch=={TORCH_VERSION}")
            continue
        requirement.marker = None
        requirements.append(str(requirement))
    return requirements


def _run(command: list[str], log) -> None:
    log.write(f"+ {' '.join(command)}\n")
    log.flush()
    completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
    if completed.returncode != 0:
        raise SetupError(f"command failed ({completed.returncode}): {' '.join(command)}; see {log.name}")


@contextlib.contextmanager
def _locked(directory: Path):
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fresh_build_dir(root: Path, name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f".build-{name}-", dir=root))


def _publish(build: Path, final: Path) -> Path:
    """Rename a finished build into place (atomic), replacing an incomplete leftover."""
    (build / _COMPLETE).write_text("ok\n")
    if final.exists():
        shutil.rmtree(final)
    os.rename(build, final)
    return final


def sglang_wheel(log) -> Path:
    """SGLang's wheel from the package index, downloaded once."""
    root = cache_dir()
    final = root / f"wheel-{SGLANG_VERSION}"
    if (final / _COMPLETE).exists():
        return next(final.glob("sglang-*.whl"))
    build = _fresh_build_dir(root, "wheel")
    try:
        _run(
            [sys.executable, "-m", "pip", "download", "--no-deps", f"sglang=={SGLANG_VERSION}", "-d", str(build)],
            log,
        )
        if not list(build.glob("sglang-*.whl")):
            raise SetupError(f"pip download left no sglang wheel in {build}")
        _publish(build, final)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return next(final.glob("sglang-*.whl"))


def _wheel_metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return archive.read(name).decode()


def _venv_key(requirements: list[str]) -> str:
    digest = hashlib.sha256(json.dumps([RECIPE_VERSION, SGLANG_VERSION, requirements]).encode()).hexdigest()
    return f"venv-{SGLANG_VERSION}-{digest[:12]}"


def _base_python() -> str:
    return getattr(sys, "_base_executable", None) or sys.executable


def venv_python(log) -> Path:
    """The cached venv's python with SGLang importable; built (about 11 minutes) when missing or incomplete."""
    root = cache_dir()
    wheel = sglang_wheel(log)
    requirements = cpu_requirements(_wheel_metadata(wheel))
    final = root / _venv_key(requirements)
    if (final / _COMPLETE).exists():
        return final / "bin" / "python"
    build = _fresh_build_dir(root, "venv")
    try:
        _run([_base_python(), "-m", "venv", str(build)], log)
        python = str(build / "bin" / "python")
        pip = [python, "-m", "pip", "install", "--progress-bar", "off"]
        _run([*pip, f"torch=={TORCH_VERSION}"], log)
        requirements_file = build / "sglang-requirements.txt"
        requirements_file.write_text("\n".join(requirements) + "\n")
        constraints_file = build / "torch-constraint.txt"
        constraints_file.write_text(f"torch=={TORCH_VERSION}\n")
        _run([*pip, "-r", str(requirements_file), "-c", str(constraints_file)], log)
        _run([*pip, "--no-deps", str(wheel)], log)
        _run([python, "-c", _IMPORT_CHECK], log)
        _publish(build, final)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return final / "bin" / "python"


_IMPORT_CHECK = (
    "import torch, sglang, transformers; "
    "assert torch.version.cuda is None, f'torch {torch.__version__} is a CUDA build'; "
    "print('sglang', sglang.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__)"
)

_MODEL_SCRIPT = """
import json, sys, torch
from transformers import Qwen3Config, Qwen3ForCausalLM
config = Qwen3Config(**json.loads(sys.argv[2]), torch_dtype="bfloat16")
torch.manual_seed(0)
model = Qwen3ForCausalLM(config).to(torch.bfloat16)
model.save_pretrained(sys.argv[1], safe_serialization=True)
"""


def tiny_qwen3(python: Path, log) -> Path:
    """A random-weights Qwen3 (2 layers, hidden 64, bf16) with the offline Qwen3 tokenizer files."""
    from sglang_native_provider.offline_tokenizers import build_tokenizer

    tokenizer = build_tokenizer("qwen3")
    root = cache_dir()
    digest = hashlib.sha256(json.dumps([RECIPE_VERSION, QWEN3_CONFIG, EOS_TOKEN_IDS, str(tokenizer)]).encode())
    final = root / f"model-qwen3-tiny-{digest.hexdigest()[:12]}"
    if (final / _COMPLETE).exists():
        return final
    build = _fresh_build_dir(root, "model")
    try:
        _run([str(python), "-c", _MODEL_SCRIPT, str(build), json.dumps(QWEN3_CONFIG)], log)
        for item in tokenizer.iterdir():
            if item.is_file():
                shutil.copy2(item, build / item.name)
        generation = {"bos_token_id": 151643, "eos_token_id": EOS_TOKEN_IDS, "do_sample": True}
        (build / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
        _publish(build, final)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return final


def ensure(log=None) -> tuple[Path, Path]:
    """The venv's python and the model directory, built when missing (serialized across processes)."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if log is None:
            log = stack.enter_context(open(root / "build.log", "a"))
        stack.enter_context(_locked(root))
        python = venv_python(log)
        return python, tiny_qwen3(python, log)


def main() -> int:
    try:
        python, model = ensure()
    except SetupError as error:
        print(f"real SGLang environment: {error}", file=sys.stderr)
        return 1
    print(python)
    print(model)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
