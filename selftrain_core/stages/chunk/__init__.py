"""chunk: documents into overlapping policy-tokenizer chunks."""
