"""Typed settings, read from ``HELPDESK_*`` environment variables."""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Environment = Literal["production", "development", "testing"]
AuthMode = Literal["github", "dev"]
#: Sign-in methods HELPDESK_AUTH may list (comma-separated; `dev` only alone).
AUTH_METHODS = ("github", "oidc", "dev")

#: Shortest secret key accepted in production (bytes of entropy matter more than length,
#: but a short key is almost always a placeholder someone forgot to replace).
MIN_SECRET_KEY_LENGTH = 32


class UnsafeSettingsError(RuntimeError):
    """Production start-up refused because a setting is unsafe or missing."""


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every setting of the helpdesk.

    Each field is read from the environment variable ``HELPDESK_<FIELD>``; the operator guide's
    settings page is generated from this class, so the descriptions below are what operators read.
    """

    model_config = SettingsConfigDict(env_prefix="HELPDESK_", extra="forbid", validate_default=True)

    env: Environment = Field(
        "production",
        description="`production` (the default, and the Docker image's), `development` (what `make run` "
        "sets) or `testing`. Production refuses unsafe settings at start-up.",
    )
    database_url: str = Field(
        "sqlite:///var/helpdesk.sqlite3",
        description="SQLAlchemy URL of the database. Embedded SQLite suits one process; use PostgreSQL "
        "(`postgresql+psycopg://user@host/db`) when more than one process or host writes.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Signs sessions and CSRF tokens. Required in production, at least "
        f"{MIN_SECRET_KEY_LENGTH} characters. Development generates one under `var/` when unset.",
    )
    auth: str | None = Field(
        None,
        description="How people sign in: `github` (OAuth), `oidc` (any OpenID Connect provider, such as CILogon), "
        "both as a list (`github,oidc`: a button for each), or `dev` (a form that trusts the login typed; refused "
        "in production). Defaults to `dev` outside production and `github` in production.",
    )
    oidc_issuer: str | None = Field(
        None,
        description="The OpenID Connect provider's issuer URL (`https://cilogon.org`); its discovery document "
        "(`/.well-known/openid-configuration`) is read from there. Production refuses an `http://` issuer.",
    )
    oidc_client_id: str | None = Field(None, description="Client id registered with the OpenID Connect provider.")
    oidc_client_secret: SecretStr | None = Field(None, description="Client secret of that OpenID Connect client.")
    oidc_name: str = Field(
        "CILogon", min_length=1, max_length=60,
        description="What the sign-in button calls the OpenID Connect provider (\"Sign in with CILogon\").",
    )
    oidc_scopes: str = Field(
        "openid email profile", description="Scopes asked of the OpenID Connect provider; `openid` is required.",
    )
    github_client_id: str | None = Field(None, description="Client id of the GitHub OAuth app.")
    github_client_secret: SecretStr | None = Field(None, description="Client secret of the GitHub OAuth app.")
    github_api_url: str = Field(
        "https://api.github.com/", description="GitHub REST API base URL (tests point it at a local server)."
    )
    github_authorize_url: str = Field(
        "https://github.com/login/oauth/authorize", description="GitHub OAuth authorization endpoint."
    )
    github_token_url: str = Field(
        "https://github.com/login/oauth/access_token", description="GitHub OAuth token endpoint."
    )
    session_idle_minutes: int = Field(
        120, ge=1,
        description="A signed-in browser session ends after this many minutes without a request; the person "
        "signs in again. Sessions are kept on the server, so signing out ends them for every copy of the cookie.",
    )
    session_lifetime_hours: int = Field(
        24, ge=1,
        description="A signed-in browser session ends this many hours after sign-in, however active it is.",
    )

    slack_signing_secret: SecretStr | None = Field(
        None, description="Signing secret of the Slack app; Slack intake is on when it is set."
    )
    slack_bot_token: SecretStr | None = Field(None, description="Bot token (`xoxb-…`) the helpdesk replies with.")
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL.")
    slack_channel_ids: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated ids of the Slack support channels whose messages become tickets.",
    )

    slack_profile_lookup: bool = Field(
        True,
        description="Look up each new Slack user's name and verified email (users.info, in the worker); a verified "
        "email already known from another sign-in joins the two into one person.",
    )

    discourse_url: str | None = Field(None, description="Base URL of the Community Forum, without a trailing slash.")
    discourse_api_key: SecretStr | None = Field(None, description="API key of the forum account that replies.")
    discourse_api_username: str | None = Field(None, description="Username of the forum account that replies.")
    discourse_webhook_secret: SecretStr | None = Field(
        None, description="Secret of the forum's outgoing webhook (at least 12 characters, as Discourse requires)."
    )
    discourse_category_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="Comma-separated ids of the forum's support categories."
    )
    discourse_sync_pages: int = Field(
        5, ge=1, le=100,
        description="Pages of the forum's latest posts (`/posts.json`, about 50 a page) that "
        "`helpdesk discourse sync` reads looking for posts the webhooks missed.",
    )
    channel_timeout_seconds: float = Field(
        10.0, gt=0, le=60,
        description="HTTP timeout of each call to the Slack Web API or the forum API. Keep it well below "
        "`HELPDESK_WORKER_LEASE_SECONDS`.",
    )
    channel_acknowledge: bool = Field(
        True,
        description="Post an acknowledgement (the ticket number) into the Slack thread or forum topic of "
        "every new ticket, through the outbox.",
    )

    worker_backoff_base_seconds: float = Field(
        1.0, gt=0,
        description="Delay before the first retry of a failed delivery; each further retry doubles it, "
        "with up to 20% random jitter either way.",
    )
    worker_backoff_cap_seconds: float = Field(
        300.0, gt=0, description="Longest delay between two attempts of one delivery."
    )
    worker_max_attempts: int = Field(
        8, ge=1,
        description="Attempts before a delivery is marked dead; staff see dead deliveries in the console "
        "and can retry them.",
    )
    worker_lease_seconds: float = Field(
        120.0, gt=0,
        description="How long a worker holds a claimed delivery. A crashed worker's claim expires after this; "
        "the next worker first checks whether the reply was already posted before posting it.",
    )
    worker_poll_seconds: float = Field(
        1.0, gt=0, description="How often an idle `helpdesk worker` looks for due deliveries."
    )
    worker_batch_size: int = Field(
        5, ge=1, le=100,
        description="Deliveries a worker claims at a time. The lease must outlast a whole batch: keep "
        "batch size × `HELPDESK_CHANNEL_TIMEOUT_SECONDS` below `HELPDESK_WORKER_LEASE_SECONDS`.",
    )
    worker_escalation_sync_seconds: float = Field(
        300.0, ge=0,
        description="How often `helpdesk worker` reads the tracker state of open escalations (what "
        "`helpdesk escalations sync` does), in a thread of its own so deliveries never wait on the tracker. "
        "0 turns it off (run the command from cron instead).",
    )
    statistics_interval_seconds: float = Field(
        300.0, ge=0,
        description="How often `helpdesk worker` refreshes the database's planner statistics where nothing else "
        "does: on SQLite it analyses each table whose row count changed by 50 rows and 10 % since its statistics "
        "were taken; on PostgreSQL, only when autovacuum is off (for the server or the table), each table past "
        "autovacuum's own analyze threshold. `helpdesk db upgrade` always refreshes them. 0 turns it off.",
    )

    open_tickets_per_person: int = Field(
        0, ge=0,
        description="Most open tickets one person may have at once (0: no limit). Past it the web form says so "
        "kindly, the API answers 429 `ticket_limit` with `Retry-After`, and a Slack or forum question is kept "
        "for staff (not filed) with a reply in its thread. Staff are exempt; a follow-up in a ticket's thread "
        "never counts.",
    )
    tickets_per_day: int = Field(
        0, ge=0,
        description="Most tickets one person may file in any 24 hours (0: no limit); they may file again 24 "
        "hours after the oldest of those. Same behaviour past it as `HELPDESK_OPEN_TICKETS_PER_PERSON`.",
    )
    idle_days: int = Field(
        0, ge=0,
        description="A delegate with an active seat who has not signed in or been active for this many days "
        "is sent a reminder, then another every `HELPDESK_IDLE_REMINDER_DAYS` while they stay idle (0: no "
        "reminders).",
    )
    idle_reminder_days: int = Field(7, ge=1, description="Days between two reminders to an idle delegate.")
    idle_reminders_before_reclaim: int = Field(
        3, ge=1,
        description="Unanswered reminders after which an administrator may reclaim an idle delegate's seat "
        "(it goes to the head of the waitlist; audited).",
    )
    github_team: str | None = Field(
        None, pattern=r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$",
        description="The GitHub team (`org/team-slug`, e.g. `rubin-dp0/delegates`) kept in step with the roster: "
        "a delegate whose seat becomes active is added, one whose seat is released is removed (through the "
        "outbox). Unset: no team sync.",
    )
    github_team_token: SecretStr | None = Field(
        None, description="A GitHub token allowed to manage `HELPDESK_GITHUB_TEAM`'s members (org owner or team "
        "maintainer; fine-grained: Members read and write).",
    )
    sla_warning_percent: int = Field(
        20, ge=0, le=100,
        description="A ticket is *due soon* once less than this share of its queue's first-response target is "
        "left (20: the last 4.8 hours of a 24-hour target). Staff are warned then, once per ticket: in the console, "
        "in the log, and in `HELPDESK_SLA_SLACK_CHANNEL` when set.",
    )
    sla_warning_minutes: int | None = Field(
        None, ge=0,
        description="A fixed warning window in minutes for every queue, instead of `HELPDESK_SLA_WARNING_PERCENT`.",
    )
    sla_slack_channel: str | None = Field(
        None, pattern=r"^[A-Z0-9]{1,32}$",
        description="Id of a staff Slack channel (`C…`) to post first-response warnings into, through the outbox "
        "(needs the Slack app: `HELPDESK_SLACK_SIGNING_SECRET` and `HELPDESK_SLACK_BOT_TOKEN`). Unset: warnings "
        "show in the console and the log only.",
    )
    assignment: Literal["least_loaded", "round_robin"] = Field(
        "least_loaded",
        description="How a ticket's owner is picked among its queue's members who have room under the queue's "
        "`wip_limit_per_assignee`: `least_loaded` (fewest open tickets in the queue; ties go to whoever waited "
        "longest for one) or `round_robin` (whoever waited longest).",
    )
    incident_checks: bool = Field(
        True,
        description="Check every new ticket, in the worker, for other reports of the same failure within "
        "`HELPDESK_INCIDENT_WINDOW_MINUTES`, and group them into an incident.",
    )
    incident_window_minutes: int = Field(
        60, ge=1, le=7 * 24 * 60,
        description="Reports of the same failure filed within this many minutes of each other are grouped into one "
        "incident (any queue, any channel). The check runs in `helpdesk worker` just after a ticket is filed.",
    )
    incident_min_reports: int = Field(
        3, ge=2, le=100,
        description="An incident forms when this many similar open tickets from different requesters fall within "
        "the window; every ticket that joins an incident of at least this many reports is raised to urgent.",
    )
    incident_min_similarity: float = Field(
        0.2, gt=0, le=1,
        description="How alike (TF-IDF cosine of subject and body, 0 to 1) a ticket must read to another to count "
        "as a report of the same failure. Higher makes fewer, surer incidents.",
    )
    duplicate_min_similarity: float = Field(
        0.25, gt=0, le=1,
        description="Tickets at least this alike (0 to 1) are shown on the staff ticket page as possible "
        "duplicates, with their score, whatever channel they came from.",
    )

    escalation_tracker: Literal["none", "jira", "github"] = Field(
        "none",
        description="Where staff escalate a confirmed bug: `jira` (an issue in `HELPDESK_JIRA_PROJECT`), `github` "
        "(an issue in `HELPDESK_GITHUB_ESCALATION_REPO`) or `none` (no escalation button; the API answers 409). "
        "Production refuses a tracker chosen without its settings.",
    )
    jira_url: str | None = Field(
        None, description="Base URL of the Jira site (`https://example.atlassian.net`, or a Jira Server/Data Center "
        "address), without `/rest/api`. Tests point it at a local server."
    )
    jira_project: str | None = Field(
        None, pattern=r"^[A-Z][A-Z0-9_]{0,19}$", description="Key of the Jira project escalated bugs are filed in."
    )
    jira_user: str | None = Field(
        None, description="The Jira account (on Jira Cloud its email) that files issues, sent with "
        "`HELPDESK_JIRA_TOKEN` as basic authentication. Unset: the token is sent as a bearer personal access token "
        "(Jira Server/Data Center).",
    )
    jira_token: SecretStr | None = Field(
        None, description="API token of `HELPDESK_JIRA_USER` (Jira Cloud), or a personal access token (Server/DC)."
    )
    jira_issue_type: str = Field(
        "Bug", min_length=1, max_length=60, description="Issue type of escalated bugs, by name, as the project has it."
    )
    github_escalation_repo: str | None = Field(
        None, pattern=r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$",
        description="The GitHub repository (`owner/name`) escalated bugs are filed in.",
    )
    github_escalation_token: SecretStr | None = Field(
        None, description="A GitHub token that may create issues in `HELPDESK_GITHUB_ESCALATION_REPO` (fine-grained: "
        "Issues read and write). With push or triage access its marker labels stick; without, the desk finds its "
        "issues by the marker line in their body.",
    )
    github_escalation_api_url: str = Field(
        "https://api.github.com/", description="GitHub REST API base URL for escalations (tests point it at a local "
        "server; GitHub Enterprise Server: `https://HOST/api/v3/`)."
    )

    docs_dir: Path = Field(Path("var/docs/html"), description="Built documentation served at `/docs/`.")
    index_dir: Path = Field(Path("var/index"), description="Directory of the search index (tantivy): built once "
                            "by `helpdesk kb index` at deploy, then only read, by every process.")
    queues_file: Path | None = Field(
        None, description="A queues.yaml to load instead of the shipped default tier-two queues."
    )
    triage_enabled: bool = Field(
        True,
        description="Sort every new ticket as it is filed (queue, priority, confidence and reasons). Off, every "
        "ticket waits unsorted for a person.",
    )
    triage_in_worker: bool = Field(
        True,
        description="Sort Slack and forum questions in `helpdesk worker`, right after the request that stored "
        "them, instead of inside that request: the acknowledgement Slack waits for then costs no triage (about a "
        "third of the request's CPU), and the ticket is sorted within a poll of the worker "
        "(`HELPDESK_WORKER_POLL_SECONDS`). The web form and the API always sort as they file (their answer "
        "shows the queue).",
    )
    triage_rules_file: Path | None = Field(
        None,
        description="A triage rules file (YAML: terms, patterns and source channels per queue, urgency signals) to "
        "use instead of the shipped `helpdesk/triage/data/rules.yaml`. Every queue it names must be in the queues "
        "configuration.",
    )
    triage_model_file: Path | None = Field(
        None,
        description="The learned triage model to load (a file written by `helpdesk triage retrain`) instead of the "
        "shipped one. It is read from disk only, never fetched, and must come from the same scikit-learn version; "
        "a mismatched or damaged file is refused at start-up with what to do. Load only model files you trust.",
    )
    triage_confidence_threshold: float = Field(
        0.35, ge=0, le=1,
        description="Tickets whose triage confidence (0 to 1) is below this wait in the triage view for a person, "
        "with the two best guesses shown. Higher sends more tickets to a person and fewer to the wrong queue. The "
        "default was chosen by cross-validating the whole engine on the seed set's train split (`make bench` "
        "prints the table: at 0.35 under 1% of its questions wait for a person and 92% of the rest are right; "
        "0.40 held more of the real questions, which are longer and score lower).",
    )
    public_url: str = Field(
        "http://127.0.0.1:5000", description="The URL people reach the helpdesk at; used in links sent out."
    )
    suggestion_score_floor: float | None = Field(
        None, ge=0,
        description="Knowledge-base articles are offered to a requester (in the Slack and forum acknowledgement, "
        "on their ticket's page, under the web form) only when their search score reaches this. Unset: the "
        "search engine's own low-score line (`LOW_SCORE` in `helpdesk/search/services.py`).",
    )
    gap_score_floor: float | None = Field(
        None, ge=0,
        description="A ticket whose best knowledge-base match scored below this is listed in the staff report "
        "of knowledge gaps (`/staff/knowledge/gaps`) as a candidate for a new article. Unset: the same line as "
        "`HELPDESK_SUGGESTION_SCORE_FLOOR`.",
    )

    smtp_host: str | None = Field(
        None, description="Mail server that sends email notifications (a public staff reply on a web or API "
        "ticket is emailed to its requester, through the outbox). Unset: no email is sent.",
    )
    smtp_port: int = Field(587, ge=1, le=65535, description="Port of `HELPDESK_SMTP_HOST` (587 with STARTTLS).")
    smtp_user: str | None = Field(None, description="Login at the mail server; unset sends without logging in.")
    smtp_password: SecretStr | None = Field(
        None, description="Password of `HELPDESK_SMTP_USER`. Set it in the environment (or a secrets manager's "
        "environment), never in a file in the image; production refuses it without `HELPDESK_SMTP_STARTTLS`.",
    )
    smtp_starttls: bool = Field(
        True, description="Upgrade the mail connection with STARTTLS before logging in and sending.",
    )
    smtp_from: str | None = Field(
        None, max_length=320,
        description="The From address of notifications (`DP0 Support <support@example.org>`); required with "
        "`HELPDESK_SMTP_HOST`.",
    )
    smtp_timeout_seconds: float = Field(
        10.0, gt=0, le=60, description="Timeout of each conversation with the mail server."
    )
    auto_close_days: int = Field(
        7, ge=0, le=365,
        description="A resolved ticket closes by itself this many days after it was resolved (the worker sweeps "
        "every round); a requester's new question before then reopens it. 0 turns auto-close off.",
    )
    satisfaction_rating: bool = Field(
        True, description="Ask the requester one question (1 to 5, with an optional comment) once a ticket is "
        "solved; staff see the answer on the ticket page.",
    )

    attachment_max_bytes: int = Field(
        10 * 1024 * 1024, ge=1024,
        description="Largest file that may be attached to a ticket (the web form, `POST /api/v1/tickets/{id}/"
        "attachments`); a larger one is refused with 413 and nothing is stored. Requests carrying files may be "
        "this much (times the number of files) larger than `HELPDESK_MAX_REQUEST_BYTES`.",
    )
    attachment_types: Annotated[list[str], NoDecode] = Field(
        ["png", "jpg", "jpeg", "gif", "webp", "txt", "log", "py", "csv", "json", "ipynb", "fits"],
        description="Comma-separated file extensions that may be attached, a subset of the shipped list (`png, "
        "jpg, jpeg, gif, webp, txt, log, py, csv, json, ipynb, fits`). The file's bytes must also be what its "
        "extension says; anything else is refused with 415. SVG, HTML and PDF are never accepted.",
    )
    attachment_dir: Path | None = Field(
        None,
        description="Where attached files are kept, each under a random name. Unset: `attachments/` in the "
        "instance folder (`var/attachments`). Back it up with the database; files are never executed.",
    )

    max_request_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body accepted; larger ones get 413."
    )
    rate_limit_enabled: bool = Field(True, description="Rate-limit the public endpoints.")
    rate_limit_storage_url: str = Field(
        "memory://",
        description="Where rate-limit counters live (`memory://` per process, or `redis://host:6379` shared).",
    )
    rate_limit_public: str = Field(
        "30 per minute", description="Limit per client address on public write endpoints (forms, sign-in)."
    )
    proxy_count: int = Field(
        0, ge=0, description="Number of reverse proxies in front of the app whose X-Forwarded-* headers to trust."
    )
    rate_limit_api_writes: str = Field(
        "60 per minute",
        description="Limit on the JSON API's writes (every POST and PATCH under `/api/v1`), counted per person "
        "(the owner of the bearer token, or the signed-in person), per client address when nobody is "
        "authenticated. Staff tokens count too, so a runaway script is stopped. Past it the API answers 429 "
        "`{\"error\": {\"code\": \"rate_limited\"}}` with `Retry-After` (seconds) and `X-RateLimit-*` headers. "
        "Same syntax as `HELPDESK_RATE_LIMIT_PUBLIC`; off with `HELPDESK_RATE_LIMIT_ENABLED=false`.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token a Prometheus scraper sends (`Authorization: Bearer …`) to read `/metrics` from "
        "an address outside `HELPDESK_METRICS_ALLOW`. Unset: only the allowed addresses can read it.",
    )
    metrics_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="Comma-separated addresses or CIDR networks (`10.0.0.0/8`, `::1`) that may read `/metrics` "
        "without a token. The address is the client's as the app sees it (after `HELPDESK_PROXY_COUNT` "
        "proxies). Others get 401 (no or wrong token) or 403 (no token configured). Set it empty to "
        "require the token from everyone.",
    )
    metrics_cache_seconds: float = Field(
        30.0, ge=0,
        description="How long each process keeps the figures `/metrics` reads from the database (tickets by source, "
        "the outbox by status), in seconds: the counts scan large tables, so a scrape within this time of the "
        "last one is answered from memory. `helpdesk_metrics_database_age_seconds` says how old they are. 0 reads "
        "them on every scrape.",
    )
    hsts_max_age: int = Field(
        31_536_000, ge=0,
        description="`max-age` in seconds of the `Strict-Transport-Security` header sent in production (the "
        "default is one year; 0 tells browsers to forget it). Outside production no HSTS header is sent.",
    )
    log_level: str = Field("INFO", description="Logging level.")
    log_format: Literal["json", "text"] = Field("json", description="`json` (one object a line) or `text`.")

    @field_validator("attachment_types", mode="before")
    @classmethod
    def _attachment_types(cls, value: object) -> object:
        from helpdesk.tickets.attachments import TYPES

        value = _split_csv(value)
        if isinstance(value, list):
            value = [str(v).strip().lower().lstrip(".") for v in value]
            unknown = [v for v in value if v not in TYPES]
            if unknown:
                raise ValueError(f"{', '.join(unknown)}: not attachable types; choose from {', '.join(TYPES)}")
        return value

    @field_validator("slack_channel_ids", "discourse_category_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("metrics_allow", mode="before")
    @classmethod
    def _metrics_networks(cls, value: object) -> object:
        value = _split_csv(value)
        if isinstance(value, list):
            for entry in value:
                try:
                    ipaddress.ip_network(str(entry), strict=False)
                except ValueError as exc:
                    raise ValueError(f"{entry!r} is not an IP address or CIDR network") from exc
        return value

    @model_validator(mode="after")
    def _default_auth(self) -> Settings:
        if self.auth is None:
            self.auth = "github" if self.env == "production" else "dev"
        methods = [part.strip().lower() for part in self.auth.split(",") if part.strip()]
        unknown = [m for m in methods if m not in AUTH_METHODS]
        if not methods or unknown:
            raise ValueError(f"HELPDESK_AUTH takes {', '.join(AUTH_METHODS)} (github and oidc may be listed "
                             f"together); got {self.auth!r}")
        if "dev" in methods and len(methods) > 1:
            raise ValueError("HELPDESK_AUTH=dev cannot be combined with other sign-in methods")
        self.auth = ",".join(dict.fromkeys(methods))
        return self

    @property
    def auth_methods(self) -> tuple[str, ...]:
        """The sign-in methods, in the order HELPDESK_AUTH lists them."""
        return tuple((self.auth or "dev").split(","))

    # -- derived ---------------------------------------------------------------------------------
    @property
    def resolved_attachment_dir(self) -> Path:
        """HELPDESK_ATTACHMENT_DIR, or ``attachments/`` in the instance folder (``var/``)."""
        return self.attachment_dir if self.attachment_dir is not None else Path("var").resolve() / "attachments"


    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def slack_enabled(self) -> bool:
        return self.slack_signing_secret is not None

    @property
    def discourse_enabled(self) -> bool:
        return self.discourse_webhook_secret is not None

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host and self.smtp_from)

    def escalation_missing(self) -> list[str]:
        """The settings the chosen escalation tracker still needs (empty when it is ready, or when none is chosen)."""
        if self.escalation_tracker == "jira":
            needed = {"HELPDESK_JIRA_URL": self.jira_url, "HELPDESK_JIRA_PROJECT": self.jira_project,
                      "HELPDESK_JIRA_TOKEN": self.jira_token}
        elif self.escalation_tracker == "github":
            needed = {"HELPDESK_GITHUB_ESCALATION_REPO": self.github_escalation_repo,
                      "HELPDESK_GITHUB_ESCALATION_TOKEN": self.github_escalation_token}
        else:
            return []
        return [name for name, value in needed.items() if not value]

    def check_safe_for_production(self) -> None:
        """Raise :class:`UnsafeSettingsError` listing every problem when production settings are unsafe."""
        if not self.is_production:
            return
        problems: list[str] = []
        key = self.secret_key.get_secret_value() if self.secret_key else ""
        if len(key) < MIN_SECRET_KEY_LENGTH:
            problems.append(
                f"HELPDESK_SECRET_KEY must be set to a random value of at least {MIN_SECRET_KEY_LENGTH} "
                "characters (for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')."
            )
        if self.auth == "dev":
            problems.append(
                "HELPDESK_AUTH=dev trusts any name typed and is refused in production; use HELPDESK_AUTH=github."
            )
        if "github" in self.auth_methods and not (self.github_client_id and self.github_client_secret):
            problems.append(
                "HELPDESK_AUTH=github needs HELPDESK_GITHUB_CLIENT_ID and HELPDESK_GITHUB_CLIENT_SECRET."
            )
        if "oidc" in self.auth_methods:
            if not (self.oidc_issuer and self.oidc_client_id and self.oidc_client_secret):
                problems.append("HELPDESK_AUTH=oidc needs HELPDESK_OIDC_ISSUER, HELPDESK_OIDC_CLIENT_ID and "
                                "HELPDESK_OIDC_CLIENT_SECRET.")
            elif not self.oidc_issuer.startswith("https://"):
                problems.append("HELPDESK_OIDC_ISSUER must be an https:// URL in production.")
        if self.github_team and not self.github_team_token:
            problems.append("HELPDESK_GITHUB_TEAM needs HELPDESK_GITHUB_TEAM_TOKEN.")
        if self.discourse_webhook_secret and len(self.discourse_webhook_secret.get_secret_value()) < 12:
            problems.append("HELPDESK_DISCOURSE_WEBHOOK_SECRET must be at least 12 characters.")
        if self.smtp_host and not self.smtp_from:
            problems.append("HELPDESK_SMTP_HOST needs HELPDESK_SMTP_FROM, the address notifications come from.")
        if self.smtp_password is not None and not self.smtp_starttls:
            problems.append("HELPDESK_SMTP_PASSWORD would be sent unencrypted: set HELPDESK_SMTP_STARTTLS=true.")
        if missing := self.escalation_missing():
            problems.append(f"HELPDESK_ESCALATION_TRACKER={self.escalation_tracker} needs " + ", ".join(missing) + ".")
        if problems:
            raise UnsafeSettingsError(
                "Refusing to start in production (HELPDESK_ENV=production):\n  - " + "\n  - ".join(problems)
            )

    def resolved_secret_key(self, instance_dir: Path) -> str:
        """The secret key; outside production an unset key is generated once and kept under ``var/``."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        if self.is_production:
            raise UnsafeSettingsError("HELPDESK_SECRET_KEY is required in production.")
        key_file = instance_dir / "dev-secret-key"
        if key_file.exists():
            return key_file.read_text().strip()
        instance_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        key_file.write_text(key)
        key_file.chmod(0o600)
        return key
