"""`evalsuite prepare`: fetch a benchmark's data, media and scorer weights ahead of a run.

Everything lands under ``<out>/<bench>/`` in the layout the benchmark's loader reads with
``--data-path`` (the hub repository's own layout), and the command prints the ``--data-path``
(and, for policy benchmarks, the ``--bench-option scorer_path=...``) to use.

* Hub content (datasets, scorer checkpoints): ``huggingface_hub.snapshot_download`` with
  ``revision=`` and ``allow_patterns`` into the folder; the hub client resumes its own
  partial files.
* URLs (GenAI-Bench video's videos, the MMBench TSV, T2I-CompBench prompts, VBench scorer
  checkpoints): plain HTTP into ``<file>.part``, resumed with a ``Range`` request after an
  interruption (a server that ignores ``Range`` restarts the file; a ``Content-Range`` that
  does not continue the partial file restarts it too), retried, then renamed into place.
  Files named the torch-hub way (``name-<sha256 prefix>.pth``) are checked against that
  prefix; a mismatch deletes the partial file and fails that file.
* Archives (VideoGen-RewardBench ``videos.zip``, Video-MME's ``videos_chunked_*.zip``) are
  extracted in place, refusing members that would land outside the folder.
* ``prepare-manifest.json`` records every file's sha256 and size and each source's revision.
  A re-run verifies the files against it first: all present and matching, nothing is
  fetched; a mismatch is an error naming the files (``--repair`` deletes and re-fetches them).

Revisions: a source is pinned when its revision is a full 40-hex commit. The preference
datasets' commits are not published anywhere this project could verify, so they are fetched
at ``main`` (recorded as unpinned in the manifest) unless ``--revision <commit>`` pins them;
the commit to pin is ``huggingface_hub.HfApi().dataset_info("<hub id>").sha`` (then pass the
same commit to runs: ``--bench-option revision=<commit>``).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional

import typer

MANIFEST = "prepare-manifest.json"
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
TORCH_HUB_NAME = re.compile(r"-([0-9a-f]{8,})\.\w+$")  # name-<sha256 prefix>.pth
CHUNK = 1 << 20


class ChecksumMismatch(ValueError):
    pass


# --- what to fetch ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hub:
    """Files of a hub repository (``patterns`` as ``allow_patterns``) into ``dest``."""

    repo_id: str
    repo_type: str = "dataset"
    patterns: tuple[str, ...] = ()
    dest: str = ""
    revision: str | None = None
    dataset: bool = False  # the benchmark's own data: --revision applies to it


@dataclass(frozen=True)
class Url:
    url: str  # may hold "{revision}" (a file at a commit of a git repository)
    dest: str  # path under the benchmark folder
    revision: str | None = None
    dataset: bool = False

    def resolved(self) -> str:
        return self.url.format(revision=self.revision) if "{revision}" in self.url else self.url


@dataclass(frozen=True)
class Plan:
    bench: str
    sources: tuple[Hub | Url, ...]
    data_path: str = ""  # relative to the benchmark folder
    unzip: tuple[str, ...] = ()  # archives (globs) to extract in place
    video_urls: str | None = None  # a folder of parquets whose *_video cells are URLs
    scorer_path: str | None = None  # --bench-option scorer_path=<folder>/<this>
    notes: tuple[str, ...] = ()


def _cls(name: str):
    from evalsuite.registry import BENCHMARKS
    return BENCHMARKS.entry(name).load()


def plans() -> dict[str, Plan]:
    """One plan per benchmark, built from the benchmark modules' own ids and layouts."""
    from evalsuite.capabilities import mmbench
    from evalsuite.capabilities.t2i_compbench import benchmark as t2i, depth as t2i_depth
    from evalsuite.capabilities.t2i_compbench import unidet as t2i_unidet
    from evalsuite.capabilities.vbench import suite as vbench

    genai = _cls("genai-bench")
    out: dict[str, Plan] = {}
    for name, config in (("genai-bench", "image_generation"), ("genai-bench-edit",
                                                               "image_edition")):
        out[name] = Plan(name, (Hub(genai.hub_id, patterns=(f"{config}/*",),
                                    revision=genai.revision, dataset=True),))
    out["genai-bench-video"] = Plan(
        "genai-bench-video", (Hub(genai.hub_id, patterns=("video_generation/*",),
                                  revision=genai.revision, dataset=True),),
        video_urls="video_generation")
    vgr = _cls("videogen-rewardbench")
    out["videogen-rewardbench"] = Plan(
        "videogen-rewardbench", (Hub(vgr.hub_id, patterns=("videogen-rewardbench.csv",
                                                           "videos.zip", "README.md"),
                                     revision=vgr.revision, dataset=True),),
        unzip=("videos.zip",), notes=("videos.zip is 13.4 GB",))
    vlr = _cls("vlrewardbench")
    out["vlrewardbench"] = Plan("vlrewardbench", (Hub(vlr.hub_id, patterns=("data/*",),
                                                      revision=vlr.revision, dataset=True),))
    out["mmbench"] = Plan("mmbench", tuple(Url(mmbench.URL.format(file=f), f)
                                           for f in mmbench.FILES.values()),
                          notes=("the TSV server has no revisions: the manifest's sha256 "
                                 "identifies the copy",))
    vmme = _cls("video-mme")
    out["video-mme"] = Plan(
        "video-mme", (Hub(vmme.hub_id, patterns=("videomme/*", "videos_chunked_*.zip"),
                          revision=vmme.revision, dataset=True),),
        unzip=("videos_chunked_*.zip",), notes=("the videos are about 100 GB",))
    t2i_files = [*t2i.FILES.values(), *t2i.COMPLEX_LISTS.values(), t2i.OBJECTS_FILE]
    unidet = "scorers/unidet"
    out["t2i-compbench"] = Plan(
        "t2i-compbench",
        (*[Url(t2i.RAW.replace(t2i.COMMIT, "{revision}").replace("{file}", f), f,
               revision=t2i.COMMIT, dataset=True) for f in t2i_files],
         Hub("Salesforce/blip-vqa-capfilt-large", "model", dest="scorers/blip-vqa"),
         Hub("openai/clip-vit-base-patch32", "model", dest="scorers/clip"),
         Hub(t2i_depth.HUB_ID, "model", dest="scorers/dpt-hybrid-midas"),
         Hub(t2i_unidet.RS200_HUB[0], "model", patterns=(t2i_unidet.RS200_HUB[1],),
             dest=unidet),
         Url(t2i_unidet.LABELS_URL.replace(t2i.COMMIT, "{revision}"),
             f"{unidet}/detection_features.pt", revision=t2i.COMMIT)),
        scorer_path="scorers",
        notes=(f"UniDet's {t2i_unidet.R50_FILE} (numeracy, 3d_spatial) is on Google Drive "
               f"only: `gdown {t2i_unidet.R50_SOURCE.rsplit('=', 1)[1]}` into "
               f"{unidet}/expert_weights/",))
    scorers: list[Hub | Url] = []
    for key, src in vbench.DEFAULTS.items():
        dest = f"scorers/{vbench.SCORER_LAYOUT[key]}"
        if src.startswith("torchvision:"):  # the file torchvision's Raft_Large_Weights.C_T_V1
            scorers.append(Url(RAFT_URL, dest))  # downloads
        elif "://" in src:
            scorers.append(Url(src, dest))
        else:
            scorers.append(Hub(src, "model", dest=dest, patterns=vbench.HUB_FILES.get(key, ())))
    out["vbench"] = Plan(
        "vbench", (Url(VBENCH_INFO, "VBench_full_info.json", revision=VBENCH_REVISION,
                       dataset=True),
                   *scorers),
        data_path="VBench_full_info.json", scorer_path="scorers")
    return out


