"""The Encharge Activity Stream receiver: an HTTP endpoint that lands NDJSON files (`feeds receive`, whose
command is `loaders/cli/receive.py`)."""
