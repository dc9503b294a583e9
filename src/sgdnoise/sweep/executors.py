"""Where a sweep's jobs run: in this process (``inline``), on a local pool of spawned processes
(``processes``) or on Ray (``ray``, imported only when asked for). Every executor runs a job with the
same ``run_job`` and hands its outcomes back to the coordinator, the only writer of the store.

A job that raises does not stop the sweep: ``run_job`` turns the error into ``failed`` outcomes for the
job's runs (with the error text), which the coordinator stores; they are trained again next time.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing as mp
import os
import pickle
import queue
import signal
import socket
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch

from sgdnoise.data import TaskData
from sgdnoise.engine import GroupProgress, Measurement, Probe, RunResult, TrainConfig, measure_state, train_group
from sgdnoise.runtime import torch_threads
from sgdnoise.sweep.planning import Job, JobKind, available_cores
from sgdnoise.sweep.specs import TaskFactory

if TYPE_CHECKING:
    from sgdnoise.sweep.running import Coordinator

GroupTrainer = Callable[..., list[RunResult]]  # the signature of ``engine.train_group``
Outcome = RunResult | dict[str, Any]  # a train job: the run's RunResult; a measure job: measurements, error


class MissingDependencyError(ImportError, ValueError):
    """An optional dependency of the chosen feature is not installed (a ValueError too, so the CLI
    prints it as one line)."""


@dataclass(frozen=True)
class Training:
    """How every job of a sweep trains and measures (sent to each worker once)."""

    device: torch.device | None
    dtype: torch.dtype
    path: str
    probes: tuple[Probe, ...]
    measurements: tuple[Measurement, ...]
    keep_weights: bool
    trainer: GroupTrainer = train_group


@dataclass(frozen=True)
class Payload:
    """What a worker is sent for one job; ``states``/``measure`` (measure jobs): each run's kept weights
    and the names of the measurements it lacks."""

    index: int
    kind: JobKind
    task: str
    configs: list[TrainConfig]
    threads: int
    states: list[dict[str, torch.Tensor]] | None = None
    measure: list[tuple[str, ...]] | None = None


class TaskCache:
    """Holds the most recently built task (groups of one task are contiguous, so this builds each task
    about once per process while keeping at most one task's data in memory)."""

    def __init__(self) -> None:
        self._token: str | None = None
        self._data: TaskData | None = None

    def get(self, token: str, factory: TaskFactory) -> TaskData:
        if self._token != token or self._data is None:
            self._data = None  # free the previous task before building the next
            data = factory()
            if not isinstance(data, TaskData):
                raise TypeError(f"task factory {factory!r} returned {type(data).__name__}, expected TaskData")
            self._token, self._data = token, data
        return self._data


def _error_text(error: BaseException) -> str:
    return "".join(traceback.format_exception_only(error)).strip()


def run_job(
    cache: TaskCache,
    payload: Payload,
    factory: TaskFactory,
    training: Training,
    progress: Callable[[GroupProgress], None] | None,
) -> list[Outcome]:
    """Train or measure one job's runs; an exception becomes the runs' ``failed`` outcome."""
    if payload.kind == "measure":
        return _measure_job(cache, payload, factory, training)
    try:
        data = cache.get(payload.task, factory)
        return training.trainer(
            payload.configs,
            data,
            device=training.device,
            dtype=training.dtype,
            path=training.path,
            progress=progress,
            probes=training.probes,
            measurements=training.measurements,
            keep_state=training.keep_weights,
            num_threads=payload.threads,
        )
    except Exception as error:
        return [RunResult(config=config, status="failed", error=_error_text(error)) for config in payload.configs]


def _measure_job(cache: TaskCache, payload: Payload, factory: TaskFactory, training: Training) -> list[Outcome]:
    assert payload.states is not None and payload.measure is not None
    outcomes: list[Outcome] = []
    with torch_threads(payload.threads):
        for config, state, names in zip(payload.configs, payload.states, payload.measure, strict=True):
            try:
                data = cache.get(payload.task, factory)
                wanted = [m for m in training.measurements if m.name in names]
                values = measure_state(config, state, data, wanted, device=training.device, dtype=training.dtype)
                outcomes.append({"measurements": values, "error": None})
            except Exception as error:
                outcomes.append({"measurements": {}, "error": f"measuring failed: {_error_text(error)}"})
    return outcomes


# --------------------------------------------------------------------------------------------------
# inline
# --------------------------------------------------------------------------------------------------


def run_inline(
    jobs: Sequence[Job],
    tasks: Mapping[str, TaskFactory],
    coordinator: Coordinator,
    training: Training,
    cache: TaskCache,
) -> None:
    for job in jobs:
        payload = coordinator.claim(job)
        if payload is None:
            continue
        outcomes = run_job(
            cache, payload, tasks[job.task], training, lambda update, job=job: coordinator.progress(job, update)
        )
        coordinator.finish(job, outcomes)


# --------------------------------------------------------------------------------------------------
# local process pool
# --------------------------------------------------------------------------------------------------


def _worker_main(
    worker: int, jobs: Any, messages: Any, tasks: Mapping[str, TaskFactory], training: Training, parent_pid: int
) -> None:
    """A local pool worker: runs the jobs it is sent and reports progress and outcomes; the parent
    handles Ctrl-C (workers ignore SIGINT) and the worker exits when its parent has gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cache = TaskCache()

    def report(update: GroupProgress) -> None:
        if os.getppid() != parent_pid:
            os._exit(1)
        messages.put(("progress", worker, update))

    while True:
        try:
            payload = jobs.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent_pid:
                return
            continue
        if payload is None:
            return
        messages.put(("done", worker, run_job(cache, payload, tasks[payload.task], training, report)))


@contextlib.contextmanager
def sigint_ignored_by_children() -> Iterator[None]:
    """Ignore SIGINT while processes are started: a spawned child keeps an ignored SIGINT through exec, so a
    Ctrl-C while it imports torch (before its own handler is set) does not print its traceback; only the parent
    reports the interrupt. A Ctrl-C within the few milliseconds of the start itself is lost."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_processes(
    jobs: Sequence[Job],
    tasks: Mapping[str, TaskFactory],
    coordinator: Coordinator,
    training: Training,
    workers: int,
    thread_budget: int,
) -> None:
    """Local pool of ``workers`` spawned processes; jobs run concurrently while the sum of their
    threads stays within ``thread_budget`` (so 1-thread groups run side by side, an all-core group
    alone). Outcomes come back to this process, which commits them."""
    context = mp.get_context("spawn")  # torch + fork is unsafe
    messages = context.Queue()
    job_queues = [context.Queue() for _ in range(workers)]
    processes = [
        context.Process(
            target=_worker_main,
            args=(w, job_queues[w], messages, tasks, training, os.getpid()),
            daemon=True,
            name=f"sgdnoise-sweep-{w}",
        )
        for w in range(workers)
    ]
    with sigint_ignored_by_children():
        for process in processes:
            process.start()
    waiting = deque(jobs)
    busy: dict[int, Job] = {}
    threads_in_use = 0
    clean = False
    try:
        while waiting or busy:
            while waiting and len(busy) < workers:
                job = waiting[0]
                threads = min(job.threads, thread_budget)
                if busy and threads_in_use + threads > thread_budget:
                    break
                waiting.popleft()
                payload = coordinator.claim(job)
                if payload is None:
                    continue
                worker = next(w for w in range(workers) if w not in busy)
                job_queues[worker].put(payload)
                busy[worker] = job
                threads_in_use += threads
            if not busy:
                continue
            try:
                kind, worker, message = messages.get(timeout=0.5)
            except queue.Empty:
                for worker, job in busy.items():
                    if not processes[worker].is_alive():
                        raise RuntimeError(
                            f"sweep worker {processes[worker].pid} died (exit code {processes[worker].exitcode}) "
                            f"during a job of {len(job.runs)} runs; finished runs are stored, rerun to resume"
                        ) from None
                continue
            job = busy[worker]
            if kind == "progress":
                coordinator.progress(job, message)
            else:
                coordinator.finish(job, message)
                del busy[worker]
                threads_in_use -= min(job.threads, thread_budget)
        clean = True
    finally:
        for worker, process in enumerate(processes):
            if clean:
                job_queues[worker].put(None)
            else:
                process.terminate()
        for process in processes:
            process.join(timeout=10.0)
            if process.is_alive():
                process.kill()
                process.join()
        for channel in (messages, *job_queues):
            channel.close()
            channel.cancel_join_thread()


