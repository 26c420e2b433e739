"""Built-in, project-written corpora and loaders for users' own text."""
