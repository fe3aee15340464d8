"""Evaluation metrics that do not reuse the training scorer's decision: token F1, containment, bootstrap CIs."""
