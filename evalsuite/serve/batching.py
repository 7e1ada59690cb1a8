"""Dynamic batching across concurrent requests, on the executor's code path.

Requests put units of work (``PointItem`` or a presented ``PairItem``) on a bounded queue
and get one future per unit. A collector thread takes up to ``max_batch_size`` units,
waiting at most ``max_wait_ms`` after the oldest one arrived, and hands the batch to a
prepare pool; the model thread runs the judge on prepared batches in arrival order, so
decoding the next batch overlaps the model's work on this one (as ``evalsuite run``'s
prefetch threads do). Preparation and the batched call are the executor's own
(:func:`evalsuite.executor.prefetched` for ``judge.prepare_points``/``prepare_pairs`` with
its per-item fallback, :func:`evalsuite.executor.run_batch` for ``score_batch`` /
``compare_batch`` with its item-by-item retry), so an item gets the same result as in a
run.

Backpressure: :meth:`DynamicBatcher.submit` admits a request's units all at once or not at
all (:class:`QueueFull`, which the app turns into HTTP 429 with Retry-After).
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from evalsuite.executor import prefetched, run_batch


class QueueFull(Exception):
    """The batcher's queue cannot take the request now; retry after ``retry_after`` s."""

    def __init__(self, retry_after: float):
        super().__init__(f"queue full, retry after {retry_after:.0f} s")
        self.retry_after = retry_after


@dataclass
class Outcome:
    """What the judge produced for one unit: its output (Score/Verdict) or an error."""

    value: Any = None
    error: str | None = None


@dataclass
class _Job:
    unit: Any
    future: Future
    enqueued: float


class BatchObserver:
    """Hooks for metrics; the default records nothing."""

    def batch(self, size: int, seconds: float, queue_wait: float) -> None: ...


class DynamicBatcher:
    def __init__(self, name: str, prepare: Callable[[list[Any]], list[Any]],
                 run: Callable[[list[Any]], list[Any]], *, max_batch_size: int = 32,
                 max_wait_ms: float = 5.0, max_queue: int = 4096, workers: int = 2,
                 observer: BatchObserver | None = None):
        if max_batch_size < 1 or max_queue < 1:
            raise ValueError("max_batch_size and max_queue must be >= 1")
        self.name = name
        self.prepare, self.run = prepare, run
        self.max_batch_size, self.max_wait = max_batch_size, max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.observer = observer or BatchObserver()
        self._jobs: deque[_Job] = deque()
        self._cv = threading.Condition()
        self._closed = False
        self._batch_seconds = 0.0  # moving average of one model call, for Retry-After
        # Prepared batches waiting for the model: at most max(2, workers) ahead, like the
        # runner's prefetch; while they wait, new units gather into the next, larger batch.
        self._ready: queue.Queue = queue.Queue(maxsize=max(2, workers))
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers),
                                        thread_name_prefix=f"prepare-{name}")
        self._threads = [threading.Thread(target=self._collect, name=f"collect-{name}",
                                          daemon=True),
                         threading.Thread(target=self._model_loop, name=f"model-{name}",
                                          daemon=True)]
        for t in self._threads:
            t.start()

    # -- admission ----------------------------------------------------------------------
    def depth(self) -> int:
        return len(self._jobs)

    def retry_after(self) -> float:
        """Seconds until the queue has room again, estimated from recent batch times."""
        batches = math.ceil(max(self.depth(), 1) / self.max_batch_size)
        return max(1.0, math.ceil(batches * max(self._batch_seconds, 0.05)))

    def submit(self, units: Sequence[Any]) -> list[Future]:
        """One future per unit, resolved with an :class:`Outcome`; all or nothing."""
        now = time.perf_counter()
        jobs = [_Job(u, Future(), now) for u in units]
        with self._cv:
            if self._closed:
                raise RuntimeError(f"batcher {self.name} is closed")
            if len(self._jobs) + len(jobs) > self.max_queue:
                raise QueueFull(self.retry_after())
            was_empty = not self._jobs
            self._jobs.extend(jobs)
            # Wake the collector only when its wait changes: a first unit starts the
            # max-wait clock, a full batch ends it (fewer thread switches under load).
            if was_empty or len(self._jobs) >= self.max_batch_size:
                self._cv.notify()
        return [j.future for j in jobs]

    def close(self) -> None:
        with self._cv:
            self._closed = True
            pending = list(self._jobs)
            self._jobs.clear()
            self._cv.notify_all()
        for j in pending:
            j.future.cancel()
        self._ready.put(None)
        for t in self._threads:
            t.join(timeout=30)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the two threads -------------------------------------------------------------------
    def _take(self) -> list[_Job] | None:
        with self._cv:
            while not self._jobs and not self._closed:
                self._cv.wait()
            if self._closed:
                return None
            deadline = self._jobs[0].enqueued + self.max_wait
            while len(self._jobs) < self.max_batch_size and not self._closed:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                self._cv.wait(left)
            batch = []
            while self._jobs and len(batch) < self.max_batch_size:
                job = self._jobs.popleft()
                if job.future.set_running_or_notify_cancel():  # False: the request gave up
                    batch.append(job)
            return batch

    def _collect(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            if not batch:
                continue
            taken = time.perf_counter()
            units = [j.unit for j in batch]
            # The runner's preparation: one prepare call per batch, item by item on failure.
            prep = self._pool.submit(lambda us=units: next(prefetched(us, self.prepare,
                                                                      len(us), 0)))
            self._ready.put((batch, prep, taken))

    def _model_loop(self) -> None:
        while True:
            got = self._ready.get()
            if got is None:
                return
            batch, prep, taken = got
            try:
                prepared = prep.result()
            except Exception as e:  # noqa: BLE001 - the pool was shut down
                for j in batch:
                    j.future.set_result(Outcome(error=f"{type(e).__name__}: {e}"))
                continue
            t = time.perf_counter()
            ok = [p for _, p, err in prepared if err is None]
            outs = iter(run_batch(self.run, ok) if ok else [])
            for job, (_, _, prep_err) in zip(batch, prepared):
                if prep_err is not None:
                    job.future.set_result(Outcome(error=prep_err))
                else:
                    value, err = next(outs)
                    job.future.set_result(Outcome(value=value, error=err))
            dt = time.perf_counter() - t
            self._batch_seconds = dt if not self._batch_seconds else (
                0.8 * self._batch_seconds + 0.2 * dt)
            self.observer.batch(len(batch), dt, taken - batch[0].enqueued)
