"""Run a Markdown document's code blocks, in order, as a reader would, and check the outputs it shows.

The rules a document follows (docs/integration.md states them for its readers):

- A fenced block tagged `sh` or `bash` runs in one bash session per document (`set -euo pipefail`), in the
  document's working directory, so variables and functions flow from block to block. A block fails when a command
  in it fails.
- A block tagged `python` is a script of its own: it runs as `python3 <file>` from that session, so it sees the
  session's working directory and exported variables.
- A block tagged `json` or `text` is the output of the block that ran last before it (prose may stand between):
  it is compared with that block's standard output and fails the run when it does not match (see `json_matches`
  and `text_matches` for the placeholders). Each output belongs to one block.
- Any other block (another language, or none) is refused unless the line right before its opening fence is
  `<!-- not run: <reason> -->`; a marked block of any language is skipped. A marker with no reason, or with no
  block right after it, is refused.

Every refusal and failure raises GuideError, whose message starts with `<document>:<line>:`, the line of the
block's opening fence (or of the marker).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COMMANDS = {"sh": "sh", "bash": "sh", "python": "python"}
OUTPUTS = {"json", "text"}

FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
MARKER = re.compile(r"^\s*<!--\s*not run\s*(?P<colon>:?)(?P<reason>.*?)\s*-->\s*$")
ANY_MARKER = re.compile(r"<!--\s*not run\b")

# Placeholders: a JSON string, or a word of a text output, that stands for a value the reader's run will differ in.
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
DATETIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})"
PLACEHOLDERS = {
    "<uuid>": UUID,
    "<datetime>": DATETIME,
    "<hex>": r"[0-9a-f]+",
    "<string>": r"[^\n]+",
}
ANY_VALUE = "<any>"
MORE = "..."  # the last item of a JSON array, or a member `"...": "..."` of an object: more may follow


class GuideError(AssertionError):
    """A block the rules refuse, or one that failed when run: the message names the document and line."""


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    language: str
    body: str
    not_run: str | None = None  # the reason, for a marked block

    @property
    def kind(self) -> str:
        """`skip`, `sh`, `python` or `output`."""
        if self.not_run is not None:
            return "skip"
        if self.language in COMMANDS:
            return COMMANDS[self.language]
        return "output"


# --- reading the document --------------------------------------------------------------------------------------


def scan(text: str, name: str) -> list[Block]:
    """Every fenced block of the document, checked against the rules above (GuideError on the first refusal)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        opening = FENCE.match(line)
        if opening is None or (opening["fence"][0] == "`" and "`" in opening["info"]):
            if ANY_MARKER.search(line):
                _check_marker(lines, index, name)
            index += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        closing = re.compile(rf"^ *{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = next((i for i in range(index + 1, len(lines)) if closing.match(lines[i])), None)
        if end is None:
            raise GuideError(f"{name}:{index + 1}: the block opened here is never closed")
        body = "\n".join(_dedent(text_line, indent) for text_line in lines[index + 1 : end])
        language = (opening["info"].split() or [""])[0].lower()
        reason = _marker_before(lines, index, name)
        block = Block(index + 1, language, body + "\n" if body else "", reason)
        if reason is None and language not in COMMANDS and language not in OUTPUTS:
            shown = f"a `{language}` block" if language else "a block without a language"
            raise GuideError(
                f"{name}:{block.line}: {shown} is neither run nor marked: tag it sh, bash, python, json or text, "
                "or put `<!-- not run: <reason> -->` on the line before it"
            )
        blocks.append(block)
        index = end + 1
    _check_outputs(blocks, name)
    return blocks


def _dedent(line: str, indent: int) -> str:
    spaces = len(line) - len(line.lstrip(" "))
    return line[min(spaces, indent) :]


def _marker_before(lines: Sequence[str], index: int, name: str) -> str | None:
    if index == 0 or not ANY_MARKER.search(lines[index - 1]):
        return None
    marker = MARKER.match(lines[index - 1])
    if marker is None or not marker["colon"] or not marker["reason"].strip():
        raise GuideError(f"{name}:{index}: a not-run marker must give its reason: `<!-- not run: <reason> -->`")
    return marker["reason"].strip()


def _check_marker(lines: Sequence[str], index: int, name: str) -> None:
    """A marker outside a block is only allowed right before an opening fence."""
    following = lines[index + 1] if index + 1 < len(lines) else ""
    if FENCE.match(following) is None:
        raise GuideError(f"{name}:{index + 1}: a not-run marker must stand on the line right before a block")
    _marker_before(lines, index + 1, name)


def _check_outputs(blocks: Sequence[Block], name: str) -> None:
    pending = False  # a block ran since the last output
    for block in blocks:
        if block.kind in ("sh", "python"):
            pending = True
        elif block.kind == "output":
            if not pending:
                raise GuideError(
                    f"{name}:{block.line}: this `{block.language}` output follows no block that runs "
                    "(each output shows the output of the block run last before it, once)"
                )
            pending = False


# --- running it ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    block: Block
    stdout: str


class ShellSession:
    """One bash process for a whole document; each block's output goes to files of its own."""

    def __init__(self, cwd: Path, env: Mapping[str, str], scratch: Path, name: str) -> None:
        self.scratch, self.name = scratch, name
        scratch.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc", "-s"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=cwd,
            env=dict(env),
            text=True,
            start_new_session=True,  # its own process group: a timeout ends the block's children too
        )
        self._send("set -euo pipefail")

    def _send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def run(self, block: Block, timeout: float) -> str:
        """The block's standard output; GuideError when it fails or outlasts `timeout` seconds."""
        __tracebackhide__ = True
        stem = self.scratch / f"block-{block.line}"
        out, err, done = (stem.with_suffix(suffix) for suffix in (".out", ".err", ".done"))
        if block.kind == "python":
            script = stem.with_suffix(".py")
            script.write_text(block.body, encoding="utf-8")
            command = f"python3 {shlex.quote(str(script))}"
        else:
            script = stem.with_suffix(".sh")
            script.write_text(block.body, encoding="utf-8")
            command = f"source {shlex.quote(str(script))}"
        self._send(
            f"{command} > {shlex.quote(str(out))} 2> {shlex.quote(str(err))} < /dev/null; "
            f"touch {shlex.quote(str(done))}"
        )
        deadline = time.monotonic() + timeout
        while not done.exists():
            if self.process.poll() is not None:
                raise GuideError(
                    f"{self.name}:{block.line}: this {block.language} block failed "
                    f"(exit status {self.process.returncode}){_outputs(out, err)}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise GuideError(
                    f"{self.name}:{block.line}: this {block.language} block ran longer than {timeout:g} s"
                    f"{_outputs(out, err)}"
                )
            time.sleep(0.01)
        return out.read_text(encoding="utf-8", errors="replace")

    def close(self) -> None:
        """End of input ends the session; one that does not end by itself is killed, with what it started."""
        if self.process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def _outputs(out: Path, err: Path) -> str:
    shown = ""
    for label, path in (("stderr", err), ("stdout", out)):
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        if text.strip():
            shown += f"\n--- {label} (end) ---\n{text[-3000:]}"
    return shown


