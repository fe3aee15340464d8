"""Prefect flows composing the stage tasks."""