# --------------------------------------------------------------------------------------------------
# Ray
# --------------------------------------------------------------------------------------------------

RAY_MAX_RETRIES = 3  # a task whose worker process (or node) dies is retried this often, then recorded failed
_RAY_TASK_CACHE = TaskCache()  # one per Ray worker process, reused across its tasks
_RAY_POLL_SECONDS = 1.0  # how often the driver wakes while waiting for results (so Ctrl-C is prompt)


class ClusterError(ConnectionError, ValueError):
    """Ray could not be reached or started (a ValueError too, so the CLI prints it as one line)."""


def _ray_run_job(payload: Payload, factory: TaskFactory, training: Training) -> list[Outcome]:
    """Runs inside a Ray worker process (reused across tasks, hence the per-process task cache)."""
    return run_job(_RAY_TASK_CACHE, payload, factory, training, None)


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(
            "executor='ray' needs Ray, which is not installed; install it with: pip install 'sgdnoise[ray]'"
        ) from None
    return ray


def _one_line(error: BaseException) -> str:
    """The first meaningful line of an error (Ray's messages run to many lines)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else 'no message'}"


# The probe of a Ray cluster's GCS (a gRPC server, so HTTP/2 without TLS): one gRPC call of the GCS's. Any gRPC
# answer passes (a Ray version without the call, or asking for a token, still answers as gRPC does: HTTP status
# 200); an HTTP/1 server (the dashboard), an HTTP/2 server that is not gRPC, or silence does not.
RAY_CHECK_SECONDS = 5.0  # check_ray_address's limit for connecting and for the GCS's answer
_GCS_CALL = "/ray.rpc.NodeInfoGcsService/GetClusterId"
_H2_DATA, _H2_HEADERS, _H2_RST_STREAM, _H2_SETTINGS, _H2_GOAWAY = 0, 1, 3, 4, 7
_H2_ACK, _H2_END_STREAM, _H2_END_HEADERS, _H2_PADDED, _H2_PRIORITY = 1, 1, 4, 8, 32
_H2_MAX_FRAME = 16384  # the largest frame a server may send us (we never allow more)
_HPACK_STATUS_200 = 0x88  # ":status: 200" from HPACK's static table, how gRPC servers begin every answer


def _h2_frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def _hpack_string(text: str) -> bytes:
    """An HPACK string literal without Huffman coding: its length (an integer of 7-bit prefix), then its bytes."""
    data = text.encode()
    if len(data) < 127:
        return bytes([len(data)]) + data
    length, prefix = len(data) - 127, [127]
    while length >= 128:
        prefix.append(length % 128 | 128)
        length //= 128
    return bytes([*prefix, length]) + data


def _gcs_problem(sock: socket.socket, address: str, deadline: float) -> str | None:
    """Asks the server on ``sock`` for its Ray cluster id over gRPC; None when it answers as a gRPC server does
    (``ray.init`` then deals with an authentication token), else what answered instead."""
    headers = {
        ":method": "POST",
        ":scheme": "http",
        ":path": _GCS_CALL,
        ":authority": address,
        "content-type": "application/grpc",
        "te": "trailers",
    }
    block = b"".join(b"\x00" + _hpack_string(name) + _hpack_string(value) for name, value in headers.items())
    call = _h2_frame(_H2_HEADERS, _H2_END_HEADERS, 1, block) + _h2_frame(_H2_DATA, _H2_END_STREAM, 1, bytes(5))
    received, first = b"", True
    try:
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _h2_frame(_H2_SETTINGS, 0, 0) + call)
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                return "it closed the connection"
            received += chunk
            while len(received) >= 9:
                length, kind, flags = int.from_bytes(received[:3]), received[3], received[4]
                stream = int.from_bytes(received[5:9]) & 0x7FFFFFFF
                if length > _H2_MAX_FRAME or (first and (kind, stream) != (_H2_SETTINGS, 0)):
                    return "it does not speak HTTP/2"
                first = False
                if len(received) < 9 + length:
                    break
                payload, received = received[9 : 9 + length], received[9 + length :]
                if kind == _H2_SETTINGS and not flags & _H2_ACK:
                    sock.sendall(_h2_frame(_H2_SETTINGS, _H2_ACK, 0))
                elif stream == 1 and kind == _H2_HEADERS:
                    block = payload[(1 if flags & _H2_PADDED else 0) + (5 if flags & _H2_PRIORITY else 0) :]
                    return None if block[:1] == bytes([_HPACK_STATUS_200]) else "an HTTP/2 server that is not gRPC"
                elif kind == _H2_GOAWAY or (stream == 1 and kind == _H2_RST_STREAM):
                    return "an HTTP/2 server that refused the call"
    except TimeoutError:
        pass
    except OSError as error:
        return error.strerror or str(error)
    return f"no answer within {RAY_CHECK_SECONDS:g} s"


def ray_address_form(address: str) -> tuple[str, int] | None:
    """The (host, port) of a GCS address ``HOST:PORT``; None for Ray's keywords ``auto`` and ``local`` and a
    client address ``ray://HOST:PORT``; any other form is a ClusterError (one line, without connecting)."""
    if address in ("auto", "local"):
        return None
    client = address.startswith("ray://")
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if "://" in address[6 * client :] or not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterError(
            f"a Ray address is HOST:PORT (the head's GCS, e.g. 10.0.0.1:6379), auto, local or ray://HOST:PORT; "
            f"got {address!r}"
        )
    return None if client else (host, int(port))


