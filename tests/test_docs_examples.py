"""Every example in README.md and docs/*.md runs (see ``doc_examples`` for the markers).

A documented command that stops working fails here: the shell blocks run with ``set -e``, the
Python blocks as scripts or pytest modules, the YAML blocks through the code that reads them,
and sends to the shared ``dlrmock serve`` must not be rejected.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from doc_examples import (
    HTTPS_URL,
    ROOT,
    SERVE_URL,
    WEBHOOK_URL,
    Example,
    all_examples,
    examples,
)
from targets import Target
from werkzeug.serving import make_server

from mock_server import create_app

BIN = str(Path(sys.executable).parent)
DEADLINE = 60.0
EXAMPLES = all_examples()
WEBHOOK_APP = ROOT / "examples" / "webhook_app"


class Server:
    """``dlrmock serve`` in a child process on a free port, as the docs' examples use it."""

    def __init__(self, webhook: str, directory: Path) -> None:
        self.process = subprocess.Popen(
            [os.path.join(BIN, "dlrmock"), "serve", "--port", "0", "--time-scale", "0",
             "--log-format", "json", "--default-webhook", webhook],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=directory,
            env=_env())
        self.lines: list[str] = []
        serving = threading.Event()

        def drain() -> None:  # a pipe nobody reads would fill and stall the server
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.lines.append(line)
                serving.set()
            serving.set()

        self.drain = threading.Thread(target=drain, name="dlrmock-serve-console", daemon=True)
        self.drain.start()
        if not serving.wait(DEADLINE) or not self.lines:
            self.process.kill()
            raise RuntimeError(f"dlrmock serve did not start within {DEADLINE:g} s")
        self.url: str = json.loads(self.lines[0])["url"]

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_dlrmock/health", timeout=10) as answer:
            return json.load(answer)  # type: ignore[no-any-return]

    def sent(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/_dlrmock/sent", timeout=10) as answer:
            return json.load(answer)["sent"]  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.drain.join(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    env["NO_COLOR"] = "1"
    env.pop("DLRMOCK_ADMIN_TOKEN", None)
    return env


@pytest.fixture(scope="module")
def webhook() -> Iterator[Target]:
    with Target() as target:
        yield target


@pytest.fixture(scope="module")
def https_webhook() -> Iterator[tuple[str, bytes]]:
    """An https:// webhook answering 200 'success' for 127.0.0.1: (its base URL, its CA's PEM)."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with Target("ok", tls=context) as target:
        yield f"https://127.0.0.1:{target.port}", ca.cert_pem.bytes()


@pytest.fixture(scope="module")
def naive() -> Iterator[str]:
    """``examples/naive_receiver`` served on a free loopback port: its base URL."""
    sys.path.insert(0, str(ROOT / "examples" / "naive_receiver"))
    try:
        create_naive_app = importlib.import_module("naive_receiver").create_app
    finally:
        sys.path.pop(0)
    served = make_server("127.0.0.1", 0, create_naive_app(), threaded=True)
    thread = threading.Thread(target=served.serve_forever, name="naive-receiver", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{served.server_port}"
    served.shutdown()
    thread.join(timeout=10)
    served.server_close()


@pytest.fixture(scope="module")
def server(webhook: Target, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    served = Server(webhook.url.removesuffix("/hook") + "/default",
                    tmp_path_factory.mktemp("serve"))
    yield served
    served.stop()


def _prepare(example: Example, directory: Path, webhook: Target | str | None,
             server: Server | None, https: tuple[str, bytes] | None = None) -> str:
    """The example's code with its URLs and paths pointed at this run's servers and venv."""
    def point(code: str) -> str:
        code = code.replace(".venv/bin/", BIN + "/")
        if server is not None:
            code = code.replace(SERVE_URL, server.url)
        if webhook is not None:
            base = webhook if isinstance(webhook, str) else webhook.url.removesuffix("/hook")
            code = code.replace(WEBHOOK_URL, base)
        if https is not None:
            code = code.replace(HTTPS_URL, https[0])
        return code

    if https is not None:
        (directory / "ca.pem").write_bytes(https[1])

    for name, text in example.page_files:
        (directory / name).write_text(point(text), "utf-8")
    return point(example.code)


def _run(args: list[str], directory: Path, example: Example, **kwargs: Any) -> str:
    try:
        done = subprocess.run(args, cwd=directory, env=_env(), capture_output=True, text=True,
                              timeout=DEADLINE, **kwargs)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{example.id}: still running after {DEADLINE:g} s")
    output = f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"
    assert done.returncode == example.exit, (
        f"{example.id}: exit {done.returncode}, the docs expect {example.exit}\n{output}")
    return output


def _background(code: str, directory: Path, example: Example) -> None:
    command = code.strip().replace("dlrmock serve", "dlrmock serve --port 0", 1)
    process = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=directory, env=_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    watchdog = threading.Timer(DEADLINE, process.kill)  # the first line's deadline
    watchdog.start()
    try:
        first = process.stdout.readline()
    finally:
        watchdog.cancel()
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert "serving" in first, f"{example.id}: did not start serving:\n{first}{out}\n{err}"
    assert process.returncode == 0, f"{example.id}: exit {process.returncode} on SIGTERM\n{err}"


def _pytest(code: str, pytester: pytest.Pytester, example: Example, collect: bool) -> None:
    """The block as a test module next to the example webhook app's conftest, run in-process
    (a pytest subprocess costs seconds of start-up per example)."""
    for name in ("conftest.py", "webhook_app.py"):
        shutil.copy(WEBHOOK_APP / name, pytester.path / name)
    pytester.makepyfile(test_example=code)
    args = ["-q", "-p", "no:cacheprovider", "-W", "error"] + (["--collect-only"] if collect else [])
    result = pytester.runpytest(*args)
    output = "\n".join(result.outlines[-60:])
    if collect:
        assert result.ret == 0 and "no tests collected" not in output, f"{example.id}:\n{output}"
        assert any("test" in line for line in result.outlines), f"{example.id}:\n{output}"
    else:
        outcomes = result.parseoutcomes()
        assert result.ret == 0 and outcomes.get("passed", 0) >= 1, f"{example.id}:\n{output}"


def _transcript(code: str, directory: Path, example: Example) -> None:
    """``$ COMMAND`` lines run one by one; the lines after each must match its output."""
    steps: list[tuple[str, list[str]]] = []
    for line in code.rstrip("\n").split("\n"):
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, f"{example.id}: a transcript starts with a '$ ' command line"
            steps[-1][1].append(line)
    status = 0
    for command, expected in steps:
        if command == "echo $?":
            actual = [str(status)]
        else:
            try:
                done = subprocess.run(["bash", "-c", command], cwd=directory, env=_env(),
                                      capture_output=True, text=True, timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{example.id}: {command!r} still running after {DEADLINE:g} s")
            status = done.returncode
            actual = (done.stdout + done.stderr).rstrip("\n").split("\n")
        patterns = [re.compile(".*".join(re.escape(part) for part in line.split("…")))
                    for line in expected]
        shown = "\n".join(actual)
        assert len(actual) == len(expected) and all(
            p.fullmatch(line) for p, line in zip(patterns, actual, strict=True)), (
            f"{example.id}: the output of {command!r} is not what the docs show:\n{shown}")


def run_example(example: Example, directory: Path, webhook: Target | str | None = None,
                server: Server | None = None, pytester: pytest.Pytester | None = None,
                https: tuple[str, bytes] | None = None) -> None:
    """Run one example the way its marker says; fails the calling test when it does not work."""
    if example.skip:
        pytest.skip(f"{example.id}: {example.skip}")
    code = _prepare(example, directory, webhook, server, https)
    before = server.health() if server is not None else None
    if example.file and example.language == "yaml" and "config" not in example.words:
        yaml.safe_load(code)  # a file for later examples: they run it
    elif example.language == "yaml":
        assert "config" in example.words, (
            f"{example.id}: a YAML block needs a marker: 'config' or 'file=NAME'")
        create_app(yaml.safe_load(code))
    elif example.file:
        (directory / example.file).write_text(code, "utf-8")
    elif example.language == "python" and example.words & {"pytest", "collect"}:
        assert pytester is not None, f"{example.id}: a pytest example needs the pytester fixture"
        _pytest(code, pytester, example, collect="collect" in example.words)
    elif example.language == "python":
        _run([sys.executable, "-c", code], directory, example)
    elif example.language == "console":
        _transcript(code, directory, example)
    elif "background" in example.words:
        _background(code, directory, example)
    else:
        _run(["bash", "-e", "-o", "pipefail", "-c", code], directory, example)
    if server is not None and before is not None:
        after = server.health()
        assert after["errors"] == before["errors"], f"{example.id}: the server logged an error"
        if "rejected" not in example.words:
            rejected = after["rejected_sends"] - before["rejected_sends"]
            answers = [s.get("explain") or s.get("answer") for s in server.sent()[-3:]]
            assert rejected == 0, f"{example.id}: {rejected} send(s) rejected: {answers}"


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_documented_example_runs(example: Example, request: pytest.FixtureRequest,
                                 tmp_path: Path) -> None:
    webhook: Target | str | None = None
    if "webhook" in example.words:
        webhook = request.getfixturevalue("webhook")
    elif "naive" in example.words:
        webhook = request.getfixturevalue("naive")
    server = request.getfixturevalue("server") if "serve" in example.words else None
    pytester = request.getfixturevalue("pytester") \
        if example.words & {"pytest", "collect"} else None
    https = request.getfixturevalue("https_webhook") if "https" in example.words else None
    run_example(example, tmp_path, webhook, server, pytester, https)


def test_every_page_has_examples_found() -> None:
    """The parser sees the pages' blocks (a page that stopped being parsed would pass silently)."""
    by_page = {e.page.name for e in EXAMPLES}
    assert {"README.md", "receipts.md", "scenarios.md", "send-apis.md", "pytest.md"} <= by_page


def test_a_broken_documented_command_fails(tmp_path: Path) -> None:
    """Mutating a documented command (a kind misspelled) makes its example fail; the same line
    unmutated passes (one line of the block, to keep this cheap)."""
    (block,) = [e for e in examples(ROOT / "docs" / "receipts.md")
                if "dlrmock example nxcloud.zalo.success" in e.code][:1]
    line = next(line for line in block.code.split("\n") if "nxcloud.zalo.success" in line)
    original = Example(block.page, block.line, "sh", line + "\n")
    run_example(original, tmp_path)
    broken = Example(block.page, block.line, "sh",
                     original.code.replace("nxcloud.zalo.success", "nxcloud.zalo.sucess", 1))
    with pytest.raises(AssertionError, match="exit 2, the docs expect 0"):
        run_example(broken, tmp_path)


def test_a_rejected_send_fails_its_example(tmp_path: Path, server: Server) -> None:
    """A curl example whose send the provider refuses (inside HTTP 200) fails too."""
    example = Example(ROOT / "docs" / "send-apis.md", 0, "sh",
                      f"curl -s {SERVE_URL}/MainService.svc/json/GetBalance_json "
                      "-H 'Content-Type: application/json' -d '{\"ApiKey\": \"wrong\"}'\n",
                      words=frozenset({"serve"}))
    with pytest.raises(AssertionError, match="rejected"):
        run_example(example, tmp_path, server=server)


def test_a_transcript_that_no_longer_matches_fails(tmp_path: Path) -> None:
    """A transcript whose shown output drifted from the real one fails its example."""
    (original,) = [e for e in examples(ROOT / "docs" / "receipts.md")
                   if e.language == "console"][:1]
    run_example(original, tmp_path)
    drifted = Example(original.page, original.line, "console",
                      original.code.replace("also $.code", "also $.kode", 1))
    with pytest.raises(AssertionError, match="is not what the docs show"):
        run_example(drifted, tmp_path)
