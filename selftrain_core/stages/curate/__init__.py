"""Turning scores into training data: pair strategies (pairs.py), the training budget (budget.py), threshold
calibration (calibration.py)."""
