"""The Ray executor against a real local cluster: a head and one extra worker node, started by the
``ray_cluster`` fixture as separate ``ray start`` processes (1 CPU and 100 MB of object store each, temp
dir under /tmp) and stopped again, also when a test fails. Faults are real: ``kill -9`` of the Ray worker
process running a group, ``kill -9`` of the driver, a trainer that raises, a worker that dies every time.

The nodes get this directory on their ``PYTHONPATH`` (the way a cluster node needs the package installed),
so they can unpickle the test trainers below.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'sgdnoise[ray]')")

from sgdnoise.data import synthetic_task  # noqa: E402
from sgdnoise.engine import TrainConfig, train_group  # noqa: E402
from sgdnoise.models import MLPSpec  # noqa: E402
from sgdnoise.store import Store, run_key  # noqa: E402
from sgdnoise.sweep import ClusterError, Sweep, SweptRun, expand_grid, run_sweep  # noqa: E402
from sgdnoise.sweep.executors import check_ray_address  # noqa: E402

TESTS_DIR = Path(__file__).parent
TASK = functools.partial(synthetic_task, seed=0, n_train=256, n_test=64, dim=20)
SPEC = MLPSpec(input_dim=20, hidden=(32,), num_classes=2)
MARKER = "SGDNOISE_TEST_RAY_CLUSTER"  # set in every cluster process's environment: how we find them
START_TIMEOUT = 120.0  # seconds; generous for a loaded 2-core CI machine


def make_sweep(experiment: str = "ray-demo", steps: int = 300, batch_sizes: tuple[int, ...] = (4, 8, 16, 32)) -> Sweep:
    """One group per batch size (2 learning rates × 2 seeds each); at steps=10_000 a group trains ~2.5 s
    on one thread, long enough to kill things mid-group (also used by the driver subprocess)."""
    base = TrainConfig(SPEC, 0.1, 8, steps=steps, eval_points=3)
    return Sweep(
        experiment, TASK, expand_grid(base, batch_size=list(batch_sizes), learning_rate=[0.05, 0.2], seed=[0, 1])
    )


LONG_STEPS = 10_000


def failing_for_batch_8(configs: list[TrainConfig], *args: Any, **kwargs: Any) -> Any:
    """A trainer whose B=8 group raises (module-level, so Ray workers can unpickle it)."""
    if configs[0].batch_size(0.0) == 8:
        raise MemoryError("no room")
    return train_group(configs, *args, **kwargs)


def dying_for_batch_16(configs: list[TrainConfig], *args: Any, **kwargs: Any) -> Any:
    """A trainer whose B=16 group kills its worker process every time (like a segfault or the OOM killer)."""
    if configs[0].batch_size(0.0) == 16:
        os._exit(1)
    return train_group(configs, *args, **kwargs)


class CountingStore(Store):
    """A store that counts how often each run key is written (to show no run is stored twice)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self.puts: Counter[str] = Counter()

    def put(self, experiment: str, config: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        self.puts[run_key(experiment, config)] += 1
        return super().put(experiment, config, *args, **kwargs)


def table_rows(path: Path) -> list[tuple[Any, ...]]:
    try:
        with sqlite3.connect(path, timeout=30) as conn:
            return conn.execute("SELECT * FROM runs ORDER BY key").fetchall()
    except sqlite3.OperationalError:  # file or table not created yet
        return []


def integrity(path: Path) -> str:
    with sqlite3.connect(path, timeout=30) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def assert_identical(a: list[SweptRun], b: list[SweptRun]) -> None:
    """Same runs, same status, bitwise-equal metrics and histories."""
    assert [r.key for r in a] == [r.key for r in b]
    for x, y in zip(a, b, strict=True):
        assert (x.status, x.metrics, x.history) == (y.status, y.metrics, y.history), x.key


# --------------------------------------------------------------------------------------------------
# The cluster
# --------------------------------------------------------------------------------------------------


def _marked_processes(marker: str) -> dict[int, str]:
    """pid → command line of every live process whose environment carries ``MARKER=marker``."""
    found: dict[int, str] = {}
    needle = f"{MARKER}={marker}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


class LocalCluster:
    """A head node and ``extra_nodes`` worker nodes, each a ``ray start --block`` process in its own
    session, with bounded CPUs and object store; ``stop`` kills exactly the processes it started (found
    by the marker in their environment), never other Ray clusters on the machine. With ``token``, the
    cluster asks for that authentication token, and only the head is started (this process has no token)."""

    def __init__(self, extra_nodes: int = 1, cpus_per_node: int = 1, token: str | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sgr-", dir="/tmp"))  # short: Ray's socket paths are limited
        self.marker = self.dir.name
        self.env = {
            **os.environ,
            MARKER: self.marker,
            "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            "RAY_USAGE_STATS_ENABLED": "0",
            "OMP_NUM_THREADS": "1",
            # Explicit, so a token left in ~/.ray by an earlier local `ray.init()` does not turn token
            # authentication on for some processes of this cluster and not others.
            "RAY_AUTH_MODE": "disabled" if token is None else "token",
            **({} if token is None else {"RAY_AUTH_TOKEN": token}),
        }
        self.token = token
        self.node_args = [f"--num-cpus={cpus_per_node}", "--object-store-memory=100000000", "--block"]
        self.nodes: list[subprocess.Popen[bytes]] = []
        self.address = ""
        try:
            self._start(extra_nodes)
        except BaseException:
            self.stop()
            raise

    def _launch(self, name: str, args: list[str]) -> None:
        with open(self.dir / f"{name}.log", "wb") as log:
            self.nodes.append(
                subprocess.Popen(
                    ["ray", "start", *args, *self.node_args],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self.env,
                    start_new_session=True,
                )
            )

    def _start(self, extra_nodes: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        self._launch("head", ["--head", "--port=0", "--include-dashboard=false", f"--temp-dir={self.dir}"])
        while not self.address:
            match = re.search(r"ray start --address='([^']+)'", (self.dir / "head.log").read_text(errors="replace"))
            if match:
                self.address = match.group(1)
            elif self.nodes[0].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Ray head did not start:\n{self.log('head')}")
            time.sleep(0.1)
        if self.token is not None:  # the head prints its address once its GCS is up
            return
        for n in range(extra_nodes):
            self._launch(f"node{n}", [f"--address={self.address}"])
        ray.init(address=self.address, logging_level="ERROR", log_to_driver=False)
        try:
            while len([node for node in ray.nodes() if node["Alive"]]) < 1 + extra_nodes:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Ray worker nodes did not join:\n{self.log('node0')}")
                time.sleep(0.2)
            self.cpus = int(ray.cluster_resources().get("CPU", 0))
        finally:
            ray.shutdown()

    def log(self, name: str) -> str:
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def running_groups(self) -> dict[int, str]:
        """The Ray worker processes executing a sweep job right now (Ray titles them ``ray::FUNCTION``)."""
        return {pid: cmd for pid, cmd in _marked_processes(self.marker).items() if cmd.startswith("ray::_ray_run_job")}

    def stop(self) -> None:
        if ray.is_initialized():
            ray.shutdown()
        for node in self.nodes:  # the `ray start --block` process and the GCS / raylet it started
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(node.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (left := _marked_processes(self.marker)) and time.monotonic() < deadline:
            for pid in left:  # Ray workers live in sessions of their own; they carry our marker
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        for node in self.nodes:
            node.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[LocalCluster]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")  # the drivers (this process, the driver subprocess) too
        cluster = LocalCluster(extra_nodes=1, cpus_per_node=1)
        try:
            yield cluster
        finally:
            cluster.stop()
    assert not _marked_processes(cluster.marker), "cluster processes left running"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[SweptRun]:
    """The long sweep on the local process pool, in float64: what every Ray run must reproduce bitwise."""
    with Store(tmp_path_factory.mktemp("reference") / "store.sqlite") as store:
        return run_sweep(
            make_sweep(steps=LONG_STEPS),
            store,
            executor="processes",
            workers=2,
            dtype=torch.float64,
            show_progress=False,
        )


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


def test_cluster_has_a_head_and_a_worker_node(ray_cluster: LocalCluster) -> None:
    assert ray_cluster.cpus == 2
    assert len([node for node in ray_cluster.nodes if node.poll() is None]) == 2


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_ray_gives_the_results_of_the_process_pool(ray_cluster: LocalCluster, dtype: torch.dtype) -> None:
    """float64: bitwise equal. float32: the same threads and kernels give bitwise-equal numbers here too;
    the stated tolerance across machines (other CPUs / BLAS builds on the nodes) is rel 1e-5."""
    sweep = make_sweep()
    with Store(":memory:") as pool_store, CountingStore(":memory:") as ray_store:
        pool = run_sweep(sweep, pool_store, executor="processes", workers=2, dtype=dtype, show_progress=False)
        on_ray = run_sweep(
            sweep, ray_store, executor="ray", ray_address=ray_cluster.address, dtype=dtype, show_progress=False
        )
        assert set(ray_store.puts.values()) == {1} and len(ray_store.puts) == len(sweep.runs)
    assert all(r.trained and r.status == "finished" for r in on_ray)
    if dtype == torch.float64:
        assert_identical(on_ray, pool)
    else:
        for x, y in zip(on_ray, pool, strict=True):
            for column, values in x.history.items():
                assert values == pytest.approx(y.history[column], rel=1e-5, abs=1e-7), column
    assert not ray.is_initialized()  # run_sweep shut down the connection it opened


# --------------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------------


class Killer(threading.Thread):
    """Kills (SIGKILL) the first Ray worker seen running a sweep job once it has run ``after`` seconds."""

    def __init__(self, cluster: LocalCluster, after: float) -> None:
        super().__init__(daemon=True)
        self.cluster, self.after = cluster, after
        self.stopped = threading.Event()
        self.killed: tuple[int, float] | None = None  # (pid, seconds after the thread started)

    def run(self) -> None:
        start = time.monotonic()
        seen: dict[int, float] = {}
        while not self.stopped.is_set():
            now = time.monotonic()
            for pid in self.cluster.running_groups():
                if now - seen.setdefault(pid, now) >= self.after:
                    os.kill(pid, signal.SIGKILL)
                    self.killed = (pid, now - start)
                    return
            time.sleep(0.05)


def test_a_worker_killed_mid_group_is_retried_and_nothing_is_lost_or_stored_twice(
    ray_cluster: LocalCluster, reference: list[SweptRun]
) -> None:
    sweep = make_sweep(steps=LONG_STEPS)
    killer = Killer(ray_cluster, after=1.0)  # a group trains ~2.5 s: this lands mid-group
    killer.start()
    try:
        with CountingStore(":memory:") as store:
            results = run_sweep(
                sweep, store, executor="ray", ray_address=ray_cluster.address, dtype=torch.float64, show_progress=False
            )
            puts = store.puts
    finally:
        killer.stopped.set()
        killer.join()
    assert killer.killed is not None, "no group was seen running"
    print(f"killed Ray worker {killer.killed[0]} {killer.killed[1]:.1f} s into the sweep, 1 s into its group")
    assert sorted(puts) == sorted(sweep.keys()) and set(puts.values()) == {1}  # none lost, none twice
    assert all(r.status == "finished" and r.trained for r in results)
    assert_identical(results, reference)  # the retried group trained from its seeds again


# Runs make_sweep(steps=LONG_STEPS) on Ray (address argv[2]) into the store argv[3], in float64.
DRIVER = """
import sys
sys.path.insert(0, sys.argv[1])
import torch
from sgdnoise.store import Store
from sgdnoise.sweep import run_sweep
from test_sweep_ray import LONG_STEPS, make_sweep
results = run_sweep(make_sweep(steps=LONG_STEPS), Store(sys.argv[3]), executor="ray", ray_address=sys.argv[2],
                    dtype=torch.float64, show_progress=False)
print(len(results), sum(r.trained for r in results))
"""


def test_a_killed_driver_resumes_retraining_only_what_was_not_stored(
    ray_cluster: LocalCluster, reference: list[SweptRun], tmp_path: Path
) -> None:
    store_path = tmp_path / "store.sqlite"
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(TESTS_DIR), ray_cluster.address, str(store_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not table_rows(store_path):  # kill the driver the moment its first group is committed
            assert driver.poll() is None, driver.communicate()[1].decode()[-3000:]
            assert time.monotonic() < deadline, "the driver stored nothing in time"
            time.sleep(0.02)
        driver.send_signal(signal.SIGKILL)
    finally:
        if driver.poll() is None:
            driver.kill()
        driver.communicate()
    before = table_rows(store_path)
    sweep = make_sweep(steps=LONG_STEPS)
    assert 0 < len(before) < len(sweep.runs)  # killed mid-sweep
    print(f"driver killed with {len(before)}/{len(sweep.runs)} runs stored")
    with CountingStore(store_path) as store:
        results = run_sweep(
            sweep, store, executor="ray", ray_address=ray_cluster.address, dtype=torch.float64, show_progress=False
        )
        puts = store.puts
    stored_before = {row[0] for row in before}
    assert set(puts) == set(sweep.keys()) - stored_before and set(puts.values()) == {1}  # only the rest trained
    assert {r.key for r in results if not r.trained} == stored_before
    after = {row[0]: row for row in table_rows(store_path)}
    assert set(after) == set(sweep.keys())
    assert all(after[row[0]] == row for row in before)  # stored rows untouched (same `finished` time)
    assert integrity(store_path) == "ok"
    assert_identical(results, reference)


def test_a_group_that_raises_or_kills_its_worker_is_recorded_failed_and_the_others_go_on(
    ray_cluster: LocalCluster,
) -> None:
    sweep = make_sweep(experiment="ray-faults")
    with Store(":memory:") as store:
        raising = run_sweep(
            sweep,
            store,
            executor="ray",
            ray_address=ray_cluster.address,
            trainer=failing_for_batch_8,
            show_progress=False,
        )
    by_batch = {r.config.batch_size(0.0): [] for r in raising}
    for r in raising:
        by_batch[r.config.batch_size(0.0)].append(r)
    assert {r.status for r in by_batch[8]} == {"failed"}
    assert all(r.error == "MemoryError: no room" for r in by_batch[8])
    assert all(r.status == "finished" for b in (4, 16, 32) for r in by_batch[b])

    with Store(":memory:") as store:
        dying = run_sweep(
            sweep,
            store,
            executor="ray",
            ray_address=ray_cluster.address,
            trainer=dying_for_batch_16,
            show_progress=False,
        )
    for r in dying:
        if r.config.batch_size(0.0) == 16:
            assert r.status == "failed"
            assert r.error is not None and "\n" not in r.error and "worker" in r.error.lower(), r.error
        else:
            assert r.status == "finished"


def test_an_unreachable_cluster_is_one_clear_error() -> None:
    with Store(":memory:") as store, pytest.raises(ClusterError, match=r"127\.0\.0\.1:9") as raised:
        run_sweep(make_sweep(), store, executor="ray", ray_address="127.0.0.1:9", show_progress=False)
    assert "\n" not in str(raised.value)
    assert isinstance(raised.value, ValueError)  # the CLI prints ValueErrors as one line
    assert not ray.is_initialized()


class NotRayHandler(http.server.BaseHTTPRequestHandler):
    """Answers every request with an HTTP error, quietly."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def http_server() -> Iterator[str]:
    """The address of an HTTP/1 server (like Ray's dashboard at 8265) running in a thread."""
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotRayHandler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        host, port = server.server_address
        try:
            yield f"{host}:{port}"
        finally:
            server.shutdown()
            thread.join()


@contextlib.contextmanager
def unreachable_address() -> Iterator[str]:
    """An address where TCP connections time out, as at a host that is down: a listener whose queue of
    connections not yet accepted is full (Linux then drops new connection requests)."""
    with socket.create_server(("127.0.0.1", 0), backlog=0) as server, contextlib.ExitStack() as held:
        for _ in range(10):
            client = held.enter_context(socket.socket())
            client.settimeout(0.5)
            try:
                client.connect(server.getsockname())
            except TimeoutError:
                break
        else:
            pytest.skip("connections to a full listening queue do not time out here")
        host, port = server.getsockname()
        yield f"{host}:{port}"


def test_a_server_that_is_not_ray_is_one_clear_error_in_seconds(tmp_path: Path) -> None:
    """Ray would retry for many minutes against it; the CLI says so in one line before making the output."""
    from click.testing import CliRunner

    from sgdnoise.cli import main

    out = tmp_path / "out"
    with http_server() as address:
        start = time.monotonic()
        with pytest.raises(ClusterError) as raised:
            check_ray_address(address)
        assert time.monotonic() - start < 10
        command = f"reproduce smith-le-gap --tiny --quiet --out {out} --executor ray --address {address}"
        result = CliRunner().invoke(main, command.split())
    message = (
        f"{address} does not answer as a Ray cluster's GCS (it does not speak HTTP/2); Ray's address is usually "
        "HEAD_IP:6379 (the port of `ray start --head --port`), not the dashboard's HEAD_IP:8265"
    )
    assert str(raised.value) == message and isinstance(raised.value, ValueError)
    assert result.exit_code == 2 and result.output.strip().splitlines() == [f"Error: {message}"]
    assert not out.exists()
    assert not ray.is_initialized()


def test_an_address_that_does_not_answer_is_one_clear_error_in_seconds(tmp_path: Path) -> None:
    """Connecting times out (a host that is down), or the connection opens and nothing answers."""
    from click.testing import CliRunner

    from sgdnoise.cli import main

    out = tmp_path / "out"
    with unreachable_address() as address:
        start = time.monotonic()
        command = f"reproduce smith-le-gap --tiny --quiet --out {out} --executor ray --address {address}"
        result = CliRunner().invoke(main, command.split())
        assert time.monotonic() - start < 8
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        f"Error: cannot reach a Ray cluster at {address} (timed out); start one with `ray start --head` or check "
        "the address"
    ]
    assert not out.exists()
    with socket.create_server(("127.0.0.1", 0)) as silent:  # connections open; nothing ever answers
        host, port = silent.getsockname()
        address = f"{host}:{port}"
        start = time.monotonic()
        with pytest.raises(ClusterError, match=r"does not answer as a Ray cluster's GCS \(no answer within 5 s\)"):
            check_ray_address(address)
        assert time.monotonic() - start < 8


@pytest.mark.parametrize(
    "address", ["", " ", "foo", "host:abc", ":6379", "http://127.0.0.1:6379", "localhost:99999", "ray://", "ray://h"]
)
@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_an_address_of_no_known_form_is_one_line_before_the_output_exists(
    tmp_path: Path, address: str, dry_run: list[str]
) -> None:
    """Before, these reached ray.init after the run's store had been created; a dry run accepted them, and an
    empty ray:// passed to Ray's client."""
    from click.testing import CliRunner

    from sgdnoise.cli import main

    out = tmp_path / "out"
    arguments = ["reproduce", "smith-le-gap", "--tiny", "--quiet", "--out", str(out), "--executor", "ray", *dry_run]
    result = CliRunner().invoke(main, [*arguments, "--address", address])
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        f"Error: a Ray address is HOST:PORT (the head's GCS, e.g. 10.0.0.1:6379), auto, local or ray://HOST:PORT; "
        f"got {address!r}"
    ]
    assert not out.exists()
    check_ray_address("ray://head.example:10001")  # Ray's client addresses are Ray's to check


def test_the_address_check_accepts_the_gcs(ray_cluster: LocalCluster) -> None:
    """Any gRPC answer passes (so a Ray version without the probe's call is not refused): the cluster's other
    gRPC ports (raylet, object manager) are not told apart from its GCS, a limit of the check."""
    check_ray_address(ray_cluster.address)


def test_the_address_check_accepts_a_gcs_that_asks_for_a_token() -> None:
    """Token authentication (RAY_AUTH_MODE=token): the GCS refuses the check's call as unauthenticated,
    which only a GCS does; whether the driver's token is right is for ray.init to say."""
    cluster = LocalCluster(extra_nodes=0, token="0123456789abcdef0123456789abcdef")
    try:
        check_ray_address(cluster.address)
    finally:
        cluster.stop()
    assert not _marked_processes(cluster.marker), "cluster processes left running"


def test_cli_passes_the_address_to_the_sweep_and_reports_ray_errors_in_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sgdnoise.cli import main

    for name in ("smith-le-batch", "all"):
        out = tmp_path / name
        command = f"reproduce {name} --quiet --out {out} --executor ray --address 127.0.0.1:9"
        result = CliRunner().invoke(main, command.split())
        assert result.exit_code == 2, result.output
        assert result.output.strip().splitlines() == [
            "Error: cannot reach a Ray cluster at 127.0.0.1:9 (Connection refused); start one with `ray start "
            "--head` or check the address"
        ]
        assert not out.exists()  # checked before the output directory is made
    wrong = CliRunner().invoke(main, ["reproduce", "smith-le-batch", "--address", "127.0.0.1:9"])
    assert wrong.exit_code == 2 and "--address is for --executor ray" in wrong.output


def test_cuda_on_a_cluster_without_gpus_is_one_clear_error(ray_cluster: LocalCluster) -> None:
    """With device cuda every task asks Ray for a GPU; a cluster with none would queue them forever."""
    with Store(":memory:") as store, pytest.raises(ClusterError, match="has no GPU"):
        run_sweep(
            make_sweep(), store, executor="ray", ray_address=ray_cluster.address, device="cuda", show_progress=False
        )
    assert not ray.is_initialized()
