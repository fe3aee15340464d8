"""Exports of curated data to other tools' formats (Hugging Face datasets)."""
