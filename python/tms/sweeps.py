"""Sweeps beyond one machine: a grid's shards (`tms train --shard I/N`) trained on a Dask cluster, or one after
another on this machine, each written as a run folder under OUT/shards, then merged into OUT, the grid's own run.

    run = tms.sweep("runs/grid", shards=64, scheduler="tcp://head:8786", model="relu", features=2, hidden=1,
                    density=..., importances=..., restarts=16, loss_curve_points=0)

Every shard is a pure function of the configuration and its index, so the work survives faults:
- a worker that dies costs only the shard it was training: Dask gives the task to another worker (up to
  `retries` more times for a shard whose task raised);
- a driver that dies leaves the finished shard folders (each written atomically, as every run folder is); the same
  call again trains only the shards that have none, and ends with the same bits;
- one sweep writes into OUT at a time (a lock on OUT/.sweep.lock, released by the system when its holder dies).

Workers need tms installed and OUT on a file system they share with the driver (the shards are written there and
read back by the driver through the engine's checking reader, never unpickled). Dask (`pip install
"dask[distributed]"`) is only needed for a scheduler address; "local" runs without it.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import sys
import time
from typing import Callable, Optional, Union

from . import _tms, api

__all__ = ["sweep", "sweep_config", "shard_folder"]

PLAN_FILE = "sweep.json"
LOCK_FILE = ".sweep.lock"


def shard_folder(out: Union[str, os.PathLike], index: int, count: int) -> str:
    """The run folder of shard `index` of `count` under a sweep's OUT."""
    width = len(str(count - 1))
    return os.path.join(os.fspath(out), "shards", f"{index:0{width}d}-of-{count}")


def _grid(config: dict) -> dict:
    """A configuration without what may differ between a sweep's shards (their shard and thread count)."""
    return {k: v for k, v in config.items() if k not in ("shard_index", "shard_count", "threads")}


def _finished(folder: str, expected: dict) -> bool:
    """Whether `folder` holds a finished run of this shard; raises ValueError when it holds another run."""
    if not os.path.isfile(os.path.join(folder, "metrics.json")):
        return False
    doc = json.loads(_tms.read_metrics(folder))  # the engine's checking reader
    got = doc["config"]
    if _grid(got) != _grid(expected) or (got.get("shard_index"), got.get("shard_count")) != (
            expected.get("shard_index"), expected.get("shard_count")):
        raise ValueError(f"out: '{folder}' holds a run of another configuration; allowed: the same sweep "
                         "settings, or overwrite=True (--overwrite) to start the sweep again")
    return True


def train_shard(config_json: str, index: int, count: int, folder: str, progress=None) -> dict:
    """One shard, start to finish (what a Dask task runs on a worker): trains it unless its folder already holds
    it, writes the folder, returns what was done (small and plain: the results stay on disk). progress: an
    optional callable(fraction of the shard done, its models), called about every 100 ms while it trains."""
    config = _tms.config_from_json(config_json)
    config.shard_index, config.shard_count = int(index), int(count)
    expected = json.loads(_tms.config_to_json(config))
    if _finished(folder, expected):
        return dict(shard=int(index), models=int(config.instance_count()), seconds=0.0, reused=True)
    start = time.monotonic()
    models = int(config.instance_count())
    on_step = None if progress is None else (lambda done, total: progress(done / max(total, 1), models) or True)
    result = _tms.train(config, on_step, [])
    run = api._from_result(config, result)
    run.save(folder)
    return dict(shard=int(index), models=int(run.K), seconds=time.monotonic() - start, reused=False)


