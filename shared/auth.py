"""Who is asking: bearer tokens (signed JWTs), the roles of the people who use casetrack, and what each may do.

Every HTTP route declares what it needs: `Allowed = requires(Role.district_officer, Role.admin)` as the type
of a parameter (the verified `Principal`), or `dependencies=[PUBLIC]` for the few routes anyone may call
(/health, /ready). A token is verified with the embedded default's Ed25519 public key
(`token_public_key_file`, made by `casetrack up`) or an OpenID Connect issuer's keys (`token_jwks_url`);
either way it must name `token_issuer` and `token_audience`, and carry `sub`, `iat` and `exp`. No token, or one
that is expired, unsigned (alg none), wrongly signed or malformed: 401 with `WWW-Authenticate: Bearer` and the
reason. A role the route does not allow, or a district or provider not the caller's own: 403.

The actor recorded on an event is the token's subject. Writes are rate limited per subject, in each process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.contracts.vocabulary import UnknownDistrict, known_district

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SIGNING_KEY_FILE = "token-signing-key.pem"
"""The embedded default's private signing key, under `<data_dir>/secrets/` (made by `casetrack up`)."""
PUBLIC_KEY_FILE = "token-public-key.pem"
MOST_TOKENS_REMEMBERED = 10_000
"""How many verified tokens a service keeps (see `TokenVerifier.verify`)."""
JWKS_ALGORITHMS = ["RS256", "ES256"]
"""What an OpenID Connect issuer's keys may sign with (never `none`, never a shared-secret HMAC)."""
LONGEST_TOKEN_MINUTES = 7 * 24 * 60


class Role(StrEnum):
    """What a person does, in the domain's words; each route names the roles it serves."""

    district_officer = "district_officer"
    """A district housing authority's officer: only their own district's cases (claim `district`)."""
    provider = "provider"
    """A provider's staff: only the placements in their own schemes (claim `provider`: the provider id)."""
    childrens_services = "childrens_services"
    """The county's children's services / leaving care team: every district."""
    panel_member = "panel_member"
    """A member of the multi-agency panel: the panel agenda and its decisions."""
    commissioner = "commissioner"
    """Contracts, the catalogue of providers and schemes, stays and cases awaiting placement."""
    finance_officer = "finance_officer"
    """Budgets and costs: aggregates only."""
    analyst = "analyst"
    """Aggregates and pseudonymous journeys only, never personal data."""
    auditor = "auditor"
    """Case histories as recorded; each read is recorded with its reason."""
    data_protection_officer = "data_protection_officer"
    """Reads and erases personal data (erasure is theirs alone)."""
    admin = "admin"
    """Runs the system: projections, rebuilds, the journey read log."""


EVERY_ROLE = tuple(Role)
SEES_EVERY_DISTRICT = frozenset({Role.childrens_services, Role.admin})
"""Who may see (and decide about) a young person known in any district: cross-district matches are theirs."""


@dataclass(frozen=True)
class Principal:
    """Who is asking, from a verified token."""

    subject: str
    role: Role
    district: str | None = None
    provider: UUID | None = None

    @property
    def is_district_officer(self) -> bool:
        return self.role is Role.district_officer

    def may_see_district(self, district: str) -> bool:
        """Whether a case of `district` is within this caller's reach (a district officer: their own only)."""
        return not self.is_district_officer or district == self.district

    def confine_to(self, district: str | None) -> None:
        """403 unless a case or filter of `district` is within reach."""
        if district is not None and not self.may_see_district(district):
            raise forbidden(f"a district officer of {self.district} may not see or change {district}'s cases",
                            "not_your_district")

    def district_filter(self, asked: str | None) -> str | None:
        """A `?district=` filter: a district officer's is always their own (403 if they ask for another)."""
        if not self.is_district_officer:
            return asked
        self.confine_to(asked)
        return self.district

    def confine_to_provider(self, provider_id: UUID) -> None:
        """403 unless a provider asks about their own schemes (other roles are not confined by provider)."""
        if self.role is Role.provider and provider_id != self.provider:
            raise forbidden("a provider may only see or change placements in their own schemes", "not_your_scheme")


