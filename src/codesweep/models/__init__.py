"""Model and tokenizer factory: the embedded tiny model, or any causal LM by hub id or path."""
