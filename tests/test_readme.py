"""Every command of the README (its fenced ``bash`` blocks and the CLI verbs table) and every
example in a verb's ``--help`` runs through the CLI as written, so documentation and code
cannot drift.

Paths are taken as the README means them: ``fx/<name>`` is the folder `evalsuite fixtures
--out fx` builds (built here on demand), ``results/...`` the repository's committed results,
``training/...`` the shipped recipes and samples (found from any working directory, which is
what the test checks: it runs in an empty temporary folder), everything else relative to
that folder. With the hub blocked, an example that needs the hub or a server must stop
before loading anything with exit 2 and a message naming what to pass instead; every other
example must exit 0. Examples too slow for the suite are parsed and validated by the CLI
(types, ranges, required options) without running, each with its reason below.
"""

from __future__ import annotations

import re
import shlex
import time
from pathlib import Path

from typer.main import get_command
from typer.testing import CliRunner

from evalsuite.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

# Not evalsuite commands: install and test lines of "Set up".
NOT_CLI = ("pip install ", "python -m pytest", "export ")
# Parsed and validated only: (command or command prefix, why it does not run here). A
# prefix ending in a space matches commands that start with it; the others match exactly.
PARSE_ONLY = [
    ("demo", "the full demo grid runs every fixture judge: minutes on 2 cores "
             "(`demo --judge pickscore` runs)"),
    ("demo --out demo-output", "the full demo grid, as above"),
    ("train offline ", "minutes on 2 cores; tests/test_training_offline.py runs this recipe"),
    ("train policy ", "400 policy steps; tests/test_training_offline.py trains this policy"),
    ("train pairs --policy runs/train-offline/policy ", "needs `train offline`'s output; "
                                                        "tests/test_training_offline.py runs it"),
    ("train dpo --recipe training/offline_synthetic.yaml ", "needs `train offline`'s output"),
    ("perf ", "timing loops; tests/test_scale.py runs `evalsuite perf` on 8 pairs"),
    ("serve ", "a server runs until it is stopped; tests/test_serve.py starts `evalsuite serve` "
               "in a subprocess and calls it"),
    ("sweep --config sweeps/fixtures.yaml", "runs from the repository root; "
                                            "tests/test_sweep.py runs this config as written"),
]
# What a hub-only or server-only example must say when it stops (exit 2).
NAMES_A_WAY_OUT = re.compile(r"pass --[a-z-]+|no OpenAI-compatible server answers|"
                             r"does not exist")


def _join_continuations(text: str) -> list[str]:
    out, cur = [], ""
    for line in text.splitlines():
        line = line.split(" #")[0].rstrip() if not line.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        out.append((cur + line).strip())
        cur = ""
    return out


def readme_commands() -> list[str]:
    cmds = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        cmds += _join_continuations(block)
    verbs = README.split("## CLI verbs", 1)[1].split("\n## ", 1)[0]
    for row in re.findall(r"^\| `[a-z-]+` \|.*\| `(evalsuite [^`]+)` \|$", verbs, flags=re.M):
        cmds.append(row)
    return cmds


def help_examples() -> list[str]:
    cmds = []

    def walk(cmd):
        for sub in getattr(cmd, "commands", {}).values():
            walk(sub)
        text = (cmd.help or "").replace("Example: ", "\n")
        for line in _join_continuations(text):
            for part in line.split("&&"):
                if part.strip().startswith("evalsuite "):
                    cmds.append(part.strip())

    walk(get_command(app))
    return cmds


def cli_args(command: str) -> list[str] | None:
    """The evalsuite arguments of a README line, or None for a non-CLI line."""
    if command.startswith(NOT_CLI):
        return None
    words = shlex.split(command)
    if "-m" in words and words[words.index("-m") + 1] == "evalsuite":  # python / torchrun
        return words[words.index("-m") + 2:]
    assert words[0] == "evalsuite", f"not an evalsuite command: {command}"
    return words[1:]


def test_readme_has_the_documented_examples():
    cmds = readme_commands()
    assert any(c.startswith("python -m evalsuite run --judge pickscore") for c in cmds)
    verbs = {cli_args(c)[0] for c in cmds if cli_args(c)}
    registered = {n for n in get_command(app).commands}
    assert registered <= verbs, f"verbs without a README example: {registered - verbs}"
    for c in cmds:  # every line is a CLI command or one of the known setup lines
        assert cli_args(c) is not None or c.startswith(NOT_CLI), c


