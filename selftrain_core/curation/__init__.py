"""Turning scores into training data: pair strategies (pairs.py), threshold calibration (calibration.py)."""
