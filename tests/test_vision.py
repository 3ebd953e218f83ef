"""Images in messages with exact token ids (Qwen2.5-VL): the provider renders the real template, expands each image's
placeholder to the image processor's token count, and sends one placeholder per image plus ``image_data``, which
the emulator expands as SGLang 0.5.23 does. Expected ids are computed independently: transformers renders and
tokenizes the template, and the token count comes from transformers' own ``smart_resize`` source."""

from __future__ import annotations

import ast
import base64
import io
import json
import math
from pathlib import Path

import httpx
import litellm
import pytest
from PIL import Image

import sglang_native_provider
from sglang_native_provider.emulator import Emulator, load_emulator_tokenizer
from sglang_native_provider.emulator.vision import ImageTokens
from sglang_native_provider.vision import ImageProcessor

FIXTURES = Path(__file__).parent / "fixtures" / "vision"
TEMPLATE = FIXTURES / "Qwen-Qwen2.5-VL-7B-Instruct.jinja"
PREPROCESSOR = FIXTURES / "Qwen-Qwen2.5-VL-7B-Instruct-preprocessor_config.json"
VISION_START, VISION_END, IMAGE_PAD = 151652, 151653, 151655
RED, BLUE = (640, 480), (100, 50)  # 391 and 8 tokens


@pytest.fixture(autouse=True)
def registered():
    sglang_native_provider.register()


@pytest.fixture(scope="module")
def tokenizer():
    return load_emulator_tokenizer("qwen2.5")


@pytest.fixture
def vl_emulator():
    with Emulator("qwen2.5", image_processor=PREPROCESSOR) as emu:
        yield emu


def _transformers_smart_resize():
    """transformers' ``smart_resize``, taken from its source (the module imports torch, which is not installed)."""
    import transformers.models.qwen2_vl as package

    source = (Path(package.__file__).parent / "image_processing_qwen2_vl.py").read_text()
    tree = ast.parse(source)
    function = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "smart_resize")
    namespace = {"math": math}
    exec(compile(ast.Module([function], []), "smart_resize", "exec"), namespace)
    return namespace["smart_resize"]


SMART_RESIZE = _transformers_smart_resize()
PRE = json.loads(PREPROCESSOR.read_text())


