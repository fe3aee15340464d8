"""One module per stage: `plan(cfg, *parents) -> StagePlan` (the key, no work) and `run(cfg, plan, ...)`."""
