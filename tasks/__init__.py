"""One Prefect task per stage: resolve inputs, call selftrain_core, publish Prefect artifacts, return a ref."""
