"""A real chat-completions HTTP server for the LLM client's tests and benchmark (stdlib only).

Why a real server rather than a mocked transport: timeouts, cut-off bodies, connection reuse and
concurrency limits only show up over a socket. Each request takes the next entry of a scripted
queue (or `default` when the queue is empty):

- "ok" / any other string: a completion with that content ("ok" -> content "ok")
- ("content", text): that content literally (even "invalid_json"); ("json", obj): json.dumps(obj)
- callable(request_json) -> content string or any other entry
- ("status", code[, headers[, body]]): an error answer (JSON error body unless one is given)
- ("sleep", seconds[, entry]): wait, then answer `entry` (default "ok"): client timeouts
- "invalid_json": HTTP 200 whose body is not JSON; "truncated": body cut off mid-way

Every request is recorded (path, lower-cased headers, parsed JSON); in-flight requests are counted
and the most seen at once is kept. `latency_s` is added to every request.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Entry = Any  # str | tuple | Callable[[dict], Any]


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    json: Any


@dataclass
class _Answer:
    status: int
    body: bytes
    headers: dict[str, str]
    truncate: bool = False


class FakeChatServer:
    """Chat-completions server on 127.0.0.1 (ephemeral port) in a background thread."""

    def __init__(self, latency_s: float = 0.0, default: Entry = "ok",
                 usage: tuple[int, int] = (11, 7)) -> None:
        self.latency_s = latency_s
        self.default = default
        self.usage = usage  # (prompt_tokens, completion_tokens) reported per completion
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._queue: deque[Entry] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # -- control ---------------------------------------------------------------------------
    def start(self) -> FakeChatServer:
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.fake = self  # type: ignore[attr-defined]
        httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self._httpd = httpd
        self._port = httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # wakes sleeping handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL with /v1, as a user would configure it."""
        return f"{self.root_url}/v1"

    @property
    def root_url(self) -> str:
        assert self._port is not None, "server not started"
        return f"http://127.0.0.1:{self._port}"  # kept after stop(): a refused connection

    def script(self, entries: Iterable[Entry]) -> None:
        """Queue answers for the next requests, in order."""
        with self._lock:
            self._queue.extend(entries)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.max_in_flight = 0

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    @property
    def pending(self) -> int:
        """Scripted entries not used yet."""
        with self._lock:
            return len(self._queue)

    # -- handling --------------------------------------------------------------------------
    def _begin(self, request: RecordedRequest) -> Entry:
        with self._lock:
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self._queue.popleft() if self._queue else self.default

    def _end(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _answer(self, entry: Entry, request: Any) -> _Answer:
        if callable(entry):
            entry = entry(request)
        if isinstance(entry, tuple):
            kind = entry[0]
            if kind == "status":
                code = entry[1]
                headers = entry[2] if len(entry) > 2 else {}
                body = entry[3] if len(entry) > 3 else json.dumps(
                    {"error": {"message": f"scripted HTTP {code}", "type": "fake", "code": code}})
                return _Answer(code, body.encode(), {"Content-Type": "application/json", **headers})
            if kind == "sleep":
                self._stop.wait(entry[1])
                return self._answer(entry[2] if len(entry) > 2 else "ok", request)
            if kind == "content":
                return self._completion(entry[1], request)
            if kind == "json":
                return self._completion(json.dumps(entry[1]), request)
            raise ValueError(f"unknown scripted entry {entry!r}")
        if entry == "invalid_json":
            return _Answer(200, b"<html>Bad gateway, but 200</html>",
                           {"Content-Type": "application/json"})
        if entry == "truncated":
            answer = self._completion("this answer is cut off", request)
            answer.truncate = True
            return answer
        if isinstance(entry, str):
            return self._completion(entry, request)
        raise ValueError(f"unknown scripted entry {entry!r}")

    def _completion(self, content: str, request: Any) -> _Answer:
        model = request.get("model", "fake") if isinstance(request, dict) else "fake"
        prompt, completion = self.usage
        payload = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion},
        }
        return _Answer(200, json.dumps(payload).encode(), {"Content-Type": "application/json"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler still sleeping for a timeout test never blocks shutdown
    request_queue_size = 256  # the default backlog of 5 drops connections at concurrency 32


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        fake: FakeChatServer = self.server.fake  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in self.headers.items()}
        entry = fake._begin(RecordedRequest(self.path, headers, body))
        try:
            if self.path != "/v1/chat/completions":
                answer = _Answer(404, b'{"error": {"message": "not found"}}', {})
            else:
                fake._stop.wait(fake.latency_s)
                answer = fake._answer(entry, body)
        finally:
            fake._end()  # before sending, so a client's next request never overlaps this one
        self._send(answer)

    def _send(self, answer: _Answer) -> None:
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            if answer.truncate:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(answer.body[: len(answer.body) // 2] if answer.truncate
                             else answer.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            self.close_connection = True