def _localise(args: list[str], fx) -> list[str]:
    out = []
    for a in args:
        if a == "fx":  # `evalsuite fixtures --out fx`: the shared fixture folder
            a = str(fx("pickscore").parent)
        elif a.startswith("fx/"):
            name, _, rest = a[3:].partition("/")
            a = str(fx(name) / rest) if rest else str(fx(name))
        elif "=" in a and a.split("=", 1)[1].startswith("fx/"):
            k, v = a.split("=", 1)
            name, _, rest = v[3:].partition("/")
            a = f"{k}={fx(name) / rest if rest else fx(name)}"
        elif a == "results" or a.startswith("results/"):
            a = str(ROOT / a)
        out.append(a)
    return out


def _parse_only(args: list[str]) -> str | None:
    line = " ".join(args)
    for prefix, why in PARSE_ONLY:
        if line == prefix or prefix.endswith(" ") and line.startswith(prefix):
            return why
    return None


def _validate(args: list[str]) -> None:
    """Click's own parsing and validation of the arguments, without running the verb."""
    group = get_command(app)
    ctx = group.make_context("evalsuite", list(args), resilient_parsing=False)
    cmd_name, cmd, rest = group.resolve_command(ctx, args)
    while hasattr(cmd, "resolve_command"):
        sub = cmd.make_context(cmd_name, list(rest), parent=ctx)
        cmd_name, cmd, rest = cmd.resolve_command(sub, rest)
        ctx = sub
    cmd.make_context(cmd_name, list(rest), parent=ctx)


def _run_all(commands: list[str], fx, tmp_path, monkeypatch) -> list[tuple[str, str]]:
    import huggingface_hub.constants as C
    monkeypatch.setattr(C, "HF_HUB_OFFLINE", True)  # the network is blocked
    monkeypatch.setattr(C, "HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    # Every command runs in this one process under CliRunner, which swaps sys.stderr per
    # call: a library's logging handler created during one call keeps that call's (closed)
    # stream and later prints "--- Logging error --- Traceback". That is the test harness,
    # not the command; a real shell gives each command its own process.
    import logging
    monkeypatch.setattr(logging, "raiseExceptions", False)
    monkeypatch.chdir(tmp_path)
    runner, done, outcomes = CliRunner(), set(), []
    for command in commands:
        args = cli_args(command)
        if args is None or " ".join(args) in done:
            continue
        done.add(" ".join(args))
        if _parse_only(args):
            _validate(_localise(args, fx))
            outcomes.append((command, "validated"))
            continue
        t0 = time.perf_counter()  # reported (-s), never asserted
        r = runner.invoke(app, _localise(args, fx))
        took = f"{time.perf_counter() - t0:.0f}s"
        out = " ".join(r.output.split())
        assert "Traceback" not in r.output, f"{command}\n{r.output}"
        if r.exit_code == 2 and NAMES_A_WAY_OUT.search(out) and needs_network(args):
            outcomes.append((command, f"{took} stops: " + out[:160]))
            continue
        assert r.exit_code == 0, f"{command}\nexit {r.exit_code}\n{r.output[-3000:]}"
        outcomes.append((command, f"{took} ok"))
    return outcomes


LOCAL_PREFIXES = ("fx/", "runs/", "results/", "training/", "my-")


def needs_network(args: list[str]) -> bool:
    """An example that needs the hub or a server: a hub id among its values, a --base-url,
    `prepare` (it fetches), or a verb that reads the hub by default without a local
    --model-path / --data-path.
    Only such an example may stop (exit 2); every other one must succeed."""
    hub_id = any(re.fullmatch(r"[A-Za-z][\w.-]*/[\w.-]+", a) and not a.startswith(
        LOCAL_PREFIXES) for a in args)
    hub_default = args[0] in ("run", "eval-policy", "describe", "probe") and not (
        "--model-path" in args and "--data-path" in args or
        args[0] == "describe" and "--data-path" in args)
    return hub_id or "--base-url" in args or hub_default or args[0] == "prepare"


def test_every_readme_and_help_example_runs(fx, tmp_path, monkeypatch):
    commands = readme_commands() + help_examples()
    outcomes = _run_all(commands, fx, tmp_path, monkeypatch)
    print("\n".join(f"{o:>10.60}  {c}" for c, o in outcomes))
    ran = [c for c, o in outcomes if o.endswith(" ok")]
    stopped = [c for c, o in outcomes if " stops: " in o]
    assert any("run --judge pickscore" in c for c in ran)
    assert any("--judge unifiedreward --bench genai-bench" in c for c in stopped)
    assert any("--base-url" in c for c in stopped)
