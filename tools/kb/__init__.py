"""The knowledge base: the operator's FAQ sheets and policy documents, searched and cited."""
