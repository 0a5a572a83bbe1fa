"""``http`` templates against a real local HTTP server."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from tests.support.engine import ScriptedExecutor, by_name, load, make_controller

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@pytest.fixture
async def http_url() -> AsyncIterator[str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        path = request.split(b" ")[1].decode()
        status, body = (200, '{"hello": "world"}') if path == "/ok" else (404, "nope")
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n{body}".encode()
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.close()
    await server.wait_closed()


HTTP = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: web}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: good
        template: get
        arguments: {parameters: [{name: url, value: "URL/ok"}]}
      - name: missing
        template: get
        continueOn: {failed: true}
        arguments: {parameters: [{name: url, value: "URL/missing"}]}
      - name: conditioned
        template: cond
        arguments: {parameters: [{name: url, value: "URL/missing"}]}
  - name: get
    inputs: {parameters: [{name: url}]}
    http: {url: "{{inputs.parameters.url}}"}
  - name: cond
    inputs: {parameters: [{name: url}]}
    http:
      url: "{{inputs.parameters.url}}"
      successCondition: "response.statusCode == 404"
"""


async def test_http_templates(http_url: str) -> None:
    ex = ScriptedExecutor()
    async with make_controller(ex) as ctl:
        key = await ctl.submit(load(HTTP.replace("URL", http_url)))
        wf = await ctl.wait(key, timeout=10)
    nodes = by_name(wf)
    good = nodes["web[0].good"]
    assert good["type"] == "HTTP" and good["phase"] == "Succeeded"
    assert good["outputs"]["result"] == '{"hello": "world"}'
    assert nodes["web[0].missing"]["phase"] == "Failed"
    assert "404" in nodes["web[0].missing"]["message"]
    assert nodes["web[0].conditioned"]["phase"] == "Succeeded"
    assert wf["status"]["phase"] == "Succeeded"
    assert ex.runs == []
