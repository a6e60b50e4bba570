"""The local front door: what CloudFront + API Gateway (HTTP API, JWT authorizer) + Lambda do in AWS.

- `/api/*`       -> a payload-2.0 HTTP API event for the same `api.handler.lambda_handler`, after the same
                    JWT check as the HTTP API's Cognito authorizer (public routes excepted);
- `/cognito/`    -> the Cognito Identity Provider JSON API of the moto pool (sign-ups confirmed at once); the
                    tokens it hands out are the only ones `/api/*` accepts (local/issued_tokens.py);
- `/config.json` -> the SPA's runtime configuration;
- anything else  -> web/dist, with CloudFront's cache headers and SPA routing.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import requests
from werkzeug.exceptions import NotFound
from werkzeug.utils import send_from_directory
from werkzeug.wrappers import Request, Response

from local.auth import JwtAuthorizer, Unauthorized
from local.issued_tokens import IssuedTokens, unverified_claims
from local.logs import LogSink
from local.resources import LocalResources
from playout.resources import IMMUTABLE_CACHE_CONTROL, PUBLIC_ROUTES, spa_content_security_policy

PROXY_ROUTE_KEY: Final = "ANY /api/{proxy+}"
NO_CACHE: Final = "no-cache"
SPA_ENTRY: Final = "index.html"
HASHED_ASSETS_PREFIX: Final = "assets/"
ACCOUNT_ID: Final = "123456789012"

# Cognito actions a browser may call without AWS credentials; the rest need IAM (SigV4) in AWS.
COGNITO_PUBLIC_ACTIONS: Final = frozenset(
    {
        "SignUp",
        "ConfirmSignUp",
        "ResendConfirmationCode",
        "InitiateAuth",
        "RespondToAuthChallenge",
        "GetUser",
        "UpdateUserAttributes",
        "DeleteUser",
        "ChangePassword",
        "ForgotPassword",
        "ConfirmForgotPassword",
        "GlobalSignOut",
        "RevokeToken",
        "GetUserAttributeVerificationCode",
        "VerifyUserAttribute",
        "AssociateSoftwareToken",
        "VerifySoftwareToken",
        "SetUserMFAPreference",
        "ConfirmDevice",
        "ForgetDevice",
        "GetDevice",
        "ListDevices",
        "UpdateDeviceStatus",
    }
)
COGNITO_TARGET_PREFIX: Final = "AWSCognitoIdentityProviderService."
REFRESH_FLOWS: Final = frozenset({"REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"})
# The actions that end sessions, with the body field naming whose.
SIGN_OUT_ACTIONS: Final = {"GlobalSignOut": "AccessToken", "DeleteUser": "AccessToken"}


@dataclass
class LambdaContext:
    """The parts of the Lambda context object that Powertools reads."""

    aws_request_id: str
    function_name: str = "playout-local-api"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    log_group_name: str = "/aws/lambda/playout-local-api"
    log_stream_name: str = "local"
    timeout_ms: int = 29_000

    def __post_init__(self) -> None:
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class Gateway:
    def __init__(
        self,
        *,
        resources: LocalResources,
        handler: Handler,
        web_dist: Path,
        origin: str,
        cognito: Any,
        log: LogSink,
    ) -> None:
        self._resources = resources
        self._handler = handler
        self._web_dist = web_dist
        self._origin = origin
        self._cognito = cognito  # boto3 cognito-idp client (admin calls)
        self._log = log
        self._issued = IssuedTokens()
        self._authorizer = JwtAuthorizer(
            resources.jwks_url, resources.issuer, [resources.user_pool_client_id], self._issued
        )
        # One Lambda execution environment serves one request at a time; Powertools' resolver keeps the
        # current event on a module-level object, so concurrent calls must not interleave.
        self._lambda_lock = threading.Lock()
        self._http = requests.Session()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        started = time.monotonic()
        try:
            response = self._dispatch(request)
        except Exception as error:  # the gateway itself failed: answer like CloudFront would, log the cause
            self._log.event("gateway error", path=request.path, error=f"{type(error).__name__}: {error}")
            response = _json(502, {"message": "Bad Gateway"})
        self._log.event(
            "request",
            method=request.method,
            path=request.path,
            status=response.status_code,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        if path == "/api" or path.startswith("/api/"):
            return self._api(request)
        if path in ("/cognito", "/cognito/"):
            return _with_security_headers(self._cognito_proxy(request), self._resources.endpoint_url)
        if path == "/config.json":
            response = _json(200, self.runtime_config())
            response.headers["Cache-Control"] = NO_CACHE
            return _with_security_headers(response, self._resources.endpoint_url)
        return _with_security_headers(self._static(request), self._resources.endpoint_url)

    def runtime_config(self) -> dict[str, str]:
        return {
            "apiUrl": "/api",
            "region": self._resources.region,
            "userPoolId": self._resources.user_pool_id,
            "userPoolClientId": self._resources.user_pool_client_id,
            "cognitoEndpoint": f"{self._origin}/cognito/",
        }

    # --- /api/*: API Gateway HTTP API + Lambda ---

    def _api(self, request: Request) -> Response:
        public = request.method == "GET" and request.path in PUBLIC_ROUTES
        authorizer: dict[str, Any] | None = None
        if not public:
            try:
                authorization = self._authorizer.authorize(request.headers.get("Authorization"))
            except Unauthorized as error:
                self._log.event("unauthorized", path=request.path, reason=str(error))
                # API Gateway's own answer, word for word: an HTTP API's authorizer refusal cannot be reshaped
                # in AWS, so the OpenAPI document gives 401 this schema and local mode answers the same.
                return Response(
                    json.dumps({"message": "Unauthorized"}),
                    status=401,
                    content_type="application/json",
                    headers={"www-authenticate": "Bearer"},
                )
            authorizer = {"jwt": {"claims": authorization.claims, "scopes": authorization.scopes}}
        event = http_api_event(
            request, route_key=f"GET {request.path}" if public else PROXY_ROUTE_KEY, authorizer=authorizer
        )
        context = LambdaContext(aws_request_id=str(uuid.uuid4()))
        try:
            with self._lambda_lock:
                result = self._handler(event, context)
        except Exception as error:  # an unhandled error in the function: API Gateway's bare 500
            self._log.event("lambda error", path=request.path, error=f"{type(error).__name__}: {error}")
            return _json(500, {"message": "Internal Server Error"})
        response = _response_from_lambda(result)
        response.headers["apigw-requestid"] = event["requestContext"]["requestId"]
        return response

    # --- /cognito/: the user pool's public JSON API ---

    def _cognito_proxy(self, request: Request) -> Response:
        if request.method != "POST":
            return Response(status=405, headers={"Allow": "POST"})
        target = request.headers.get("X-Amz-Target", "")
        action = target.removeprefix(COGNITO_TARGET_PREFIX)
        if not target.startswith(COGNITO_TARGET_PREFIX) or action not in COGNITO_PUBLIC_ACTIONS:
            return _json(
                400,
                {"__type": "MissingAuthenticationTokenException", "message": "Missing Authentication Token"},
                content_type="application/x-amz-json-1.1",
            )
        body = request.get_data(cache=False)
        fields = _json_object(body)
        refresh_token = self._refresh_token(action, fields)
        if refresh_token is not None and self._issued.session_ended(refresh_token):
            return _cognito_error("NotAuthorizedException", "Refresh Token has been revoked")
        if action == "RevokeToken":
            # moto does not implement it; amazon-cognito-identity-js calls it on sign-out.
            if isinstance(fields.get("Token"), str):
                self._issued.end_session(fields["Token"])
            return _json(200, {}, content_type="application/x-amz-json-1.1")
        upstream = self._http.post(
            self._resources.endpoint_url + "/",
            data=body,
            headers={
                "X-Amz-Target": target,
                "Content-Type": request.headers.get("Content-Type", "application/x-amz-json-1.1"),
            },
            timeout=30,
        )
        content = upstream.content
        if action == "SignUp" and upstream.status_code == 200:
            content = self._confirm_sign_up(body, content)
        if upstream.status_code == 200:
            self._follow_sessions(action, fields, _json_object(content), refresh_token)
        response = Response(content, status=upstream.status_code)
        response.headers["Content-Type"] = upstream.headers.get("Content-Type", "application/x-amz-json-1.1")
        if "x-amzn-requestid" in upstream.headers:
            response.headers["x-amzn-RequestId"] = upstream.headers["x-amzn-requestid"]
        response.headers["Cache-Control"] = "no-store"
        return response

    @staticmethod
    def _refresh_token(action: str, fields: dict[str, Any]) -> str | None:
        """The refresh token an InitiateAuth refreshes with (None for any other call)."""
        if action != "InitiateAuth" or fields.get("AuthFlow") not in REFRESH_FLOWS:
            return None
        parameters = fields.get("AuthParameters")
        token = parameters.get("REFRESH_TOKEN") if isinstance(parameters, dict) else None
        return token if isinstance(token, str) else None

    def _follow_sessions(
        self, action: str, fields: dict[str, Any], answer: dict[str, Any], refresh_token: str | None
    ) -> None:
        """Keeps what the user pool handed out (a sign-in, a challenge answered, a refresh) and ends the
        sessions a sign-out ended, once the user pool has done so."""
        result = answer.get("AuthenticationResult")
        if isinstance(result, dict):
            self._issued.record(result, refresh_token)
            self._log.event(
                "tokens issued",
                action=action,
                user_sub=unverified_claims(str(result.get("IdToken") or "")).get("sub"),
            )
        if action in SIGN_OUT_ACTIONS:
            token = fields.get(SIGN_OUT_ACTIONS[action])
            user = unverified_claims(token).get("sub") if isinstance(token, str) else None
            if user:
                self._issued.end_sessions_of(str(user))
                self._log.event("sessions ended", action=action, user_sub=user)

    def _confirm_sign_up(self, request_body: bytes, response_body: bytes) -> bytes:
        """No mail on one machine: confirm at once, as a pre-sign-up trigger with autoConfirmUser would."""
        username = json.loads(request_body)["Username"]
        self._cognito.admin_confirm_sign_up(UserPoolId=self._resources.user_pool_id, Username=username)
        answer = json.loads(response_body)
        answer["UserConfirmed"] = True
        answer.pop("CodeDeliveryDetails", None)
        self._log.event("sign-up confirmed", user_sub=answer.get("UserSub"))
        return json.dumps(answer).encode()

    # --- everything else: the SPA bucket behind CloudFront ---

    def _static(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response("Method Not Allowed", status=405, headers={"Allow": "GET, HEAD"})
        relative = request.path.lstrip("/") or SPA_ENTRY
        if "." not in relative.rsplit("/", 1)[-1]:
            relative = SPA_ENTRY  # a client-side route: the SPA router function's rewrite
        try:
            response = send_from_directory(self._web_dist, relative, request.environ, max_age=None, etag=True)
        except NotFound:
            return Response("Not Found", status=404, mimetype="text/plain")
        response.headers["Cache-Control"] = (
            IMMUTABLE_CACHE_CONTROL if relative.startswith(HASHED_ASSETS_PREFIX) else NO_CACHE
        )
        return response


def http_api_event(request: Request, *, route_key: str, authorizer: dict[str, Any] | None) -> dict[str, Any]:
    """The API Gateway HTTP API payload-2.0 event for a request, as the Lambda integration sends it."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        if key == "cookie":
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    remote = request.remote_addr or "127.0.0.1"
    headers.setdefault("x-forwarded-for", remote)
    headers.setdefault("x-forwarded-proto", request.scheme)
    headers.setdefault("x-forwarded-port", str(request.host.rpartition(":")[2] or "80"))
    query = {name: ",".join(values) for name, values in request.args.lists()}
    raw_query = request.query_string.decode("latin-1")
    body_bytes = request.get_data(cache=False)
    body, is_base64 = _event_body(body_bytes)
    now = datetime.now(UTC)
    request_id = base64.b32encode(uuid.uuid4().bytes)[:16].decode()
    cookies = [f"{name}={value}" for name, value in request.cookies.items(multi=True)]
    request_context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": "local",
        "domainName": request.host,
        "domainPrefix": request.host.split(".")[0],
        "http": {
            "method": request.method,
            "path": request.path,
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "sourceIp": remote,
            "userAgent": request.headers.get("User-Agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if authorizer is not None:
        request_context["authorizer"] = authorizer
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": request_context,
        "isBase64Encoded": is_base64,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if route_key == PROXY_ROUTE_KEY:
        event["pathParameters"] = {"proxy": request.path.removeprefix("/api/")}
    if body is not None:
        event["body"] = body
    return event


def _event_body(data: bytes) -> tuple[str | None, bool]:
    if not data:
        return None, False
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(data).decode(), True


def _response_from_lambda(result: Any) -> Response:
    if not isinstance(result, dict) or "statusCode" not in result:
        # Payload 2.0 without a status code: API Gateway answers 200 with the result as JSON.
        return _json(200, result)
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    response = Response(data, status=int(result["statusCode"]))
    response.headers.pop("Content-Type", None)
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            response.headers.add(name, str(value))
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", cookie)
    return response


def _json_object(data: bytes) -> dict[str, Any]:
    """A JSON object's fields, or none for a body that is not one (the user pool answers it as it should)."""
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _cognito_error(error_type: str, message: str) -> Response:
    return _json(400, {"__type": error_type, "message": message}, content_type="application/x-amz-json-1.1")


def _json(
    status: int, payload: Any, *, extra: dict[str, str] | None = None, content_type: str = "application/json"
) -> Response:
    response = Response(json.dumps(payload, separators=(",", ":")), status=status, content_type=content_type)
    for name, value in (extra or {}).items():
        response.headers[name] = value
    return response


def _with_security_headers(response: Response, media_origin: str) -> Response:
    """The SPA's security headers (infra/constructs/web.py), with the moto endpoint as the media host."""
    response.headers.setdefault("Content-Security-Policy", spa_content_security_policy(media_origin))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    return response
