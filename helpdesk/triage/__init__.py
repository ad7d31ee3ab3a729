"""Triage: sort a question into its tier-two queue, with a confidence, the reasons and a priority.

Two parts, both kept: transparent rules in configuration (:mod:`helpdesk.triage.rules`) and a learned
classifier (:mod:`helpdesk.triage.model`). :func:`helpdesk.triage.decide.decide` combines them; it is pure
(no Flask, no database) and fast enough to run inline in intake.
"""

from helpdesk.triage.decide import Decision, Guess, TriageEngine, decide, engine_from_settings

__all__ = ["Decision", "Guess", "TriageEngine", "decide", "engine_from_settings"]
