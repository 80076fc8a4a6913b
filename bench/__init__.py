"""`make bench`: speed and memory figures, each against a bare baseline measured in the same run."""
