"""The `selftrain` command line: runs flows, lists artifacts, shows evaluations, walks lineage."""
