"""Simon Data: a data file loads only with its control file, and only if the row counts agree."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from loaders.vendors import simon
from tests.conftest import query, run_feeds, write_config

HEADER = "identifier,timestamp,segment_name,flow_name,action,variant,operation,loyalty_tier"


def _data(folder: Path, op: str, rows: int, ext: str = "csv", seq: int = 0) -> Path:
    name = simon.data_file_name("acme", "winback", op, f"r{seq:04d}", datetime(2024, 5, 1, 12, 0, seq), ext)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if ext == "csv":
        lines = [HEADER] + [
            f"a{i}@x.com,2024-05-01 12:00:00,VIP,winback,email,,{op},gold" for i in range(rows)
        ]
        path.write_text("\n".join(lines) + "\n")
    elif ext == "tsv":
        lines = [HEADER.replace(",", "\t")] + [
            f"b{i}@x.com\t2024-05-01 12:00:00\tVIP\twinback\temail\t\t{op}\tgold" for i in range(rows)
        ]
        path.write_text("\n".join(lines) + "\n")
    else:
        docs = [
            {"identifier": f"c{i}@x.com", "timestamp": "2024-05-01 12:00:00", "operation": op}
            for i in range(rows)
        ]
        path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def _control(data_files: list[tuple[Path, int]]) -> Path:
    entries = [
        simon.ControlEntry(
            file=p.name,
            url=f"s3://vendor/simon/{p.name}",
            bucket="vendor",
            path="simon",
            rows=rows,
            flow_id="42",
            flow_name="winback",
            file_type=p.suffix.lstrip("."),
        )
        for p, rows in data_files
    ]
    first = data_files[0][0]
    target = first.parent / simon.control_file_name(first.name)
    target.write_text(json.dumps(simon.control_document(entries)))
    return target


def test_control_file_gates_and_checks_rows(tmp_path: Path, warehouse: Path) -> None:
    root = tmp_path / "simon"
    day = root / "flows" / "2024" / "05" / "01"
    cfg = write_config(
        tmp_path / "feeds.yml", [{"name": "simon", "vendor": "simon", "uri": f"file://{root}"}]
    )
    good = _data(day, "add", 3, seq=1)
    _control([(good, 3)])
    early = _data(day, "remove", 2, seq=2)  # its control file is late
    wrong = _data(day, "add", 5, seq=3)
    _control([(wrong, 4)])
    tsv = _data(day, "add", 2, "tsv", seq=4)
    jsonl = _data(day, "remove", 1, "jsonl", seq=5)
    _control([(tsv, 2), (jsonl, 1)])  # one control file for two data files

    proc = run_feeds("load", "-c", str(cfg), check=1)
    assert wrong.name in proc.stderr and "control file says 4 rows, the file has 5" in proc.stderr
    assert query(
        warehouse, "select operation, count(*) from raw.simon__flow_events group by 1 order by 1"
    ) == [
        ("add", 5),
        ("remove", 1),
    ]
    status = run_feeds("status", "-c", str(cfg), check=0).stdout
    assert early.name in status and "waiting for its control file" in status
    assert wrong.name in status and "control file says 4 rows" in status

    _control([(early, 2)])
    run_feeds("load", "-c", str(cfg), check=0)
    assert query(warehouse, "select count(*) from raw.simon__flow_events where operation = 'remove'") == [
        (3,)
    ]
    assert "waiting for its control file" not in run_feeds("status", "-c", str(cfg), check=0).stdout
    assert query(warehouse, "select count(*) from raw.simon__flow_events") == [(8,)]