def run_document(
    path: Path, *, cwd: Path, env: Mapping[str, str], scratch: Path, timeout: float = 30, name: str | None = None
) -> list[Ran]:
    """Scan the document, run its blocks in order in one session, and check each output shown."""
    __tracebackhide__ = True
    name = name or path.name
    blocks = scan(path.read_text(encoding="utf-8"), name)
    session = ShellSession(cwd, env, scratch, name)
    ran: list[Ran] = []
    try:
        for block in blocks:
            if block.kind in ("sh", "python"):
                ran.append(Ran(block, session.run(block, timeout)))
            elif block.kind == "output":
                check_output(block, ran[-1], name)
    finally:
        session.close()
    return ran


def check_output(expected: Block, ran: Ran, name: str) -> None:
    __tracebackhide__ = True
    where = f"{name}:{expected.line}: the output of the block at line {ran.block.line}"
    if expected.language == "json":
        try:
            actual = json.loads(ran.stdout)
        except ValueError:
            raise GuideError(f"{where} is not one JSON document:\n{ran.stdout[-3000:]}") from None
        shown = json.loads(expected.body)
        mismatch = json_mismatch(shown, actual, "")
        if mismatch is not None:
            raise GuideError(f"{where} does not match at {mismatch}:\n{json.dumps(actual, indent=2)[:6000]}")
    else:
        mismatch_line = text_mismatch(expected.body, ran.stdout)
        if mismatch_line is not None:
            raise GuideError(f"{where} does not match ({mismatch_line}):\n{ran.stdout[-3000:]}")