class InvalidToken(Exception):
    """The bearer token cannot be trusted; `kind` names why (token_expired, bad_signature, ...)."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


def reasons(message: str, kind: str) -> list[dict[str, str]]:
    return [{"msg": message, "type": kind}]


def unauthenticated(message: str, kind: str) -> HTTPException:
    challenge = "Bearer" if kind == "missing_token" else f'Bearer error="invalid_token", error_description="{kind}"'
    return HTTPException(401, reasons(message, kind), headers={"WWW-Authenticate": challenge})


def forbidden(message: str, kind: str = "role_not_allowed") -> HTTPException:
    return HTTPException(403, reasons(message, kind))


# -- verifying ----------------------------------------------------------------------------------------------


class TokenVerifier:
    """Verifies bearer tokens with the embedded public key or an OpenID Connect issuer's JWKS."""

    def __init__(self, *, public_key_file: Path | None = None, jwks_url: str | None = None, issuer: str = "casetrack",
                 audience: str = "casetrack", leeway_seconds: float = 30.0, public_key_pem: bytes | None = None):
        self.issuer, self.audience, self.leeway = issuer, audience, leeway_seconds
        self._public_key: Any = serialization.load_pem_public_key(public_key_pem) if public_key_pem else None
        self._algorithms: list[str] = algorithms_for(self._public_key) if public_key_pem else []
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True) if jwks_url else None
        self.public_key_file = public_key_file
        self._verified: dict[str, tuple[Principal, float]] = {}
        """Tokens already verified, with their expiry: a client sends the same token with every request, and a
        signature check costs more than the rest of the request's own work (about 0.2 ms for Ed25519)."""
        self._verified_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any) -> TokenVerifier:
        return cls(public_key_file=settings.token_public_key_file, jwks_url=settings.token_jwks_url,
                   issuer=settings.token_issuer, audience=settings.token_audience)

    def _key_for(self, token: str) -> tuple[Any, list[str]]:
        if self._jwks is not None:
            try:
                return self._jwks.get_signing_key_from_jwt(token).key, JWKS_ALGORITHMS
            except jwt.PyJWKClientError as error:
                raise InvalidToken(f"the token's signing key is not the issuer's: {error}", "unknown_signing_key") \
                    from None
            except jwt.DecodeError:
                raise InvalidToken("the token is not a well-formed JWT", "malformed_token") from None
        if self._public_key is None:
            if self.public_key_file is None:
                raise InvalidToken("this service has no token verification key configured (CASETRACK_TOKEN_"
                                   "PUBLIC_KEY_FILE or CASETRACK_TOKEN_JWKS_URL)", "no_verification_key")
            self._public_key = serialization.load_pem_public_key(Path(self.public_key_file).read_bytes())
            self._algorithms = algorithms_for(self._public_key)
        return self._public_key, self._algorithms

    def verify(self, token: str) -> Principal:
        """The principal a token names, or InvalidToken saying why it cannot be trusted. A token verified before
        is taken again without its signature checked, until it expires."""
        with self._verified_lock:
            principal, expires = self._verified.get(token, (None, 0.0))
        if principal is not None and time.time() < expires + self.leeway:
            return principal
        principal, expires = self._verify(token)
        with self._verified_lock:
            if len(self._verified) >= MOST_TOKENS_REMEMBERED:
                self._verified.clear()  # simplest bound: a burst of new tokens just costs their checks again
            self._verified[token] = (principal, expires)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise InvalidToken("the token is not a well-formed JWT", "malformed_token") from None
        if str(header.get("alg", "none")).lower() == "none":
            raise InvalidToken("the token is unsigned (alg none): tokens must be signed", "unsigned_token")
        key, algorithms = self._key_for(token)
        try:
            claims = jwt.decode(token, key, algorithms=algorithms, audience=self.audience, issuer=self.issuer,
                                leeway=self.leeway, options={"require": ["exp", "iat", "sub", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired", "token_expired") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("the token's signature does not verify", "bad_signature") from None
        except jwt.InvalidAlgorithmError:
            raise InvalidToken(f"the token is signed with {header.get('alg')!r}; accepted: {', '.join(algorithms)}",
                               "algorithm_not_allowed") from None
        except jwt.MissingRequiredClaimError as error:
            raise InvalidToken(f"the token has no {error.claim!r} claim", "missing_claim") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken(f"the token is not meant for {self.audience!r}", "wrong_audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken(f"the token was not issued by {self.issuer!r}", "wrong_issuer") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("the token is not valid yet", "token_not_yet_valid") from None
        except jwt.InvalidTokenError as error:
            raise InvalidToken(f"the token is not valid: {type(error).__name__}", "invalid_token") from None
        return principal_from(claims), float(claims["exp"])


def algorithms_for(key: Any) -> list[str]:
    """The one algorithm a public key may verify: Ed25519 -> EdDSA (the embedded default), RSA -> RS256,
    EC -> ES256."""
    if isinstance(key, Ed25519PublicKey):
        return ["EdDSA"]
    if isinstance(key, RSAPublicKey):
        return ["RS256"]
    if isinstance(key, EllipticCurvePublicKey):
        return ["ES256"]
    raise ValueError(f"a token public key must be Ed25519, RSA or EC, not {type(key).__name__}")


def principal_from(claims: dict[str, Any]) -> Principal:
    """The principal of verified claims: a known role, a district officer's district, a provider's id."""
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 200:
        raise InvalidToken("the token's subject must be 1-200 characters", "invalid_subject")
    try:
        role = Role(claims.get("role"))
    except ValueError:
        raise InvalidToken(f"the token's role {claims.get('role')!r} is not one of {', '.join(Role)}",
                           "unknown_role") from None
    district = claims.get("district")
    provider = claims.get("provider")
    if role is Role.district_officer:
        try:
            district = known_district(str(district)) if district else None
        except UnknownDistrict as error:
            raise InvalidToken(str(error), "unknown_district") from None
        if district is None:
            raise InvalidToken("a district officer's token must name their district (claim 'district')",
                               "missing_claim")
    else:
        district = None
    if role is Role.provider:
        try:
            provider = UUID(str(provider))
        except ValueError:
            raise InvalidToken("a provider's token must name the provider's id (claim 'provider')",
                               "missing_claim") from None
    else:
        provider = None
    return Principal(subject=subject, role=role, district=district, provider=provider)


# -- the routes' side ---------------------------------------------------------------------------------------

bearer = HTTPBearer(auto_error=False, description="A signed JWT: `casetrack token --role ROLE` makes one for "
                                                  "the embedded default")


def verifier_of(app: Any) -> TokenVerifier:
    """The app's token verifier, made once from its runtime's settings."""
    verifier = getattr(app.state, "token_verifier", None)
    if verifier is None:
        from shared.settings import Settings

        runtime = getattr(app.state, "runtime", None)
        settings = getattr(runtime, "settings", None) or Settings()
        verifier = app.state.token_verifier = TokenVerifier.from_settings(settings)
    return verifier


def principal_of(request: Request,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
    """The verified principal of the request's bearer token, or a 401 saying why there is none."""
    if credentials is None:
        raise unauthenticated("send a bearer token: Authorization: Bearer <token>", "missing_token")
    try:
        return verifier_of(request.app).verify(credentials.credentials)
    except InvalidToken as error:
        raise unauthenticated(str(error), error.kind) from None


def verified_subject(app: Any, headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The subject of a request's bearer token if it verifies (the idempotency middleware scopes keys by it)."""
    raw = next((value for name, value in headers if name == b"authorization"), None)
    if raw is None:
        return None
    scheme, _, token = raw.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        return verifier_of(app).verify(token.strip()).subject
    except InvalidToken:
        return None


def requires(*roles: Role, limited: bool = False) -> Any:
    """The `Annotated` type of a route parameter that admits only these roles (403 for the others) and
    limits writes per subject (429), and reads too when `limited` (personal data: nobody harvests the vault).
    The route gets the verified `Principal`."""
    allowed = frozenset(roles)
    names = ", ".join(sorted(allowed))

    def allowed_principal(request: Request, principal: Annotated[Principal, Depends(principal_of)]) -> Principal:
        if principal.role not in allowed:
            raise forbidden(f"the role {principal.role} may not {request.method} {request.url.path}; allowed: "
                            f"{names}")
        if limited or request.method in WRITE_METHODS:
            limiter_of(request.app).admit(principal.subject)
        return principal

    allowed_principal.roles = allowed  # type: ignore[attr-defined] - read by the route-roles test
    return Annotated[Principal, Depends(allowed_principal)]


def public() -> None:
    """This route needs no token."""


public.public = True  # type: ignore[attr-defined]
PUBLIC = Depends(public)
"""`dependencies=[PUBLIC]`: the route is open to anyone (health and readiness only)."""


def declared_roles(route: Any) -> frozenset[Role] | None:
    """The roles a route admits (from its `requires(...)` parameter); None if it declares none. Public: empty."""
    found: set[Role] = set()
    declared = False
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        call = dependant.call
        if getattr(call, "public", False):
            declared = True
        if (roles := getattr(call, "roles", None)) is not None:
            declared = True
            found |= roles
        stack.extend(dependant.dependencies)
    return frozenset(found) if declared else None


def routes_of(app: Any) -> Iterable[tuple[str, str, Any]]:
    """Each (method, path, route) an app serves, with the routers it includes (each `route.dependant` tells
    what it declares)."""
    from fastapi.routing import APIRoute

    for route in app.routes:
        if isinstance(route, APIRoute):
            contexts: Iterable[Any] = [route]
        elif hasattr(route, "effective_route_contexts"):  # an included router (FastAPI 0.16x)
            contexts = route.effective_route_contexts()
        else:
            continue  # the OpenAPI document and the docs pages: FastAPI's own, public
        for context in contexts:
            for method in sorted(context.methods or ()):
                yield method, context.path, context


def show_roles_in_openapi(app: Any) -> None:
    """Each operation of the app's OpenAPI document names the roles it admits (`x-roles`, and a line of its
    description), so an integrator reads who may call what where they read the rest."""
    make_document = app.openapi

    def document_with_roles() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = make_document()
        for method, path, route in routes_of(app):
            operation = document.get("paths", {}).get(path, {}).get(method.lower())
            if operation is None or (roles := declared_roles(route)) is None:
                continue
            operation["x-roles"] = sorted(roles)
            who = ", ".join(sorted(roles)) if roles else "anyone (no token)"
            operation["description"] = f"{operation.get('description', '')}\n\n**Roles:** {who}".strip()
        return document

    app.openapi = document_with_roles


# -- rate limits --------------------------------------------------------------------------------------------


class WriteLimiter:
    """A token bucket per subject: `per_minute` writes on average, `burst` at once. In-process: each service
    process (and each replica) counts on its own."""

    def __init__(self, per_minute: int, burst: int):
        self.rate, self.burst = per_minute / 60.0, max(burst, 1)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def admit(self, subject: str) -> None:
        """Take one write from the subject's bucket, or 429 with how long to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, then = self._buckets.get(subject, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if tokens < 1.0:
                self._buckets[subject] = (tokens, now)
                wait = max(1, int((1.0 - tokens) / self.rate + 0.999)) if self.rate > 0 else 60
                raise HTTPException(429, reasons(
                    f"too many writes from {subject!r}: at most {self.rate * 60:.0f} a minute (bursts of "
                    f"{self.burst}); retry in {wait} s", "rate_limited"), headers={"Retry-After": str(wait)})
            self._buckets[subject] = (tokens - 1.0, now)
            if len(self._buckets) > 10_000:  # forget subjects whose buckets are full again
                self._buckets = {s: (t, w) for s, (t, w) in self._buckets.items()
                                 if t + (now - w) * self.rate < self.burst}


def limiter_of(app: Any) -> WriteLimiter:
    limiter = getattr(app.state, "write_limiter", None)
    if limiter is None:
        runtime = getattr(app.state, "runtime", None)
        settings = getattr(runtime, "settings", None)
        limiter = app.state.write_limiter = WriteLimiter(getattr(settings, "write_rate_per_minute", 600),
                                                         getattr(settings, "write_burst", 120))
    return limiter


# -- minting (the embedded default) -------------------------------------------------------------------------


def make_signing_key() -> bytes:
    """A new Ed25519 private key, PEM (what `casetrack up` keeps as `secrets/token-signing-key.pem`)."""
    return Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption())


def public_key_of(private_pem: bytes) -> bytes:
    """The PEM public key of a PEM private key (what services verify tokens with)."""
    key = serialization.load_pem_private_key(private_pem, password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def mint_token(private_pem: bytes, *, role: Role | str, subject: str | None = None, district: str | None = None,
               provider: UUID | str | None = None, minutes: int = 60, issuer: str = "casetrack",
               audience: str = "casetrack", now: datetime | None = None) -> str:
    """A token signed with the embedded key (EdDSA), for `role`; a district officer needs `district`, a
    provider `provider`. Raises ValueError naming what is wrong."""
    try:
        role = Role(role)
    except ValueError:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(Role)}") from None
    if not 1 <= minutes <= LONGEST_TOKEN_MINUTES:
        raise ValueError(f"a token lasts 1 to {LONGEST_TOKEN_MINUTES} minutes, not {minutes}")
    claims: dict[str, Any] = {"role": role.value}
    if role is Role.district_officer:
        if not district:
            raise ValueError("a district officer's token needs --district")
        claims["district"] = known_district(district)
    if role is Role.provider:
        if not provider:
            raise ValueError("a provider's token needs --provider (the provider id)")
        claims["provider"] = str(UUID(str(provider)))
    issued = now or datetime.now(UTC)
    claims |= {"sub": subject or (f"{role.value}:{district}" if district else role.value), "iss": issuer,
               "aud": audience, "iat": issued, "exp": issued + timedelta(minutes=minutes)}
    return jwt.encode(claims, serialization.load_pem_private_key(private_pem, password=None), algorithm="EdDSA")


def embedded_signing_key(data_dir: Path) -> bytes:
    """The embedded default's signing key, or a FileNotFoundError telling how to make it."""
    path = Path(data_dir) / "secrets" / SIGNING_KEY_FILE
    if not path.exists():
        raise FileNotFoundError(f"no token signing key at {path}: run `casetrack up` once to make it")
    return path.read_bytes()
