"""Is a requester's message only a thank-you? Then it is no new work (see ``status_after_message``).

Deliberately conservative: the message must be short and made only of words of thanks and
acknowledgement. One word outside that list ("but", "still", "fails", "another", a question mark) and it
counts as new work, so a solved ticket reopens as before.
"""

from __future__ import annotations

import re

#: Longest message (in characters, after trimming) that can be a mere thank-you.
MAX_LENGTH = 80

#: Words that say thanks, or acknowledge that the answer worked, and nothing else.
_GRATITUDE_TEXT = """
thanks thank thankyou thx ty tysm tnx cheers merci danke gracias grazie obrigado obrigada kudos
you u so very much many lot lots a ton again all for the your help helping answer reply quick fast
great perfect awesome excellent brilliant wonderful amazing fantastic nice super cool good lovely
appreciated appreciate really truly much-appreciated much
that this it works worked working fixed solved resolved sorted helped helps now indeed
ok okay k kk got understood makes sense yes yep yeah
all is good fine
have day nice weekend best regards kind
"""
GRATITUDE_WORDS = frozenset(_GRATITUDE_TEXT.split())

#: A thank-you must contain one of these (a lone "ok" or "great" is not thanks, it may precede more).
_THANK_TEXT = "thanks thank thankyou thx ty tysm tnx cheers merci danke gracias grazie obrigado obrigada kudos"
THANK_WORDS = frozenset(_THANK_TEXT.split()) | {"appreciate", "appreciated"}

_WORD = re.compile(r"[a-z]+(?:-[a-z]+)?")
# Emoji, Slack-style :shortcodes:, and punctuation that does not change meaning.
_NOISE = re.compile(r":[a-z0-9_+-]+:|[\U0001F300-\U0001FAFF\u2600-\u27BF\uFE0F!.,;~*_()\-\s]+")


def is_gratitude_only(text: str | None) -> bool:
    """True when ``text`` only thanks (``"Thanks!"``, ``"thank you so much, that works :tada:"``).

    False for anything that may be new work: a question mark, a digit, any word outside the list, or more
    than :data:`MAX_LENGTH` characters.
    """
    if not text:
        return False
    lowered = text.strip().lower().replace("\u2019", "'")
    if not lowered or len(lowered) > MAX_LENGTH or "?" in lowered or any(ch.isdigit() for ch in lowered):
        return False
    lowered = lowered.replace("'s", " is")
    remainder = _NOISE.sub(" ", lowered)
    words = _WORD.findall(remainder)
    # Anything left that is not a word (quotes, code, slashes, other scripts) is content.
    if _WORD.sub("", remainder).strip():
        return False
    return bool(words) and all(w in GRATITUDE_WORDS for w in words) and any(w in THANK_WORDS for w in words)
