"""A small Hugging Face Hub-compatible HTTP server for tests (127.0.0.1, in memory).

It implements the routes `huggingface_hub` 2.x and `transformers` actually call to create
repos, validate card metadata, commit files and download them back. Every file is
answered with upload mode "regular" and no Xet headers, so the client never tries LFS
or Xet. Writes (and reads of private repos) need `token` when one is set.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

# A subset of the licence ids the Hub accepts; enough to tell valid from invalid.
KNOWN_LICENSES = {"apache-2.0", "mit", "bsd-3-clause", "cc-by-4.0", "cc0-1.0", "gpl-3.0", "other"}
BAD_TOKEN = "Invalid credentials in Authorization header"
GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob, as the Hub reports it for regular files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # sha -> snapshot
    history: list[str] = field(default_factory=list)  # commit shas, oldest first
    branches: dict[str, str] = field(default_factory=dict)  # branch -> sha

    def commit(self, files: dict[str, bytes], message: str, branch: str = "main") -> str:
        """Record a snapshot on `branch` and return its commit sha."""
        seed = json.dumps([self.branches.get(branch), len(self.history), message, sorted(files)])
        digest = hashlib.sha1(seed.encode())
        for path in sorted(files):
            digest.update(git_blob_sha1(files[path]).encode())
        sha = digest.hexdigest()
        self.commits[sha], self.branches[branch] = dict(files), sha
        self.history.append(sha)
        return sha

    def resolve(self, rev: str) -> str | None:
        """A branch name or full commit sha -> commit sha (None if unknown)."""
        return self.branches.get(rev) or (rev if rev in self.commits else None)


def validate_card_yaml(content: str) -> list[str]:
    """Check README front matter the way the Hub does; return error messages."""
    if not content.startswith("---"):
        return []
    try:
        meta = yaml.safe_load(content.split("---", 2)[1])
    except (yaml.YAMLError, IndexError) as err:
        return [f"Invalid YAML: {err}"]
    if meta is None:
        return []
    if not isinstance(meta, dict):
        return ["Metadata must be a mapping"]
    errors = []
    if "license" in meta and meta["license"] not in KNOWN_LICENSES:
        errors.append(f'"license" must be one of [{", ".join(sorted(KNOWN_LICENSES))}]')
    tags = meta.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        errors.append('"tags" must be an array of strings')
    for entry in meta.get("model-index") or []:
        for result in entry.get("results", []):
            if not result.get("task", {}).get("type"):
                errors.append('"model-index[0].results[].task.type" is required')
            if not {"name", "type"} <= set(result.get("dataset", {})):
                errors.append('"model-index[0].results[].dataset" needs name and type')
            for metric in result.get("metrics", []):
                if "type" not in metric or not isinstance(metric.get("value"), (int, float, str)):
                    errors.append('"model-index[0].results[].metrics[]" needs type and value')
    return errors


class HubState:
    """Repositories and a log of (method, path) requests, shared by handler threads."""

    def __init__(self, user: str = "probekit-user", token: str | None = None):
        self.user, self.token = user, token
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects; every reply sets Content-Length
    state: HubState  # set on the subclass made by HubServer

    def log_message(self, *args):  # quiet test output
        pass

    # -- plumbing ---------------------------------------------------------------------
    def _reply(self, status, body=b"", headers=None, head=False):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _error(self, status, code, message, head=False, extra=None):
        headers = {"X-Error-Code": code, "X-Error-Message": message, **(extra or {})}
        self._reply(status, {"error": message}, headers, head)

    def _authorized(self) -> bool:
        token = self.state.token
        return token is None or self.headers.get("Authorization") == f"Bearer {token}"

    def _repo(self, repo_type, repo_id, head=False, write=False):
        repo = self.state.repos.get((repo_type, repo_id))
        if repo is None or ((repo.private or write) and not self._authorized()):
            if write and repo is not None:
                self._error(401, "Unauthorized", BAD_TOKEN, head)
            else:
                self._error(
                    404 if repo is None else 401, "RepoNotFound", "Repository not found", head
                )
            return None
        return repo

    def _sha(self, repo, rev, head=False):
        sha = repo.resolve(rev)
        if sha is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
        return sha

    # -- dispatch ---------------------------------------------------------------------
    def do_HEAD(self):
        self._route("HEAD")

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def _route(self, method):
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        query = parse_qs(url.query)
        # Read the body first, so an early error reply leaves the keep-alive stream in sync.
        self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.state.lock:  # one request at a time: the state is small and tests are tiny
            self.state.requests.append((method, url.path))
            if parts[:1] == ["api"]:
                return self._api(method, parts[1:], query)
            if parts[0] in ("datasets", "spaces"):
                repo_type, parts = parts[0][:-1], parts[1:]
            else:
                repo_type = "model"
            if len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
                repo_id, rev, path = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
                return self._resolve(repo_type, repo_id, rev, path, method)
            self._error(404, "NotFound", f"No route for {method} {url.path}")

    def _api(self, method, parts, query):
        if method == "POST" and parts == ["repos", "create"]:
            return self._create_repo(json.loads(self.body))
        if method == "POST" and parts == ["validate-yaml"]:
            errors = validate_card_yaml(json.loads(self.body).get("content", ""))
            body = {"errors": [{"message": m} for m in errors], "warnings": []}
            return self._reply(400 if errors else 200, body)
        if len(parts) < 4 or parts[0] not in ("models", "datasets", "spaces"):
            return self._error(404, "NotFound", "No such API route")
        repo_type, repo_id, rest = parts[0][:-1], "/".join(parts[1:3]), parts[3:]
        repo = self._repo(repo_type, repo_id, write=method == "POST")
        if repo is None:
            return None
        if method == "GET" and rest[:1] in (["revision"], []):
            return self._info(repo, rest[1] if rest else "main")
        if method == "GET" and rest[:1] == ["tree"] and len(rest) >= 2:
            return self._tree(repo, rest[1], "/".join(rest[2:]), query)
        if method == "POST" and rest[:1] == ["preupload"] and len(rest) == 2:
            return self._preupload(repo, rest[1], json.loads(self.body))
        if method == "POST" and rest[:1] == ["commit"] and len(rest) == 2:
            return self._commit(repo, rest[1], self.body)
        if method == "POST" and rest[:1] == ["branch"] and len(rest) == 2:
            if rest[1] in repo.branches:
                return self._error(409, "Conflict", "Branch already exists")
            start = repo.resolve(json.loads(self.body or b"{}").get("startingPoint", "main"))
            repo.branches[rest[1]] = start
            return self._reply(200, {})
        self._error(404, "NotFound", "No such API route")

    # -- routes -----------------------------------------------------------------------
    def _create_repo(self, payload):
        if not self._authorized():
            return self._error(401, "Unauthorized", BAD_TOKEN)
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or self.state.user}/{payload['name']}"
        url = f"http://{self.headers['Host']}/{PREFIX[repo_type]}{repo_id}"
        if (repo_type, repo_id) in self.state.repos:
            # The real Hub's 409 carries the url, which `create_repo(exist_ok=True)` returns.
            body = {"error": "You already created this repo", "url": url}
            return self._reply(409, body, {"X-Error-Message": body["error"]})
        repo = Repo(repo_type, repo_id, private=payload.get("visibility") == "private")
        repo.commit({".gitattributes": GITATTRIBUTES}, "initial commit")
        self.state.repos[(repo_type, repo_id)] = repo
        self._reply(200, {"url": url, "name": repo_id, "id": repo_id})

    def _info(self, repo, rev):
        sha = self._sha(repo, rev)
        if sha is None:
            return None
        siblings = [{"rfilename": p} for p in sorted(repo.commits[sha])]
        info = {"id": repo.repo_id, "sha": sha, "private": repo.private}
        self._reply(200, {**info, "siblings": siblings})

    def _tree(self, repo, rev, folder, query):
        sha = self._sha(repo, rev)
        if sha is None:
            return None
        recursive = query.get("recursive", ["false"])[0].lower() in ("true", "1")
        prefix = folder.rstrip("/") + "/" if folder else ""
        entries: dict[str, dict] = {}
        for path, data in sorted(repo.commits[sha].items()):
            if not path.startswith(prefix):
                continue
            rel = path[len(prefix) :].split("/")
            depth = len(rel) if recursive else 1
            for i in range(1, min(depth, len(rel) - 1) + 1):  # folders on the way
                sub = prefix + "/".join(rel[:i])
                entries.setdefault(
                    sub, {"type": "directory", "path": sub, "oid": "0" * 40, "size": 0}
                )
            if recursive or len(rel) == 1:
                entry = {"type": "file", "path": path, "size": len(data)}
                entries[path] = {**entry, "oid": git_blob_sha1(data)}
        if folder and not entries:
            return self._error(404, "EntryNotFound", f"{folder} does not exist")
        self._reply(200, list(entries.values()))

    def _preupload(self, repo, rev, payload):
        sha = self._sha(repo, rev)
        if sha is None:
            return None
        current = repo.commits[sha]
        files = [
            {
                "path": f["path"],
                "uploadMode": "regular",  # never LFS, so never Xet
                "shouldIgnore": False,
                "oid": git_blob_sha1(current[f["path"]]) if f["path"] in current else None,
            }
            for f in payload["files"]
        ]
        self._reply(200, {"files": files, "commitOid": sha})

    def _commit(self, repo, rev, body):
        sha = self._sha(repo, rev)
        if sha is None:
            return None
        files, summary = dict(repo.commits[sha]), ""
        for line in body.splitlines():
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                summary = value["summary"]
            elif key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key == "deletedFolder":
                files = {
                    p: d
                    for p, d in files.items()
                    if not p.startswith(value["path"].rstrip("/") + "/")
                }
            else:  # lfsFile: never requested, since preupload answers "regular"
                return self._error(400, "BadRequest", f"Unsupported commit operation {key!r}")
        new = repo.commit(files, summary, branch=rev)
        url = f"http://{self.headers['Host']}/{PREFIX[repo.repo_type]}{repo.repo_id}/commit/{new}"
        self._reply(200, {"commitUrl": url, "commitOid": new, "pullRequestUrl": None})

    def _resolve(self, repo_type, repo_id, rev, path, method):
        head = method == "HEAD"
        repo = self._repo(repo_type, repo_id, head=head)
        if repo is None:
            return None
        sha = self._sha(repo, rev, head)
        if sha is None:
            return None
        data = repo.commits[sha].get(path)
        if data is None:
            extra = {"X-Repo-Commit": sha}  # lets the client cache the file's absence
            return self._error(404, "EntryNotFound", f"{path} does not exist", head, extra)
        etag = f'"{git_blob_sha1(data)}"'
        headers = {"X-Repo-Commit": sha, "ETag": etag, "Content-Type": "application/octet-stream"}
        self._reply(200, data, headers, head)


class HubServer:
    """Run a `HubState` behind a ThreadingHTTPServer on a free 127.0.0.1 port."""

    def __init__(self, user: str = "probekit-user", token: str | None = None):
        self.state = HubState(user=user, token=token)
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo:
        """The stored repository (KeyError if absent)."""
        return self.state.repos[(repo_type, repo_id)]
