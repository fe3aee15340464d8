"""selftrain core library: configs, artifact store, sources, models, backends, scorers and stages.

This package never imports Prefect: the orchestration layer (tasks/, flows/) wraps it.
"""

__version__ = "0.1.0"
