"""A local OpenID Connect provider, as CILogon behaves: discovery, JWKS, an authorization endpoint that
signs the configured person in at once, a token endpoint that checks the client, the code and its PKCE
verifier and answers with a real RS256-signed ID token (joserfc, Authlib's JOSE library), and userinfo.

Change ``user`` between sign-ins to play another account; ``requests`` records what the desk sent.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.support.local_http import JsonHandler, serving

CLIENT_ID = "cilogon:/client_id/desk-test"
CLIENT_SECRET = "fake-oidc-secret"  # noqa: S105 - a test fixture's secret


@dataclass
class FakeOidc:
    url: str = ""
    user: dict[str, Any] = field(default_factory=lambda: {
        "sub": "http://cilogon.org/serverA/users/1234", "email": "vera@example.edu", "email_verified": True,
        "name": "Vera Rubin", "given_name": "Vera", "family_name": "Rubin"})
    #: Every request: (method, path, query or form).
    requests: list[tuple[str, str, dict[str, list[str]]]] = field(default_factory=list)
    #: Sign the ID token with another key than the published one (a forged token).
    forge: bool = False
    #: Put another nonce in the ID token than the one asked for (a replayed token).
    wrong_nonce: bool = False
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return self.url

    def settings(self) -> dict[str, object]:
        """The helpdesk settings that point at this provider."""
        return {"oidc_issuer": self.url, "oidc_client_id": CLIENT_ID, "oidc_client_secret": CLIENT_SECRET,
                "oidc_name": "CILogon"}


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@contextmanager
def fake_oidc() -> Iterator[FakeOidc]:
    state = FakeOidc()
    key = RSAKey.generate_key(2048, parameters={"kid": "fake-1"})
    other = RSAKey.generate_key(2048, parameters={"kid": "fake-1"})

    class Handler(JsonHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            state.requests.append(("GET", parts.path, query))
            base = state.url
            if parts.path == "/.well-known/openid-configuration":
                self._send(200, {
                    "issuer": base, "authorization_endpoint": f"{base}/authorize", "token_endpoint": f"{base}/oauth2/token",
                    "userinfo_endpoint": f"{base}/oauth2/userinfo", "jwks_uri": f"{base}/oauth2/certs",
                    "response_types_supported": ["code"], "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"], "scopes_supported": ["openid", "email",
                                                                                             "profile", "org.cilogon.userinfo"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                    "code_challenge_methods_supported": ["S256"],
                })
            elif parts.path == "/oauth2/certs":
                self._send(200, {"keys": [key.as_dict(private=False)]})
            elif parts.path == "/authorize":
                one = {name: values[0] for name, values in query.items()}
                problems = [name for name in ("state", "nonce", "code_challenge", "redirect_uri") if not one.get(name)]
                if one.get("client_id") != CLIENT_ID or one.get("response_type") != "code" \
                        or one.get("code_challenge_method") != "S256" or "openid" not in one.get("scope", "").split():
                    problems.append("client_id/response_type/code_challenge_method/scope")
                if problems:
                    self._send(400, {"error": "invalid_request", "error_description": ", ".join(problems)})
                    return
                code = secrets.token_urlsafe(16)
                state.codes[code] = {"nonce": one["nonce"], "challenge": one["code_challenge"],
                                     "redirect_uri": one["redirect_uri"], "user": dict(state.user)}
                self.send_response(302)
                self.send_header("Location", one["redirect_uri"] + "?" + urlencode({"code": code,
                                                                                     "state": one["state"]}))
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif parts.path == "/oauth2/userinfo":
                self._send(200, dict(state.user))
            else:
                self._send(404, {"error": "not_found"})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            form = parse_qs(raw)
            state.requests.append(("POST", self.path, form))
            one = {name: values[0] for name, values in form.items()}
            basic = self.headers.get("Authorization", "")
            client = (one.get("client_id"), one.get("client_secret"))
            if basic.startswith("Basic "):
                from urllib.parse import unquote

                user, _, password = base64.b64decode(basic[6:]).decode().partition(":")
                client = (unquote(user), unquote(password))
            if self.path != "/oauth2/token":
                self._send(404, {"error": "not_found"})
                return
            if client != (CLIENT_ID, CLIENT_SECRET):
                self._send(401, {"error": "invalid_client"})
                return
            grant = state.codes.pop(one.get("code", ""), None)
            if grant is None or one.get("grant_type") != "authorization_code" \
                    or one.get("redirect_uri") != grant["redirect_uri"]:
                self._send(400, {"error": "invalid_grant"})
                return
            if _s256(one.get("code_verifier", "")) != grant["challenge"]:
                self._send(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
                return
            now = int(time.time())
            claims = {"iss": state.url, "aud": CLIENT_ID, "iat": now, "exp": now + 600, "auth_time": now,
                      "nonce": "not-the-one" if state.wrong_nonce else grant["nonce"], **grant["user"]}
            signer = other if state.forge else key
            id_token = jwt.encode({"alg": "RS256", "kid": "fake-1"}, claims, signer)
            self._send(200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 900,
                             "id_token": id_token, "scope": "openid email profile"},
                       {"Cache-Control": "no-store"})

    with serving(Handler) as url:
        state.url = url
        yield state
