"""Unit tier (`make test-fast`): no servers, no dbt, no subprocess of the CLI; seconds."""
