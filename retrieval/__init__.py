"""citebot's engine: loading, chunking, embedding, storing, searching and answering."""
