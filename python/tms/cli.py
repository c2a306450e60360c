"""The `tms` command installed by pip. `tms reproduce ...` (it draws figures) and `tms sweep ...` (it drives a Dask
cluster) are Python; every other subcommand (train, analyze, merge, --help, --version) runs the C++ command line,
so the program and the package share one implementation, its messages and its exit statuses (2 usage, 1 run-time
failure, 130 interrupted)."""
from __future__ import annotations

import os
import sys
import tempfile
from typing import Optional, Sequence



def _reproduce_help() -> str:
    from .targets import TARGETS

    return f"Reproduce a paper experiment ({', '.join(TARGETS)}): runs, figures, report.html"


def _help() -> int:
    """The C++ help with the reproduce subcommand listed beside train and analyze."""
    from . import _tms

    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 1)
        try:
            status = _tms.cli_main(["tms", "--help"])
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        captured.seek(0)
        text = captured.read().decode("utf-8", "replace")
    lines = text.rstrip("\n").split("\n")
    subcommands = [i for i, line in enumerate(lines) if line.startswith("  analyze") or line.startswith("  train")]
    entries = [f"  {'reproduce':<28}{_reproduce_help()}",
               f"  {'sweep':<28}Train a grid as shards on a Dask cluster (or this machine) and merge them "
               "(tms sweep --help)"]
    at = subcommands[-1] + 1 if subcommands else len(lines)
    lines[at:at] = entries
    print("\n".join(lines) + "\n")
    return status


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:  # Ctrl-C outside training (training itself stops cleanly and returns 130)
        print("\ntms: interrupted", file=sys.stderr)
        return 130


def _main(argv: list) -> int:
    if argv and argv[0] == "reproduce":
        from . import reproduce

        return reproduce.main(argv[1:])
    if argv and argv[0] == "sweep":
        return _sweep(argv[1:])
    if argv and argv[0] in ("-h", "--help"):
        return _help()
    from . import _tms

    sys.stdout.flush()
    sys.stderr.flush()
    return _tms.cli_main(["tms", *argv])


if __name__ == "__main__":
    sys.exit(main())


SWEEP_USAGE = """usage: tms sweep [TRAIN SETTINGS...] --shards N --out DIR [--scheduler ADDRESS] [--overwrite]
                 [--retries R] [--tls-ca-file F --tls-cert F --tls-key F] [--quiet]

Trains the grid that the settings describe (any of `tms train`'s flags or --config FILE) as N shards and merges
them into the run folder DIR (the grid's own run, bit for bit); the shards are DIR/shards/I-of-N.
  --shards N          how many shards (tasks)
  --out DIR           the merged run folder; run the same command again to resume a killed sweep
  --scheduler ADDR    a Dask scheduler (tcp://host:8786, tls://host:8786), or local (default): this machine,
                      one shard after another, no Dask
  --overwrite         replace a finished run or another sweep in DIR
  --retries R         a shard whose task raised is tried R more times (default 3); a lost worker's shard is
                      always run again elsewhere
  --tls-ca-file, --tls-cert, --tls-key   TLS for the scheduler connection (Dask's Security)
  --quiet             no progress line
"""


def _captured_stdout(call) -> tuple:
    """(status, text) of a call into the engine whose stdout is the process's file descriptor 1."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 1)
        try:
            status = call()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        captured.seek(0)
        return status, captured.read().decode("utf-8", "replace")


def _sweep(argv: list) -> int:
    from . import _tms
    from . import sweeps

    if not argv or argv[0] in ("-h", "--help"):
        print(SWEEP_USAGE, end="")
        return 0
    own = {"--shards": None, "--out": None, "--scheduler": "local", "--retries": "3", "--tls-ca-file": None,
           "--tls-cert": None, "--tls-key": None}
    flags = {"--overwrite": False, "--quiet": False}
    train_args, i = [], 0
    while i < len(argv):
        a = argv[i]
        key, eq, value = a.partition("=")
        if key in own:
            if not eq:
                if i + 1 >= len(argv):
                    print(f"tms: error: {key} needs a value", file=sys.stderr)
                    return 2
                value, i = argv[i + 1], i + 1
            own[key] = value
        elif a in flags:
            flags[a] = True
        elif a in ("--shard",) or a.startswith("--shard="):
            print("tms: error: shard: a sweep makes its own shards; allowed: --shards N", file=sys.stderr)
            return 2
        else:
            train_args.append(a)
        i += 1
    for key in ("--shards", "--out"):
        if own[key] is None:
            print(f"tms: error: {key[2:]}: required (tms sweep --help)", file=sys.stderr)
            return 2
    # The train settings are resolved by the engine's own parser (the same flags, file and messages as tms train).
    status, text = _captured_stdout(lambda: _tms.cli_main(["tms", "train", *train_args, "--print-config"]))
    if status != 0:
        return status
    security = None
    tls = [own["--tls-ca-file"], own["--tls-cert"], own["--tls-key"]]
    if any(tls):
        if not all(tls):
            print("tms: error: tls: give --tls-ca-file, --tls-cert and --tls-key together", file=sys.stderr)
            return 2
        from distributed.security import Security

        security = Security(tls_ca_file=tls[0], tls_client_cert=tls[1], tls_client_key=tls[2],
                            require_encryption=True)
    try:
        shards = int(own["--shards"])
        retries = int(own["--retries"])
    except ValueError:
        print(f"tms: error: shards, retries: '{own['--shards']}', '{own['--retries']}' are not integers",
              file=sys.stderr)
        return 2
    try:
        run = sweeps.sweep_config(own["--out"], text.strip(), shards, scheduler=own["--scheduler"],
                                  security=security, overwrite=flags["--overwrite"], progress=not flags["--quiet"],
                                  retries=retries)
    except (ValueError, FileExistsError) as e:
        print(f"tms: error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(f"tms: error: {e}", file=sys.stderr)
        return 1
    if not flags["--quiet"]:
        print(f"merged {shards} shards ({run.K:,} models) into {own['--out']}; see: tms analyze {own['--out']}")
    return 0
