"""``ssl_verify`` end to end against a real TLS server (a certificate authority and a server certificate for
127.0.0.1 made by the test, in front of an emulator): through acompletion, sync completion, a Router and the
LiteLLM proxy. LiteLLM consumes ``ssl_verify`` (kwarg or ``litellm_params``) into ``litellm_params``; the
provider reads it there."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
import threading
from pathlib import Path

import httpx
import litellm
import pytest
import yaml
from _support import litellm_proxy
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import sglang_native_provider
from sglang_native_provider.emulator import Emulator

MESSAGES = [{"role": "user", "content": "hi"}]


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A self-signed CA and a certificate it signed for 127.0.0.1: (CA bundle, server cert, server key)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("sglang-native test CA"))
        .issuer_name(_name("sglang-native test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@contextlib.contextmanager
def tls_in_front_of(upstream_port: int, certificate: Path, key: Path):
    """A TLS server on a free loopback port relaying each connection to ``upstream_port``; yields its URL."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, key)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    server = asyncio.run_coroutine_threadsafe(asyncio.start_server(relay, "127.0.0.1", 0, ssl=context), loop).result(
        timeout=10
    )
    try:
        yield f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def upstream():
    with Emulator("qwen3") as emu:
        yield emu


@pytest.fixture(scope="module")
def tls_url(upstream, certificates):
    _, certificate, key = certificates
    with tls_in_front_of(int(upstream.url.rsplit(":", 1)[1]), certificate, key) as url:
        yield url


@pytest.fixture(autouse=True)
def registered():
    sglang_native_provider.register()


def params(tls_url: str, **extra) -> dict:
    return {"model": "sglang_native/qwen3", "api_base": tls_url, "tokenizer": "offline:qwen3", "max_tokens": 4, **extra}


async def test_a_ca_bundle_is_trusted_through_acompletion(tls_url, certificates, upstream):
    calls = upstream.faults.calls
    response = await litellm.acompletion(messages=MESSAGES, **params(tls_url, ssl_verify=str(certificates[0])))
    assert response.choices[0].message.content
    assert upstream.faults.calls == calls + 1


async def test_an_unknown_authority_is_refused_and_says_what_to_set(tls_url):
    with pytest.raises(litellm.APIConnectionError, match="TLS certificate is not trusted") as caught:
        await litellm.acompletion(messages=MESSAGES, **params(tls_url))
    assert "set ssl_verify" in str(caught.value)


async def test_verification_can_be_turned_off(tls_url):
    response = await litellm.acompletion(messages=MESSAGES, **params(tls_url, ssl_verify=False))
    assert response.choices[0].message.content


async def test_streaming_over_tls(tls_url, certificates):
    stream = await litellm.acompletion(
        messages=MESSAGES, stream=True, **params(tls_url, ssl_verify=str(certificates[0]))
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_sync_completion_uses_the_bundle_too(tls_url, certificates):
    response = litellm.completion(messages=MESSAGES, **params(tls_url, ssl_verify=str(certificates[0])))
    assert response.choices[0].message.content
    with pytest.raises(litellm.APIConnectionError, match="TLS certificate is not trusted"):
        litellm.completion(messages=MESSAGES, **params(tls_url))


async def test_router_litellm_params_carry_ssl_verify(tls_url, certificates):
    router = litellm.Router(
        model_list=[
            {"model_name": "trusted", "litellm_params": params(tls_url, ssl_verify=str(certificates[0]))},
            {"model_name": "unverified", "litellm_params": params(tls_url, ssl_verify=False)},
            {"model_name": "default", "litellm_params": params(tls_url)},
        ]
    )
    for name in ("trusted", "unverified"):
        response = await router.acompletion(model=name, messages=MESSAGES)
        assert response.choices[0].message.content
    with pytest.raises(litellm.APIConnectionError, match="TLS certificate is not trusted"):
        await router.acompletion(model="default", messages=MESSAGES)


def test_the_proxy_passes_ssl_verify_from_its_config(tls_url, certificates, tmp_path):
    config = {
        "model_list": [
            {"model_name": "trusted", "litellm_params": params(tls_url, ssl_verify=str(certificates[0]))},
            {"model_name": "default", "litellm_params": params(tls_url)},
        ],
        "litellm_settings": {
            "custom_provider_map": [
                {"provider": "sglang_native", "custom_handler": "sglang_native_provider.provider.handler"}
            ]
        },
    }
    path = tmp_path / "proxy.yaml"
    path.write_text(yaml.safe_dump(config))
    with litellm_proxy(path, {}) as (base, key):
        headers = {"Authorization": f"Bearer {key}"}
        answer = httpx.post(
            f"{base}/v1/chat/completions", json={"model": "trusted", "messages": MESSAGES}, headers=headers, timeout=60
        )
        assert answer.status_code == 200, answer.text[:500]
        assert answer.json()["choices"][0]["message"]["content"]
        refused = httpx.post(
            f"{base}/v1/chat/completions", json={"model": "default", "messages": MESSAGES}, headers=headers, timeout=60
        )
        assert refused.status_code >= 500
        assert "TLS certificate is not trusted" in refused.text
        for body in ({"ssl_verify": False}, {"extra_body": {"ssl_verify": False}}):  # a client cannot turn it off
            overridden = httpx.post(
                f"{base}/v1/chat/completions",
                json={"model": "default", "messages": MESSAGES, **body},
                headers=headers,
                timeout=60,
            )
            assert overridden.status_code == 400, (body, overridden.text[:300])
            assert "ssl_verify" in overridden.text


async def test_ssl_verify_in_extra_body_is_refused(tls_url):
    """extra_body is the request's own data (through a proxy, its clients'): not where TLS checks are switched."""
    with pytest.raises(litellm.BadRequestError, match="'ssl_verify'"):
        await litellm.acompletion(messages=MESSAGES, **params(tls_url, extra_body={"ssl_verify": False}))