def check_ray_address(address: str) -> None:
    """Fail within ``RAY_CHECK_SECONDS``, with one line, unless a Ray cluster's GCS answers at ``address``
    (``HOST:PORT``; Ray's keywords ``auto`` and ``local`` and ``ray://`` client addresses are left to Ray, any
    other form is refused): Ray itself retries for a minute or more (many, where another server listens) and
    then raises a many-line error. With ``RAY_USE_TLS`` only the connection is checked."""
    gcs = ray_address_form(address)
    if gcs is None:
        return  # Ray's keywords and its client's ray://HOST:PORT: left to Ray
    host, port = gcs
    deadline = time.monotonic() + RAY_CHECK_SECONDS
    try:
        sock = socket.create_connection((host.strip("[]"), int(port)), timeout=RAY_CHECK_SECONDS)
    except OSError as error:
        raise ClusterError(
            f"cannot reach a Ray cluster at {address} ({error.strerror or error}); start one with "
            f"`ray start --head` or check the address"
        ) from None
    with sock:
        if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
            return
        problem = _gcs_problem(sock, address, deadline)
    if problem is not None:
        raise ClusterError(
            f"{address} does not answer as a Ray cluster's GCS ({problem}); Ray's address is usually HEAD_IP:6379 "
            f"(the port of `ray start --head --port`), not the dashboard's HEAD_IP:8265"
        )


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator[Any]:
    """Ray connected to the cluster at ``address`` (None: ``$RAY_ADDRESS`` or a cluster started on this
    machine with ``ray start``, else a new local Ray of one CPU per core). A connection opened here is
    closed after; one the caller opened (``ray.is_initialized()``) is used as it is."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    if address is not None:
        check_ray_address(address)
    options: dict[str, Any] = {"logging_level": "ERROR", "configure_logging": True}
    try:
        if address is None and not os.environ.get("RAY_ADDRESS"):
            try:
                ray.init(address="auto", **options)
            except ConnectionError:  # no cluster running on this machine: start a local one
                ray.init(num_cpus=available_cores(), include_dashboard=False, **options)
        else:
            ray.init(address=address, **options)
    except Exception as error:
        raise ClusterError(f"cannot connect to Ray at {address or 'the default address'}: {_one_line(error)}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _largest_node_cpus(ray: Any) -> int:
    return max((int(node["Resources"].get("CPU", 0)) for node in ray.nodes() if node["Alive"]), default=0)


def run_ray(
    jobs: Sequence[Job],
    tasks: Mapping[str, TaskFactory],
    experiment: str,
    coordinator: Coordinator,
    training: Training,
    address: str | None = None,
) -> None:
    """Every job as one Ray task on the cluster at ``address`` (see ``ray_session``): ``num_cpus`` = its
    threads (capped at the largest node's CPUs, so no task waits for a node that does not exist), one GPU
    per task when training on CUDA (Ray picks the GPU and sets ``CUDA_VISIBLE_DEVICES``, so the task
    trains on ``cuda``). A task whose worker dies is retried ``RAY_MAX_RETRIES`` times; an error Ray
    raises for a task (retries used up, node lost, …) records its runs as failed with that error in one
    line. Outcomes are committed by this process (the driver) the moment each task's outcomes arrive."""
    with ray_session(address) as ray:
        largest = _largest_node_cpus(ray)
        if largest < 1:
            raise ClusterError("the Ray cluster has no node with a CPU for tasks; add one with `ray start --address=…`")
        gpu = training.device is not None and training.device.type == "cuda"
        if gpu:
            if ray.cluster_resources().get("GPU", 0) < 1:
                raise ClusterError(f"device={training.device} but the Ray cluster has no GPU; start nodes with GPUs")
            training = replace(training, device=torch.device("cuda"))
        remote = ray.remote(_ray_run_job)
        factories = {}
        for name in dict.fromkeys(job.task for job in jobs):
            digest = hashlib.sha256(pickle.dumps(tasks[name])).hexdigest()[:16]
            factories[name] = (f"{experiment}/{name}/{digest}", ray.put(tasks[name]))
        training_ref = ray.put(training)
        in_flight: dict[Any, tuple[Job, Payload]] = {}
        try:
            for job in jobs:
                payload = coordinator.claim(job)
                if payload is None:
                    continue
                token, factory = factories[job.task]
                threads = min(payload.threads, largest)
                payload = replace(payload, task=token, threads=threads)
                options = {"num_cpus": threads, "num_gpus": 1 if gpu else 0, "max_retries": RAY_MAX_RETRIES}
                in_flight[remote.options(**options).remote(payload, factory, training_ref)] = (job, payload)
            while in_flight:
                ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=_RAY_POLL_SECONDS)
                for ref in ready:
                    job, payload = in_flight.pop(ref)
                    try:
                        outcomes = ray.get(ref)
                    except ray.exceptions.RayError as error:
                        outcomes = _failed_outcomes(payload, f"Ray: {_one_line(error)}")
                    coordinator.finish(job, outcomes)
        finally:
            for ref in in_flight:
                ray.cancel(ref, force=True)


def _failed_outcomes(payload: Payload, error: str) -> list[Outcome]:
    """What ``run_job`` would have returned had the job raised ``error`` (a train or a measure job)."""
    if payload.kind == "measure":
        return [{"measurements": {}, "error": f"measuring failed: {error}"} for _ in payload.configs]
    return [RunResult(config=config, status="failed", error=error) for config in payload.configs]
