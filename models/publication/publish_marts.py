"""Publish the marts from dbt's own run: the serving file and its Parquet written in full and swapped in (as
`feeds publish` does, loaders/publish.py), once every mart is built and, in `dbt build`, tested. One row
records what was published. Switch off with --vars '{publish_marts: false}'; never on Spark."""

from loaders.publish import publish_in_dbt


def model(dbt, session):
    dbt.config(materialized="table")
    dbt.ref("publish_inputs")  # every published model, so this runs after all of them (and their tests)
    return publish_in_dbt(session)