class _Progress:
    """Shards done, models per second and the ETA across the cluster, on one line of stderr."""

    def __init__(self, shards: int, models: int, enabled: bool):
        self.shards, self.models, self.enabled = shards, models, enabled
        self.start = time.monotonic()
        self.done_shards = self.done_models = self.trained = 0

    def __call__(self, report: dict) -> None:
        self.done_shards += 1
        self.done_models += report["models"]
        if not report.get("reused"):
            self.trained += report["models"]
        self._show(0.0)

    def partial(self, fraction: float, models: int) -> None:
        """A shard training here (scheduler "local") is `fraction` done."""
        self._show(fraction * models)

    def _show(self, partial: float) -> None:
        if not self.enabled:
            return
        secs = time.monotonic() - self.start
        trained = self.trained + partial
        rate = trained / secs if secs > 0 else 0.0
        left = self.models - self.done_models - partial
        eta = f"{left / rate:.0f} s" if rate > 0 else "?"
        sys.stderr.write(f"\r  shards {self.done_shards}/{self.shards}  models {self.done_models + partial:,.0f}/"
                         f"{self.models:,}  {rate:,.0f} models/s  ETA {eta}   ")
        if self.done_shards == self.shards:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _lock(out: str):
    handle = open(os.path.join(out, LOCK_FILE), "a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        handle.close()
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise ValueError(f"out: '{out}' is being written by another tms sweep; allowed: a folder no other "
                             "sweep is writing (a lock left by a killed sweep is released with it)") from None
        raise
    return handle


def _dask_client(scheduler: str, security):
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("scheduler: a Dask scheduler address needs Dask distributed; allowed: pip install "
                         "\"dask[distributed]\", or scheduler=\"local\"") from None
    if scheduler.startswith("tls://") and security is None:
        raise ValueError(f"scheduler: '{scheduler}' speaks TLS; allowed: its CA file, certificate and key "
                         "(--tls-ca-file, --tls-cert, --tls-key; Python: security=distributed.Security(...))")
    try:
        return Client(scheduler, security=security, timeout="20s")
    except (OSError, TimeoutError, TypeError) as e:  # TypeError: distributed's word for a TLS mismatch
        text = " ".join(str(e).split())
        raise ValueError(f"scheduler: cannot reach '{scheduler}' ({text}); allowed: the address of a running "
                         "Dask scheduler (e.g. tcp://host:8786) with its TLS settings, or \"local\"") from None


def sweep_config(out: Union[str, os.PathLike], config_json: str, shards: int, *, scheduler: str = "local",
                 client=None, security=None, overwrite: bool = False, progress: bool = True, retries: int = 3,
                 log: Optional[Callable[[str], None]] = None) -> "api.Run":
    """tms.sweep for a resolved configuration (its JSON, as metrics.json records it): see sweep."""
    out = os.fspath(out)
    config = _tms.config_from_json(config_json)  # checked by the engine's reader
    if config.shard_count != 1:
        raise ValueError("shard: a sweep makes its own shards; allowed: a configuration without shard")
    shards = api._as_int("shards", shards)
    if not 1 <= shards <= 10_000_000:
        raise ValueError(f"shards: {shards} is out of range; allowed: an integer in [1, 10000000]")
    retries = api._as_int("retries", retries)
    if retries < 0:
        raise ValueError(f"retries: {retries} is negative; allowed: 0 or more")
    canonical = json.loads(_tms.config_to_json(config))
    os.makedirs(out, exist_ok=True)
    lock = _lock(out)
    try:
        plan = dict(config=_grid(canonical), shards=shards)
        plan_path = os.path.join(out, PLAN_FILE)
        finished_run = os.path.isfile(os.path.join(out, "metrics.json"))
        if os.path.isfile(plan_path):
            with open(plan_path) as f:
                try:
                    earlier = json.load(f)
                except ValueError:
                    earlier = None
            if earlier != plan and not overwrite:
                raise ValueError(f"out: '{out}' holds a sweep of other settings or shard count; allowed: the same "
                                 "settings to resume it, or overwrite=True (--overwrite) to start again")
            if earlier != plan:  # overwrite: the old shards are not this sweep's
                import shutil
                shutil.rmtree(os.path.join(out, "shards"), ignore_errors=True)
        elif finished_run and not overwrite:
            raise ValueError(f"out: '{out}' already holds a finished run; allowed: a new folder, or overwrite=True "
                             "(--overwrite)")
        tmp = plan_path + f".tmp.{os.getpid()}.0"
        with open(tmp, "w") as f:
            json.dump(plan, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, plan_path)
        if finished_run and not overwrite:  # resumed after the merge: nothing left to do
            done = api.load(out)
            if _grid(done.config) != _grid(canonical):
                raise ValueError(f"out: '{out}' holds a finished run of other settings; allowed: the same settings, "
                                 "or overwrite=True (--overwrite)")
            return done
        folders = [shard_folder(out, i, shards) for i in range(shards)]
        models = int(config.instance_count())
        show = _Progress(shards, models, progress)
        say = log or (lambda message: print(message, file=sys.stderr))
        pending, reused = [], []
        for i, folder in enumerate(folders):
            expected = dict(canonical, shard_index=i, shard_count=shards) if shards > 1 else canonical
            if _finished(folder, expected):
                c = _tms.config_from_json(json.dumps(expected))
                reused.append(dict(shard=i, models=int(c.instance_count()), reused=True))
            else:
                pending.append(i)
        if progress:
            say(f"tms sweep: {models:,} models in {shards} shards, {len(reused)} already done -> {out}")
        for report in reused:
            show(report)
        if pending and client is None and scheduler == "local":
            for i in pending:
                show(train_shard(config_json, i, shards, folders[i], progress=show.partial if progress else None))
        elif pending:
            own = client is None
            client = client or _dask_client(scheduler, security)
            try:
                from distributed import as_completed
                digest = hashlib.sha1(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:12]
                futures = [client.submit(train_shard, config_json, i, shards, folders[i], pure=False,
                                         retries=retries, key=f"tms-shard-{digest}-{i}-of-{shards}")
                           for i in pending]
                for future in as_completed(futures):
                    show(future.result())
            finally:
                if own:
                    client.close()
        return api.merge(out, folders, overwrite=True)
    finally:
        lock.close()


def sweep(out: Union[str, os.PathLike], *, shards: int, scheduler: str = "local", client=None, security=None,
          overwrite: bool = False, progress: bool = True, retries: int = 3, **settings) -> "api.Run":
    """Trains the grid that `settings` describe (those of tms.train) as `shards` shards and merges them into the
    run folder `out` (the grid's own run, bit for bit), returning it.

    scheduler: "local" (this machine, one shard after another, each on all cores; no Dask needed) or a Dask
    scheduler's address ("tcp://host:8786"); or pass a distributed.Client as client. security: a
    distributed.Security (TLS) for the connection. The shard folders are OUT/shards/I-of-N; a sweep into an OUT
    that holds some of them (a killed sweep) trains only the rest. Raises ValueError (one line) for bad settings,
    another sweep writing OUT, or an OUT that holds another sweep (unless overwrite)."""
    if "shard" in settings:
        raise ValueError("shard: a sweep makes its own shards; allowed: shards=N")
    config = api.make_config(**settings)
    return sweep_config(out, _tms.config_to_json(config), shards, scheduler=scheduler, client=client,
                        security=security, overwrite=overwrite, progress=progress, retries=retries)
