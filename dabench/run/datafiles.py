"""A dataset's official files under the data root: where they are, whether they are intact, and downloading them.

Backs ``dabench data list | verify | fetch``. Checksums are sha256, streamed; downloads go to ``<file>.part``,
resume with an HTTP ``Range`` request when a partial file exists, are verified, then renamed into place atomically.
A file that is already present is never overwritten. Library code: no printing (progress goes to a callback).
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from dabench.errors import DataError
from dabench.specs import DataFile, DatasetSpec

log = logging.getLogger(__name__)

CheckStatus = Literal["ok", "unchecked", "missing", "mismatch", "downloaded"]
Progress = Callable[[str, int, int | None], None]
"""``progress(path, bytes_done, bytes_total_or_None)``, called after each chunk of a download."""
_CHUNK = 1 << 20


@dataclass(frozen=True, kw_only=True)
class FileStatus:
    """Where one official file of a dataset should be, and whether it is there."""

    file: DataFile
    path: Path
    present: bool
    size: int | None


@dataclass(frozen=True, kw_only=True)
class FileCheck:
    """The result of verifying (or fetching) one file. ``status``: ``ok`` (sha256 matches), ``unchecked`` (present,
    no published checksum), ``downloaded`` (fetched now and verified where a checksum is known), ``missing``,
    ``mismatch`` (checksum or size differs). ``message`` says what to do when something is wrong."""

    file: DataFile
    path: Path
    status: CheckStatus
    sha256: str = ""
    message: str = ""

    @property
    def good(self) -> bool:
        return self.status in ("ok", "unchecked", "downloaded") or (self.status == "missing" and self.file.optional)


def dataset_dir(spec: DatasetSpec, root: Path | str | None) -> Path:
    """The folder the dataset's files live in (``root / spec.folder``)."""
    if root is None:
        raise DataError(f"dataset {spec.name!r} needs a data root: set DABENCH_DATA or pass --data-root.")
    if not spec.folder:
        raise DataError(f"dataset {spec.name!r} reads no files (it is generated or embedded): nothing to check.")
    return Path(root) / spec.folder


def dataset_status(spec: DatasetSpec, root: Path | str | None) -> list[FileStatus]:
    """Each listed file of ``spec`` under ``root``: its expected path, presence and size on disk."""
    if not spec.folder:
        return []
    folder = dataset_dir(spec, root)
    out = []
    for file in spec.files:
        path = folder / file.path
        present = path.is_file()
        out.append(FileStatus(file=file, path=path, present=present, size=path.stat().st_size if present else None))
    return out


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_file(file: DataFile, path: Path) -> FileCheck:
    """Verify one file against its published size and sha256 (when given)."""
    if not path.is_file():
        hint = f"download it from {file.url}" if file.url else "see the dataset's homepage"
        return FileCheck(file=file, path=path, status="missing", message=f"{path} is missing; {hint}.")
    size = path.stat().st_size
    if file.size is not None and size != file.size:
        return FileCheck(
            file=file,
            path=path,
            status="mismatch",
            message=f"{path} has {size} bytes, expected {file.size}: truncated or a different version; "
            "delete it and fetch it again.",
        )
    if not file.sha256:
        return FileCheck(file=file, path=path, status="unchecked", message="no published sha256")
    actual = sha256_file(path)
    if actual != file.sha256.lower():
        return FileCheck(
            file=file,
            path=path,
            status="mismatch",
            sha256=actual,
            message=f"{path}: sha256 {actual} differs from the published {file.sha256}; delete it and fetch it again.",
        )
    return FileCheck(file=file, path=path, status="ok", sha256=actual)


def verify_dataset(spec: DatasetSpec, root: Path | str | None) -> list[FileCheck]:
    """Check every listed file of ``spec`` (sizes, and sha256 where published)."""
    if not spec.folder:
        return []
    folder = dataset_dir(spec, root)
    return [check_file(file, folder / file.path) for file in spec.files]


def fetch_dataset(
    spec: DatasetSpec,
    root: Path | str | None,
    *,
    include_optional: bool = False,
    only: Collection[str] | None = None,
    urlopen: Callable[..., Any] = urllib.request.urlopen,
    progress: Progress | None = None,
    timeout: float = 60.0,
) -> list[FileCheck]:
    """Download the dataset's missing files from their official URLs and verify them.

    Files already present are verified, never overwritten (a present file that fails verification is a
    :class:`DataError`: delete it first). ``only`` restricts to these relative paths; optional files are fetched
    only with ``include_optional``. A required file with no URL is returned as ``missing``. Raises
    :class:`DataError` on HTTP/network errors and checksum or size mismatches (the bad download is deleted).
    """
    folder = dataset_dir(spec, root)
    results = []
    for file in spec.files:
        if only is not None and file.path not in only:
            continue
        if file.optional and not include_optional and only is None:
            continue
        path = folder / file.path
        if path.exists():
            check = check_file(file, path)
            if check.status == "mismatch":
                raise DataError(f"refusing to overwrite {path}: {check.message}")
            results.append(check)
            continue
        if not file.url:
            results.append(check_file(file, path))
            continue
        results.append(download(file, path, urlopen=urlopen, progress=progress, timeout=timeout))
    return results


def download(
    file: DataFile,
    path: Path,
    *,
    urlopen: Callable[..., Any] = urllib.request.urlopen,
    progress: Progress | None = None,
    timeout: float = 60.0,
) -> FileCheck:
    """Download ``file.url`` to ``path`` via ``path.part`` (resumed with HTTP Range if it exists), verify, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    _transfer(file.url, part, urlopen=urlopen, progress=progress, timeout=timeout, label=file.path)
    check = check_file(file, part)
    if check.status == "mismatch":
        part.unlink()
        raise DataError(
            f"download of {file.url} failed verification: {check.message.replace(str(part), 'the file')} "
            "The partial download was deleted; try again, or report a changed upstream file."
        )
    os.replace(part, path)
    log.info("fetched %s -> %s", file.url, path)
    return FileCheck(
        file=file,
        path=path,
        status="downloaded",
        sha256=check.sha256,
        message="" if file.sha256 else "no published sha256",
    )


def _transfer(
    url: str, part: Path, *, urlopen: Callable[..., Any], progress: Progress | None, timeout: float, label: str
) -> None:
    """Append the rest of ``url`` to ``part`` (restarting when the server ignores or rejects the range)."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "dabench"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the partial file is not a prefix the server can continue: start over
            part.unlink()
            return _transfer(url, part, urlopen=urlopen, progress=progress, timeout=timeout, label=label)
        raise DataError(f"downloading {url} failed: HTTP {exc.code} {exc.reason}. Check the URL or try later.") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DataError(f"downloading {url} failed: {exc}. Check the network connection; rerun to resume.") from exc
    with response:
        status = getattr(response, "status", 200)
        resumed = offset > 0 and status == 206
        length = response.headers.get("Content-Length")
        total = (offset if resumed else 0) + int(length) if length and length.isdigit() else None
        done = offset if resumed else 0
        try:
            with part.open("ab" if resumed else "wb") as out:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(label, done, total)
        except (urllib.error.URLError, OSError) as exc:
            raise DataError(f"downloading {url} was interrupted after {done} bytes ({exc}); rerun to resume.") from exc
    if total is not None and done != total:
        raise DataError(f"downloading {url} ended after {done} of {total} bytes; rerun to resume.")
