"""The `prepare` stage: repositories and directories -> filtered, deduplicated, split datasets."""
