"""Reward service throughput: `evalsuite serve` under concurrent clients vs the in-process loop.

On the same items and model (the fixture PickScore, PNGs in memory):

(a) in process: the bare batched loop (``judge.score`` = prepare_points + score_batch per
    batch of --batch-size; the same loop as ``evalsuite perf``'s bare loop);
(b) the service with dynamic batching (``--max-batch-size`` = --batch-size), with 1 or 8
    items per HTTP request, at each client concurrency: items/s, p50 / p99 request
    latency, the mean batch the model saw (from /metrics), (b)/(a);
(c) the same service with batching disabled (``--max-batch-size 1``): (b)/(c);
(d) ``/v1/group`` win-rate groups of G candidates: pairs/s, and every candidate's reward
    checked against a direct computation (the in-process scores, all pairs by brute force).

    python scripts/bench_serve.py --fixtures fx --torch-threads 1     # CPU, fixture PickScore
    python scripts/bench_serve.py --fixtures fx --check               # exit 1 on a missed target

Targets (--check): (b)/(a) >= 0.8 and (b)/(c) >= 3 at the highest concurrency. Rounds
interleave every configuration and ratios are medians of per-round ratios. The servers and
the load generator (a minimal asyncio HTTP/1.1 client) share the machine's cores; the JSON
output records the hardware and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_path: Path, batch_size: int, max_wait_ms: float, device: str
                 ) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "evalsuite", "serve", "--judge", "pickscore", "--model-path",
         str(model_path), "--device", device, "--port", str(port), "--max-batch-size",
         str(batch_size), "--max-wait-ms", str(max_wait_ms), "--log-level", "warning"],
        env={**os.environ, "PYTHONPATH": str(REPO)})
    url = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    proc.kill()
    raise RuntimeError("server did not start")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


async def _load(url: str, path: str, bodies: list[bytes], concurrency: int
                ) -> tuple[float, list[float], list[Any]]:
    """Send every body once with ``concurrency`` requests in flight; wall time, latencies.

    A minimal HTTP/1.1 keep-alive client on asyncio streams, one connection per concurrent
    request: it costs far less CPU than a general client (httpx's async pool spends more
    CPU than the server at 64 connections), so on a shared small machine the numbers
    measure the service, not the load generator."""
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = [0.0] * len(bodies)
    answers: list[Any] = [None] * len(bodies)
    next_index = iter(range(len(bodies)))

    async def worker():
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for k in next_index:
                t = time.perf_counter()
                writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: "
                             f"application/json\r\nContent-Length: {len(bodies[k])}\r\n\r\n"
                             .encode() + bodies[k])
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                body = await reader.readexactly(length)
                latencies[k] = time.perf_counter() - t
                if status != 200:
                    raise RuntimeError(f"HTTP {status}: {body[:200]!r}")
                answers[k] = json.loads(body)
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0, latencies, answers


def load(url: str, path: str, bodies: list[bytes], concurrency: int):
    return asyncio.run(_load(url, path, bodies, concurrency))


def batch_stats(url: str) -> tuple[float, float]:
    """(model calls, units) so far, from the server's /metrics batch-size histogram."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    calls = units = 0.0
    for fam in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        for smp in fam.samples:
            if smp.name == "evalsuite_serve_batch_size_count":
                calls += smp.value
            elif smp.name == "evalsuite_serve_batch_size_sum":
                units += smp.value
    return calls, units


