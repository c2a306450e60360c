"""Readers of run folders (tms.load and `tms analyze`) never crash and never accept a broken folder.

Finished run folders are mutated one way at a time: every key of metrics.json deleted or retyped, every list
shortened, weights.npz truncated, bit-flipped, reshaped or given non-finite weights (with metrics.json's
recorded digest updated, so the deeper checks are reached), instances.npz's columns removed, retyped, reshaped or
changed, snapshots.npz removed or truncated. Each mutant
must be refused with a one-line ValueError (exit status 2 from `tms analyze`)."""
import copy
import io
import json
import os
import shutil
import zlib

import numpy as np
import pytest

import tms
from tms import _tms

# Values whose replacement by null is still a valid run: D* is infinite (null) when W = 0, and a loss split
# term is null when it is not finite.
NULL_ALLOWED = ("dims_per_feature", "loss_decomposition.")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    folders = {}
    relu = tms.train(model="relu", features=4, hidden=2, density=[1, 0.2], steps=40, batch=16, snapshots=2)
    folders["relu"] = relu.save(root / "relu")
    linear = tms.train(model="linear", features=3, hidden=2, density=[0.5], importances=[0.9, [1, 0.5, 0.2]],
                       relative_density=[1, 2, 1], steps=30, batch=16)
    folders["linear"] = linear.save(root / "linear")
    return root, folders


def paths(node, prefix=""):
    """Every (path, parent, key) in the JSON tree; lists contribute their first and last entries."""
    if isinstance(node, dict):
        for key, value in node.items():
            p = f"{prefix}.{key}" if prefix else key
            yield p, node, key
            yield from paths(value, p)
    elif isinstance(node, list) and node:
        for index in sorted({0, len(node) - 1}):
            p = f"{prefix}[{index}]"
            yield p, node, index
            yield from paths(node[index], p)


def metrics_mutants(doc):
    """(description, mutated document) for every deletion, retyping and shortening."""
    for path, _, _ in list(paths(doc)):
        for action in ("delete", "string", "null", "bool", "object", "shorten"):
            mutant = copy.deepcopy(doc)
            parent, key = next((p, k) for q, p, k in paths(mutant) if q == path)  # the same place in the copy
            value = parent[key]
            if action == "delete":
                if isinstance(parent, list):
                    continue
                del parent[key]
            elif action == "string":
                if isinstance(value, str):
                    continue  # another string may be valid (tms_version); strings are checked by value below
                parent[key] = "x"
            elif action == "null":
                if value is None or any(path.endswith(a) or a in path for a in NULL_ALLOWED):
                    continue
                parent[key] = None
            elif action == "bool":
                parent[key] = True
            elif action == "object":
                if isinstance(value, dict):
                    continue
                parent[key] = {}
            elif action == "shorten":
                if not isinstance(value, list) or not value:
                    continue
                parent[key] = value[:-1]
            yield f"{action} {path}", mutant
    for path in ("config.model", "config.preset", "config.schedule", "config.init", "config.optimizer",
                 "run.files.weights.npz.crc32"):
        mutant = copy.deepcopy(doc)
        node = mutant
        parts = path.replace("weights.npz", "weights\0npz").split(".")
        for part in parts[:-1]:
            node = node[part.replace("\0", ".")]
        node[parts[-1]] = "not-a-valid-value"
        yield f"bad string {path}", mutant


def expect_refused(folder, what, capfd):
    with pytest.raises(ValueError) as info:
        tms.load(folder)
    message = str(info.value)
    assert "\n" not in message and message, (what, message)
    status = _tms.cli_main(["tms", "analyze", os.fspath(folder)])
    err = capfd.readouterr().err
    assert status == 2, (what, status, err)
    assert err.count("\n") == 1 and err.startswith("tms: error: "), (what, err)


def copy_folder(src, dst):
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    return dst


