"""`evalsuite prepare`: downloads against a local HTTP server (Range, truncated transfers,
servers that ignore Range) and a fake hub (a monkeypatched ``snapshot_download`` copying
from a fixture folder); never the network. Oracles: hashlib on the served bytes, the
benchmark loaders reading the prepared folder, the request log of the server."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import zipfile
from fnmatch import fnmatch
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evalsuite.cli import app
from evalsuite.commands.prepare import MANIFEST, ChecksumMismatch, http_download

runner = CliRunner()


class Server:
    """A local file server: Range support, and faults to inject per path."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.drop_after: dict[str, int] = {}  # path -> bytes sent before cutting (once)
        self.ignore_range: set[str] = set()
        self.log: list[tuple[str, str | None]] = []  # (path, Range header)
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                srv.log.append((self.path, rng))
                path = self.path.split("?", 1)[0]  # a signed URL's query is not the file
                body = srv.files.get(path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if rng and path not in srv.ignore_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                chunk = body[start:]
                self.send_header("Content-Length", str(len(chunk)))
                self.end_headers()
                cut = srv.drop_after.pop(path, None)
                self.wfile.write(chunk if cut is None else chunk[:cut])
                if cut is not None:
                    self.wfile.flush()
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def add(self, path: str, data: bytes) -> str:
        self.files[path] = data
        return self.url + path


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()


def _blob(n: int, seed: int = 0) -> bytes:
    return hashlib.sha256(str(seed).encode()).digest() * (n // 32) + b"x" * (n % 32)


# --- HTTP ----------------------------------------------------------------------------------------

def test_resume_from_a_partial_file_uses_range(server, tmp_path):
    data = _blob(300_000)
    url = server.add("/a.bin", data)
    dest = tmp_path / "a.bin"
    (tmp_path / "a.bin.part").write_bytes(data[:120_000])  # an earlier, interrupted transfer
    digest = http_download(url, dest)
    assert dest.read_bytes() == data and digest == hashlib.sha256(data).hexdigest()
    assert server.log == [("/a.bin", "bytes=120000-")]
    assert not (tmp_path / "a.bin.part").exists()


def test_truncated_transfer_is_resumed(server, tmp_path):
    data = _blob(500_000, 1)
    url = server.add("/b.bin", data)
    server.drop_after["/b.bin"] = 200_000  # the connection dies after 200 kB
    http_download(url, tmp_path / "b.bin")
    assert (tmp_path / "b.bin").read_bytes() == data
    assert server.log == [("/b.bin", None), ("/b.bin", "bytes=200000-")]


def test_server_ignoring_range_restarts_the_file(server, tmp_path):
    data = _blob(100_000, 2)
    url = server.add("/c.bin", data)
    server.ignore_range.add("/c.bin")
    (tmp_path / "c.bin.part").write_bytes(b"stale bytes of another version")
    http_download(url, tmp_path / "c.bin")
    assert (tmp_path / "c.bin").read_bytes() == data  # not appended to the stale prefix


def test_complete_partial_file_answers_416(server, tmp_path):
    data = _blob(10_000, 3)
    url = server.add("/d.bin", data)
    (tmp_path / "d.bin.part").write_bytes(data)
    http_download(url, tmp_path / "d.bin")
    assert (tmp_path / "d.bin").read_bytes() == data


def test_torch_hub_name_checksum(server, tmp_path):
    data = _blob(50_000, 4)
    good = hashlib.sha256(data).hexdigest()[:8]
    http_download(server.add(f"/w-{good}.pth", data), tmp_path / "w.pth")
    assert (tmp_path / "w.pth").read_bytes() == data
    # a corrupted partial file completes to the wrong bytes: detected, deleted, not installed
    url = server.add("/v-00000000.pth", data)
    with pytest.raises(ChecksumMismatch, match="does not start with the 00000000"):
        http_download(url, tmp_path / "v.pth")
    assert not (tmp_path / "v.pth").exists() and not (tmp_path / "v.pth.part").exists()


# --- a whole benchmark: fake hub + local URLs ----------------------------------------------------

@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """repo id -> folder; snapshot_download copies the files matching allow_patterns."""
    repos: dict[str, Path] = {}
    calls: list[dict] = []

    def snapshot_download(repo_id, *, repo_type=None, revision=None, allow_patterns=None,
                          local_dir=None, **kw):
        calls.append({"repo_id": repo_id, "repo_type": repo_type, "revision": revision,
                      "allow_patterns": allow_patterns})
        src = repos[repo_id]
        for f in sorted(src.rglob("*")):
            rel = f.relative_to(src).as_posix()
            if f.is_file() and (not allow_patterns or any(fnmatch(rel, p)
                                                          for p in allow_patterns)):
                dest = Path(local_dir) / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, dest)
        return local_dir

    def repo_info(self, repo_id, *, repo_type=None, revision=None, timeout=None, **kw):
        if repo_id not in repos:
            from huggingface_hub.errors import RepositoryNotFoundError
            raise RepositoryNotFoundError(f"{repo_id} is not on the fake hub")
        return {"id": repo_id}

    import huggingface_hub
    import huggingface_hub.constants as C
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(huggingface_hub.HfApi, "repo_info", repo_info)
    monkeypatch.setattr(C, "HF_HUB_OFFLINE", False)  # the fake hub is reachable
    return repos, calls


def _genai_video_repo(root: Path, server: Server) -> dict[str, bytes]:
    """A GenAI-Bench video_generation parquet in the hub schema; video cells are URLs on the
    local server (with a query string, as signed URLs have)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    videos = {f"clip{i}.mp4": _blob(40_000 + i, 10 + i) for i in range(4)}
    urls = {n: server.add(f"/videos/{n}", b) + "?sig=1" for n, b in videos.items()}
    rows = {"prompt": ["a cat", "a dog", "a cow"], "left_model": ["m1", "m2", "m1"],
            "left_video": [urls["clip0.mp4"], urls["clip1.mp4"], urls["clip2.mp4"]],
            "right_model": ["m2", "m1", "m3"],
            "right_video": [urls["clip1.mp4"], urls["clip2.mp4"], urls["clip3.mp4"]],
            "vote_type": ["leftvote", "tievote", "rightvote"]}
    (root / "video_generation").mkdir(parents=True)
    pq.write_table(pa.table(rows), root / "video_generation" / "test-00000-of-00001.parquet")
    (root / "image_generation").mkdir()
    (root / "image_generation" / "test-00000-of-00001.parquet").write_bytes(b"not fetched")
    return videos


def test_genai_bench_video_end_to_end(server, fake_hub, tmp_path):
    repos, calls = fake_hub
    repos["TIGER-Lab/GenAI-Bench"] = tmp_path / "hub"
    videos = _genai_video_repo(tmp_path / "hub", server)
    server.drop_after["/videos/clip2.mp4"] = 1000  # one transfer is cut and resumed
    out = tmp_path / "data"
    r = runner.invoke(app, ["prepare", "--bench", "genai-bench-video", "--out", str(out),
                            "--no-progress"])
    assert r.exit_code == 0, r.output
    root = out / "genai-bench-video"
    assert f"--data-path {root}" in r.output
    assert calls == [{"repo_id": "TIGER-Lab/GenAI-Bench", "repo_type": "dataset",
                      "revision": None, "allow_patterns": ["video_generation/*"]}]
    assert not (root / "image_generation").exists()
    for name, data in videos.items():  # the loader's layout, the served bytes
        assert (root / "video_generation" / "videos" / name).read_bytes() == data
    assert ("/videos/clip2.mp4?sig=1", "bytes=1000-") in server.log
    manifest = json.loads((root / MANIFEST).read_text())
    for name, data in videos.items():
        entry = manifest["files"][f"video_generation/videos/{name}"]
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    src = manifest["sources"][0]
    assert src["revision"] == "main" and src["pinned"] is False

    # The project's own loader reads the prepared folder; every video resolves.
    from evalsuite.benchmarks.genai_bench import GenAIBench
    from evalsuite.media import resolve
    items = list(GenAIBench(config="video_generation").load(str(root), "test"))
    assert [it.label.value for it in items] == ["A", "tie", "B"]
    for it in items:
        for c in (it.a, it.b):
            assert resolve(c.media).read_bytes() == videos[c.media.path]

    # Re-run: verified against the manifest, nothing fetched, the hub not asked.
    n_log, n_calls = len(server.log), len(calls)
    r = runner.invoke(app, ["prepare", "--bench", "genai-bench-video", "--out", str(out),
                            "--no-progress"])
    assert r.exit_code == 0 and "nothing to fetch" in r.output
    assert len(server.log) == n_log and len(calls) == n_calls

    # A file changed on disk: detected; --repair re-fetches it.
    victim = root / "video_generation" / "videos" / "clip3.mp4"
    victim.write_bytes(b"corrupted")
    r = runner.invoke(app, ["prepare", "--bench", "genai-bench-video", "--out", str(out),
                            "--no-progress"])
    assert r.exit_code == 1 and "differ from prepare-manifest.json" in r.output
    assert "clip3.mp4" in r.output
    r = runner.invoke(app, ["prepare", "--bench", "genai-bench-video", "--out", str(out),
                            "--repair", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert victim.read_bytes() == videos["clip3.mp4"]


def test_revision_is_passed_to_the_hub_and_recorded(fake_hub, tmp_path):
    repos, calls = fake_hub
    repo = tmp_path / "hub"
    (repo / "data").mkdir(parents=True)
    (repo / "data" / "test-00000-of-00001.parquet").write_bytes(b"rows")
    (repo / "README.md").write_text("card")
    repos["MMInstruction/VL-RewardBench"] = repo
    sha = "0123456789abcdef0123456789abcdef01234567"
    r = runner.invoke(app, ["prepare", "--bench", "vlrewardbench", "--out", str(tmp_path / "d"),
                            "--revision", sha, "--no-progress"])
    assert r.exit_code == 0, r.output
    assert calls[0]["revision"] == sha and calls[0]["allow_patterns"] == ["data/*"]
    m = json.loads((tmp_path / "d" / "vlrewardbench" / MANIFEST).read_text())
    assert m["sources"][0]["revision"] == sha and m["sources"][0]["pinned"] is True
    assert list(m["files"]) == ["data/test-00000-of-00001.parquet"]
    # another revision is another source: fetched again, not "up to date"
    r = runner.invoke(app, ["prepare", "--bench", "vlrewardbench", "--out", str(tmp_path / "d"),
                            "--no-progress"])
    assert r.exit_code == 0 and "nothing to fetch" not in r.output and len(calls) == 2


def test_videogen_zip_is_extracted_inside_the_folder_only(fake_hub, tmp_path):
    repos, _ = fake_hub
    repo = tmp_path / "hub"
    repo.mkdir()
    (repo / "videogen-rewardbench.csv").write_text("prompt,path_A\n")
    with zipfile.ZipFile(repo / "videos.zip", "w") as zf:
        zf.writestr("videos/m1/0.mp4", b"video-0")
        zf.writestr("videos/m2/1.mp4", b"video-1")
    repos["KwaiVGI/VideoGen-RewardBench"] = repo
    out = tmp_path / "d"
    r = runner.invoke(app, ["prepare", "--bench", "videogen-rewardbench", "--out", str(out),
                            "--no-progress"])
    assert r.exit_code == 0, r.output
    root = out / "videogen-rewardbench"
    assert (root / "videos" / "m2" / "1.mp4").read_bytes() == b"video-1"
    m = json.loads((root / MANIFEST).read_text())
    assert m["files"]["videos/m1/0.mp4"]["sha256"] == hashlib.sha256(b"video-0").hexdigest()
    assert m["extracted"] == {"videos.zip": hashlib.sha256(
        (repo / "videos.zip").read_bytes()).hexdigest()}

    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "videogen-rewardbench.csv").write_text("x\n")
    with zipfile.ZipFile(evil / "videos.zip", "w") as zf:
        zf.writestr("../outside.mp4", b"nope")
    repos["KwaiVGI/VideoGen-RewardBench"] = evil
    r = runner.invoke(app, ["prepare", "--bench", "videogen-rewardbench", "--out",
                            str(tmp_path / "e"), "--no-progress"])
    assert r.exit_code == 1 and "escapes" in r.output
    assert not (tmp_path / "e" / "outside.mp4").exists()


def test_policy_benchmark_fetches_prompts_and_scorers(server, fake_hub, tmp_path, monkeypatch):
    """T2I-CompBench: prompt files at the pinned commit (URLs redirected to the local server)
    and both scorer checkpoints; the printed flags name the data and scorer folders."""
    from evalsuite.capabilities.t2i_compbench import benchmark as t2i

    from evalsuite.capabilities.t2i_compbench import unidet as t2i_unidet

    repos, calls = fake_hub
    for repo_id in ("Salesforce/blip-vqa-capfilt-large", "openai/clip-vit-base-patch32",
                    "Intel/dpt-hybrid-midas", "shikunl/prismer"):
        d = tmp_path / "hub" / repo_id
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"repo": repo_id}))
        repos[repo_id] = d
    (tmp_path / "hub" / "shikunl/prismer" / "expert_weights").mkdir()
    (tmp_path / "hub" / "shikunl/prismer" / t2i_unidet.RS200_HUB[1]).write_bytes(b"rs200")
    prompts = {}
    for f in [*t2i.FILES.values(), *t2i.COMPLEX_LISTS.values(), t2i.OBJECTS_FILE]:
        prompts[f] = f"a prompt from {f}\n".encode()
        server.add(f"/{t2i.COMMIT}/{f}", prompts[f])
    server.add(f"/{t2i.COMMIT}/detection_features.pt", b"labels")
    monkeypatch.setattr(t2i, "RAW", f"{server.url}/{t2i.COMMIT}/{{file}}")
    monkeypatch.setattr(t2i_unidet, "LABELS_URL",
                        f"{server.url}/{t2i.COMMIT}/detection_features.pt")
    r = runner.invoke(app, ["prepare", "--bench", "t2i-compbench", "--out", str(tmp_path / "d"),
                            "--no-progress"])
    assert r.exit_code == 0, r.output
    root = tmp_path / "d" / "t2i-compbench"
    assert f"--data-path {root}" in r.output
    assert f"--bench-option scorer_path={root / 'scorers'}" in r.output
    assert (root / "scorers" / "clip" / "config.json").is_file()
    assert [c["repo_type"] for c in calls] == ["model"] * 4
    unidet = root / "scorers" / "unidet"  # the layout the scorer reads under scorer_path
    assert (unidet / t2i_unidet.RS200_HUB[1]).read_bytes() == b"rs200"
    assert (unidet / "detection_features.pt").read_bytes() == b"labels"
    items = t2i.T2ICompBench(categories="color").load_items(str(root), None)
    assert [it.prompt for it in items] == ["a prompt from color_val.txt"]
    m = json.loads((root / MANIFEST).read_text())
    assert all(s["pinned"] for s in m["sources"] if s["kind"] == "url")


def test_unknown_benchmark_is_exit_2(tmp_path):
    r = runner.invoke(app, ["prepare", "--bench", "nope", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "no prepare plan" in r.output


def test_never_touches_the_network_in_tests():
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


def test_unreachable_sources_stop_before_anything_is_fetched(tmp_path, monkeypatch):
    """Offline hub (HF_HUB_OFFLINE, as here) and a URL host that refuses connections: exit 2
    with a way out, and nothing written under the benchmark folder."""
    import socket

    import evalsuite.capabilities.mmbench as mm
    r = runner.invoke(app, ["prepare", "--bench", "vlrewardbench", "--out", str(tmp_path / "a")])
    out = " ".join(r.output.split())
    assert r.exit_code == 2 and "HF_HUB_OFFLINE" in out and "pass --data-path" in out, out
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setattr(mm, "URL", f"http://127.0.0.1:{dead}/{{file}}")
    r = runner.invoke(app, ["prepare", "--bench", "mmbench", "--out", str(tmp_path / "b")])
    out = " ".join(r.output.split())
    assert r.exit_code == 2 and f"cannot reach 127.0.0.1:{dead}" in out, out
    assert not any((tmp_path / "b").rglob("*.tsv*"))