def expected_count(width: int, height: int) -> int:
    factor = PRE["patch_size"] * PRE["merge_size"]
    h, w = SMART_RESIZE(height, width, factor, min_pixels=PRE["min_pixels"], max_pixels=PRE["max_pixels"])
    return (h // PRE["patch_size"]) * (w // PRE["patch_size"]) // PRE["merge_size"] ** 2


def png(size: tuple[int, int], color: str = "red") -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def image_part(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


def hf_messages(messages: list[dict]) -> list[dict]:
    """The messages as transformers' chat templates take them (``{"type": "image"}`` parts)."""
    converted = []
    for message in messages:
        content = message["content"]
        if isinstance(content, list):
            content = [{"type": "image"} if part["type"] == "image_url" else part for part in content]
        converted.append({"role": message["role"], "content": content})
    return converted


def expected_ids(tokenizer, messages: list[dict], sizes: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """(what /generate receives, what the model sees): transformers' rendering, then each placeholder expanded."""
    rendered = tokenizer.apply_chat_template(
        hf_messages(messages), chat_template=TEMPLATE.read_text(), add_generation_prompt=True, tokenize=True
    )
    sent = list(rendered["input_ids"] if isinstance(rendered, dict) or hasattr(rendered, "keys") else rendered)
    counts = iter(expected_count(*size) for size in sizes)
    expanded = [t for token in sent for t in ([token] * next(counts) if token == IMAGE_PAD else [token])]
    return sent, expanded


def vl_chat(emulator, messages, **kwargs):
    return litellm.acompletion(
        model="sglang_native/qwen2.5-vl",
        api_base=emulator.url,
        messages=messages,
        tokenizer="offline:qwen2.5",
        chat_template=str(TEMPLATE),
        image_processor=str(PREPROCESSOR),
        **kwargs,
    )


# ---- the token count ----


def test_placeholder_ids(tokenizer):
    ids = [tokenizer.convert_tokens_to_ids(t) for t in ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>")]
    assert ids == [VISION_START, VISION_END, IMAGE_PAD]


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (640, 480),
        (100, 50),
        (1, 1),
        (28, 28),
        (56, 56),
        (1920, 1080),
        (1080, 1920),
        (4000, 3000),
        (12000, 9000),
        (7, 1400),
        (1400, 7),
        (300, 2),
        (333, 777),
        (10000, 10000),
        (27, 29),
    ],
)
def test_token_count_matches_transformers(width, height, tokenizer):
    processor = ImageProcessor.of(PRE, "m")
    assert processor.tokens(height, width) == expected_count(width, height)
    assert ImageTokens.of(tokenizer, PREPROCESSOR).count(height, width) == expected_count(width, height)


def test_known_counts():
    """Worked by hand: 640x480 resizes to 644x476 (23x17 merged patches of 28 px); 100x50 to 112x56 (4x2)."""
    processor = ImageProcessor.of(PRE, "m")
    assert processor.tokens(480, 640) == 23 * 17 == 391
    assert processor.tokens(50, 100) == 4 * 2
    assert processor.tokens(1, 1) == 4  # min_pixels: 56x56


# ---- requests through the provider ----


async def test_single_image(vl_emulator, tokenizer):
    url = png(RED)
    messages = [{"role": "user", "content": [image_part(url), {"type": "text", "text": "What color is this?"}]}]
    vl_emulator.script("Red.")
    response = await vl_chat(vl_emulator, messages)
    sent_ids, expanded = expected_ids(tokenizer, messages, [RED])
    body = vl_emulator.requests[-1]
    assert body["input_ids"] == sent_ids and sent_ids.count(IMAGE_PAD) == 1
    assert body["image_data"] == [url]
    fields = response.choices[0].message.provider_specific_fields
    assert fields["prompt_token_ids"] == expanded
    assert expanded.count(IMAGE_PAD) == 391
    assert response.usage.prompt_tokens == len(expanded)
    assert response.choices[0].message.content == "Red."


async def test_two_images_in_one_message(vl_emulator, tokenizer):
    red, blue = png(RED), png(BLUE, "blue")
    content = [{"type": "text", "text": "Compare"}, image_part(red), {"type": "text", "text": "and"}, image_part(blue)]
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": content}]
    vl_emulator.script("Different.")
    response = await vl_chat(vl_emulator, messages)
    sent_ids, expanded = expected_ids(tokenizer, messages, [RED, BLUE])
    assert vl_emulator.requests[-1]["input_ids"] == sent_ids
    assert vl_emulator.requests[-1]["image_data"] == [red, blue]
    assert response.choices[0].message.provider_specific_fields["prompt_token_ids"] == expanded
    assert expanded.count(IMAGE_PAD) == 391 + 8


async def test_image_in_a_continued_turn(vl_emulator, tokenizer):
    red, blue = png(RED), png(BLUE, "blue")
    messages = [{"role": "user", "content": [image_part(red), {"type": "text", "text": "Color?"}]}]
    vl_emulator.script("Red.")
    first = await vl_chat(vl_emulator, messages)
    first_fields = first.choices[0].message.provider_specific_fields
    messages += [
        first.choices[0].message,
        {"role": "user", "content": [image_part(blue), {"type": "text", "text": "And?"}]},
    ]
    vl_emulator.script("Blue.")
    second = await vl_chat(vl_emulator, messages)
    fields = second.choices[0].message.provider_specific_fields
    turn = [*first_fields["prompt_token_ids"], *first_fields["completion_token_ids"]]
    assert fields["prompt_token_ids"][: len(turn)] == turn
    assert "continuation_warning" not in fields
    assert fields["template_drift"] == {"detected": False, "first_difference": None}
    new = fields["prompt_token_ids"][len(turn) :]
    assert new.count(IMAGE_PAD) == 8 and new[new.index(IMAGE_PAD) - 1] == VISION_START
    body = vl_emulator.requests[-1]
    assert body["image_data"] == [red, blue]
    assert body["input_ids"].count(IMAGE_PAD) == 2
    # the emulator (as SGLang) expanded what was sent into exactly the ids the provider reports
    _, fresh = expected_ids(
        tokenizer, [messages[0], {"role": "assistant", "content": "Red."}, messages[2]], [RED, BLUE]
    )
    assert fields["prompt_token_ids"] == fresh
    assert second.usage.prompt_tokens == len(fresh)


async def test_streaming(vl_emulator, tokenizer):
    url = png(BLUE, "blue")
    messages = [{"role": "user", "content": [image_part(url), {"type": "text", "text": "Color?"}]}]
    vl_emulator.script("Blue, clearly.")
    stream = await vl_chat(vl_emulator, messages, stream=True)
    chunks = [chunk async for chunk in stream]
    content = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    fields = next(
        chunk.choices[0].delta.provider_specific_fields
        for chunk in reversed(chunks)
        if chunk.choices and getattr(chunk.choices[0].delta, "provider_specific_fields", None)
    )
    sent_ids, expanded = expected_ids(tokenizer, messages, [BLUE])
    assert content == "Blue, clearly."
    assert vl_emulator.requests[-1]["input_ids"] == sent_ids and vl_emulator.requests[-1]["image_data"] == [url]
    assert fields["prompt_token_ids"] == expanded


async def test_local_file_under_the_root(vl_emulator, tokenizer, tmp_path):
    path = tmp_path / "red.png"
    Image.new("RGB", RED, "red").save(path)
    messages = [{"role": "user", "content": [image_part(f"file://{path}"), {"type": "text", "text": "Color?"}]}]
    vl_emulator.script("Red.")
    response = await vl_chat(vl_emulator, messages, local_image_root=str(tmp_path))
    sent = vl_emulator.requests[-1]["image_data"]
    assert sent == ["data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()]
    assert (
        response.choices[0].message.provider_specific_fields["prompt_token_ids"]
        == expected_ids(tokenizer, messages, [RED])[1]
    )


# ---- bad input: a BadRequestError naming the part, nothing sent ----

NOT_AN_IMAGE = "data:image/png;base64," + base64.b64encode(b"not an image at all").decode()


def _bad_cases(tmp_root: str):
    red = png(RED)
    two = [image_part(red), image_part(png(BLUE))]
    return [
        ([image_part("https://example.com/cat.png")], {}, "messages[0].content[1]: http(s) image URLs are not fetched"),
        ([image_part("/etc/hostname")], {}, "messages[0].content[1]: local image files are not allowed"),
        (
            [image_part("/etc/hostname")],
            {"local_image_root": tmp_root},
            "content[1]: no image file under local_image_root",
        ),
        ([image_part("file:///../../etc/passwd")], {"local_image_root": tmp_root}, "content[1]: no image file under"),
        ([image_part("data:image/png;base64,@@@")], {}, "messages[0].content[1]: the data URL is not valid base64"),
        ([image_part("data:image/png,rawbytes")], {}, "messages[0].content[1]: a data URL must be base64"),
        ([image_part(NOT_AN_IMAGE)], {}, "messages[0].content[1]: the image cannot be decoded"),
        (
            [image_part(red)],
            {"max_image_bytes": 100},
            "messages[0].content[1]: the image is larger than max_image_bytes",
        ),
        (
            [image_part(red)],
            {"max_image_pixels": 1000},
            "content[1]: 640x480 pixels is more than max_image_pixels (1000)",
        ),
        (two, {"max_images_per_request": 1}, "messages[0].content[2]: more than max_images_per_request (1)"),
        ([image_part(png((1, 300)))], {}, "messages[0].content[1]: 1x300 image: its aspect ratio is more than 200"),
        ([image_part(red)], {"image_processor": None}, "messages[0].content[1]"),
        (
            [image_part(red)],
            {"chat_template": None},
            "content[1]: the chat template of 'qwen2.5-vl' has no image placeholder",
        ),
        ([{"type": "image_url", "image_url": {}}], {}, "messages[0].content[1]: image_url must be"),
        (
            [{"type": "input_audio", "input_audio": {}}],
            {},
            "messages[0].content[1]: content part of type 'input_audio'",
        ),
        (
            [image_part(red), {"type": "text", "text": "<|vision_start|><|image_pad|><|vision_end|>"}],
            {},
            "the prompt has 2 image placeholders (<|image_pad|>) for 1 images",
        ),
    ]


@pytest.mark.parametrize("case", range(16))
async def test_bad_images_name_the_part(case, vl_emulator, tmp_path):
    parts, settings, fragment = _bad_cases(str(tmp_path))[case]
    messages = [{"role": "user", "content": [{"type": "text", "text": "Look:"}, *parts]}]
    kwargs = {"tokenizer": "offline:qwen2.5", "chat_template": str(TEMPLATE), "image_processor": str(PREPROCESSOR)}
    kwargs.update(settings)
    kwargs = {key: value for key, value in kwargs.items() if value is not None}
    with pytest.raises(litellm.BadRequestError) as caught:
        await litellm.acompletion(
            model="sglang_native/qwen2.5-vl", api_base=vl_emulator.url, messages=messages, **kwargs
        )
    assert fragment in str(caught.value)
    assert vl_emulator.requests == []


async def test_no_image_processor_says_which_setting(vl_emulator):
    messages = [{"role": "user", "content": [image_part(png(RED))]}]
    with pytest.raises(litellm.BadRequestError, match="takes no images: set image_processor"):
        await litellm.acompletion(
            model="sglang_native/qwen2.5-vl", api_base=vl_emulator.url, messages=messages, tokenizer="offline:qwen2.5"
        )
    assert vl_emulator.requests == []


async def test_image_in_an_assistant_message_is_refused(vl_emulator):
    messages = [
        {"role": "user", "content": "Draw."},
        {"role": "assistant", "content": [image_part(png(RED))]},
        {"role": "user", "content": "Again."},
    ]
    with pytest.raises(litellm.BadRequestError, match=r"messages\[1\]\.content\[0\]: image parts are accepted in user"):
        await vl_chat(vl_emulator, messages)
    assert vl_emulator.requests == []


# ---- the emulator's image_data, as SGLang 0.5.23 ----


async def test_emulator_expands_and_reports_prompt_ids(vl_emulator, tokenizer):
    messages = [{"role": "user", "content": [image_part(png(RED)), {"type": "text", "text": "Color?"}]}]
    sent, expanded = expected_ids(tokenizer, messages, [RED])
    body = {
        "input_ids": sent,
        "image_data": png(RED),
        "return_prompt_token_ids": True,
        "sampling_params": {"max_new_tokens": 2},
    }
    async with httpx.AsyncClient(base_url=vl_emulator.url) as http:
        answer = (await http.post("/generate", json=body)).json()
    assert answer["prompt_token_ids"] == expanded
    assert answer["meta_info"]["prompt_tokens"] == len(expanded)


async def test_emulator_falls_back_to_retokenizing_expanded_ids(vl_emulator, tokenizer, caplog):
    """Ids already expanded (391 placeholders for one image) are decoded and re-tokenized, as SGLang falls back."""
    messages = [{"role": "user", "content": [image_part(png(RED)), {"type": "text", "text": "Color?"}]}]
    _, expanded = expected_ids(tokenizer, messages, [RED])
    body = {"input_ids": expanded, "image_data": [png(RED)], "return_prompt_token_ids": True}
    async with httpx.AsyncClient(base_url=vl_emulator.url) as http:
        answer = (await http.post("/generate", json={**body, "sampling_params": {"max_new_tokens": 2}})).json()
    assert answer["prompt_token_ids"] == expanded
    assert "falling back to decode+retokenize" in caplog.text


async def test_emulator_refuses_undecodable_images_and_mismatches(vl_emulator, tokenizer):
    messages = [{"role": "user", "content": [image_part(png(RED)), {"type": "text", "text": "Color?"}]}]
    sent, _ = expected_ids(tokenizer, messages, [RED])
    async with httpx.AsyncClient(base_url=vl_emulator.url) as http:
        bad = await http.post("/generate", json={"input_ids": sent, "image_data": [NOT_AN_IMAGE]})
        assert bad.status_code == 400 and "Failed to load image" in bad.json()["error"]["message"]
        two = await http.post("/generate", json={"input_ids": sent, "image_data": [png(RED), png(BLUE)]})
        assert two.status_code == 400 and "2 images" in two.json()["error"]["message"]


async def test_a_text_model_ignores_image_data(emulator, qwen3_tokenizer):
    ids = qwen3_tokenizer.encode("Hello", add_special_tokens=False)
    async with httpx.AsyncClient(base_url=emulator.url) as http:
        answer = await http.post(
            "/generate",
            json={
                "input_ids": ids,
                "image_data": [NOT_AN_IMAGE],
                "return_prompt_token_ids": True,
                "sampling_params": {"max_new_tokens": 1},
            },
        )
    assert answer.status_code == 200 and answer.json()["prompt_token_ids"] == ids


async def test_a_session_continues_on_the_ledger_when_the_metadata_is_dropped(vl_emulator):
    """A framework that keeps plain dicts: the ledger finds the turn (images fingerprinted with the messages)."""
    red, blue = png(RED), png(BLUE, "blue")
    session = {"metadata": {"session_id": "vision-ledger-1"}}
    messages = [{"role": "user", "content": [image_part(red), {"type": "text", "text": "Color?"}]}]
    vl_emulator.script("Red.")
    first = (await vl_chat(vl_emulator, messages, **session)).choices[0].message
    turn = [
        *first.provider_specific_fields["prompt_token_ids"],
        *first.provider_specific_fields["completion_token_ids"],
    ]
    messages += [{"role": "assistant", "content": first.content}, {"role": "user", "content": [image_part(blue)]}]
    vl_emulator.script("Blue.")
    fields = (await vl_chat(vl_emulator, messages, **session)).choices[0].message.provider_specific_fields
    assert "continuation_warning" not in fields
    assert fields["prompt_token_ids"][: len(turn)] == turn
    assert fields["prompt_token_ids"].count(IMAGE_PAD) == 391 + 8


def test_a_size_only_processor_config():
    """Configs that give only ``size`` (as Qwen3-VL's, patch 16) read its edges as the pixel bounds."""
    config = {
        "image_processor_type": "Qwen2VLImageProcessorFast",
        "patch_size": 16,
        "merge_size": 2,
        "size": {"longest_edge": 16777216, "shortest_edge": 65536},
    }
    processor = ImageProcessor.of(config, "m")
    for height, width in [(480, 640), (1, 1), (5000, 9000)]:
        h, w = SMART_RESIZE(height, width, 32, min_pixels=65536, max_pixels=16777216)
        assert processor.tokens(height, width) == (h // 16) * (w // 16) // 4
