"""ingest: documents from a source (sources/) into document rows, split into train and held-out by document."""
