"""Cold start of the textbook pipeline: import, load the model, open the store, answer one question."""

from __future__ import annotations

import sys


def main() -> None:
    """python -m bench.cold_textbook PERSIST_DIR QUESTION"""
    from langchain_chroma import Chroma
    from langchain_huggingface import HuggingFaceEmbeddings

    from retrieval.inference.embedder import resolve_model_path

    embeddings = HuggingFaceEmbeddings(model_name=str(resolve_model_path("")))
    store = Chroma(collection_name="textbook", embedding_function=embeddings, persist_directory=sys.argv[1])
    print(store.similarity_search(sys.argv[2], k=5)[0].page_content[:200])


if __name__ == "__main__":
    main()
