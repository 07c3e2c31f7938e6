"""WechatyChannel's settings and pure helpers: no gateway, no node needed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.channels.wechaty_adapter import (
    WechatyChannel,
    _utc,
    is_loopback,
    split_endpoint,
    split_quote,
    token_server_name,
)
from config.schema import ConfigError, Settings, parse_settings


@pytest.mark.parametrize(
    "endpoint",
    ["10.0.0.5:8788", "puppet.example.com:443", "0.0.0.0:8788", "[2001:db8::1]:8788"],
)
def test_insecure_is_refused_for_a_non_loopback_endpoint(endpoint: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loopback"):
        WechatyChannel(endpoint, "insecure_t", media_dir=tmp_path, insecure=True)


@pytest.mark.parametrize("endpoint", ["127.0.0.1:8788", "localhost:8788", "[::1]:8788"])
def test_insecure_is_allowed_on_loopback(endpoint: str, tmp_path: Path) -> None:
    WechatyChannel(endpoint, "insecure_t", media_dir=tmp_path, insecure=True)


def test_turning_tls_off_needs_the_explicit_insecure_switch(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="insecure"):
        WechatyChannel("127.0.0.1:8788", "insecure_t", media_dir=tmp_path, tls=False)


def test_tls_is_the_default_and_needs_no_loopback(tmp_path: Path) -> None:
    channel = WechatyChannel("puppet.example.com:443", "sni_t", media_dir=tmp_path)
    assert not channel.connected
    assert channel.self_id == ""


def test_a_token_and_a_real_ca_file_are_required(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="token"):
        WechatyChannel("127.0.0.1:8788", "", media_dir=tmp_path, insecure=True)
    with pytest.raises(ValueError, match="CA file"):
        WechatyChannel("h:1", "t", media_dir=tmp_path, ca_file=tmp_path / "missing.pem")


@pytest.mark.parametrize("endpoint", ["127.0.0.1", "no-port:", "host:notaport", ":8788"])
def test_a_malformed_endpoint_is_refused(endpoint: str) -> None:
    with pytest.raises(ValueError, match="endpoint"):
        split_endpoint(endpoint)


def test_endpoints_split_into_host_and_port() -> None:
    assert split_endpoint("127.0.0.1:8788") == ("127.0.0.1", 8788)
    assert split_endpoint("grpc://puppet.example.com:443") == ("puppet.example.com", 443)
    assert split_endpoint("[::1]:8788") == ("::1", 8788)


def test_loopback_hosts() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("127.8.9.1")
    assert is_loopback("::1")
    assert is_loopback("LOCALHOST")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("192.168.1.2")
    assert not is_loopback("localhost.example.com")


def test_the_tls_server_name_comes_from_the_token_prefix() -> None:
    assert token_server_name("insecure_2d1b1c") == "insecure"
    assert token_server_name("puppet_padlocal_uuid") == "puppet_padlocal"
    assert token_server_name("plaintoken") is None
    assert token_server_name("_leading") is None


def test_a_quoted_reply_is_split_from_its_quote() -> None:
    text = "「张阿姨：3号楼电梯坏了」\n- - - - - - - - - - - - - - -\n我家也是"
    assert split_quote(text) == ("我家也是", "张阿姨：3号楼电梯坏了")
    assert split_quote("电梯坏了") == ("电梯坏了", None)


def test_puppet_timestamps_in_seconds_or_milliseconds_become_utc() -> None:
    moment = datetime(2026, 11, 23, 7, 0, 0, tzinfo=UTC)
    assert _utc(moment.timestamp()) == moment
    assert _utc(moment.timestamp() * 1000) == moment
    assert _utc(moment.timestamp()).tzinfo is UTC


def _settings(**wechaty: object) -> Settings:
    return parse_settings({"bot": {"channel": "wechaty"}, "wechaty": wechaty})


def test_from_settings_reads_the_wechaty_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WECHATY_PUPPET_SERVICE_ENDPOINT", raising=False)
    monkeypatch.delenv("WECHATY_PUPPET_SERVICE_TOKEN", raising=False)
    channel = WechatyChannel.from_settings(
        _settings(endpoint="puppet.example.com:8788", token="insecure_abc")
    )
    assert channel.name == "wechaty"
    bad_ca = tmp_path / "ca.pem"
    bad_ca.write_text("not a certificate", encoding="utf-8")
    with pytest.raises(ConfigError, match="CA"):
        WechatyChannel.from_settings(
            _settings(endpoint="puppet.example.com:8788", token="t", ca_file=str(bad_ca))
        )


def test_from_settings_honours_wechatys_client_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WECHATY_PUPPET_SERVICE_ENDPOINT", "127.0.0.1:8788")
    monkeypatch.setenv("WECHATY_PUPPET_SERVICE_TOKEN", "insecure_env")
    monkeypatch.setenv("WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_CLIENT", "true")
    WechatyChannel.from_settings(_settings())  # plain gRPC on loopback: accepted
    monkeypatch.setenv("WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_CLIENT", "false")
    monkeypatch.setenv("WECHATY_PUPPET_SERVICE_TLS_CA_CERT", "-----BEGIN CERTIFICATE-----\nx")
    with pytest.raises(ConfigError, match="CA"):
        WechatyChannel.from_settings(_settings())


def test_from_settings_lets_the_environment_override_endpoint_and_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WECHATY_PUPPET_SERVICE_ENDPOINT", "10.1.2.3:8788")
    monkeypatch.setenv("WECHATY_PUPPET_SERVICE_TOKEN", "from-env")
    # the file says loopback + insecure; the environment moves it off loopback: refused
    with pytest.raises(ConfigError, match="loopback"):
        WechatyChannel.from_settings(_settings(endpoint="127.0.0.1:8788", insecure=True))


def test_from_settings_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WECHATY_PUPPET_SERVICE_ENDPOINT", raising=False)
    monkeypatch.delenv("WECHATY_PUPPET_SERVICE_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="endpoint"):
        WechatyChannel.from_settings(_settings(token="t"))
    with pytest.raises(ConfigError, match="token"):
        WechatyChannel.from_settings(_settings(endpoint="127.0.0.1:8788", insecure=True))


async def test_stop_ends_the_channel_even_when_a_cancellation_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Python 3.11's wait_for can lose a cancellation that lands as an RPC completes; the
    # supervisor then runs on: stop() must still end it (and the loop's shutdown not hang)
    import asyncio

    from bot.channels import wechaty_adapter as adapter

    channel = WechatyChannel(
        "127.0.0.1:8788", "insecure_t", media_dir=tmp_path, insecure=True, backoff_initial=0.01
    )
    watches: list[int] = []

    async def connect(number: int) -> adapter._Connection:
        conn = adapter._Connection(number=number, puppet=object())
        channel._conn = conn
        channel._connected.set()
        return conn

    async def watch(conn: adapter._Connection) -> str:
        watches.append(conn.number)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if len(watches) == 1:
                return "the cancellation was lost"  # as wait_for may do in 3.11
            raise
        return "not reached"

    monkeypatch.setattr(channel, "_connect", connect)
    monkeypatch.setattr(channel, "_watch", watch)
    monkeypatch.setattr(channel, "_log_rooms", lambda: asyncio.sleep(0))

    async def ignore(_: object) -> None:
        pass

    await channel.start(ignore, ignore)
    assert channel.connected
    await asyncio.wait_for(channel.stop(), 10)
    assert not channel.connected
    assert watches == [1]  # no reconnection after stop(), though the first cancel was lost
    assert channel._supervisor is None
