"""The baseline: a bare Flask endpoint that parses JSON and stores one row per request.

It is what any web app must do at the least to accept a delivery durably, so the helpdesk's
throughput is reported as a fraction of it. Run under the same gunicorn settings as the helpdesk.
"""

from __future__ import annotations

import os

from flask import Flask, jsonify, request
from sqlalchemy import Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from helpdesk.db import make_engine


class Base(DeclarativeBase):
    pass


class BenchRow(Base):
    __tablename__ = "bench_row"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)


def create_app() -> Flask:
    app = Flask(__name__)
    engine = make_engine(os.environ["HELPDESK_DATABASE_URL"])
    Base.metadata.create_all(engine)

    @app.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return jsonify(status="ok")

    @app.post("/store")
    def store():  # type: ignore[no-untyped-def]
        payload = request.get_json()
        with Session(engine) as session:
            row = BenchRow(subject=str(payload.get("subject", "")), body=str(payload.get("body", "")))
            session.add(row)
            session.commit()
            return jsonify(id=row.id), 201

    return app
