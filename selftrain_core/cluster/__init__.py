"""Running a stage's shards on a Ray cluster (executor.kind=ray): joining the cluster, and the actor pool."""
