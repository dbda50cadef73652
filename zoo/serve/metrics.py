"""`GET /metrics`: counters and histograms in the Prometheus text format (version 0.0.4).

Four families: requests and errors by model, route and status; request latency by route; and the
size of every batch a model ran. Updated from the event loop and the batchers' threads, so one
lock guards them.
"""

from __future__ import annotations

import threading
from collections import defaultdict

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.total = 0.0
        self.n = 0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
        self.total += value
        self.n += 1

    def lines(self, name: str, labels: str) -> list[str]:
        sep = "," if labels else ""
        out = [f'{name}_bucket{{{labels}{sep}le="{b:g}"}} {c}' for b, c in zip(self.buckets, self.counts)]
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.n}')
        out.append(f"{name}_sum{{{labels}}} {self.total:.6f}")
        out.append(f"{name}_count{{{labels}}} {self.n}")
        return out


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency: dict[str, Histogram] = {}
        self.batches: dict[str, Histogram] = {}

    def request(self, model: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(model, route, status)] += 1
            self.latency.setdefault(route, Histogram(LATENCY_BUCKETS)).observe(seconds)

    def batch(self, model: str, size: int) -> None:
        with self._lock:
            self.batches.setdefault(model, Histogram(BATCH_BUCKETS)).observe(size)

    def render(self) -> str:
        with self._lock:
            lines = ["# HELP zoo_requests_total Requests answered, by model, route and HTTP status.",
                     "# TYPE zoo_requests_total counter"]
            lines += [f'zoo_requests_total{{model="{m}",route="{r}",status="{s}"}} {c}'
                      for (m, r, s), c in sorted(self.requests.items())]
            lines += ["# HELP zoo_request_errors_total Requests answered with a 4xx or 5xx status.",
                      "# TYPE zoo_request_errors_total counter"]
            lines += [f'zoo_request_errors_total{{model="{m}",route="{r}",status="{s}"}} {c}'
                      for (m, r, s), c in sorted(self.requests.items()) if s >= 400]
            lines += ["# HELP zoo_request_latency_seconds Time from a request's arrival to its answer.",
                      "# TYPE zoo_request_latency_seconds histogram"]
            for route, h in sorted(self.latency.items()):
                lines += h.lines("zoo_request_latency_seconds", f'route="{route}"')
            lines += ["# HELP zoo_batch_size Requests (items) run together in one batch, by model.",
                      "# TYPE zoo_batch_size histogram"]
            for model, h in sorted(self.batches.items()):
                lines += h.lines("zoo_batch_size", f'model="{model}"')
        return "\n".join(lines) + "\n"
