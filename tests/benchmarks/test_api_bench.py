"""bench/api.py's bookkeeping: what it counts per app, the ratios it reports, and wrk's count of each status."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench import api


def round_result(rps: float, p99_ms: float, statuses: dict[int, int], socket_errors: int = 0) -> dict[str, object]:
    return {"rps": rps, "p50_ms": p99_ms / 4, "p99_ms": p99_ms, "socket_errors": socket_errors, "statuses": statuses}


@pytest.mark.parametrize("count", [2, 3, 4, 5])
def test_each_app_follows_every_other_equally_often_across_the_round_orders(count: int) -> None:
    orders = api.balanced_orders(count)

    assert all(sorted(order) == list(range(count)) for order in orders)
    successions = Counter(pair for order in orders for pair in itertools.pairwise(order))
    assert set(successions) == set(itertools.permutations(range(count), 2))
    assert len(set(successions.values())) == 1


def test_summary_takes_medians_and_counts_every_response_that_is_not_a_201() -> None:
    summary = api.summarise(
        [
            round_result(100, 40, {201: 300, 429: 2}),
            round_result(300, 20, {201: 900, 200: 1}, socket_errors=3),
            round_result(200, 30, {201: 600, 429: 1, 503: 4}),
        ]
    )

    assert (summary["rps"], summary["p99_ms"]) == (200, 30)
    assert summary["non_201"] == 8
    assert summary["status_429"] == 3
    assert summary["socket_errors"] == 3
    assert summary["statuses"] == {"200": 1, "201": 1800, "429": 3, "503": 4}


def test_the_a_a_spread_is_the_lowest_and_highest_ratio_of_ref_bis_to_ref_in_the_same_round() -> None:
    rounds = {
        api.BASELINE: [round_result(50, 10, {201: 1})] * 3,
        api.REF: [round_result(100, 10, {201: 1}), round_result(200, 20, {201: 1}), round_result(400, 40, {201: 1})],
        api.REF_BIS: [round_result(110, 9, {201: 1}), round_result(180, 30, {201: 1}), round_result(400, 40, {201: 1})],
        api.CURRENT: [round_result(220, 20, {201: 1})] * 3,
    }
    cell = {"apps": {side: api.summarise(results) for side, results in rounds.items()}}

    ratios = api.ratios(cell)

    assert ratios["aa_rps_spread"] == pytest.approx([0.9, 1.1])
    assert ratios["aa_p99_spread"] == pytest.approx([0.9, 1.5])
    assert ratios["current_vs_ref_rps"] == pytest.approx(1.1)
    assert ratios["current_vs_ref_p99"] == pytest.approx(1.0)
    assert ratios["current_vs_baseline_rps"] == pytest.approx(4.4)


def test_a_row_names_each_apps_refusals() -> None:
    sides = [api.BASELINE, api.REF, api.REF_BIS, api.CURRENT]
    apps = {side: api.summarise([round_result(100, 10, {201: 10})]) for side in sides}
    apps[api.CURRENT] = api.summarise([round_result(90, 12, {201: 9, 429: 5}, socket_errors=1)])
    cell = {"db": "sqlite", "workers": 1, "clients": 8, "rate_limit": "on", "apps": apps}
    cell["ratios"] = api.ratios(cell)

    row = api.table_row(cell, sides)

    assert row.endswith("| 0 / 0 / 0 / 5x429, 1xsocket |")
    assert "| 0.90x | 1.20x | 1.00-1.00x | 1.00-1.00x | 0.90x |" in row
    assert row.count("|") == api.table_header(sides).splitlines()[0].count("|")


def test_without_a_ref_the_table_compares_the_working_tree_with_the_baseline_only() -> None:
    sides = [api.BASELINE, api.CURRENT]
    apps = {api.BASELINE: api.summarise([round_result(100, 10, {201: 10})])}
    apps[api.CURRENT] = api.summarise([round_result(80, 10, {201: 8})])
    cell = {"db": "postgres", "workers": 2, "clients": 64, "rate_limit": "off", "apps": apps}
    cell["ratios"] = api.ratios(cell)

    header, row = api.table_header(sides).splitlines()[0], api.table_row(cell, sides)

    assert "REF" not in header
    assert row.count("|") == header.count("|")
    assert row.endswith("| 0.80x | 0 / 0 |")


class AlternatingStatus(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    served = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            AlternatingStatus.served += 1
            status = 201 if AlternatingStatus.served % 2 else 429
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def alternating_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), AlternatingStatus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
def test_the_wrk_script_counts_each_status(alternating_server: str, tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_text("{}")
    script = Path(api.__file__).with_name("api_load.lua")
    command = ["wrk", "-t1", "-c2", "-d1s", "-s", str(script), alternating_server, "--", str(body), "key"]

    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    figures = json.loads(out.strip().splitlines()[-1])

    assert set(figures["statuses"]) == {"201", "429"}
    assert abs(figures["statuses"]["201"] - figures["statuses"]["429"]) <= 2
    assert sum(figures["statuses"].values()) == figures["requests"]
    assert figures["socket_errors"] == 0