def percentile(xs: list[float], q: float) -> float:
    import numpy as np
    return float(np.percentile(np.array(xs), q))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", default="fixtures-cache")
    ap.add_argument("--items", type=int, default=512, help="images scored per measurement")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    ap.add_argument("--items-per-request", type=int, nargs="+", default=[1, 8],
                    help="images per /v1/score request (8: a GRPO group in one call)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    ap.add_argument("--groups", type=int, nargs="+", default=[8, 16])
    ap.add_argument("--n-groups", type=int, default=16)
    ap.add_argument("--group-concurrency", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3, help="rounds (medians are reported)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--torch-threads", type=int, default=None,
                    help="torch threads in the server and the in-process loop alike "
                    "(OMP_NUM_THREADS); default: torch's")
    ap.add_argument("--json", default="bench_serve.json")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args(argv)

    if a.torch_threads:
        os.environ["OMP_NUM_THREADS"] = str(a.torch_threads)  # inherited by the servers
        import torch
        torch.set_num_threads(a.torch_threads)
    from evalsuite.fixtures import build
    from evalsuite.judges.pickscore import PickScore
    from evalsuite.perf import bare_loop, hardware, make_pairs, upstream_loop
    from evalsuite.runner import point_items

    model_path = build("pickscore", Path(a.fixtures))
    points, _ = point_items(make_pairs((a.items + 1) // 2))
    points = points[:a.items]

    def bodies_for(per_request: int) -> list[bytes]:
        return [json.dumps({"items": [{"prompt": p.prompt, "media": {
            "data": base64.b64encode(p.candidate.media.data).decode()}}
            for p in points[k:k + per_request]]}).encode()
            for k in range(0, len(points), per_request)]

    judge = PickScore(model_path=str(model_path), device=a.device)
    judge.load()
    bare_loop(judge, points[:a.batch_size], a.batch_size)  # warm-up
    top = max(a.concurrency)
    # (items per request, server, concurrency) for every measurement of a round
    plan = [(ipr, label, c) for ipr in a.items_per_request
            for label, levels in (("batched", a.concurrency), ("unbatched", [top]))
            for c in levels]
    rounds: list[dict[str, Any]] = []
    servers = {"batched": start_server(model_path, a.batch_size, a.max_wait_ms, a.device),
               "unbatched": start_server(model_path, 1, a.max_wait_ms, a.device)}
    try:
        for _, url in servers.values():
            load(url, "/v1/score", bodies_for(1)[:64], 8)  # warm-up
        # Rounds interleave every configuration, so a change in the shared machine's load
        # hits them alike; ratios are taken within a round (same minutes), then the median.
        for r in range(a.repeats):
            t = time.perf_counter()
            bare_loop(judge, points, a.batch_size)
            rnd: dict[str, Any] = {"in_process": len(points) / (time.perf_counter() - t)}
            t = time.perf_counter()
            upstream_loop(judge, points[:a.batch_size * 2])
            # the model's own batching gain bounds what batching can add to the service
            rnd["in_process_batch_1"] = a.batch_size * 2 / (time.perf_counter() - t)
            print(f"round {r}: (a) in-process batched loop {rnd['in_process']:.1f} items/s; "
                  f"batch size 1: {rnd['in_process_batch_1']:.1f} items/s")
            for ipr, label, c in plan:
                url = servers[label][1]
                before = batch_stats(url)
                wall, lat, _ = load(url, "/v1/score", bodies_for(ipr), c)
                n, total = (x - y for x, y in zip(batch_stats(url), before))
                row = {"items_per_s": len(points) / wall, "p50_ms": 1000 * percentile(lat, 50),
                       "p99_ms": 1000 * percentile(lat, 99), "mean_batch": total / max(n, 1),
                       "vs_in_process": len(points) / wall / rnd["in_process"]}
                rnd[f"{label}/{ipr}/{c}"] = row
                print(f"round {r}: ({'b' if label == 'batched' else 'c'}) {label}, {ipr} "
                      f"item(s)/request, concurrency {c}: {row['items_per_s']:.1f} items/s "
                      f"({row['vs_in_process']:.2f}x in-process), p50 {row['p50_ms']:.0f} ms, "
                      f"p99 {row['p99_ms']:.0f} ms, mean batch {row['mean_batch']:.1f}")
            rounds.append(rnd)
        groups = bench_groups(a, servers["batched"][1], judge, points)
    finally:
        for proc, _ in servers.values():
            stop_server(proc)

    import statistics as st

    summary: dict[str, Any] = {
        "in_process_items_per_s": st.median(x["in_process"] for x in rounds),
        "in_process_batch_1_items_per_s": st.median(x["in_process_batch_1"] for x in rounds),
        "in_process_batch_gain": st.median(x["in_process"] / x["in_process_batch_1"]
                                           for x in rounds)}
    print(f"in process, median: {summary['in_process_items_per_s']:.1f} items/s at batch "
          f"{a.batch_size}, {summary['in_process_batch_1_items_per_s']:.1f} at batch 1 "
          f"({summary['in_process_batch_gain']:.2f}x)")
    for ipr, label, c in plan:
        key = f"{label}/{ipr}/{c}"
        summary[key] = {k: st.median(x[key][k] for x in rounds) for k in rounds[0][key]}
    targets = {}
    for ipr in a.items_per_request:
        b, u = f"batched/{ipr}/{top}", f"unbatched/{ipr}/{top}"
        targets[ipr] = {
            "batched/in_process": st.median(x[b]["vs_in_process"] for x in rounds),
            "batched/unbatched": st.median(x[b]["items_per_s"] / x[u]["items_per_s"]
                                           for x in rounds)}
        targets[ipr]["pass"] = (targets[ipr]["batched/in_process"] >= 0.8
                                and targets[ipr]["batched/unbatched"] >= 3.0)
        print(f"{ipr} item(s)/request, concurrency {top}, median over {a.repeats} rounds: "
              f"batched/in-process {targets[ipr]['batched/in_process']:.2f}x (target 0.8), "
              f"batched/unbatched {targets[ipr]['batched/unbatched']:.2f}x (target 3)")
    res = {"hardware": hardware(a.device), "load_average": os.getloadavg(),
           "judge": "pickscore (fixture)", "dtype": judge.dtype, "items": len(points),
           "batch_size": a.batch_size, "max_wait_ms": a.max_wait_ms,
           "torch_threads": a.torch_threads, "rounds": rounds, "median": summary,
           "targets": targets, "groups": groups}
    Path(a.json).write_text(json.dumps(res, indent=2))
    print(f"written: {a.json}")
    if a.check:
        ok = all(t["pass"] for t in targets.values())
        print("check:", "PASS" if ok else "FAIL")
        return 0 if ok else 1
    return 0


def bench_groups(a, url: str, judge, points) -> dict[str, Any]:
    """Win-rate groups: pairs/s, rewards vs all pairs of the in-process scores."""
    out = {}
    for g in a.groups:
        groups = [points[(k * g) % len(points):][:g] for k in range(a.n_groups)]
        groups = [grp for grp in groups if len(grp) == g]
        bodies = [json.dumps({"prompt": grp[0].prompt, "scheme": "win-rate", "round_digits":
                              None, "candidates": [{"media": {"data": base64.b64encode(
                                  p.candidate.media.data).decode()}} for p in grp]}).encode()
                  for grp in groups]
        wall, lat, answers = load(url, "/v1/group", bodies, a.group_concurrency)
        pairs = len(groups) * g * (g - 1) // 2
        mismatches, rewards = 0, []
        for grp, ans in zip(groups, answers):
            from dataclasses import replace
            # every candidate scored against the group's one prompt, as the service does
            same_prompt = [replace(p, candidate=p.candidate, prompt=grp[0].prompt)
                           for p in grp]
            s = [x.value for x in judge.score(same_prompt)]
            direct = [sum((s[i] > s[j]) + 0.5 * (s[i] == s[j]) for j in range(g) if j != i)
                      / (g - 1) for i in range(g)]
            mismatches += sum(abs(x - y) > 1e-12 for x, y in zip(ans["rewards"], direct))
            rewards.append({"service": ans["rewards"], "direct": direct})
        out[g] = {"groups": len(groups), "pairs_per_s": pairs / wall,
                  "p50_ms": 1000 * percentile(lat, 50), "mismatched_rewards": mismatches,
                  "example": rewards[0]}
        print(f"(d) win-rate groups of {g}: {pairs / wall:.1f} pairs/s "
              f"({len(groups)} groups, concurrency {a.group_concurrency}), rewards differing "
              f"from the direct computation: {mismatches}; group 0: "
              f"{[round(x, 3) for x in rewards[0]['service']]}")
    return out


if __name__ == "__main__":
    sys.exit(main())
