"""The APSIS One export job for one window, over an `ApsisSession`: request it, poll its status with backoff
until it is terminal, stream its file (raw gzip bytes, with the `x-apsis-auth` header) to a local path.

A window the vendor finds too large ends in status `error` (`ExportTooLarge`: the transport asks again for
two halves); an expired or refused download URL is replaced by asking the status again for a fresh one."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import urllib3
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_exponential

from ..vendors.apsis_protocol import (
    AUTH_HEADER,
    COMPLETED,
    DOWNLOAD_URL,
    HEADER_AUTH,
    MAX_ATTRIBUTES,
    MAX_TAGS,
    REPORTS_PATH,
    STATUS,
    TERMINAL,
    TOO_LARGE,
    Window,
    auth_of,
    export_request,
    iso,
    report_id_of,
    report_path,
)
from .apsis_session import ApsisError, ApsisSession, Throttled, Transient, detail, retry_after

Status = tuple[dict[str, Any], str | None]  # a status answer and its x-apsis-auth value, if any


class ExportTooLarge(ApsisError):
    """The export ended in status `error`: [doc] retry with a smaller data subset."""


@dataclass(frozen=True)
class Downloaded:
    path: Path
    size: int
    sha256: str


def _status(answer: dict[str, Any]) -> str:
    return str(answer.get(STATUS)).lower()


class ApsisClient(ApsisSession):
    """One account's API session that runs export jobs. Thread-safe: jobs run in parallel sharing one token."""

    def request_export(self, window: Window, attributes: Sequence[str], tags: Sequence[str]) -> str:
        body = export_request(window, attributes, tags)
        label = f"{iso(window[0])}..{iso(window[1])}"

        def attempt() -> str:
            resp = self.api("POST", REPORTS_PATH, json=body)
            if resp.status_code == 429:
                raise Throttled(f"export {label}: too many exports pending", retry_after(resp))
            if resp.status_code >= 500:
                raise Transient(f"export {label}: {detail(resp)}", retry_after(resp))
            if resp.status_code == 401:
                raise ApsisError(
                    f"{self.base_url}: export {label}: token refused three times ({detail(resp)})"
                )
            if resp.status_code >= 400:
                raise ApsisError(
                    f"{self.base_url}: export {label} refused ({detail(resp)}); check the feed's api.attributes"
                    f" (at most {MAX_ATTRIBUTES}), api.tags (at most {MAX_TAGS}) and api.max_window_days"
                    " (at most 90)"
                )
            report_id = report_id_of(resp.json())
            if not report_id:
                raise ApsisError(f"{self.base_url}: export {label}: the answer carries no report id")
            return report_id

        return self.run(f"request export {label}", attempt)

    def status(self, report_id: str) -> Status:
        """One status answer (retried on transient failures), with its x-apsis-auth value if any."""

        def attempt() -> Status:
            resp = self.api("GET", report_path(report_id), params={HEADER_AUTH: "true"})
            if resp.status_code == 429 or resp.status_code >= 500:
                raise Transient(f"report {report_id}: {detail(resp)}", retry_after(resp))
            if resp.status_code != 200:
                raise ApsisError(f"{self.base_url}: report {report_id}: {detail(resp)}")
            answer = resp.json()
            return answer, auth_of(resp.headers, answer)

        return self.run(f"status of report {report_id}", attempt)

    def wait(self, report_id: str) -> Status:
        """Poll until the report is no longer pending, backing off from poll_interval up to 15 times it."""
        poller = Retrying(
            retry=retry_if_result(lambda r: _status(r[0]) not in TERMINAL),
            wait=wait_exponential(
                multiplier=self.poll_interval,
                min=self.poll_interval,
                max=self.poll_interval * 15,
                exp_base=1.5,
            ),
            stop=stop_after_delay(self.max_wait),
        )
        try:
            return poller(self.status, report_id)
        except RetryError as exc:
            answer = exc.last_attempt.result()[0]
            raise ApsisError(
                f"{self.base_url}: report {report_id} still {answer.get(STATUS)!r} after {self.max_wait:.0f}s; "
                "the next run asks again"
            ) from None

    def download(self, report_id: str, answer: dict[str, Any], auth: str | None, dest: Path) -> Downloaded:
        """Stream the file; an expired or refused URL is replaced by asking the status again."""
        current: Status = (answer, auth)
        fresh = True

        def attempt() -> Downloaded:
            nonlocal current, fresh
            if not fresh:
                current = self.status(report_id)
            fresh = False
            now, now_auth = current
            if _status(now) != COMPLETED:
                raise ApsisError(f"{self.base_url}: report {report_id} is {now.get(STATUS)!r}, not completed")
            url = now.get(DOWNLOAD_URL)
            if not url:
                raise ApsisError(
                    f"{self.base_url}: report {report_id} is completed but has no {DOWNLOAD_URL}"
                )
            # the URL may point at storage on another host: it gets the x-apsis-auth value, never our token
            headers = {AUTH_HEADER: now_auth} if now_auth else {}
            resp = self.send("GET", url, headers=headers, stream=True)
            with resp:
                if resp.status_code in (401, 403, 404, 410):
                    raise Transient(
                        f"report {report_id}: download refused ({detail(resp)}); asking for a fresh URL", 0.0
                    )
                if resp.status_code == 429 or resp.status_code >= 500:
                    raise Transient(f"report {report_id}: download {detail(resp)}", retry_after(resp))
                if resp.status_code != 200:
                    raise ApsisError(f"{self.base_url}: report {report_id}: download {detail(resp)}")
                return _stream(resp, dest, report_id)

        # a URL refused again and again is not going to work: a few fresh URLs, then the next run asks anew
        return self.run(f"download report {report_id}", attempt, attempts=6)

    def export(
        self, window: Window, attributes: Sequence[str], tags: Sequence[str], dest: Path
    ) -> Downloaded:
        report_id = self.request_export(window, attributes, tags)
        answer, auth = self.wait(report_id)
        status = _status(answer)
        if status in TOO_LARGE:
            raise ExportTooLarge(
                f"{self.base_url}: export {iso(window[0])}..{iso(window[1])} ended in {status!r}"
            )
        if status != COMPLETED:
            raise ApsisError(f"{self.base_url}: report {report_id} ended {status!r}; the next run asks again")
        return self.download(report_id, answer, auth, dest)


def _stream(resp: requests.Response, dest: Path, report_id: str) -> Downloaded:
    """The response body to `dest` as it comes, raw: the file is gzip by content, not by Content-Encoding,
    and must stay so. A cut connection is transient (the download is asked again)."""
    digest = hashlib.sha256()
    size = 0
    try:
        with open(dest, "wb") as out:
            for chunk in resp.raw.stream(1 << 20, decode_content=False):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
    except (requests.RequestException, urllib3.exceptions.HTTPError, ConnectionError) as exc:
        raise Transient(f"report {report_id}: download cut ({type(exc).__name__})") from None
    return Downloaded(dest, size, digest.hexdigest())
