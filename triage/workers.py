"""Worker processes for a batch of photos: dlib runs on one core per process, so a batch runs one worker
per core, and each worker loads its models once.

Each worker takes one job at a time over its own pipe, so the main process always knows which job a
worker holds. A worker that dies (a crash inside a native library) or overruns the time limit is
killed and replaced: only its job fails, with a one-line reason, and the rest of the batch goes on.
Workers are started with "spawn", so they inherit no open store, thread (the progress bar) or lock; those
started before anything is open (`Started`, ahead of unlocking a home) are forked on Linux when this process
runs no other thread, so they skip Python's start and the imports already made.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING

from triage.errors import TriageError

if TYPE_CHECKING:
    from multiprocessing.context import ForkContext, SpawnContext

    Context = ForkContext | SpawnContext

START_TIMEOUT = 180.0  # seconds for a fresh worker to import its libraries and load its models
_in_pool = False  # set in a worker process
# This process's ends of its workers' pipes. A forked worker inherits them and closes them first: held open in
# it, its own pipe would never end when the main process is killed, and it would wait for a job forever.
_main_ends: weakref.WeakSet[Connection] = weakref.WeakSet()


def cores() -> int:
    """The cores this process may run on: one worker each."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def in_pool() -> bool:
    """Whether this process is one of a pool's workers, one per core: work in it should not spread over
    threads, which would only contend with the other workers (benchmarks/capture_batch.py)."""
    return _in_pool


@dataclass
class Outcome:
    """What became of one job: its value, or the error that stopped it."""

    key: object
    value: object = None
    error: TriageError | None = None


def _serve(conn: Connection, fn: Callable[..., object], initializer: Callable[[], object] | None) -> None:
    """A worker's life: load once, then answer jobs until told to stop (None) or the pipe closes."""
    global _in_pool
    _in_pool = True
    for end in list(_main_ends):  # inherited when forked (see `_main_ends`)
        end.close()
    _main_ends.clear()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches every process: the main one stops the pool
    try:
        _answer(conn, fn, initializer)
    except (BrokenPipeError, ConnectionResetError):  # the main process was killed: no one is left to answer
        pass


def _answer(conn: Connection, fn: Callable[..., object], initializer: Callable[[], object] | None) -> None:
    """Load, say so, then run each job sent and send back its outcome."""
    try:
        if initializer is not None:
            initializer()
    except Exception as e:  # a missing model file: no job can succeed, so the batch is told at once
        conn.send(("failed", e if isinstance(e, TriageError) else TriageError(f"{type(e).__name__}: {e}")))
        return
    conn.send(("ready", None))
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        try:
            conn.send(("done", fn(*job)))
        except TriageError as e:
            conn.send(("error", e))
        except Exception as e:
            conn.send(("error", TriageError(f"unexpected {type(e).__name__}: {e}")))


def _early_context() -> Context:
    """How to start workers before anything is open: forked where that is safe (Linux, and no other thread
    that could hold a lock the child would inherit held), else spawned."""
    if sys.platform == "linux" and threading.active_count() == 1:
        return mp.get_context("fork")
    return mp.get_context("spawn")


class _Worker:
    def __init__(self, ctx: Context, fn: Callable[..., object], initializer: Callable[[], object] | None) -> None:
        self.conn, child = ctx.Pipe()
        _main_ends.add(self.conn)
        self.proc = ctx.Process(target=_serve, args=(child, fn, initializer), daemon=True)
        self.proc.start()
        child.close()
        self.ready = False
        self.job: object = None  # the key of the job it holds
        self.since = time.monotonic()  # when it started, or when it was given its job
        self.told = False  # asked to finish

    def give(self, key: object, args: tuple[object, ...]) -> None:
        self.job, self.since = key, time.monotonic()
        try:
            self.conn.send(args)
        except OSError:  # it died while idle; the main loop sees that and reports this job
            pass

    def tell_stop(self) -> None:
        """Ask the worker to finish (once), without waiting for it."""
        if not self.told:
            self.told = True
            try:
                self.conn.send(None)
            except OSError:
                pass

    def stop(self) -> None:
        """Ask the worker to finish, and wait up to 2 s for it: what it still sends is read and dropped, since a
        worker whose result no longer fits the pipe would wait for a reader to the end (an interrupted batch)."""
        self.tell_stop()
        deadline = time.monotonic() + 2
        while self.proc.is_alive() and (left := deadline - time.monotonic()) > 0:
            wait([self.conn, self.proc.sentinel], timeout=left)
            try:
                while self.conn.poll():
                    self.conn.recv()
            except (EOFError, OSError):
                self.proc.join(timeout=max(0.0, deadline - time.monotonic()))
                break
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        self.conn.close()


