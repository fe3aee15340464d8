"""The `selftrain` command line: runs flows, lists artifacts, walks lineage."""