def rewrite_npz(folder, name, arrays):
    """Writes an npz and updates metrics.json's digest of it, so the reader's checks past the CRC run."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    (folder / name).write_bytes(data)
    doc = json.loads((folder / "metrics.json").read_text())
    doc["run"]["files"][name] = {"bytes": len(data), "crc32": f"{zlib.crc32(data):08x}"}
    (folder / "metrics.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("kind", ["relu", "linear"])
def test_mutated_metrics_are_refused(finished, kind, tmp_path, capfd):
    root, folders = finished
    src = root / kind
    doc = json.loads((src / "metrics.json").read_text())
    assert tms.load(src).K >= 1 and _tms.cli_main(["tms", "analyze", os.fspath(src)]) == 0
    capfd.readouterr()
    count = 0
    for what, mutant in metrics_mutants(doc):
        folder = copy_folder(src, tmp_path / "m")
        (folder / "metrics.json").write_text(json.dumps(mutant))
        expect_refused(folder, what, capfd)
        count += 1
    assert count > 200  # the mutations reached the whole document


def test_mutated_weights_are_refused(finished, tmp_path, capfd):
    root, _ = finished
    src = root / "relu"
    data = (src / "weights.npz").read_bytes()
    with np.load(src / "weights.npz") as z:
        arrays = {key: z[key] for key in z.files}
    cases = []
    for keep in (0, 20, len(data) // 3, len(data) - 1):
        cases.append((f"truncated to {keep} bytes", lambda f, keep=keep: (f / "weights.npz").write_bytes(data[:keep])))
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 1
    cases.append(("one bit flipped", lambda f: (f / "weights.npz").write_bytes(bytes(flipped))))
    cases.append(("removed", lambda f: (f / "weights.npz").unlink()))
    cases.append(("snapshots removed", lambda f: (f / "snapshots.npz").unlink()))
    snaps = (src / "snapshots.npz").read_bytes()
    cases.append(("snapshots truncated", lambda f: (f / "snapshots.npz").write_bytes(snaps[: len(snaps) // 2])))

    def unrecorded_snapshots(folder):
        doc = json.loads((folder / "metrics.json").read_text())
        del doc["run"]["files"]["snapshots.npz"]
        (folder / "metrics.json").write_text(json.dumps(doc))

    cases.append(("snapshots not recorded", unrecorded_snapshots))

    def variant(**changes):
        out = dict(arrays)
        out.update(changes)
        return {k: v for k, v in out.items() if v is not None}

    K, n, m = arrays["W"].shape
    variants = {
        "W reshaped": variant(W=arrays["W"].reshape(K, m, n)),
        "W shortened": variant(W=arrays["W"][:, :-1]),
        "W float64": variant(W=arrays["W"].astype(np.float64)),
        "W with NaN": variant(W=np.where(np.arange(arrays["W"].size).reshape(arrays["W"].shape) == 3, np.nan,
                                         arrays["W"]).astype(np.float32)),
        "b with inf": variant(b=np.full_like(arrays["b"], np.inf)),
        "b missing": variant(b=None),
        "density changed": variant(density=arrays["density"][::-1].copy()),
        "restart int32": variant(restart=arrays["restart"].astype(np.int32)),
        "extra array": variant(extra=np.zeros(3)),
        "W Fortran order": variant(W=np.asfortranarray(arrays["W"])),
    }
    for name, new in variants.items():
        cases.append((name, lambda f, new=new: rewrite_npz(f, "weights.npz", new)))
    for what, mutate in cases:
        folder = copy_folder(src, tmp_path / "w")
        mutate(folder)
        expect_refused(folder, what, capfd)


def test_mutated_instance_columns_are_refused(finished, tmp_path, capfd):
    root, _ = finished
    src = root / "relu"
    data = (src / "instances.npz").read_bytes()
    with np.load(src / "instances.npz") as z:
        arrays = {key: z[key] for key in z.files}
    K = len(arrays["loss"])

    def variant(**changes):
        out = dict(arrays)
        out.update(changes)
        return {k: v for k, v in out.items() if v is not None}

    cases = [("instances truncated", lambda f: (f / "instances.npz").write_bytes(data[: len(data) // 2])),
             ("instances removed", lambda f: (f / "instances.npz").unlink())]
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 1
    cases.append(("instances bit flipped", lambda f: (f / "instances.npz").write_bytes(bytes(flipped))))
    variants = {
        "loss missing": variant(loss=None),
        "loss float32": variant(loss=arrays["loss"].astype(np.float32)),
        "loss shortened": variant(loss=arrays["loss"][:-1]),
        "loss changed (summary disagrees)": variant(loss=arrays["loss"] * 2),
        "norms reshaped": variant(norms=arrays["norms"].T.copy()),
        "loss curve shortened": variant(loss_curve=arrays["loss_curve"][:, :-1]),
        "restart swapped": variant(restart=arrays["restart"][::-1].copy() + 1),
        "density changed": variant(density=arrays["density"] * 0.5),
        "stream seed changed": variant(stream_seed=arrays["stream_seed"] + np.uint64(1)),
        "density index int32": variant(density_index=arrays["density_index"].astype(np.int32)),
        "extra column": variant(extra=np.zeros(K)),
    }
    for name, new in variants.items():
        cases.append((name, lambda f, new=new: rewrite_npz(f, "instances.npz", new)))
    for what, mutate in cases:
        folder = copy_folder(src, tmp_path / "c")
        mutate(folder)
        expect_refused(folder, what, capfd)


def test_the_untouched_folders_load(finished):
    root, folders = finished
    for kind in folders:
        run = tms.load(root / kind)
        assert np.all(np.isfinite(run.W))
