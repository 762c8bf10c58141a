"""gpuplane.sim.synthetic: determinism, load calibration and the shape of the mix."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings, strategies as st

from gpuplane.sim.synthetic import synthetic_mix

QUEUES = ["research", "prod", "interns"]


def test_same_seed_same_jobs_other_seed_other_jobs():
    a = synthetic_mix(7, 6, QUEUES, 64)
    assert a == synthetic_mix(7, 6, QUEUES, 64)
    assert a != synthetic_mix(8, 6, QUEUES, 64)


def test_mix_has_every_kind_and_valid_shapes():
    jobs = synthetic_mix(1, 24, QUEUES, 128)
    kinds = Counter(j.kind for j in jobs)
    assert set(kinds) == {"train", "inference", "notebook", "mig"}
    assert {j.queue for j in jobs} == set(QUEUES)
    by_queue = Counter(j.queue for j in jobs)
    assert by_queue["research"] > by_queue["interns"]  # unequal queue shares
    assert any(j.pods > 1 for j in jobs if j.kind == "train")  # gangs
    assert {j.priority_class for j in jobs} == {"train", "inference", "build"}
    for j in jobs:
        shapes = [bool(j.gpus_per_pod), j.gpu_fraction is not None, j.gpu_memory_mib is not None, j.mig_profile is not None]
        assert sum(shapes) == 1, j
        assert 0 <= j.submit_s < 24 * 3600 and j.duration_s >= 60
        if j.gpu_fraction is not None:
            assert 0 < j.gpu_fraction < 1
        if j.mig_profile:
            assert j.dra
    assert [j.submit_s for j in jobs] == sorted(j.submit_s for j in jobs)
    assert len({j.name for j in jobs}) == len(jobs)


def test_offered_load_tracks_the_request():
    hours, gpus = 48, 256
    for load in (0.5, 1.0):
        ratios = []
        for seed in range(5):
            jobs = synthetic_mix(seed, hours, QUEUES, gpus, load=load, mig_profiles=())
            offered = sum(j.gpus * j.duration_s for j in jobs) + sum(0.25 * j.duration_s for j in jobs if j.gpu_memory_mib)
            ratios.append(offered / (gpus * hours * 3600))
        assert sum(ratios) / len(ratios) == pytest.approx(load, rel=0.15)


def test_no_mig_profiles_means_no_mig_jobs():
    assert not [j for j in synthetic_mix(2, 12, QUEUES, 64, mig_profiles=()) if j.kind == "mig"]


@pytest.mark.parametrize("kwargs,msg", [
    (dict(queues=[]), "at least one queue"), (dict(queues=["a", "a"]), "duplicate queue"),
    (dict(hours=0), "hours must be > 0"), (dict(cluster_gpus=0), "cluster_gpus"), (dict(load=0), "load"),
    (dict(mig_profiles=("big",)), "MIG profile 'big'"), (dict(kind_weights={"batch": 1}), "unknown job kind"),
])
def test_bad_arguments_are_named(kwargs, msg):
    args = dict(seed=1, hours=1, queues=QUEUES, cluster_gpus=8) | kwargs
    with pytest.raises(ValueError, match=msg):
        synthetic_mix(**args)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31), st.floats(0.5, 6), st.integers(8, 256), st.floats(0.2, 2.0))
def test_any_arguments_give_a_consistent_mix(seed, hours, gpus, load):
    jobs = synthetic_mix(seed, hours, QUEUES, gpus, load=load)
    assert jobs == synthetic_mix(seed, hours, QUEUES, gpus, load=load)
    assert all(0 <= j.submit_s < hours * 3600 and j.queue in QUEUES for j in jobs)
    assert all(j.gpus_per_pod * j.pods <= 32 for j in jobs)
