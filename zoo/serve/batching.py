"""Dynamic batching: one batcher per served model gathers concurrent requests and runs them together.

A request is a `Job`: what it asks (`kind`: predict, sample, ...), a `key` (jobs run in one batch
only when kind and key agree: images of one size, the same top-k), its payload and its `size`
(images it adds to the batch). The batcher takes the first waiting job, then waits at most
`max_wait_ms` for more, up to `max_batch` images in all, and hands each group of agreeing jobs to
the model's `run(kind, payloads) -> results` on the model's one worker thread (torch runs off the
event loop, one batch at a time, under inference mode). If a batch fails, each of its jobs is
run alone, so one bad request cannot fail the others'.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Job:
    kind: str
    key: Any
    payload: Any
    size: int
    future: asyncio.Future = field(repr=False)


class Batcher:
    def __init__(self, name: str, run: Callable[[str, list[Any]], list[Any]], max_batch: int, max_wait_ms: float,
                 on_batch: Callable[[str, int], None] | None = None) -> None:
        self.name = name
        self.run = run
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.on_batch = on_batch
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"zoo-{name}")
        self.queue: asyncio.Queue[Job] | None = None
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.queue = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
        self.executor.shutdown(wait=True, cancel_futures=True)

    async def submit(self, kind: str, key: Any, payload: Any, size: int = 1) -> Any:
        """The result of one job, once the batch it joined has run."""
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(Job(kind, (kind, key), payload, max(1, size), future))
        return await future

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self.queue.get()
            jobs, total = [first], first.size
            deadline = time.monotonic() + self.max_wait
            while total < self.max_batch:
                if self.queue.empty():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        job = await asyncio.wait_for(self.queue.get(), left)
                    except asyncio.TimeoutError:
                        break
                else:
                    job = self.queue.get_nowait()
                jobs.append(job)
                total += job.size
            for group in _groups(jobs):
                await loop.run_in_executor(self.executor, self._run_group, group)

    def _run_group(self, group: list[Job]) -> None:
        """Run agreeing jobs as one batch (on the worker thread); answer each job's future."""
        loop = group[0].future.get_loop()
        try:
            results = self.run(group[0].kind, [j.payload for j in group])
            if self.on_batch is not None:
                self.on_batch(self.name, sum(j.size for j in group))
        except Exception as err:  # noqa: BLE001 - each job is retried alone, its own error goes to its own request
            if len(group) == 1:
                loop.call_soon_threadsafe(_settle, group[0].future, None, err)
                return
            for job in group:
                self._run_group([job])
            return
        for job, result in zip(group, results):
            loop.call_soon_threadsafe(_settle, job.future, result, None)


def _groups(jobs: list[Job]) -> list[list[Job]]:
    """Jobs of equal (kind, key), in order of first arrival."""
    groups: dict[Any, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.key, []).append(job)
    return list(groups.values())


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():  # the client went away and the request was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
