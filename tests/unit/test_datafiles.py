"""dabench.run.datafiles: status, verification and resumable, verified downloads — against a local HTTP server only."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dabench import DataError, DataFile, DatasetSpec, DatasetSplits, LoadContext
from dabench.run.datafiles import dataset_status, fetch_dataset, sha256_file, verify_dataset

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class RangeHandler(SimpleHTTPRequestHandler):
    """Serves the directory given to the server; honours ``Range: bytes=N-`` with 206; records every request."""

    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.headers.get("Range")))  # type: ignore[attr-defined]
        path = Path(self.server.directory) / self.path.lstrip("/")  # type: ignore[attr-defined]
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        header = self.headers.get("Range")
        if header and header.startswith("bytes=") and header.endswith("-"):
            start = int(header[len("bytes=") : -1])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadingHTTPServer]:
    served = tmp_path / "served"
    served.mkdir()
    (served / "blob.bin").write_bytes(PAYLOAD)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    httpd.directory = str(served)  # type: ignore[attr-defined]
    httpd.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(server: ThreadingHTTPServer, name: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/{name}"


def _spec(*files: DataFile) -> DatasetSpec:
    def load(ctx: LoadContext) -> DatasetSplits:
        raise AssertionError("not loaded in these tests")

    return DatasetSpec(
        name="toyfiles",
        load=load,
        num_classes=2,
        input_shape=(1, 4, 4),
        license="CC0",
        homepage="https://example.org",
        folder="toy",
        files=files,
    )


def test_status_and_verify(tmp_path: Path) -> None:
    spec = _spec(
        DataFile(path="a.bin", sha256=SHA),
        DataFile(path="b.bin", sha256="0" * 64),
        DataFile(path="c.bin"),
        DataFile(path="d.bin", optional=True),
    )
    (tmp_path / "toy").mkdir()
    for name, data in (("a.bin", PAYLOAD), ("b.bin", b"x"), ("c.bin", b"y")):
        (tmp_path / "toy" / name).write_bytes(data)
    status = {s.file.path: s for s in dataset_status(spec, tmp_path)}
    assert status["a.bin"].present and status["a.bin"].size == len(PAYLOAD)
    assert not status["d.bin"].present and status["d.bin"].size is None
    checks = {c.file.path: c for c in verify_dataset(spec, tmp_path)}
    assert [checks[n].status for n in ("a.bin", "b.bin", "c.bin", "d.bin")] == [
        "ok",
        "mismatch",
        "unchecked",
        "missing",
    ]
    assert checks["a.bin"].sha256 == SHA and checks["a.bin"].good and checks["d.bin"].good
    assert not checks["b.bin"].good and "delete it" in checks["b.bin"].message
    assert sha256_file(tmp_path / "toy" / "a.bin") == SHA


def test_size_mismatch_is_reported(tmp_path: Path) -> None:
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "a.bin").write_bytes(PAYLOAD[:10])
    (check,) = verify_dataset(_spec(DataFile(path="a.bin", size=len(PAYLOAD))), tmp_path)
    assert check.status == "mismatch" and "10 bytes" in check.message


def test_fetch_downloads_and_verifies(tmp_path: Path, server: ThreadingHTTPServer) -> None:
    seen: list[tuple[str, int, int | None]] = []
    spec = _spec(DataFile(path="sub/blob.bin", url=_url(server, "blob.bin"), sha256=SHA))
    (check,) = fetch_dataset(spec, tmp_path / "root", progress=lambda *a: seen.append(a))
    target = tmp_path / "root" / "toy" / "sub" / "blob.bin"
    assert check.status == "downloaded" and target.read_bytes() == PAYLOAD
    assert not target.with_name("blob.bin.part").exists()
    assert seen[-1] == ("sub/blob.bin", len(PAYLOAD), len(PAYLOAD))
    # A second fetch verifies the good file and does not download it again.
    (again,) = fetch_dataset(spec, tmp_path / "root")
    assert again.status == "ok" and len(server.requests) == 1  # type: ignore[attr-defined]


def test_fetch_resumes_a_partial_download(tmp_path: Path, server: ThreadingHTTPServer) -> None:
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "blob.bin.part").write_bytes(PAYLOAD[:300_000])
    (check,) = fetch_dataset(_spec(DataFile(path="blob.bin", url=_url(server, "blob.bin"), sha256=SHA)), tmp_path)
    assert check.status == "downloaded" and (folder / "blob.bin").read_bytes() == PAYLOAD
    assert server.requests == [("/blob.bin", "bytes=300000-")]  # type: ignore[attr-defined]


def test_fetch_restarts_when_the_partial_file_is_complete_or_too_long(
    tmp_path: Path, server: ThreadingHTTPServer
) -> None:
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "blob.bin.part").write_bytes(PAYLOAD + b"junk")
    (check,) = fetch_dataset(_spec(DataFile(path="blob.bin", url=_url(server, "blob.bin"), sha256=SHA)), tmp_path)
    assert check.status == "downloaded" and (folder / "blob.bin").read_bytes() == PAYLOAD


def test_checksum_mismatch_is_a_data_error_and_leaves_nothing(tmp_path: Path, server: ThreadingHTTPServer) -> None:
    spec = _spec(DataFile(path="blob.bin", url=_url(server, "blob.bin"), sha256="f" * 64))
    with pytest.raises(DataError, match=r"failed verification"):
        fetch_dataset(spec, tmp_path)
    assert not (tmp_path / "toy" / "blob.bin").exists() and not (tmp_path / "toy" / "blob.bin.part").exists()


def test_http_error_is_a_data_error(tmp_path: Path, server: ThreadingHTTPServer) -> None:
    spec = _spec(DataFile(path="nope.bin", url=_url(server, "nope.bin")))
    with pytest.raises(DataError, match=r"HTTP 404"):
        fetch_dataset(spec, tmp_path)
    assert not (tmp_path / "toy" / "nope.bin").exists()


def test_refuses_to_overwrite_a_bad_present_file(tmp_path: Path, server: ThreadingHTTPServer) -> None:
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "blob.bin").write_bytes(b"local edit")
    spec = _spec(DataFile(path="blob.bin", url=_url(server, "blob.bin"), sha256=SHA))
    with pytest.raises(DataError, match=r"refusing to overwrite"):
        fetch_dataset(spec, tmp_path)
    assert (tmp_path / "toy" / "blob.bin").read_bytes() == b"local edit"
    assert server.requests == []  # type: ignore[attr-defined]


def test_optional_and_urlless_files(tmp_path: Path, server: ThreadingHTTPServer) -> None:
    spec = _spec(DataFile(path="blob.bin", url=_url(server, "blob.bin"), optional=True), DataFile(path="manual.tar"))
    (manual,) = fetch_dataset(spec, tmp_path)
    assert manual.status == "missing" and not manual.good and "homepage" in manual.message
    checks = fetch_dataset(spec, tmp_path, only=["blob.bin"])
    assert [c.status for c in checks] == ["downloaded"] and checks[0].message == "no published sha256"


def test_needs_a_root_and_a_folder() -> None:
    with pytest.raises(DataError, match=r"DABENCH_DATA"):
        verify_dataset(_spec(DataFile(path="a")), None)
    spec = DatasetSpec(
        name="gen",
        load=lambda ctx: None,
        num_classes=1,
        input_shape=(1, 2, 2),  # type: ignore[arg-type]
        license="CC0",
        homepage="https://example.org",
    )
    assert dataset_status(spec, Path("/nonexistent")) == [] and verify_dataset(spec, None) == []
