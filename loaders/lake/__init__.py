"""The raw layer as a Parquet lake (`settings.lake` in feeds.yml): a sink for the load core, and the Spark
registration of the lake's folders as raw tables."""
