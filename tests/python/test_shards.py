"""Shards from Python: tms.train(..., shard="I/N") trains a slice of the instance axis, each instance the same
model as in the whole run; tms.merge joins the saved shards into the whole run, for odd shard counts and for more
shards than instances; bad shards are refused with one line."""
import numpy as np
import pytest

import tms

SETTINGS = dict(model="relu", features=5, hidden=2, density=[1.0, 0.3, 0.05], restarts=3, steps=60, batch=32)


@pytest.mark.parametrize("N", [3, 4, 11])
def test_merged_shards_are_the_whole_run(tmp_path, N):
    whole = tms.train(**SETTINGS)
    folders = []
    for i in range(N):
        shard = tms.train(**SETTINGS, shard=f"{i}/{N}", threads=1 + i % 2)
        lo, hi = i * whole.K // N, (i + 1) * whole.K // N
        assert shard.K == hi - lo
        assert np.array_equal(shard.W, whole.W[lo:hi]) and np.array_equal(shard.loss, whole.loss[lo:hi])
        folders.append(shard.save(tmp_path / f"s{i}"))
    merged = tms.merge(tmp_path / "merged", folders[::-1])
    assert merged.K == whole.K and "shard_count" not in merged.config
    for name in whole.weights:
        assert np.array_equal(merged.weights[name], whole.weights[name]), name
    assert np.array_equal(merged.loss, whole.loss) and np.array_equal(merged.loss_curve, whole.loss_curve)
    assert np.array_equal(merged.norms, whole.norms)


def test_bad_shards_are_refused(tmp_path):
    for bad, message in (("4/4", "shard: 4/4 is not a shard"), ("x", "shard: 'x' is not I/N"),
                         ((0, 0), "shard_count: 0 is out of range"), ("-1/3", "is not a shard")):
        with pytest.raises(ValueError, match=message):
            tms.make_config(shard=bad)
    a = tms.train(**SETTINGS, shard="0/2").save(tmp_path / "a")
    with pytest.raises(ValueError, match="but 1 folder was given"):
        tms.merge(tmp_path / "m", [a])
    assert not (tmp_path / "m").exists()  # nothing left behind
