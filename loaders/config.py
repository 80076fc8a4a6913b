"""`feeds.yml`: the user's contract. Validated on start; every problem names the feed and the key."""

from __future__ import annotations

import difflib
import os
import posixpath
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

VENDORS = ("sailthru", "simon", "apsis", "encharge", "leanplum")
# the schemes a transport exists for (loaders/transports/); any other is refused at validation
SCHEMES = ("file", "s3", "sftp", "apsis")
DEFAULT_DUCKDB = "warehouse/engagement.duckdb"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(Exception):
    """Problems in feeds.yml or its environment: one line each, naming the feed and the key."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class S3Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None  # a named profile of the AWS chain; keys never appear here
    max_attempts: int = Field(default=8, ge=1)  # per request (botocore) and per download (resumed body)


class SFTPOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    known_hosts: str = "~/.ssh/known_hosts"
    key_file: str | None = None
    password_env: str | None = None  # name of the environment variable holding the password
    timeout: float = 30.0


class APIOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str
    client_id_env: str
    client_secret_env: str
    start_at: str | None = None  # first window start (ISO date) when nothing was loaded yet
    attributes: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    poll_interval: float = 2.0
    max_window_days: int = 90
    until: str | None = None  # last window end (ISO); default now. For deterministic demos and tests
    # each new window starts this long before the end of the windows loaded, so events APSIS files late are
    # read again (their duplicates collapse in the mart on correlation_id + type); 0 turns it off
    overlap_hours: float = Field(default=48.0, ge=0)
    # a window ends this long before now: events still being filed are left to the next run
    settle_minutes: float = Field(default=60.0, ge=0)


class Feed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    vendor: Literal["sailthru", "simon", "apsis", "encharge", "leanplum"]
    uri: str
    format: Literal["auto", "csv", "tsv", "json", "jsonl", "parquet"] = "auto"
    s3: S3Options = Field(default_factory=S3Options)
    sftp: SFTPOptions = Field(default_factory=SFTPOptions)
    api: APIOptions | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    hash_emails: bool = False  # hash clear-text e-mail columns at load, so raw holds no clear text either
    # more columns to hash when hash_emails is on, beyond the vendor's known ones: `col` or `col.json_key`
    email_columns: list[str] = Field(default_factory=list)
    max_decompressed_bytes: int | None = Field(default=None, gt=0)  # overrides settings for this feed
    max_batch_bytes: int = Field(default=1_000_000_000, ge=1)
    max_batch_files: int = Field(default=500, ge=1)
    # globs (relative to the uri; `**` spans folders; no `/`: a name in any folder) of files to skip on
    # purpose; any other file the vendor's layout does not claim is reported as unrecognized (exit 1)
    ignore: list[str] = Field(default_factory=list)

    @field_validator("uri")
    @classmethod
    def _check_uri(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in SCHEMES:
            raise ValueError(
                f"no transport for {parsed.scheme or '(no scheme)'}:// in {value!r};"
                f" use one of {', '.join(s + '://' for s in SCHEMES)}"
            )
        if parsed.scheme in ("s3", "sftp") and not parsed.netloc:
            raise ValueError(f"{parsed.scheme}:// needs a host or bucket: {value!r}")
        if parsed.scheme == "file" and not parsed.path:
            raise ValueError(f"file:// needs a path: {value!r}")
        return value

    @property
    def scheme(self) -> str:
        return urlparse(self.uri).scheme


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    duckdb: str | None = None
    memory_limit: str = "1GB"
    threads: int | None = Field(default=None, ge=1)
    parallel_batches: int | None = Field(
        default=None, ge=1
    )  # batches loaded at once, each in its own transaction; default: cores
    quarantine_retry: bool = False
    # a file larger than this once decompressed is quarantined unread (gzip bombs, runaway exports)
    max_decompressed_bytes: int = Field(default=100_000_000_000, gt=0)
    # longest CSV line the tolerant second pass accepts (the first pass stops at DuckDB's 2 MB default)
    max_line_bytes: int = Field(default=64 << 20, ge=1 << 20)
    # a gzip file may inflate to this many times its size (at least max_decompressed_floor), within the above
    max_decompressed_ratio: int = Field(default=100, ge=1)
    max_decompressed_floor: int = Field(default=64 << 20, ge=0)
    max_header_bytes: int = Field(default=1 << 20, ge=1024)  # a first line longer than this is no header
    max_columns: int = Field(default=5000, ge=1)  # a header with more columns quarantines its file
    # the raw layer as Parquet objects under file:///path or s3://bucket/prefix instead of DuckDB's raw
    # tables (the ledger stays in the DuckDB file); see loaders/lake/sink.py
    lake: str | None = None
    lake_endpoint_url: str | None = None
    lake_region: str | None = None

    @field_validator("lake")
    @classmethod
    def _check_lake(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parsed = urlparse(value)
        if parsed.scheme not in ("file", "s3") or not (
            parsed.netloc if parsed.scheme == "s3" else parsed.path
        ):
            raise ValueError(f"lake must be file:///path or s3://bucket/prefix; got {value!r}")
        return value

    @field_validator("memory_limit")
    @classmethod
    def _check_memory_limit(cls, value: str) -> str:
        if not _MEMORY.match(value.strip()):
            raise ValueError(f"{value!r} is not a size; write e.g. 2GB, 512MB or 80%")
        return value.strip()


_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(%|B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|K|M|G|T)$", re.IGNORECASE)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    settings: Settings = Field(default_factory=Settings)
    feeds: list[Feed]

    def feed(self, name: str) -> Feed:
        for feed in self.feeds:
            if feed.name == name:
                return feed
        raise ConfigError(f"feed {name!r}: not in the configuration (known: {', '.join(self.names())})")

    def names(self) -> list[str]:
        return [f.name for f in self.feeds]

    @property
    def duckdb_path(self) -> Path:
        return Path(os.environ.get("ENGAGEMENT_DUCKDB") or self.settings.duckdb or DEFAULT_DUCKDB)


def _expand(value: Any, label: str, problems: list[str], key: str = "") -> Any:
    """Replace ${VAR} by the environment variable; a missing one is a configuration error."""
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            var = match.group(1)
            if var not in os.environ:
                problems.append(f"{label}: key {key!r}: environment variable {var} is not set")
                return match.group(0)
            return os.environ[var]

        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand(v, label, problems, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, label, problems, f"{key}[{i}]") for i, v in enumerate(value)]
    return value


def _feed_label(raw: Any, index: int) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("name"), str):
        return f"feed {raw['name']!r}"
    return f"feed #{index + 1}"


def _model_at(loc: list[Any]) -> type[BaseModel] | None:
    """The model whose fields are valid at this location (for suggesting a misspelled key)."""
    model: Any = Config
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if model else None
        if field is None:
            return None
        ann = field.annotation
        candidates = [ann, *getattr(ann, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return None
    return model


def _describe(err: Any, feeds_raw: list[Any], source: str) -> str:
    loc = list(err["loc"])
    if loc and loc[0] == "feeds" and len(loc) > 1 and isinstance(loc[1], int):
        label = _feed_label(feeds_raw[loc[1]], loc[1])
        key = ".".join(str(p) for p in loc[2:]) or "(feed)"
    else:
        label, key = source, ".".join(str(p) for p in loc)
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        model = _model_at(loc[:-1])
        valid = list(model.model_fields) if model else []
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
        message = "unknown key" + (
            f"; did you mean {close[0]!r}?" if close else f" (valid: {', '.join(valid)})"
        )
    elif err["type"] == "missing":
        message = "required key is missing"
    elif message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return f"{label}: key {key!r}: {message}"


def parse_config(data: Any, source: str = "feeds.yml") -> Config:
    """Validate everything and raise one ConfigError listing every problem found, one line each."""
    if not isinstance(data, dict) or not isinstance(data.get("feeds"), list):
        raise ConfigError(f"{source}: expected a mapping with a 'feeds:' list")
    problems: list[str] = []
    feeds_raw = data["feeds"]
    expanded_feeds = [_expand(f, _feed_label(f, i), problems) for i, f in enumerate(feeds_raw)]
    settings = _expand(data.get("settings") or {}, source, problems, "settings")
    try:
        config = Config.model_validate({**data, "settings": settings, "feeds": expanded_feeds})
    except ValidationError as exc:
        problems += [_describe(err, feeds_raw, source) for err in exc.errors()]
        raise ConfigError(*problems) from None
    seen: set[str] = set()
    locations: dict[str, str] = {}
    for feed in config.feeds:
        if feed.name in seen:
            problems.append(f"feed {feed.name!r}: key 'name': used by two feeds")
        seen.add(feed.name)
        problems += _check_references(feed)
        where = location_key(feed.uri)
        for other, there in locations.items():
            if where == there or where.startswith(there + "/") or there.startswith(where + "/"):
                problems.append(
                    f"feed {feed.name!r}: key 'uri': {feed.uri} is the location of feed {other!r} (or inside "
                    "it); two feeds over one folder would load its files twice"
                )
        locations[feed.name] = where
    problems += _check_warehouse(config, source)
    if problems:
        raise ConfigError(*problems)
    return config


def _check_warehouse(config: Config, source: str) -> list[str]:
    from .warehouse import check_path

    problem = check_path(config.duckdb_path)
    if not problem:
        return []
    where = "environment variable ENGAGEMENT_DUCKDB" if os.environ.get("ENGAGEMENT_DUCKDB") else source
    return [f"{where}: key 'settings.duckdb': {config.duckdb_path}: {problem}"]


def location_key(uri: str) -> str:
    """A feed's location, one spelling for one place: a local path resolved (`a/../a`, symlinks), a remote
    URI's scheme and host lower-cased, its path normalised, no trailing slash."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return "file://" + os.path.realpath(unquote(parsed.path)).rstrip("/")
    path = posixpath.normpath(unquote(parsed.path) or "/").rstrip("/")
    return f"{parsed.scheme}://{parsed.netloc.lower()}{path}"


def _check_references(feed: Feed) -> list[str]:
    """Secrets are referenced by environment variable name; the variable must exist now, not mid-run."""
    problems = []
    refs: list[tuple[str, str | None]] = [("sftp.password_env", feed.sftp.password_env)]
    if feed.api is not None:
        refs += [
            ("api.client_id_env", feed.api.client_id_env),
            ("api.client_secret_env", feed.api.client_secret_env),
        ]
    for key, var in refs:
        if var and var not in os.environ:
            problems.append(f"feed {feed.name!r}: key {key!r}: environment variable {var} is not set")
    if feed.sftp.key_file and feed.scheme == "sftp":
        path = Path(os.path.expanduser(feed.sftp.key_file))
        if not path.is_file():
            problems.append(f"feed {feed.name!r}: key 'sftp.key_file': no such file {path}")
    if feed.scheme == "apsis" and feed.api is None:
        problems.append(f"feed {feed.name!r}: key 'api': an apsis:// feed needs an api: block")
    return problems


def load_config(path: str | os.PathLike[str]) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file (pass --config PATH)") from None
    except IsADirectoryError:
        raise ConfigError(
            f"{path}: is a folder, not a configuration file (pass --config PATH/feeds.yml)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the configuration: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_config(data, str(path))
