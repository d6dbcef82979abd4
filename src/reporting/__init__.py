"""The study report's pieces: result folders (study.py), figures, markdown sections, published numbers."""
