"""Load generator for bench/api.py: N concurrent asyncio clients POST assessments for a bounded time.

python bench/api_load.py URL KEY CONCURRENCY SECONDS BODY_FILE  -> prints one JSON line
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid

import httpx


async def main(url: str, key: str, concurrency: int, seconds: float, body: bytes) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    statuses: dict[int, int] = {}
    headers = {"Content-Type": "application/json", "X-Acting-User": "bench"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        warm_until = time.perf_counter() + 1.0
        stop = warm_until + seconds

        async def worker() -> None:
            nonlocal errors
            while True:
                started = time.perf_counter()
                if started >= stop:
                    return
                try:
                    response = await http.post(
                        "/v1/assessments", content=body, headers={**headers, "Idempotency-Key": uuid.uuid4().hex}
                    )
                    status = response.status_code
                except httpx.HTTPError:
                    status = 0
                done = time.perf_counter()
                if started >= warm_until:
                    statuses[status] = statuses.get(status, 0) + 1
                    if status == 201:
                        latencies.append(done - started)
                    else:
                        errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")

    return {
        "rps": len(latencies) / seconds,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "ok": len(latencies),
        "errors": errors,
        "statuses": {str(k): v for k, v in statuses.items()},  # type: ignore[dict-item]
    }


if __name__ == "__main__":
    url, key, concurrency, seconds, body_file = sys.argv[1:6]
    with open(body_file, "rb") as handle:
        payload = handle.read()
    print(json.dumps(asyncio.run(main(url, key, int(concurrency), float(seconds), payload))))