# --- comparing outputs ---------------------------------------------------------------------------------------


def json_matches(shown: Any, actual: Any) -> bool:
    return json_mismatch(shown, actual, "") is None


def json_mismatch(shown: Any, actual: Any, pointer: str) -> str | None:
    """Where `actual` differs from what the document shows, as a JSON pointer and why; None when it matches.

    An object matches with exactly the members shown, or more when it shows the member `"...": "..."`; an array
    matches item by item, and may be longer when its last item shown is `"..."`. A string that is a placeholder
    matches any value of that shape (`"<any>"`: any value at all); any other value matches itself only.
    """
    here = pointer or "/"
    if isinstance(shown, str) and shown == ANY_VALUE:
        return None
    if isinstance(shown, str) and shown in PLACEHOLDERS:
        if isinstance(actual, str) and re.fullmatch(PLACEHOLDERS[shown], actual):
            return None
        return f"{here}: {actual!r} is not {shown}"
    if isinstance(shown, dict):
        if not isinstance(actual, dict):
            return f"{here}: expected an object, got {actual!r}"
        more = shown.get(MORE) == MORE
        members = {key: value for key, value in shown.items() if not (more and key == MORE)}
        missing = [key for key in members if key not in actual]
        if missing:
            return f"{here}: no member {missing[0]!r}"
        extra = [key for key in actual if key not in members]
        if extra and not more:
            return f'{here}: a member not shown: {extra[0]!r} (show `"...": "..."` if more may follow)'
        for key, value in members.items():
            found = json_mismatch(value, actual[key], f"{pointer}/{_escape(key)}")
            if found is not None:
                return found
        return None
    if isinstance(shown, list):
        if not isinstance(actual, list):
            return f"{here}: expected an array, got {actual!r}"
        more = bool(shown) and shown[-1] == MORE
        items = shown[:-1] if more else shown
        if len(actual) < len(items) or (len(actual) > len(items) and not more):
            return f"{here}: {len(actual)} items, the document shows {len(items)}{' or more' if more else ''}"
        for position, value in enumerate(items):
            found = json_mismatch(value, actual[position], f"{pointer}/{position}")
            if found is not None:
                return found
        return None
    if type(shown) is not type(actual) or shown != actual:
        return f"{here}: {actual!r}, the document shows {shown!r}"
    return None


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def text_matches(shown: str, actual: str) -> bool:
    return text_mismatch(shown, actual) is None


def text_mismatch(shown: str, actual: str) -> str | None:
    """Line by line, trailing spaces and blank lines at the end ignored; a placeholder in a shown line matches any
    text of that shape. None when it matches, else which line differs."""
    expected_lines, actual_lines = _lines(shown), _lines(actual)
    for number, (expected, got) in enumerate(zip(expected_lines, actual_lines, strict=False), start=1):
        if not re.fullmatch(_line_pattern(expected), got):
            return f"line {number}: {got!r}, the document shows {expected!r}"
    if len(expected_lines) != len(actual_lines):
        return f"{len(actual_lines)} lines, the document shows {len(expected_lines)}"
    return None


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _line_pattern(line: str) -> str:
    pieces = re.split("(" + "|".join(re.escape(token) for token in PLACEHOLDERS) + ")", line)
    return "".join(PLACEHOLDERS[piece] if piece in PLACEHOLDERS else re.escape(piece) for piece in pieces)
