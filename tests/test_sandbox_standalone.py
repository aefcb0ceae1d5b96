"""The sandbox served over a real loopback socket."""

from __future__ import annotations

import io

import anyio
import bimpeai
import httpx
import httpx2
import pytest

from bimpe_mcp.sandbox import Fault, Sandbox, SandboxConfig, SandboxServer, serve


@pytest.mark.anyio
async def test_the_standalone_server_prints_its_base_url_and_keys_and_serves_the_api() -> None:
    out = io.StringIO()
    server = SandboxServer(port=0, config=SandboxConfig(speed=0.0), out=out)
    sandbox = server.sandbox
    async with anyio.create_task_group() as tg:
        origin: str = await tg.start(server.run)
        async with httpx2.AsyncClient(base_url=origin, timeout=10) as http:
            agents = await http.get("/api/v1/console/agents", headers={"X-Api-Key": sandbox.keys.full})
            info = await http.get("/_sandbox/info")
            sandbox.faults.add(Fault("drop", times=1))
            with pytest.raises(httpx2.RemoteProtocolError):
                await http.get("/api/v1/console/agents", headers={"X-Api-Key": sandbox.keys.full})
        async with httpx.AsyncClient(timeout=10) as http:  # the official SDK runs on httpx
            client = bimpeai.AsyncBimpeAI(api_key=sandbox.keys.full, base_url=origin, http_client=http, max_retries=0)
            calls = await client.calls.list(sandbox.agents.live, limit=3)
        server.stop()
        banner = out.getvalue()
        assert origin.startswith("http://127.0.0.1:")
        assert origin != "http://127.0.0.1:0"
        assert f"Base URL: {origin}\n" in banner
        for key in (sandbox.keys.full, sandbox.keys.read_only, sandbox.keys.expired, sandbox.keys.other_team):
            assert key in banner
        assert agents.status_code == 200
        assert info.json()["origin"] == origin
        assert len(calls.data) == 3


@pytest.mark.anyio
async def test_serve_starts_on_a_free_port_and_stops_when_cancelled(capsys: pytest.CaptureFixture[str]) -> None:
    origin = ""
    async with anyio.create_task_group() as tg:
        origin = await tg.start(serve, "localhost", 0)
        async with httpx2.AsyncClient(base_url=origin, timeout=10) as http:
            health = await http.get("/_sandbox/health")
        assert health.json()["status"] == "ok"
        tg.cancel_scope.cancel()
    assert origin.startswith("http://127.0.0.1:")
    assert "sk_sandbox_full_4f7c1a9e2b" in capsys.readouterr().out
    with pytest.raises(httpx2.ConnectError):
        async with httpx2.AsyncClient(base_url=origin, timeout=10) as http:
            await http.get("/_sandbox/health")


@pytest.mark.anyio
async def test_ipv6_loopback_is_served_with_a_bracketed_origin() -> None:
    server = SandboxServer(Sandbox(SandboxConfig(speed=0.0)), host="::1", port=0, out=io.StringIO())
    origin = ""
    try:
        async with anyio.create_task_group() as tg:
            origin = await tg.start(server.run)
            server.stop()
    except OSError:  # pragma: no cover - hosts without IPv6
        pytest.skip("no IPv6 loopback here")
    assert origin.startswith("http://[::1]:")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])
def test_non_loopback_hosts_are_refused(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        SandboxServer(host=host)
    with pytest.raises(ValueError, match="loopback"):
        anyio.run(serve, host, 0)


def test_a_server_stopped_before_it_runs_returns_after_starting() -> None:
    out = io.StringIO()
    server = SandboxServer(port=0, config=SandboxConfig(speed=0.0), out=out)
    server.stop()
    anyio.run(server.run)
    assert server.port != 0
    assert f"Base URL: http://127.0.0.1:{server.port}\n" in out.getvalue()
