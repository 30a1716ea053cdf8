"""Real gateway responses validated against OpenRouter's official OpenAPI 3.1 document.

The document lives outside the repository, at `<repo>/../shared/spec/openrouter-openapi.json`
(CI clones the repo with `shared/` beside it). The whole document is registered as one JSON
Schema 2020-12 resource so `#/components/schemas/...` references resolve exactly as written.

One deliberate deviation: `components.schemas.ProviderName` is a closed list of OpenRouter's own
providers, while a self-hosted gateway names providers as its operator configures them ("Fast
Mock", "Ollama"…); that enum alone is relaxed to any string. Nothing else is relaxed: fields
Turnout sends that the OAS does not declare pass only because the schemas allow additional
properties. A failure lists every violation with its location in the
response, the schema keyword that rejected it, and the offending JSON.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import httpx
import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

OAS_PATH = Path(__file__).resolve().parents[2] / "shared" / "spec" / "openrouter-openapi.json"
OAS_URI = "urn:openrouter:openapi"
MESSAGES = [{"role": "user", "content": "Say hello"}]
CHAT = "/chat/completions"


# --------------------------------------------------------------------------- schema plumbing


@lru_cache(maxsize=1)
def oas() -> dict[str, Any]:
    if not OAS_PATH.is_file():
        pytest.fail(f"OpenAPI document not found at {OAS_PATH} (expected shared/ beside the repo)")
    doc = json.loads(OAS_PATH.read_text())
    provider_name = doc["components"]["schemas"]["ProviderName"]
    provider_name.pop("enum", None)
    provider_name["type"] = "string"
    return doc


@lru_cache(maxsize=1)
def registry() -> Registry:
    return Registry().with_resource(OAS_URI, DRAFT202012.create_resource(oas()))


def _pointer(*segments: str) -> str:
    escaped = (s.replace("~", "~0").replace("/", "~1") for s in segments)
    return "/" + "/".join(escaped)


@lru_cache(maxsize=None)
def validator_at(pointer: str) -> Draft202012Validator:
    """A validator for the schema found at `pointer` inside the OpenAPI document."""
    schema = {"$ref": f"{OAS_URI}#{quote(pointer, safe='/~')}"}
    return Draft202012Validator(schema, registry=registry())


def component(name: str) -> Draft202012Validator:
    assert name in oas()["components"]["schemas"], f"OAS has no components.schemas.{name}"
    return validator_at(_pointer("components", "schemas", name))


def response_schema(path: str, method: str, status: int | str, ctype: str = "application/json"):
    """The validator for `paths[path][method].responses[status].content[ctype].schema`."""
    op = oas()["paths"][path][method]
    assert str(status) in op["responses"], (
        f"OAS declares no {status} response for {method.upper()} {path}; "
        f"declared: {sorted(op['responses'])}"
    )
    assert ctype in op["responses"][str(status)]["content"]
    return validator_at(
        _pointer("paths", path, method, "responses", str(status), "content", ctype, "schema")
    )


def response_schema_name(path: str, method: str, status: int | str) -> str:
    schema = oas()["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    return schema.get("$ref", f"{method.upper()} {path} {status} (inline)").rsplit("/", 1)[-1]


def _excerpt(value: Any, limit: int = 400) -> str:
    text = json.dumps(value, separators=(",", ":"))
    return text if len(text) <= limit else text[:limit] + "…"


def _describe(err: ValidationError, indent: str = "  ") -> Iterator[str]:
    where = "$" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
    schema_at = "/".join(str(p) for p in err.absolute_schema_path)
    yield f"{indent}at {where}: {err.message}"
    yield f"{indent}  schema keyword: {schema_at}"
    yield f"{indent}  offending JSON: {_excerpt(err.instance)}"
    for sub in sorted(err.context or [], key=lambda e: list(e.absolute_schema_path))[:6]:
        yield from _describe(sub, indent + "    ")


def assert_valid(validator: Draft202012Validator, instance: Any, what: str) -> None:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        target = validator.schema.get("$ref") or _excerpt(validator.schema, 200)
        lines = [f"{what}: {len(errors)} schema violation(s) against {target}"]
        for err in errors[:20]:
            lines.extend(_describe(err))
        lines.append(f"full body: {_excerpt(instance, 2000)}")
        pytest.fail("\n".join(lines), pytrace=False)


def test_openapi_document_is_usable() -> None:
    doc = oas()
    assert doc["openapi"].startswith("3.1"), doc["openapi"]
    for name in ("ChatResult", "ChatStreamChunk", "BadRequestResponse", "ModelsListResponse"):
        component(name)  # asserts presence
    # Guard against vacuous validation (an unresolved or empty schema accepts anything).
    good_usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    bad = {
        "ChatResult": {"id": "x", "choices": [], "created": 1, "model": "m", "object": "chat.completion.chunk", "system_fingerprint": None},
        "ChatStreamChunk": {"id": "x", "choices": [{"index": 0, "delta": {}, "finish_reason": "bogus"}], "created": 1, "model": "m", "object": "chat.completion.chunk"},
        "BadRequestResponse": {"error": {"code": "400", "message": "m"}},
        "ModelsListResponse": {"data": [{"id": "m"}]},
    }
    good = {
        "ChatResult": {**bad["ChatResult"], "object": "chat.completion", "usage": good_usage},
        "ChatStreamChunk": {**bad["ChatStreamChunk"], "choices": [{"index": 0, "delta": {}, "finish_reason": None}]},
        "BadRequestResponse": {"error": {"code": 400, "message": "m"}},
        "ModelsListResponse": {"data": [], "total_count": 0, "links": {"next": None}},
    }
    for name in bad:
        assert not component(name).is_valid(bad[name]), f"{name} accepted a known-bad body"
        assert_valid(component(name), good[name], f"{name} self-test")


# --------------------------------------------------------------------------- helpers


def post_chat(http: httpx.Client, body: dict[str, Any] | bytes, prefix: str = "/api/v1") -> httpx.Response:
    if isinstance(body, bytes):
        return http.post(prefix + CHAT, content=body, headers={"content-type": "application/json"})
    return http.post(prefix + CHAT, json=body)


def json_body(r: httpx.Response) -> Any:
    assert r.headers.get("content-type", "").startswith("application/json"), (
        r.status_code,
        r.headers.get("content-type"),
        r.text[:300],
    )
    return r.json()


def read_sse(http: httpx.Client, body: dict[str, Any]) -> tuple[list[str], list[str]]:
    """POST a streaming request; return (comment lines, data payloads) in arrival order."""
    comments: list[str] = []
    data: list[str] = []
    with http.stream("POST", "/api/v1" + CHAT, json=body) as r:
        assert r.status_code == 200, r.read()[:500]
        assert r.headers.get("content-type", "").startswith("text/event-stream"), r.headers
        event: list[str] = []
        for line in r.iter_lines():
            if line.startswith(":"):
                comments.append(line)
            elif line.startswith("data:"):
                event.append(line[5:].removeprefix(" "))
            elif line == "":
                if event:
                    data.append("\n".join(event))
                    event = []
            # other SSE fields (event:, id:, retry:) are not used by OpenRouter
        if event:
            data.append("\n".join(event))
    return comments, data


# --------------------------------------------------------------------------- chat completions


@pytest.mark.parametrize("model", ["demo/fast", "demo/chat", "mock/e2e-wildcard"])
def test_chat_result(http: httpx.Client, model: str) -> None:
    r = post_chat(http, {"model": model, "messages": MESSAGES})
    assert r.status_code == 200, r.text
    body = json_body(r)
    assert_valid(component("ChatResult"), body, f"POST {CHAT} {model}")
    # The operation's declared 200 schema is ChatResult; validate through it too.
    assert_valid(response_schema(CHAT, "post", 200), body, f"POST {CHAT} {model} (operation 200)")


@pytest.mark.parametrize("model", ["demo/fast", "demo/slow"])
def test_chat_stream_chunks(http: httpx.Client, model: str) -> None:
    comments, payloads = read_sse(http, {"model": model, "messages": MESSAGES, "stream": True})

    assert payloads and payloads[-1] == "[DONE]", payloads[-3:]
    assert payloads.count("[DONE]") == 1
    if model == "demo/slow":
        assert ": OPENROUTER PROCESSING" in comments, comments

    chunks = [json.loads(p) for p in payloads[:-1]]
    assert chunks, "no data chunks before [DONE]"
    validator = component("ChatStreamChunk")
    envelope = response_schema(CHAT, "post", 200, "text/event-stream")  # ChatStreamingResponse
    for i, chunk in enumerate(chunks):
        assert_valid(validator, chunk, f"stream {model} chunk #{i}")
        assert_valid(envelope, {"data": chunk}, f"stream {model} chunk #{i} as ChatStreamingResponse")

    # The final data chunk carries usage and, per the overview docs, `choices: []`.
    last = chunks[-1]
    assert "usage" in last and last["usage"]["total_tokens"] > 0, last
    assert [c for c in chunks if "usage" in c and c["usage"] is not None] == [last]


# --------------------------------------------------------------------------- error envelopes


def _assert_error(r: httpx.Response, status: int, validator: Draft202012Validator, what: str) -> None:
    assert r.status_code == status, (r.status_code, r.text[:300])
    body = json_body(r)
    assert_valid(validator, body, what)
    assert body["error"]["code"] == status, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body


@pytest.mark.parametrize("prefix", ["/api/v1", "/v1"])
def test_error_unknown_model(http: httpx.Client, prefix: str) -> None:
    r = post_chat(http, {"model": "nobody/no-such-model", "messages": MESSAGES}, prefix)
    name = response_schema_name(CHAT, "post", 400)
    _assert_error(r, 400, response_schema(CHAT, "post", 400), f"400 unknown model ({name})")


def test_error_malformed_json(http: httpx.Client) -> None:
    r = post_chat(http, b'{"model": "demo/fast", "messages": [')
    name = response_schema_name(CHAT, "post", 400)
    _assert_error(r, 400, response_schema(CHAT, "post", 400), f"400 malformed JSON ({name})")


@pytest.mark.parametrize("path", ["/api/v1/no-such-route", "/v1/no-such-route", "/api/v1/chat/completion"])
def test_error_unknown_route(http: httpx.Client, path: str) -> None:
    r = http.post(path, json={"model": "demo/fast", "messages": MESSAGES})
    name = response_schema_name(CHAT, "post", 404)
    _assert_error(r, 404, response_schema(CHAT, "post", 404), f"404 {path} ({name})")


def _all_error_schemas(path: str, method: str) -> Draft202012Validator:
    """anyOf over every 4xx/5xx JSON schema the operation declares.

    The OAS declares no 405 response anywhere, so a 405 body is checked against the error
    envelope the operation does declare (all of them share one shape: BadRequestResponse,
    NotFoundResponse, …).
    """
    responses = oas()["paths"][path][method]["responses"]
    refs = [
        {"$ref": f"{OAS_URI}#{quote(_pointer('paths', path, method, 'responses', st, 'content', 'application/json', 'schema'), safe='/~')}"}
        for st, resp in responses.items()
        if st[0] in "45" and "application/json" in resp.get("content", {})
    ]
    assert refs
    return Draft202012Validator({"anyOf": refs}, registry=registry())


@pytest.mark.parametrize(
    "method,path",
    [("GET", "/api/v1/chat/completions"), ("DELETE", "/v1/chat/completions"), ("POST", "/api/v1/models")],
)
def test_error_method_not_allowed(http: httpx.Client, method: str, path: str) -> None:
    assert "405" not in oas()["paths"][CHAT]["post"]["responses"]
    r = http.request(method, path)
    assert r.headers.get("allow"), "405 without an Allow header"
    _assert_error(r, 405, _all_error_schemas(CHAT, "post"), f"405 {method} {path} (any declared error schema)")


# --------------------------------------------------------------------------- catalog


@pytest.mark.parametrize("prefix", ["/api/v1", "/v1"])
def test_models_list(http: httpx.Client, prefix: str) -> None:
    r = http.get(prefix + "/models")
    assert r.status_code == 200, r.text[:300]
    body = json_body(r)
    assert_valid(component("ModelsListResponse"), body, f"GET {prefix}/models")
    assert_valid(response_schema("/models", "get", 200), body, f"GET {prefix}/models (operation 200)")
    assert {"demo/fast", "demo/chat", "demo/slow"} <= {m["id"] for m in body["data"]}


@pytest.mark.parametrize("model", ["demo/fast", "demo/chat", "demo/slow"])
def test_model_endpoints(http: httpx.Client, model: str) -> None:
    r = http.get(f"/api/v1/models/{model}/endpoints")
    assert r.status_code == 200, r.text[:300]
    body = json_body(r)
    op = "/models/{author}/{slug}/endpoints"
    assert_valid(response_schema(op, "get", 200), body, f"GET /models/{model}/endpoints")
    assert body["data"]["id"] == model
    assert body["data"]["endpoints"], "no endpoints"


def test_model_endpoints_unknown_model(http: httpx.Client) -> None:
    r = http.get("/api/v1/models/nobody/no-such-model/endpoints")
    op = "/models/{author}/{slug}/endpoints"
    _assert_error(r, 404, response_schema(op, "get", 404), "404 endpoints of unknown model")


def test_providers(http: httpx.Client) -> None:
    r = http.get("/api/v1/providers")
    assert r.status_code == 200, r.text[:300]
    body = json_body(r)
    assert_valid(response_schema("/providers", "get", 200), body, "GET /providers")
    assert body["data"], "no providers"
