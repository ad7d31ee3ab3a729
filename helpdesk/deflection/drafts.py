"""A knowledge-base article drafted from a resolved ticket: MyST with the front matter ``kb/`` requires.

The draft passes the build's own check (``docs/_ext/dp0_kb.py``: title, release, queues, tags, reviewed, one
heading equal to the title, a link); an editor rewrites it before it joins ``kb/``. Everything a person typed
(the subject, the question, the answers) is escaped so that it stays text in MyST: no raw HTML, no
directive, role, heading, fence or substitution can come out of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date

#: The title is also the article's ``#`` heading, so it keeps only characters that mean nothing in MyST.
_TITLE_UNSAFE = re.compile(r"[^\w .,;:?!'\"()/+=%@-]+")
_TITLE_MAX = 120
#: Every ASCII punctuation mark that can start Markdown or MyST syntax, backslash-escaped (CommonMark treats
#: a backslash before any ASCII punctuation as that character, literally).
_ESCAPE = re.compile(r"([\\`*_{}\[\]<>#!|~:$%&^=+\-])")
_WORD = re.compile(r"[a-z][a-z0-9.]{2,}")
_STOP_WORDS = """the and for with from that this what when where which how does can cannot not are was were have has
but you your our there their about into why who any all get got use using used out via"""
_STOP = frozenset(_STOP_WORDS.split())
RELEASES = {"dp0.1": "DP0.1", "dp01": "DP0.1", "dp0.2": "DP0.2", "dp02": "DP0.2"}


def clean_title(subject: str, ticket_id: int) -> str:
    title = " ".join(_TITLE_UNSAFE.sub(" ", subject).split()).strip(" -=+:") or f"Question from ticket {ticket_id}"
    return title[:_TITLE_MAX].rstrip()


def escape_text(text: str) -> str:
    """A person's text as literal MyST: paragraphs kept, every syntax character escaped."""
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text.replace("\r", ""))]
    return "\n\n".join(_ESCAPE.sub(r"\\\1", p) for p in paragraphs if p)


def release_of(text: str) -> str:
    found = {RELEASES[w] for w in re.findall(r"dp0[._]?[12]", text.lower().replace("_", ".")) if w in RELEASES}
    return found.pop() if len(found) == 1 else "both"


def tags_for(subject: str, queue: str) -> list[str]:
    tags = [queue]
    for word in _WORD.findall(subject.lower()):
        word = word.strip(".")
        if word not in _STOP and word not in tags and len(word) > 2:
            tags.append(word)
        if len(tags) == 4:
            break
    return tags


def draft_article(*, ticket_id: int, subject: str, question: str, answers: Sequence[str], queue: str,
                  today: date, docs_url: str, related: Sequence[tuple[str, str]] = ()) -> str:
    """The MyST source of a draft article. ``queue`` must be a known queue slug (the build checks it)."""
    title = clean_title(subject, ticket_id)
    release = release_of(" ".join([subject, question, *answers]))
    front = [
        "---",
        f"title: {json.dumps(title, ensure_ascii=False)}",
        f"release: {release}",
        f"queues: [{queue}]",
        f"tags: [{', '.join(tags_for(title, queue))}]",
        f"reviewed: {today.isoformat()}",
        "---",
    ]
    body = [
        f"% Drafted from ticket #{ticket_id} of the DP0 Support Desk. An editor rewrites it before it is published:",
        "% check every fact, generalise the question, add links to the pages it relies on, and set 'reviewed'.",
        f"# {title}",
        "",
        ":::{important}",
        "Draft for an editor, made from a support ticket: the question and the answer below are the words of",
        "the people on the ticket. Rewrite them, then remove this note.",
        ":::",
        "",
        "## The question",
        "",
        escape_text(question) or "(The ticket had no text.)",
        "",
        "## The answer",
        "",
    ]
    written = [escape_text(a) for a in answers if escape_text(a)]
    body += ["\n\n".join(written) if written else "(No public answer was given on the ticket: write one.)", ""]
    body += ["## See also", ""]
    body += [f"- [{escape_text(t) or 'Article'}]({_url(u)})" for t, u in related]
    body += [f"- <{_url(docs_url)}>", ""]
    return "\n".join(front + body)


def _url(url: str) -> str:
    return "".join(ch if ch not in " ()<>[]\"'`\\" else f"%{ord(ch):02X}" for ch in url)


def filename_for(ticket_id: int, subject: str) -> str:
    slug = "-".join(re.findall(r"[a-z0-9]+", subject.lower()))[:50].strip("-") or "article"
    return f"draft-ticket-{ticket_id}-{slug}.md"
