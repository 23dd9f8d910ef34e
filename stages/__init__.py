"""The pipeline's stages: fetch, parse, normalize, enrich, publish. Data in, data out."""
