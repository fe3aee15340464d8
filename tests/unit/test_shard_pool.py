"""The Ray pool's scheduling, on an in-process stand-in for Ray (the real cluster is tests/integration/
test_ray_executor.py): a worker that dies mid-shard costs that shard only, one that dies after its last shard costs
only its token counts, and a worker that fails to load leaves no other worker behind."""

from types import SimpleNamespace

import pyarrow as pa
import pytest

from selftrain_core.backends.usage import Usage
from selftrain_core.cluster import shard_pool
from selftrain_core.cluster.shard_pool import ShardJob, ShardTarget, ShardWorker, run_shards
from selftrain_core.config.executor import ExecutorConfig
from selftrain_core.store import ArtifactStore, ArtifactWriter

SCHEMA = pa.schema([("item", pa.int64()), ("double", pa.int64())])


class ActorDied(Exception):
    pass


class Ref:
    def __init__(self, call):
        self.call = call


class Method:
    def __init__(self, actor, name):
        self.actor, self.name = actor, name

    def remote(self, *args):
        def call():
            self.actor.calls.append(self.name)
            if self.actor.dies_at == (self.name, sum(c == self.name for c in self.actor.calls)):
                self.actor.dead = True
            if self.actor.dead or self.actor.killed:
                raise ActorDied(f"actor {self.actor.index} died")
            return getattr(self.actor.worker, self.name)(*args)

        return Ref(call)


class Actor:
    def __init__(self, ray, index):
        self.index, self.calls, self.dead, self.killed = index, [], False, False
        self.dies_at = ray.deaths.get(index)
        worker = object.__new__(ShardWorker)  # no model: rows come from shard_rows alone
        worker.backend = SimpleNamespace(usage=Usage(requests=1), close=lambda: None)
        worker.shard_rows, worker.node = ray.function, f"node-{index}"
        self.worker = worker

    def __getattr__(self, name):
        return Method(self, name)


class FakeRay:
    exceptions = SimpleNamespace(RayActorError=ActorDied)

    def __init__(self, deaths):
        self.deaths, self.actors, self.function = deaths, [], None

    def remote(self, cls):
        ray = self

        class Options:
            def options(self, **_):
                return self

            def remote(self, spec, function, threads):
                actor = Actor(ray, len(ray.actors))
                ray.actors.append(actor)
                return actor

        return Options()

    def put(self, value):
        if callable(value):  # the shard function (the spec goes to the object store too)
            self.function = value
        return value

    def get(self, refs):
        return [r.call() for r in refs] if isinstance(refs, list) else refs.call()

    def wait(self, refs, num_returns=1, timeout=None):
        return refs[:num_returns], refs[num_returns:]

    def kill(self, actor):
        actor.killed = True

    def cluster_resources(self):
        return {"CPU": 2.0}

    def available_resources(self):
        return {"CPU": 0.0}


def double(backend, items):
    return [{"item": i["item"], "double": 2 * i["item"]} for i in items]


def run(tmp_path, monkeypatch, deaths):
    ray = FakeRay(deaths)
    monkeypatch.setattr(shard_pool, "connect", lambda executor: ray)
    jobs = [ShardJob(i, [{"item": i}], {"items": [i]}) for i in range(5)]
    target = ShardTarget(str(tmp_path), "demo", "k", "data", SCHEMA)
    lines, done = [], []
    spec = SimpleNamespace(section="answers")
    usage, nodes = run_shards(
        ExecutorConfig(kind="ray", address="h:1"), spec, double, jobs, target, done.append, 3, lines.append
    )
    return ray, usage, nodes, lines, done


def test_a_worker_that_dies_mid_shard_costs_that_shard_only(tmp_path, monkeypatch):
    ray, usage, nodes, lines, done = run(tmp_path, monkeypatch, {1: ("run", 2)})
    writer = ArtifactWriter(ArtifactStore(str(tmp_path)), "demo", "k")
    assert sorted(writer.done_shards("data")) == [0, 1, 2, 3, 4]
    assert [writer.read_shard("data", i).to_pylist() for i in range(5)] == [
        [{"item": i, "double": 2 * i}] for i in range(5)
    ]
    assert sum(nodes.values()) == 5 and sum(done) == 5 * 3
    assert any("died with shard" in line for line in lines)
    assert usage.requests == 1  # the dead worker's count is lost, the live one's kept
    assert all(a.killed for a in ray.actors)


def test_a_worker_that_dies_after_its_last_shard_only_loses_its_counts(tmp_path, monkeypatch):
    ray, usage, nodes, lines, _ = run(tmp_path, monkeypatch, {0: ("close", 1)})
    assert sum(nodes.values()) == 5 and usage.requests == 1
    assert any("after its last shard" in line for line in lines)


def test_a_worker_that_fails_to_load_leaves_no_worker_behind(tmp_path, monkeypatch):
    with pytest.raises(ActorDied):
        run(tmp_path, monkeypatch, {1: ("ready", 1)})
    ray = shard_pool.connect(None)
    assert ray.actors and all(a.killed for a in ray.actors)


def test_an_actor_refuses_a_model_whose_fingerprint_is_not_the_drivers(monkeypatch):
    settings = SimpleNamespace(section="answers", model="m", resolve=lambda: SimpleNamespace(fingerprint="theirs"))
    with pytest.raises(shard_pool.ClusterError, match="on node n1 is not the driver's"):
        shard_pool.BackendSpec(settings, "ours").open("n1")


def test_jobs_from_an_iterator_are_read_as_workers_free_up(tmp_path, monkeypatch):
    ray, produced, seen = FakeRay({}), [], []
    monkeypatch.setattr(shard_pool, "connect", lambda executor: ray)

    def jobs():
        for i in range(5):
            produced.append(i)
            yield ShardJob(i, [{"item": i}], {"items": [i]}, new=0 if i == 4 else None)

    def rows(backend, items):
        seen.append(len(produced))
        return double(backend, items)

    done = []
    target = ShardTarget(str(tmp_path), "demo", "k", "data", SCHEMA)
    executor = ExecutorConfig(kind="ray", address="h:1")
    run_shards(executor, SimpleNamespace(section="s"), rows, jobs(), target, done.append, 1, print, expected=5)
    assert len(ray.actors) == 2 and seen[0] <= 2, "two workers: two shards read before the first is computed"
    assert sorted(ArtifactWriter(ArtifactStore(str(tmp_path)), "demo", "k").done_shards("data")) == [0, 1, 2, 3, 4]
    assert sum(done) == 4, "a shard whose items were all computed before adds nothing to the progress"


def test_run_on_cluster_writes_into_the_artifact_and_checks_every_shard_is_there(tmp_path, monkeypatch):
    ray = FakeRay({})
    monkeypatch.setattr(shard_pool, "connect", lambda executor: ray)
    writer = ArtifactWriter(ArtifactStore(str(tmp_path)), "demo", "k")
    jobs = [ShardJob(i, [{"item": i}], {"items": [i]}) for i in range(3)]
    executor = ExecutorConfig(kind="ray", address="h:1")
    usage, nodes = shard_pool.run_on_cluster(
        executor, SimpleNamespace(section="s"), double, jobs, writer, "data", SCHEMA, lambda _: None, 1, print
    )
    assert sorted(writer.done_shards("data")) == [0, 1, 2] and sum(nodes.values()) == 3
