"""score: a knowledge scorer (selftrain_core/scorers) rates each question S_L (with document) and S_K (without)."""
