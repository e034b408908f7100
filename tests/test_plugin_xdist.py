"""The plugin under pytest-xdist: every worker starts its own fake provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_plugin import WEBHOOK_APP, receiver_project


def test_each_xdist_worker_has_its_own_server(pytester: pytest.Pytester, tmp_path: Path) -> None:
    receiver_project(pytester, WEBHOOK_APP)
    records = tmp_path / "records"
    records.mkdir()
    pytester.makepyfile(
        f"""
        import json
        import os
        import pathlib

        import pytest

        @pytest.mark.parametrize("n", range(8))
        def test_plays_a_scenario(n, dlrmock, dlrmock_server, webhook, status, worker_id):
            run = dlrmock.play("nxcloud.zalo.success_then_delivered",
                               to=f"{{webhook}}/webhooks/nxcloud")
            run.wait(timeout=10).assert_acknowledged()
            assert status(run.message["requestId"]) == "delivered"
            assert [r.id for r in dlrmock_server.runs] == [run.id]  # cleared, not shared
            pathlib.Path({str(records)!r}, f"{{n}}.json").write_text(json.dumps({{
                "worker": worker_id, "pid": os.getpid(), "server": dlrmock_server.url,
            }}))
        """
    )

    result = pytester.runpytest("-n", "2")

    result.assert_outcomes(passed=8)
    seen = [json.loads(path.read_text()) for path in sorted(records.glob("*.json"))]
    assert len(seen) == 8
    servers = {(r["worker"], r["pid"]): r["server"] for r in seen}
    assert {worker for worker, _ in servers} == {"gw0", "gw1"}
    assert len(set(servers.values())) == 2, servers
    # one server per worker for the whole session, not one per test
    for record in seen:
        assert record["server"] == servers[(record["worker"], record["pid"])]


@pytest.mark.slow
def test_xdist_workers_sharing_one_server_keep_each_others_runs(pytester: pytest.Pytester) -> None:
    from mock_server import MockProvider

    receiver_project(pytester, WEBHOOK_APP)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(6))
        def test_plays_with_real_delays(n, dlrmock, webhook, status):
            run = dlrmock.play("nxcloud.zalo.success_then_delivered",
                               to=f"{webhook}/webhooks/nxcloud", time_scale=0.1)
            run.wait(timeout=10).assert_acknowledged()  # a cancelled run would fail here
            assert status(run.message["requestId"]) == "delivered"
            assert dlrmock.runs == [run]
        """
    )

    with MockProvider(time_scale=0) as provider:
        result = pytester.runpytest("-n", "2", "--dlrmock-url", provider.url)
        runs = provider.runs

    result.assert_outcomes(passed=6)
    assert len(runs) == 6 and {run.state for run in runs} == {"done"}