RAFT_URL = "https://download.pytorch.org/models/raft_large_C_T_V1-22a6c225.pth"
# The prompt suite at the head of VBench's default branch: unpinned (no commit verified);
# --revision <commit> pins it.
VBENCH_REVISION = "master"
VBENCH_INFO = ("https://raw.githubusercontent.com/Vchitect/VBench/{revision}/vbench/"
               "VBench_full_info.json")


# --- HTTP with resume ----------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def http_download(url: str, dest: Path, retries: int = 3, timeout: float = 60.0,
                  on_bytes: Callable[[int], None] | None = None) -> str:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming with ``Range``; returns
    the sha256. A torch-hub style name (``-<hex>.ext``) must match its sha256 prefix."""
    import http.client
    import urllib.error
    import urllib.request

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last: Exception | None = None
    for _ in range(retries + 1):
        have = part.stat().st_size if part.exists() else 0
        req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                start = 0
                if have and resp.status == 206:
                    m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
                    start = int(m.group(1)) if m else -1
                if start != have:  # Range ignored or not continuing the part: restart
                    have = 0
                expected = resp.headers.get("Content-Length")
                got = 0
                with open(part, "ab" if have else "wb") as fh:
                    for block in iter(lambda: resp.read(CHUNK), b""):
                        fh.write(block)
                        got += len(block)
                        if on_bytes:
                            on_bytes(len(block))
            if expected is not None and got < int(expected):  # the connection was cut
                raise http.client.IncompleteRead(b"", int(expected) - got)
            last = None
            break
        except urllib.error.HTTPError as e:
            if e.code == 416 and have:  # nothing left to send: the part is complete
                last = None
                break
            if e.code < 500 and e.code != 429:
                raise
            last = e
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError,
                TimeoutError) as e:
            last = e  # the next attempt continues from what was written
    if last is not None:
        raise ConnectionError(f"cannot download {url}: {last}") from last
    digest = _sha256(part)
    m = TORCH_HUB_NAME.search(url.split("?", 1)[0])
    if m and not digest.startswith(m.group(1)):
        part.unlink()
        raise ChecksumMismatch(f"{url}: sha256 {digest[:12]}... does not start with the "
                               f"{m.group(1)} its name carries (partial file deleted; retry)")
    part.replace(dest)
    return digest


# --- the manifest ---------------------------------------------------------------------------------

def _files(root: Path) -> list[Path]:
    skip = {MANIFEST}
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name not in skip
                  and not p.name.endswith(".part") and ".cache" not in p.relative_to(root).parts)


def verify(root: Path, manifest: dict[str, Any]) -> list[str]:
    """Files of the manifest that are missing or whose sha256 differs."""
    bad = []
    for rel, meta in manifest.get("files", {}).items():
        p = root / rel
        if not p.is_file() or p.stat().st_size != meta["size"] or _sha256(p) != meta["sha256"]:
            bad.append(rel)
    return bad


def _write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(root / MANIFEST)


# --- preparing one benchmark ----------------------------------------------------------------------

@dataclass
class Outcome:
    root: Path
    data_path: Path
    bench_options: dict[str, str]
    fetched: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    up_to_date: bool = False


def _safe_extract(archive: Path, root: Path) -> int:
    n = 0
    base = root.resolve()
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = (root / info.filename).resolve()
            if base not in (target, *target.parents):
                raise ValueError(f"{archive.name}: member {info.filename!r} escapes {root}")
            if info.is_dir():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
            n += 1
    return n


def _video_urls(folder: Path) -> list[str]:
    import pyarrow.parquet as pq

    urls: set[str] = set()
    for f in sorted(folder.glob("*.parquet")):
        table = pq.read_table(f)
        for col in ("left_video", "right_video"):
            if col in table.column_names:
                urls.update(u for u in table.column(col).to_pylist()
                            if isinstance(u, str) and "://" in u)
    return sorted(urls)


def prepare(bench: str, out: Path, revision: str | None = None, repair: bool = False,
            workers: int = 4, progress: bool = True) -> Outcome:
    from huggingface_hub import snapshot_download
    from rich.console import Console

    console = Console(stderr=True)
    table = plans()
    if bench not in table:
        raise KeyError(f"no prepare plan for {bench!r}; one of {sorted(table)}")
    plan = table[bench]
    if revision is not None:  # pin the benchmark's own data (the dataset, the prompt files)
        if not any(s.dataset for s in plan.sources):
            raise ValueError(f"{bench}'s data has no revisions to choose (see its notes)")
        plan = replace(plan, sources=tuple(replace(s, revision=revision) if s.dataset else s
                                           for s in plan.sources))
    root = Path(out) / bench
    root.mkdir(parents=True, exist_ok=True)
    opts = {"scorer_path": str(root / plan.scorer_path)} if plan.scorer_path else {}
    outcome = Outcome(root, root / plan.data_path, opts)
    sources = [_describe(s) for s in plan.sources]
    old = json.loads((root / MANIFEST).read_text()) if (root / MANIFEST).is_file() else None
    if old is not None:
        bad = verify(root, old)
        if bad and not repair:
            raise ChecksumMismatch(
                f"{len(bad)} file(s) under {root} are missing or differ from {MANIFEST} "
                f"(e.g. {bad[:3]}); --repair deletes and re-fetches them")
        for rel in bad:
            (root / rel).unlink(missing_ok=True)
        if not bad and old.get("sources") == sources and not old.get("failed"):
            outcome.up_to_date = True
            return outcome
    for s, desc in zip(plan.sources, sources):
        if isinstance(s, Hub):
            console.print(f"hub {s.repo_type} {s.repo_id} @ {desc['revision']}"
                          + ("" if desc["pinned"] else " (unpinned)"))
            snapshot_download(s.repo_id, repo_type=s.repo_type, revision=s.revision,
                              allow_patterns=list(s.patterns) or None,
                              local_dir=str(root / s.dest) if s.dest else str(root))
        else:
            dest = root / s.dest
            if dest.is_file():
                continue
            try:
                _fetch_urls([(s.resolved(), dest)], progress, 1)
                outcome.fetched += 1
            except (ConnectionError, ChecksumMismatch, OSError) as e:
                outcome.failed[s.dest] = str(e)
    if plan.video_urls:
        videos = root / "video_generation" / "videos"
        from evalsuite.benchmarks.genai_bench import GenAIBench
        todo = []
        for u in _video_urls(root / plan.video_urls):
            name = GenAIBench._video(u, [str(videos)]).path  # the loader's own file name
            if not (videos / name).is_file():
                todo.append((u, videos / name))
        console.print(f"videos: {len(todo)} to fetch into {videos}")
        failed = _fetch_urls(todo, progress, workers, keep_going=True)
        outcome.failed.update(failed)
        outcome.fetched += len(todo) - len(failed)
    extracted = dict((old or {}).get("extracted", {}))
    for pattern in plan.unzip:
        for archive in sorted(root.glob(pattern)):
            digest = _sha256(archive)
            if extracted.get(archive.name) == digest:
                continue
            n = _safe_extract(archive, root)
            console.print(f"extracted {n} file(s) from {archive.name}")
            extracted[archive.name] = digest
    files = {}
    for p in _files(root):
        files[p.relative_to(root).as_posix()] = {"sha256": _sha256(p), "size": p.stat().st_size}
    _write_manifest(root, {"benchmark": bench, "sources": sources, "files": files,
                           "extracted": extracted, "failed": outcome.failed,
                           "data_path": plan.data_path, "bench_options": opts})
    return outcome


def check_reachable(plan: Plan, revision: str | None = None) -> None:
    """Before anything is fetched: every hub source is cached or answers, every URL host
    answers (a few seconds each), so an offline machine fails at once with a way out."""
    from urllib.parse import urlsplit

    from evalsuite.commands.preflight import (ENDPOINT_TIMEOUT_S, PreflightError,
                                              check_hub_answers)

    instead = "--data-path to run / eval-policy"
    for s in plan.sources:
        if isinstance(s, Hub):
            check_hub_answers(s.repo_id, s.repo_type, revision if s.dataset and revision else
                              s.revision, instead)
            continue
        import urllib.error
        import urllib.request
        url = s.resolved()
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"),
                                        timeout=ENDPOINT_TIMEOUT_S):
                pass
        except urllib.error.HTTPError:
            continue  # the host answers; the download reports what it says
        except (OSError, ValueError) as e:
            raise PreflightError(f"cannot reach {urlsplit(url).netloc} ({type(e).__name__}); "
                                 f"pass {instead} with a copy prepared where the network "
                                 "is") from None


def _describe(s: Hub | Url) -> dict[str, Any]:
    rev = s.revision or ("main" if isinstance(s, Hub) else None)
    d: dict[str, Any] = {"revision": rev, "pinned": bool(rev and FULL_SHA.match(rev))}
    if isinstance(s, Hub):
        d.update(kind="hub", repo_id=s.repo_id, repo_type=s.repo_type,
                 patterns=list(s.patterns), dest=s.dest)
    else:
        d.update(kind="url", url=s.resolved(), dest=s.dest)
    return d


def _fetch_urls(todo: list[tuple[str, Path]], progress: bool, workers: int,
                keep_going: bool = False) -> dict[str, str]:
    """Download (url, dest) pairs in a thread pool with one progress bar (bytes)."""
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                               TransferSpeedColumn)

    failed: dict[str, str] = {}
    if not todo:
        return failed
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn(), TextColumn("{task.fields[files]}"),
                   disable=not progress, transient=False)
    with bar:
        task = bar.add_task("downloading", total=None, files=f"0/{len(todo)} files")
        done = 0

        def one(job: tuple[str, Path]) -> tuple[str, str | None]:
            url, dest = job
            try:
                http_download(url, dest, on_bytes=lambda n: bar.advance(task, n))
                return url, None
            except (ConnectionError, ChecksumMismatch, OSError) as e:
                if not keep_going:
                    raise
                return url, str(e)

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for url, err in pool.map(one, todo):
                done += 1
                bar.update(task, files=f"{done}/{len(todo)} files")
                if err:
                    failed[url] = err
    return failed


# --- the command ----------------------------------------------------------------------------------

def register(app: typer.Typer) -> None:
    app.command("prepare")(prepare_cmd)


def prepare_cmd(
    bench: str = typer.Option(..., "--bench", "-b", help="Benchmark to fetch (see `evalsuite "
                              "list benchmarks`)."),
    out: str = typer.Option("data", "--out", help="Folder that receives <out>/<bench>/."),
    revision: Optional[str] = typer.Option(None, help="Commit of the benchmark's data to fetch "
                                           "(default: the benchmark's pinned revision, else "
                                           "main, recorded as unpinned)."),
    repair: bool = typer.Option(False, "--repair", help="Delete and re-fetch files that no "
                                "longer match the manifest."),
    workers: int = typer.Option(4, help="Parallel downloads (GenAI-Bench video's videos)."),
    no_progress: bool = typer.Option(False, "--no-progress"),
) -> None:
    """Fetch a benchmark's data, media and (policy benchmarks) scorer weights; resumable and
    checksummed (prepare-manifest.json). Prints the --data-path to use.

    Example:

      evalsuite prepare --bench vlrewardbench --out data
      evalsuite run --judge unifiedreward --bench vlrewardbench --data-path data/vlrewardbench

    Pin a dataset commit with `--revision <40-hex commit>`, looked up with
    huggingface_hub.HfApi().dataset_info(<hub id>).sha.
    """
    from rich.console import Console

    from evalsuite.commands.preflight import PreflightError

    console = Console(stderr=True)
    try:
        if bench in plans() and not (Path(out) / bench / MANIFEST).is_file():
            check_reachable(plans()[bench], revision)  # a re-run verifies local files first
    except PreflightError as e:
        console.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(2)
    try:
        outcome = prepare(bench, Path(out), revision=revision, repair=repair, workers=workers,
                          progress=not no_progress)
    except (KeyError, ChecksumMismatch, ValueError, ConnectionError, OSError) as e:
        console.print(f"[red]error:[/red] {str(e).strip(chr(39))}", highlight=False)
        raise typer.Exit(2 if isinstance(e, KeyError) else 1)
    if outcome.up_to_date:
        console.print(f"{outcome.root}: every file matches {MANIFEST}; nothing to fetch")
    for what, err in sorted(outcome.failed.items()):
        console.print(f"[red]failed:[/red] {what}: {err}", highlight=False)
    flags = f"--data-path {outcome.data_path}" + "".join(
        f" --bench-option {k}={v}" for k, v in outcome.bench_options.items())
    typer.echo(flags)
    if outcome.failed:
        console.print(f"{len(outcome.failed)} download(s) failed; re-run to resume them")
        raise typer.Exit(1)