class Started:
    """Workers started before their jobs are known, so that they load their models while the caller does
    work of its own (unlocking a home); `run` takes them over, or `close` stops them."""

    def __init__(self, fn: Callable[..., object], initializer: Callable[[], object] | None, workers: int) -> None:
        self.fn, self.initializer = fn, initializer
        ctx = _early_context()
        self.workers = [_Worker(ctx, fn, initializer) for _ in range(max(1, workers))]

    def fits(self, fn: Callable[..., object], initializer: Callable[[], object] | None, workers: int) -> bool:
        """Whether these workers run `fn` after the same `initializer` (a method of an equal object counts:
        Python compares bound methods by their object's identity), and are as many."""
        mine, theirs = self.initializer, initializer
        same = mine == theirs or (
            getattr(mine, "__func__", None) is getattr(theirs, "__func__", 0)
            and getattr(mine, "__self__", None) == getattr(theirs, "__self__", 0)
        )
        return self.fn is fn and same and len(self.workers) == max(1, workers)

    def close(self) -> None:
        for w in self.workers:
            w.tell_stop()
        for w in self.workers:
            w.stop()
        self.workers = []


def run(
    fn: Callable[..., object],
    jobs: Iterator[tuple[object, tuple[object, ...]]],
    *,
    workers: int,
    timeout: float,
    initializer: Callable[[], object] | None = None,
    started: Started | None = None,
) -> Iterator[Outcome]:
    """Run `fn(*args)` for each `(key, args)` of `jobs` in `workers` processes, yielding outcomes as they
    finish (not in order). `jobs` is drawn lazily, one job per idle worker, so a long batch never holds
    more than a few photos in memory. `fn` and `initializer` must be importable module-level functions.
    A failing `initializer` raises its error here, since no job could succeed. Workers `started` for the
    same function, initializer and number are used (else stopped)."""
    jobs = iter(jobs)
    first = next(jobs, None)
    if first is None:  # nothing to do: start no process
        if started is not None:
            started.close()
        return
    jobs = itertools.chain([first], jobs)
    ctx = mp.get_context("spawn")
    if started is not None and started.fits(fn, initializer, workers):
        pool, started.workers = started.workers, []
    else:
        if started is not None:
            started.close()
        pool = [_Worker(ctx, fn, initializer) for _ in range(max(1, workers))]
    exhausted = False

    def feed(w: _Worker) -> None:
        nonlocal exhausted
        if exhausted:
            return
        nxt = next(jobs, None)
        if nxt is None:
            exhausted = True
        else:
            w.give(*nxt)

    try:
        while not exhausted or any(w.job is not None for w in pool):
            for w in pool:
                if w.ready and w.job is None:
                    feed(w)
            if exhausted and all(w.job is None for w in pool):
                break
            now = time.monotonic()
            deadlines = [
                w.since + (timeout if w.ready else START_TIMEOUT) for w in pool if w.job is not None or not w.ready
            ]
            wait(
                [w.conn for w in pool] + [w.proc.sentinel for w in pool],
                timeout=max(0.0, min(deadlines) - now) if deadlines else None,
            )
            for i, w in enumerate(pool):
                message = None
                if w.conn.poll():
                    try:
                        message = w.conn.recv()
                    except (EOFError, OSError):
                        message = None
                    except Exception as e:  # Ctrl-C while a result's module was imported to read it
                        if isinstance(e.__cause__ or e.__context__, KeyboardInterrupt):
                            raise KeyboardInterrupt from None
                        raise
                if message is not None:
                    kind, value = message
                    if kind == "failed":
                        raise value
                    if kind == "ready":
                        w.ready = True
                        continue
                    key, w.job = w.job, None
                    feed(w)  # keep the worker busy while the caller deals with this result
                    yield Outcome(key, value) if kind == "done" else Outcome(key, error=value)
                    continue
                busy = w.job is not None or not w.ready  # working on a job, or still starting
                hung = busy and time.monotonic() - w.since > (timeout if w.ready else START_TIMEOUT)
                if w.proc.is_alive() and not hung:
                    continue
                if not w.ready:
                    raise TriageError(
                        "a worker process could not start (it died or took over "
                        f"{START_TIMEOUT:.0f} s loading the face models)"
                    )
                if w.proc.is_alive():
                    w.proc.kill()
                    reason = f"gave up after {timeout:.0f} s: processing this photo hung"
                else:
                    reason = f"the face pipeline crashed on this photo (worker exit code {w.proc.exitcode})"
                w.proc.join()
                key = w.job
                w.stop()
                pool[i] = _Worker(ctx, fn, initializer)
                if key is not None:
                    yield Outcome(key, error=TriageError(reason))
    finally:
        for w in pool:  # all asked first, so that they wind down together
            w.tell_stop()
        for w in pool:
            w.stop()
