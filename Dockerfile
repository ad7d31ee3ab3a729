# DP0 Support Desk: one image serving the helpdesk and its documentation with gunicorn.
# Build: docker build -t dp0-helpdesk .      Run: see docs/operator (settings come from the environment).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Dependencies first, so that editing the code does not reinstall them.
COPY pyproject.toml README.md ./
COPY helpdesk ./helpdesk
RUN pip install ".[docs]"
# The documentation, the knowledge base and their search index are built into the image, strictly, as in CI.
COPY . .
RUN sphinx-build -n -W --keep-going -q -b html . /srv/docs \
 && HELPDESK_ENV=testing HELPDESK_INDEX_DIR=/srv/index helpdesk kb index --kb-dir kb --docs-dir /srv/docs \
 && pip uninstall -y sphinx myst-parser pydata-sphinx-theme >/dev/null

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HELPDESK_ENV=production \
    HELPDESK_DOCS_DIR=/srv/docs \
    HELPDESK_INDEX_DIR=/srv/index \
    HELPDESK_DATABASE_URL=sqlite:////var/lib/helpdesk/helpdesk.sqlite3
RUN useradd --system --uid 10001 --home-dir /var/lib/helpdesk --create-home helpdesk
COPY --from=build /opt/venv /opt/venv
COPY --from=build /srv/docs /srv/docs
COPY --from=build /srv/index /srv/index
WORKDIR /var/lib/helpdesk
USER helpdesk
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
# Serve it behind a buffering reverse proxy (deploy/nginx-helpdesk.conf, docs/operator/reverse-proxy.md) with
# HELPDESK_PROXY_COUNT=1; /metrics answers loopback only unless HELPDESK_METRICS_ALLOW or _TOKEN is set.
# Secrets (HELPDESK_SECRET_KEY, GitHub, Slack, Discourse) come from the environment at run time;
# none is baked into the image. Production refuses to start without them.
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "4", "--worker-class", "gthread", "--threads", "4", \
     "--access-logfile", "-", "--forwarded-allow-ips", "*", "helpdesk:create_app()"]
