"""Checks that run before any model loads or any item runs.

Each failed check is one line naming what to pass instead; the CLI prints it and exits 2.
Nothing here loads weights or reads a dataset: plugin classes are imported (cheap, see
registry.py), the hub is asked about a repository with a short timeout, an endpoint is asked
for its model list, and the disk is asked for its free space.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

HUB_TIMEOUT_S = 10.0  # one metadata request; the libraries' own retries take minutes
ENDPOINT_TIMEOUT_S = 5.0
# A hub repository id ("owner/name"); anything else (a URL, "github.com/...") is not checked.
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class PreflightError(Exception):
    """A check failed; the message is one line the user can act on."""


# --- options ----------------------------------------------------------------------------------

def declared_options(cls: type) -> dict[str, str]:
    """Every option a plugin class declares (``option_help``, merged along its bases)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        out.update(vars(klass).get("option_help") or {})
    return out


def check_options(cls: type, given: dict[str, Any], flag: str, who: str) -> None:
    """Unknown keys are an error: a typo would otherwise start a new run that ignores it."""
    known = declared_options(cls)
    unknown = sorted(set(given) - set(known))
    if unknown:
        import difflib
        hints = [m for k in unknown for m in difflib.get_close_matches(k, known, n=1)]
        hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
        raise PreflightError(
            f"unknown {flag} {', '.join(unknown)} for {who}{hint}; it takes: "
            f"{', '.join(sorted(known)) or 'no options'} (`evalsuite list --options`)")


# --- judge x benchmark ------------------------------------------------------------------------

def check_compatible(judge_cls: type, judge: str, bench_obj: Any, bench: str, mode: str,
                     both_orders: bool) -> bool:
    """Modality, task and mode of a judge on a preference benchmark; returns pairwise."""
    modality, task = bench_obj.modality, bench_obj.task
    if modality not in judge_cls.modalities:
        raise PreflightError(f"{judge} reads {' and '.join(sorted(judge_cls.modalities))}, but "
                             f"{bench} is a {modality} benchmark (`evalsuite list` shows which "
                             "judge reads what)")
    if task not in judge_cls.tasks:
        raise PreflightError(f"{judge} judges {', '.join(sorted(judge_cls.tasks))} tasks, but "
                             f"{bench} is a {task} benchmark")
    if mode not in ("auto", "pairwise", "pointwise"):
        raise PreflightError(f"--mode must be auto, pairwise or pointwise, got {mode!r}")
    if mode == "pairwise" and not judge_cls.pairwise:
        raise PreflightError(f"{judge} has no pairwise mode (it scores each candidate; "
                             "use --mode auto)")
    if mode == "pointwise" and not judge_cls.pointwise:
        raise PreflightError(f"{judge} has no pointwise mode (use --mode auto)")
    pairwise = mode == "pairwise" or (mode == "auto" and judge_cls.pairwise)
    if both_orders and not pairwise:
        raise PreflightError(f"--both-orders needs a pairwise judge; {judge} runs pointwise "
                             "here, where order cannot matter (each candidate is scored alone)")
    return pairwise


# --- the hub ----------------------------------------------------------------------------------

def is_repo_id(name: str | None) -> bool:
    return bool(name) and _REPO_ID.match(name) is not None and not Path(name).exists()


def check_hub(repo_id: str, repo_type: str, revision: str | None, instead: str) -> None:
    """The repository at ``revision`` is in the local cache, or the hub answers for it.

    Offline (``HF_HUB_OFFLINE=1``, or no answer within a few seconds) and not cached: an
    error naming the local-copy option to pass instead of the libraries' minutes of retries.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        snapshot_download(repo_id, repo_type=repo_type, revision=revision,
                          local_files_only=True)
        return  # cached: nothing to ask the network
    except (LocalEntryNotFoundError, FileNotFoundError, ValueError, OSError):
        pass
    check_hub_answers(repo_id, repo_type, revision, instead)


def check_hub_answers(repo_id: str, repo_type: str, revision: str | None, instead: str) -> None:
    """The hub answers for the repository at ``revision`` within a few seconds (the cache is
    not consulted: for a download into a folder of one's own)."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (GatedRepoError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    what = f"{'dataset' if repo_type == 'dataset' else 'model'} {repo_id}" + (
        f"@{revision[:12]}" if revision else "")
    if constants.HF_HUB_OFFLINE:
        raise PreflightError(f"{what} is not in the local hub cache and HF_HUB_OFFLINE is set; "
                             f"pass {instead} with a local copy")
    from huggingface_hub import HfApi
    try:
        HfApi().repo_info(repo_id, repo_type=repo_type, revision=revision,
                          timeout=HUB_TIMEOUT_S)
    except GatedRepoError:
        return  # reachable; the download itself says how to get access
    except RevisionNotFoundError:
        raise PreflightError(f"the hub has no revision {revision} of {repo_id}") from None
    except RepositoryNotFoundError:
        raise PreflightError(f"the hub has no {what} (or it is private); check the name or "
                             f"pass {instead}") from None
    except Exception as e:  # noqa: BLE001 - any transport failure means "not reachable"
        raise PreflightError(f"cannot reach the hub for {what} ({type(e).__name__}); pass "
                             f"{instead} with a local copy, or set HF_ENDPOINT") from None


def check_local(path: str, flag: str) -> None:
    if not Path(path).exists():
        raise PreflightError(f"{flag} {path} does not exist")


def check_source(source: str, flag: str, repo_type: str = "model") -> None:
    """A weights source: an existing local path, or a hub repo id the hub can serve."""
    if is_repo_id(source) and not source.startswith((".", "/")):
        check_hub(source, repo_type, None, flag)
    elif "://" not in source and ":" not in source.split("/")[0]:
        check_local(source, flag)


# --- an OpenAI-compatible endpoint ------------------------------------------------------------

def check_endpoint(base_url: str) -> None:
    """Any HTTP answer from ``<base_url>/models`` (even 401/404) means the server is up."""
    import urllib.error
    import urllib.parse
    import urllib.request

    url = base_url.rstrip("/") + "/models"
    host = urllib.parse.urlsplit(url).hostname
    # Loopback endpoints bypass any HTTP(S)_PROXY, as the judge itself does.
    opener = urllib.request.build_opener(
        *([urllib.request.ProxyHandler({})] if host in ("127.0.0.1", "localhost", "::1")
          else []))
    try:
        opener.open(urllib.request.Request(url, method="GET"), timeout=ENDPOINT_TIMEOUT_S)
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise PreflightError(f"no OpenAI-compatible server answers at {base_url} ({reason}); "
                             "start it (e.g. `vllm serve <model>`) or fix --base-url") from None


# --- disk -------------------------------------------------------------------------------------

def check_disk(folder: str, need_bytes: int, what: str) -> None:
    p = Path(folder).resolve()
    while not p.exists():
        p = p.parent
    free = shutil.disk_usage(p).free
    if free < need_bytes:
        raise PreflightError(f"{what} needs about {need_bytes / 2**30:.1f} GiB in {folder}; "
                             f"{free / 2**30:.1f} GiB free (choose another --out)")
