"""Wikidata JSON dumps to entity profiles: stream, filter by class, build cited profiles."""
