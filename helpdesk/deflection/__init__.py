"""Answers before tickets: articles offered on every channel, "this answered my question", and knowledge gaps.

``suggestions`` picks the articles a requester is offered (above a score floor, delegates' pages only) and
keeps them on the ticket; ``tokens`` signs the forum's "this answered my question" link; ``services`` reads
the knowledge-gap report; ``drafts`` turns a resolved ticket into a MyST article for an editor; ``routes``
holds the requester's side (the web button and the signed page).
"""
