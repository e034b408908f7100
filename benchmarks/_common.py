"""What the benchmark scripts share: the import path, the loopback sink, keep-alive senders, runs.

Importing this module puts the project root and ``tests/`` on ``sys.path`` (so ``mock_server``
and ``targets`` import from this checkout); the scripts import it before anything of the project.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from targets import Sink  # noqa: E402

if TYPE_CHECKING:
    from mock_server import Engine, Run, Scenario

SINK_CHILD = """
import ssl, sys
sys.path.insert(0, sys.argv[1])
from targets import Sink
tls = None
if len(sys.argv) > 2:  # serve HTTPS with this certificate chain and key
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(sys.argv[2], sys.argv[3])
with Sink(tls) as sink:
    print(sink.port, flush=True)
    sys.stdin.read()
"""


class SinkProcess:
    """A ``Sink`` in a child process, so it does not share the GIL; ``url`` once it listens.

    With ``tls`` (certificate chain file, key file) it serves HTTPS."""

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SINK_CHILD, str(ROOT / "tests"), *(tls or ())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the sink process did not start")
        self.port = int(line)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/hook"

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


def add_sink_thread_option(parser: argparse.ArgumentParser) -> None:
    """``--sink-thread``: the sink in a thread of this process instead of a child process."""
    parser.add_argument("--sink-thread", action="store_true",
                        help="run the sink in a thread of this process")


@contextlib.contextmanager
def running_sink(
    in_thread: bool, tls: TlsFiles | None = None
) -> Iterator[Sink | SinkProcess]:
    """A listening sink (``port``, ``url``): a ``Sink`` thread here, or a ``SinkProcess``;
    serving HTTPS with ``tls``'s certificate."""
    if in_thread:
        sink: Sink | SinkProcess = Sink(tls.server_context() if tls else None).start()
    else:
        sink = SinkProcess((tls.chain, tls.key) if tls else None)
    try:
        yield sink
    finally:
        sink.stop()


class TlsFiles:
    """A throwaway CA (trustme) and a certificate for 127.0.0.1 it signed, as PEM files."""

    def __init__(self, folder: Path) -> None:
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1")
        self.ca = str(folder / "ca.pem")
        self.chain = str(folder / "chain.pem")
        self.key = str(folder / "key.pem")
        ca.cert_pem.write_to_path(self.ca)
        cert.private_key_pem.write_to_path(self.key)
        with open(self.chain, "wb") as chain:
            for blob in cert.cert_chain_pems:
                chain.write(blob.bytes())

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.chain, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca)


def post_keep_alive(
    port: int,
    shares: Sequence[Sequence[bytes]],
    headers: dict[str, str],
    *,
    timeout: float | None = None,
    senders: str = "thread(s)",
    tls: ssl.SSLContext | None = None,
) -> tuple[float, float]:
    """POST every share's bodies to ``/hook`` from a thread of its own, over one keep-alive
    ``http.client`` connection each (HTTPS with ``tls``), expecting 200s.

    Returns (wall seconds, CPU seconds of this process), both from when every connection is open
    until every thread has finished; raises if any thread failed (``senders`` names them).
    """
    barrier = threading.Barrier(len(shares) + 1)
    failures: list[BaseException] = []

    def worker(share: Sequence[bytes]) -> None:
        conn = (
            http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=tls)
            if tls is not None
            else http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        )
        try:
            conn.connect()
            barrier.wait()
            for body in share:
                conn.request("POST", "/hook", body, headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    raise RuntimeError(f"status {response.status}")
        except BaseException as exc:
            failures.append(exc)
        finally:
            conn.close()

    workers = [threading.Thread(target=worker, args=(share,)) for share in shares]
    for thread in workers:
        thread.start()
    barrier.wait()
    cpu = time.process_time()
    started = time.perf_counter()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    if failures:
        raise RuntimeError(f"{len(failures)} {senders} failed: {failures[0]!r}")
    return elapsed, cpu


def play_all(
    engine: Engine, scenarios: Iterable[str | Scenario], url: str, timeout: float
) -> list[Run]:
    """Play every scenario to ``url`` (all pending together), then wait for each run to finish."""
    runs = [engine.play(scenario, url) for scenario in scenarios]
    for run in runs:
        run.wait(timeout)
    return runs


def require_ok(runs: Sequence[Run], problem: str) -> None:
    """Raise, with the first bad run's journal, unless every run is ``ok``."""
    bad = [run for run in runs if not run.ok]
    if bad:
        raise RuntimeError(f"{len(bad)} run(s) {problem}:\n{bad[0].journal_text()}")


def require_no_engine_errors(errors: Sequence[BaseException]) -> None:
    """Raise if the engine recorded errors inside itself (``list(engine.errors)``)."""
    if errors:
        raise RuntimeError(f"errors inside the engine: {errors!r}")
