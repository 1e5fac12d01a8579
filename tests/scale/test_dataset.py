"""Partitioned datasets: seeded partition by partition, read through the study loader."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from winback_study.data.simulate import study_params
from winback_study.errors import DataError
from winback_study.scale.dataset import (
    DATASET_INFO,
    atomic_folder,
    dataset_info,
    read_dataset,
    simulate_dataset,
)


def _frames(path):
    return [pd.read_parquet(f) for f in sorted(path.glob("part-*.parquet"))]


def test_same_seed_and_partition_size_same_data(tmp_path):
    a = simulate_dataset(tmp_path / "a", 25_000, seed=4, partition_size=10_000)
    b = simulate_dataset(tmp_path / "b", 25_000, seed=4, partition_size=10_000)
    fa, fb = _frames(a), _frames(b)
    assert [len(f) for f in fa] == [10_000, 10_000, 5_000]
    for x, y in zip(fa, fb, strict=True):
        pd.testing.assert_frame_equal(x, y)
    whole = pd.concat(fa, ignore_index=True)
    assert whole["customer_id"].is_unique
    assert whole["customer_id"].tolist() == list(range(1, 25_001))
    # partition k depends on the seed and k only: a longer base starts with the same ones
    c = simulate_dataset(tmp_path / "c", 12_000, seed=4, partition_size=10_000)
    pd.testing.assert_frame_equal(_frames(c)[0], fa[0])
    # other seed, other data; the partitions are not copies of each other
    d = simulate_dataset(tmp_path / "d", 20_000, seed=5, partition_size=10_000)
    assert not _frames(d)[0]["first_monthly_margin"].equals(fa[0]["first_monthly_margin"])
    assert not np.array_equal(fa[0]["first_monthly_margin"], fa[1]["first_monthly_margin"])


def test_the_true_parameters_travel_with_the_data(tmp_path):
    out = simulate_dataset(tmp_path / "ds", 3_000, seed=9, partition_size=1_000)
    info = dataset_info(out)
    assert info["customers"] == 3_000 and info["partitions"] == 3 and info["seed"] == 9
    assert info["params"] == json.loads(json.dumps(study_params().to_dict()))
    one = pd.read_parquet(out / "part-00001.parquet")
    assert one.attrs["partition"] == 1 and one.attrs["seed"] == 9
    assert study_params(one) == study_params()
    assert (out / DATASET_INFO).exists()


def test_read_dataset_validates_each_partition(tmp_path):
    out = simulate_dataset(tmp_path / "ds", 3_000, seed=2, partition_size=1_000)
    cols = ["customer_id", "referrals", "defection_reason"]
    ddf = read_dataset(out, cols)
    assert ddf.npartitions == 3
    got = ddf.compute()
    assert list(got.columns) == cols and len(got) == 3_000
    bad = pd.read_parquet(out / "part-00002.parquet")
    bad.loc[16, "referrals"] = -3
    bad.to_parquet(out / "part-00002.parquet", index=False)
    with pytest.raises(DataError) as info:
        read_dataset(out, cols).compute()
    msg = str(info.value)
    assert "part-00002.parquet" in msg and "referrals" in msg and "17" in msg  # 1-based row
    assert info.value.column == "referrals" and info.value.rows == [17]
    with pytest.raises(DataError, match="no dataset folder"):
        read_dataset(tmp_path / "absent", cols)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no Parquet files"):
        read_dataset(tmp_path / "empty", cols)


def test_a_failed_write_leaves_nothing_and_keeps_the_old_folder(tmp_path):
    old = simulate_dataset(tmp_path / "ds", 1_000, seed=1, partition_size=500)
    before = sorted(p.name for p in old.iterdir())
    with pytest.raises(KeyboardInterrupt):
        with atomic_folder(tmp_path / "ds") as tmp:
            (tmp / "part-00000.parquet").write_bytes(b"half")
            raise KeyboardInterrupt
    assert sorted(p.name for p in old.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]  # no hidden temporary folder left


def test_bad_sizes_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="at least 1"):
        simulate_dataset(tmp_path / "x", 0)
    with pytest.raises(DataError, match="partition size"):
        simulate_dataset(tmp_path / "x", 10, partition_size=0)
    assert not (tmp_path / "x").exists()


def test_an_empty_partition_is_read_as_no_rows(tmp_path):
    out = simulate_dataset(tmp_path / "ds", 2_000, seed=3, partition_size=1_000)
    pd.read_parquet(out / "part-00000.parquet").iloc[:0].to_parquet(
        out / "part-00000.parquet", index=False)
    got = read_dataset(out, ["customer_id", "referrals", "defection_reason"]).compute()
    assert len(got) == 1_000 and got["customer_id"].min() == 1_001
    assert isinstance(got["defection_reason"].dtype, pd.CategoricalDtype)
