"""Search over the knowledge base and the documentation, behind one small service (tantivy inside)."""
