"""Deployment entry points and work-pool setup (prefect.yaml declares the deployments)."""
