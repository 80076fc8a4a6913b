"""Register the lake's raw folders as Spark tables: `python -m loaders.lake.register --lake URI [dbt args]`.

Lists `<lake>/raw/<table>/` (file:// or s3://) and runs the project's `register_lake_tables` macro through
`dbt run-operation` on the chosen target, so it works wherever dbt reaches Spark (the local session, a thrift
server, Databricks). With `--dbt build` (or run, test ...) the tables are registered by that command's
on-run-start hook instead, in the same Spark session as the build (one session start, not two). The Spark
path of an s3:// lake is s3a:// (Hadoop's S3 connector on the cluster).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from ..warehouse import RAW_SCHEMA

_TABLE = re.compile(r"^[a-z0-9_]+$")


def lake_tables(location: str, endpoint_url: str | None = None) -> list[str]:
    """The raw tables that have at least one Parquet object in the lake."""
    parsed = urlparse(location)
    if parsed.scheme == "file":
        root = Path(parsed.path) / RAW_SCHEMA
        if not root.is_dir():
            return []
        return sorted(
            d.name
            for d in root.iterdir()
            if d.is_dir()
            and _TABLE.match(d.name)
            and any(p.name[0] not in "._" for p in d.rglob("*.parquet"))
        )
    from ..transports.s3 import s3_client

    client = s3_client(endpoint_url)
    prefix = "/".join(p for p in (parsed.path.strip("/"), RAW_SCHEMA) if p) + "/"
    found: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=parsed.netloc, Prefix=prefix):
        for item in page.get("Contents", []):
            table = item["Key"][len(prefix) :].split("/", 1)[0]
            if _TABLE.match(table) and item["Key"].endswith(".parquet"):
                found.add(table)
    return sorted(found)


def spark_path(location: str) -> str:
    """The lake as Spark's Hadoop file systems name it."""
    parsed = urlparse(location)
    if parsed.scheme == "s3":
        return "s3a://" + location[len("s3://") :]
    return location


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loaders.lake.register", description=__doc__)
    parser.add_argument("--lake", required=True, help="file:///path or s3://bucket/prefix")
    parser.add_argument("--endpoint-url", help="S3 endpoint, for a lake outside AWS")
    parser.add_argument(
        "--dbt", metavar="COMMAND", help="register in this dbt command's run (build, run ...)"
    )
    args, dbt_args = parser.parse_known_args(argv)
    tables = lake_tables(args.lake, args.endpoint_url)
    if not tables:
        print(
            f"{args.lake}: no raw tables in the lake yet (nothing under {RAW_SCHEMA}/); run feeds load first"
        )
        return 1
    dbt = Path(sys.executable).with_name("dbt")
    if args.dbt:
        lake_vars = json.dumps(
            {"engagement__lake_location": spark_path(args.lake), "engagement__lake_tables": tables}
        )
        cmd = [str(dbt), args.dbt, "--vars", lake_vars, *dbt_args]
    else:
        operation_args = json.dumps({"location": spark_path(args.lake), "tables": tables})
        cmd = [str(dbt), "run-operation", "register_lake_tables", "--args", operation_args, *dbt_args]
    return subprocess.run(cmd).returncode


if __name__ == "__main__":
    raise SystemExit(main())
