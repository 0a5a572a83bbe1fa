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
    async with make_controller(ex, http_allow=("127.0.0.1",)) as ctl:  # the test server is on this host
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


REFUSED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: inward}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: loopback
        template: get
        continueOn: {error: true}
        arguments: {parameters: [{name: url, value: "URL/ok"}]}
      - name: metadata
        template: get
        continueOn: {error: true}
        arguments: {parameters: [{name: url, value: "http://169.254.169.254/latest/meta-data/"}]}
      - name: by-name
        template: get
        continueOn: {error: true}
        arguments: {parameters: [{name: url, value: "URL/ok"}]}
  - name: get
    inputs: {parameters: [{name: url}]}
    http: {url: "{{inputs.parameters.url}}"}
"""


async def test_http_templates_refuse_this_host_and_metadata_unless_allowed(http_url: str) -> None:
    manifest = REFUSED.replace("URL", http_url, 1).replace("URL", http_url.replace("127.0.0.1", "localhost"))
    async with make_controller(ScriptedExecutor()) as ctl:
        key = await ctl.submit(load(manifest))
        wf = await ctl.wait(key, timeout=10)
    nodes = by_name(wf)
    loopback = nodes["inward[0].loopback"]
    assert loopback["phase"] == "Error"
    assert loopback["message"].startswith("http request refused: 127.0.0.1 is a loopback address")
    assert "--http-allow" in loopback["message"]
    assert nodes["inward[0].metadata"]["message"].startswith("http request refused: 169.254.169.254 is the cloud metadata address")
    assert nodes["inward[0].by-name"]["message"].startswith("http request refused:")  # localhost resolves to loopback
    assert "outputs" not in loopback or not loopback["outputs"].get("result")
