"""What a run checks before it starts: the machine can do what the config asks; there is new data to train on;
a checkpoint to evaluate exists with its held-out set."""
