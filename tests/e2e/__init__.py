"""End to end: the commands as a user runs them (`feeds` as a subprocess, dbt builds, the demo, Spark, the browser)."""
