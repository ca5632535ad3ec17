"""Task builders: turn prepared files into (prompt, completion) examples for one problem type."""
