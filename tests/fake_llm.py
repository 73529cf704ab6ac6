"""A fake OpenAI-compatible chat-completions server on 127.0.0.1 for the LLM judge's tests: no
network, fixed answers, every request recorded."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from core.labels.llm.config import JudgeConfig


class FakeJudge:
    """An OpenAI-compatible /v1/chat/completions that answers from ``answers`` (document text ->
    the message content; ``default`` otherwise) and records every request it gets."""

    def __init__(self, answers=None, default='{"grade": 0}', status=200, delay=0.0):
        self.answers, self.default, self.status, self.delay = dict(answers or {}), default, status, delay
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if fake.delay:
                    time.sleep(fake.delay)
                if fake.status in (301, 302, 307, 308):
                    self.send_response(fake.status)
                    self.send_header("Location", "/elsewhere/chat/completions")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if fake.status != 200:
                    out = json.dumps({"error": {"message": "модель упала"}}).encode()
                    self.send_response(fake.status)
                else:
                    doc = json.loads(body["messages"][1]["content"])["документ"]
                    content = fake.answers.get(doc, fake.default)
                    out = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant",
                                                                           "content": content}}]}).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                try:
                    self.wfile.write(out)
                except OSError:          # the client gave up (the timeout test)
                    pass

            def do_GET(self):           # only a followed redirect would come here
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": None})
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def config(self, **kw) -> JudgeConfig:
        return JudgeConfig.from_section({"base_url": self.base_url, "model": "fake-judge", **kw})

    def close(self):
        self.server.shutdown()
        self.server.server_close()
