"""Client for the upstream-allocator oracle (hack/oracle).

The oracle is a Go program that runs k8s.io/dynamic-resource-allocation's
structured allocator (v0.37.2). It reads one JSON case per line on stdin and
answers with one JSON line per case, in order (protocol: hack/oracle/README.md).

    with Oracle() as oracle:
        answers = oracle.run([case1, case2, ...])
"""

from __future__ import annotations

import collections
import json
import subprocess
import threading
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
ORACLE_DIR = REPO_ROOT / "hack" / "oracle"
BUILD_SCRIPT = ORACLE_DIR / "build.sh"
ORACLE_BINARY = REPO_ROOT / ".cache" / "oracle" / "oracle"

_build_lock = threading.Lock()


def _sources_newer_than(binary: Path) -> bool:
    built = binary.stat().st_mtime
    sources = list(ORACLE_DIR.glob("*.go")) + [ORACLE_DIR / "go.mod", ORACLE_DIR / "go.sum"]
    return any(p.exists() and p.stat().st_mtime > built for p in sources)


def oracle_path() -> Path:
    """Path of the built oracle binary; builds it via hack/oracle/build.sh when
    it is missing or older than its sources. Raises RuntimeError if the build
    fails (e.g. no Go toolchain)."""
    with _build_lock:
        if not ORACLE_BINARY.exists() or _sources_newer_than(ORACLE_BINARY):
            proc = subprocess.run(
                ["bash", str(BUILD_SCRIPT)],
                cwd=ORACLE_DIR,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            if proc.returncode != 0 or not ORACLE_BINARY.exists():
                raise RuntimeError(f"building the oracle failed (rc={proc.returncode}):\n{proc.stdout}")
    return ORACLE_BINARY


class OracleError(RuntimeError):
    """The oracle process died or answered out of protocol."""


class Oracle:
    """One long-lived oracle process. Not safe for concurrent use from several
    threads at once (calls to run() are serialised by a lock)."""

    def __init__(self, binary: Path | str | None = None) -> None:
        self._binary = str(binary) if binary is not None else str(oracle_path())
        self._lock = threading.Lock()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=200)
        self._proc = subprocess.Popen(
            [self._binary],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1 << 20,
        )
        # Drain stderr continuously so a chatty oracle can never block on it.
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()

    def _drain_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr_tail.append(line)

    def _died(self, what: str) -> OracleError:
        rc = self._proc.poll()
        tail = "".join(self._stderr_tail)
        return OracleError(f"oracle {what} (exit code {rc}); stderr tail:\n{tail}")

    def run(self, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send all cases, return the answers in the same order."""
        if not cases:
            return []
        lines = [json.dumps(case, separators=(",", ":")) + "\n" for case in cases]
        for i, line in enumerate(lines):
            if line.count("\n") != 1:  # json.dumps never emits raw newlines; be sure.
                raise ValueError(f"case {i} does not serialise to a single line")
        with self._lock:
            if self._proc.poll() is not None:
                raise self._died("is not running")
            stdin, stdout = self._proc.stdin, self._proc.stdout
            assert stdin is not None and stdout is not None
            write_error: list[BaseException] = []

            def writer() -> None:
                # Writing from a thread: the oracle answers while we are still
                # writing, so writing everything first could fill both pipes.
                try:
                    for line in lines:
                        stdin.write(line)
                    stdin.flush()
                except BaseException as exc:  # BrokenPipeError when the oracle died
                    write_error.append(exc)

            thread = threading.Thread(target=writer, daemon=True)
            thread.start()
            answers = []
            try:
                for i in range(len(lines)):
                    raw = stdout.readline()
                    if not raw:
                        raise self._died(f"closed stdout after {i} of {len(lines)} answers")
                    try:
                        answers.append(json.loads(raw))
                    except json.JSONDecodeError as exc:
                        raise OracleError(f"oracle answered a non-JSON line: {raw[:200]!r}") from exc
            except BaseException:
                # Out of sync with the oracle: it cannot be reused, and killing
                # it unblocks the writer thread.
                self._proc.kill()
                raise
            finally:
                thread.join()
            if write_error:
                raise self._died(f"could not be written to: {write_error[0]!r}")
        for case, answer in zip(cases, answers):
            if not isinstance(answer, dict) or answer.get("status") not in ("ok", "unsat", "error"):
                raise OracleError(f"oracle answer out of protocol: {answer!r:.200}")
            if "id" in case and answer.get("id") != case["id"]:
                raise OracleError(f"answer id {answer.get('id')!r} does not match case id {case['id']!r}")
        return answers

    def close(self) -> None:
        proc = self._proc
        if proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        self._stderr_thread.join(timeout=5)
        if proc.stderr is not None:
            proc.stderr.close()

    def __enter__(self) -> "Oracle":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
